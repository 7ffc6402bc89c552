"""A real `wxguard-server run` believes X-Forwarded-For only from proxies it was told about, so a
local process cannot invent a new address per attempt and walk around the login limit."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from server.config import load_settings
from server.db import make_engine, make_sessionmaker
from server.models import AuditEvent
from tests.server.conftest import ADMIN_PASSWORD, LiveServer, cli, free_port


def _init(data: Path) -> None:
    cli(
        "init",
        "--data",
        str(data),
        "--admin",
        "alice",
        "--password-stdin",
        stdin=ADMIN_PASSWORD + "\n",
    )


def _fail_logins(url: str, forwarded_for: list[str]) -> list[httpx.Response]:
    answers = []
    with httpx.Client(base_url=url, timeout=10) as http:
        http.get("/login")
        token = http.cookies.get("wxguard_login_csrf")
        for address in forwarded_for:
            answers.append(
                http.post(
                    "/login",
                    data={"username": "alice", "password": "wrong guess", "login_csrf": token},
                    headers={"X-Forwarded-For": address},
                )
            )
    return answers


def _audited_ips(data: Path) -> list[str]:
    engine = make_engine(load_settings(data).database_url, pool_size=1)
    try:
        with make_sessionmaker(engine)() as session:
            query = select(AuditEvent.ip).where(AuditEvent.action.like("admin.login%"))
            return list(session.scalars(query.order_by(AuditEvent.id)))
    finally:
        engine.dispose()


@pytest.fixture(autouse=True)
def _plain_http_cookies(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test talks plain HTTP to 127.0.0.1; Secure cookies would not come back.
    monkeypatch.setenv("WXGUARD_COOKIE_SECURE", "false")


def test_rotating_forwarded_for_does_not_escape_the_login_limit(tmp_path: Path) -> None:
    data = tmp_path / "srv"
    _init(data)
    server = LiveServer(data, free_port())
    try:
        # One more than the per-account-and-address limit (5), each from a "new" address.
        answers = _fail_logins(server.url, [f"203.0.113.{n}" for n in range(1, 8)])
    finally:
        server.stop()
    assert set(_audited_ips(data)) == {"127.0.0.1"}
    last = answers[-1].text
    assert "Too many failed logins" in last or "登录失败次数过多" in last, last[-600:]


def test_a_named_proxy_is_believed(tmp_path: Path) -> None:
    """The documented way to run behind a proxy on the same host."""
    data = tmp_path / "srv"
    _init(data)
    server = LiveServer(data, free_port(), extra=("--forwarded-allow-ips", "127.0.0.1"))
    try:
        _fail_logins(server.url, ["198.51.100.7"])
    finally:
        server.stop()
    assert _audited_ips(data) == ["198.51.100.7"]
