"""Fixtures for the server tests: a private PostgreSQL cluster, migrated databases, app clients."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.pgcluster import ClusterError, conninfo, private_cluster
from server import crud
from server.app import create_app
from server.cli import main as cli_main
from server.config import SESSION_KEY_FILE, Settings, load_settings
from server.db import make_engine, make_sessionmaker, session_scope
from server.migrate import upgrade
from server.models import Base
from server.signing import generate_key_pair
from tests.support.doubles import ManualClock

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN_PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    port: int
    admin_url: str  # psycopg conninfo for the maintenance database

    def url(self, db: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A throw-away PostgreSQL 15 cluster on a free loopback port, stopped at session end."""
    with contextlib.ExitStack() as stack:
        try:
            port = stack.enter_context(private_cluster(durable=False))
        except ClusterError as exc:
            pytest.fail(str(exc))
        cluster = PgCluster(port, conninfo(port))
        with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE wxguard_template")
        engine = make_engine(cluster.url("wxguard_template"), pool_size=1)
        upgrade(engine)
        engine.dispose()
        yield cluster


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "wxguard.db"
    engine = make_engine(f"sqlite:///{path}", pool_size=1)
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database of each kind."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "wxguard.db"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE wxguard_template")
    yield cluster.url(name)
    with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def make_data_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / SESSION_KEY_FILE).write_text(os.urandom(32).hex())
    generate_key_pair(path / "policy-private.pem", path / "policy-public.pem")
    return path


@dataclass
class DeviceCreds:
    device_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Harness:
    """The real ASGI app on a real database, with a clock the test controls."""

    app: Any
    client: TestClient
    clock: ManualClock
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    _enrolled: int = field(default=0)

    def secret(self, uses: int = 1, expires_in: timedelta | None = timedelta(days=1)) -> str:
        now = self.clock.now()
        with session_scope(self.sessions) as session:
            return crud.create_secret(session, now, uses, now + expires_in if expires_in else None)

    def enroll(self, hostname: str = "pc") -> DeviceCreds:
        # Each enrollment comes from its own address so tests are not throttled by the IP limit.
        self._enrolled += 1
        client = TestClient(self.app, client=(f"10.0.0.{self._enrolled}", 5000))
        response = client.post(
            "/api/v1/enroll",
            json={
                "secret": self.secret(),
                "hostname": hostname,
                "os": "linux",
                "agent_version": "1",
            },
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return DeviceCreds(body["device_id"], body["device_token"])

    def row_counts(self) -> dict[str, int]:
        with self.sessions() as session:
            return {
                table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
                for table in Base.metadata.sorted_tables
            }

    def add_admin(self, username: str = "alice", password: str = ADMIN_PASSWORD) -> None:
        with session_scope(self.sessions) as session:
            crud.create_admin(session, username, password, self.clock.now())

    def login(self, client: TestClient | None = None, username: str = "alice") -> TestClient:
        client = client or self.client
        page = client.get("/login")
        token = page.cookies.get("wxguard_login_csrf") or client.cookies.get("wxguard_login_csrf")
        response = client.post(
            "/login",
            data={"username": username, "password": ADMIN_PASSWORD, "login_csrf": token},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        return client


def build_harness(db_url: str, data_dir: Path, **overrides: Any) -> Harness:
    clock = ManualClock(START)
    settings = load_settings(data_dir, db_url, cookie_secure=False, **overrides)
    app = create_app(settings, clock=clock)
    engine = make_engine(db_url, pool_size=2)
    return Harness(
        app=app,
        client=TestClient(app, base_url="http://testserver"),
        clock=clock,
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
    )


@pytest.fixture
def harness(db_url: str, tmp_path: Path) -> Iterator[Harness]:
    h = build_harness(db_url, make_data_dir(tmp_path / "data"))
    yield h
    h.client.close()
    h.app.state.wx.dispose()
    h.engine.dispose()


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


# --- the command line and a real server process ---------------------------------------

CLI = [sys.executable, "-m", "server.cli"]


def cli(
    *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`wxguard-server ARGS` in this process: the same code as `cli`, seconds cheaper per call."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(args))
    if check:
        assert code == 0, err.getvalue()
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """CLI arguments selecting an empty database (no schema yet) of each kind."""
    if request.param == "sqlite":
        yield []
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    name = "cli_" + uuid.uuid4().hex[:10]
    with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield ["--database-url", f"postgresql://postgres@127.0.0.1:{cluster.port}/{name}"]
    with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class LiveServer:
    def __init__(
        self, data: Path, port: int, workers: int = 1, extra: tuple[str, ...] = ()
    ) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [
                *CLI,
                "run",
                "--data",
                str(data),
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--no-access-log",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/login", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
            if self.proc.poll() is not None:
                break
        self.stop()
        raise AssertionError(
            "server did not start: "
            + (self.proc.stdout.read().decode() if self.proc.stdout else "")
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def rollup_finished(harness: Harness, timeout: float = 60) -> None:
    """Start the overview rollup (as a page view does) and wait until today's is stored."""
    import time as _time

    from server.models import DailyStats

    deadline = _time.monotonic() + timeout
    while True:
        harness.client.get("/overview")
        with harness.sessions() as session:
            row = session.get(DailyStats, (harness.clock.now().date(), "*"))
            if row is not None and row.detail is not None:
                return
        assert _time.monotonic() < deadline, "the overview rollup did not finish"
        _time.sleep(0.05)
