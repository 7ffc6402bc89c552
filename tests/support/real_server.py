"""A real `wxguard-server` process for tests: init in a temp folder, run on a free loopback port."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from server import crud
from server.config import load_settings
from server.db import make_engine, make_sessionmaker, session_scope
from server.policy import parse_policy_create
from server.signing import PolicySigner
from tests.conftest import script


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RealServer:
    """`wxguard-server` as an agent meets it: a separate process on a TCP port. Setup that IT
    would do (secrets, policies) and the checks of what was stored use the server's own code on
    the same database, which is quicker than a CLI process per step."""

    def __init__(self, data: Path, database_url: str | None = None) -> None:
        self.data = data
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        db = ["--database-url", database_url] if database_url else []
        init = subprocess.run(
            [script("wxguard-server"), "init", "--data", str(data), *db],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert init.returncode == 0, init.stderr
        self.settings = load_settings(data)
        self.engine = make_engine(self.settings.database_url, pool_size=1)
        self.sessions = make_sessionmaker(self.engine)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def secret(self, uses: int = 1) -> str:
        with session_scope(self.sessions) as session:
            return crud.create_secret(session, datetime.now(UTC), uses, None)

    def publish(self, policy: dict[str, Any]) -> int:
        signer = PolicySigner.load(self.settings.policy_private_key_path)
        with session_scope(self.sessions) as session:
            document = crud.publish_policy(
                session, signer, parse_policy_create(json.dumps(policy)), datetime.now(UTC), "test"
            )
            return document.version

    def rows(self, model: Any) -> list[Any]:
        with self.sessions() as session:
            return list(session.scalars(select(model)))

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                script("wxguard-server"),
                "run",
                "--data",
                str(self.data),
                "--port",
                str(self.port),
                "--no-access-log",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(self.proc.stderr.read().decode() if self.proc.stderr else "")
            try:
                httpx.get(f"{self.url}/api/v1/reports", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("wxguard-server did not start within 30 s")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None


@contextlib.contextmanager
def running_server(data: Path, database_url: str | None = None) -> Iterator[RealServer]:
    """A started server in `data` (SQLite there, or `database_url`), stopped (and its engine
    disposed) afterwards."""
    server = RealServer(data, database_url)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.engine.dispose()


def database_for(request: Any, kind: str) -> Iterator[str | None]:
    """None (SQLite in the data folder) or the URL of a new, empty PostgreSQL database in the
    session's private cluster (tests/server/conftest.py `pg_cluster`), dropped afterwards."""
    if kind == "sqlite":
        yield None
        return
    import uuid

    import psycopg

    cluster = request.getfixturevalue("pg_cluster")
    name = "e2e_" + uuid.uuid4().hex[:10]
    with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield f"postgresql://postgres@127.0.0.1:{cluster.port}/{name}"
    with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
