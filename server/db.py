"""Database engines and sessions: SQLite (WAL) embedded by default, PostgreSQL by URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use the psycopg 3 driver we ship."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, pool_size: int = 10, read_only: bool = False) -> Engine:
    """An engine for `url`; `read_only` SQLite engines skip the write lock (reads never wait)."""
    url = normalise_url(url)
    if is_sqlite(url):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=pool_size
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        if not read_only:
            event.listen(engine, "begin", _sqlite_begin_immediate)
        else:
            event.listen(engine, "begin", _sqlite_begin_deferred)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the dashboard read while devices write; foreign keys are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
    # We issue BEGIN ourselves (below); pysqlite's implicit BEGIN would be deferred.
    dbapi_conn.isolation_level = None


def _sqlite_begin_immediate(conn: Any) -> None:
    # A deferred transaction that reads and then writes cannot wait for another writer: SQLite
    # answers "database is locked" at once. Taking the write lock up front makes writers queue
    # on busy_timeout instead, which is what several workers on one file need.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_begin_deferred(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def make_heartbeat_engine(url: str, *, pool_size: int = 10) -> Engine | None:
    """PostgreSQL only: autocommit connections with asynchronous commit, for heartbeats.

    A heartbeat is one self-contained UPDATE of "last seen" bookkeeping: losing the last fraction
    of a second of them if the database crashes is harmless, while a WAL flush and a BEGIN/COMMIT
    round trip per heartbeat would cap the fleet at a few hundred per second. Everything else
    (reports, findings, enrollment) keeps durable, transactional commits on the main engine.
    """
    url = normalise_url(url)
    if is_sqlite(url):
        return None
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        isolation_level="AUTOCOMMIT",
    )
    event.listen(engine, "connect", _async_commit)
    return engine


def _async_commit(dbapi_conn: Any, _record: Any) -> None:
    with dbapi_conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
    dbapi_conn.commit()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: committed if the block succeeds, rolled back otherwise."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
