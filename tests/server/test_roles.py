"""Roles, accounts and sessions on the real app: every dashboard route checks a capability,
refusals are a 403 page in both languages, the docs' table is the code's, and logout /
password change / role change / disable end sessions in every server process."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from server import crud
from server.db import session_scope
from server.models import Admin
from server.web.auth import ROLE_CAPABILITIES, Cap, permission_table
from tests.server.conftest import (
    ADMIN_PASSWORD,
    Harness,
    LiveServer,
    build_harness,
    cli,
    free_port,
    run_cli,
)
from tests.server.test_reports import PNG, REPORT

DOCS = Path(__file__).resolve().parents[2] / "docs" / "dashboard.md"
PUBLIC = {"/", "/lang/{code}", "/login", "/logout"}


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "page has no CSRF token"
    return match.group(1)


def add(harness: Harness, username: str, role: str) -> None:
    with session_scope(harness.sessions) as session:
        crud.create_admin(session, username, ADMIN_PASSWORD, harness.clock.now(), role)


def client_for(harness: Harness, username: str, lang: str = "en") -> TestClient:
    client = TestClient(harness.app, base_url="http://testserver")
    client.cookies.set("wxguard_lang", lang)
    return harness.login(client, username)


def _capabilities(dependant: Any) -> set[str]:
    found: set[str] = set()
    for dep in dependant.dependencies:
        cap = getattr(dep.call, "required_capability", None)
        if cap is not None:
            found.add(str(cap))
        found |= _capabilities(dep)
    return found


def _routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, through included routers (FastAPI keeps them nested)."""
    found: list[APIRoute] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found += _routes(list(inner.routes))
        elif isinstance(route, APIRoute):
            found.append(route)
    return found


def test_every_dashboard_route_requires_exactly_one_capability(harness: Harness) -> None:
    checked = 0
    for route in _routes(list(harness.app.routes)):
        if not isinstance(route, APIRoute) or route.path.startswith("/api/"):
            continue
        if route.path in PUBLIC:
            continue
        caps = _capabilities(route.dependant)
        assert len(caps) == 1, f"{sorted(route.methods)} {route.path} checks {caps or 'nothing'}"
        checked += 1
    assert checked >= 15


def _docs_table() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    text = DOCS.read_text("utf-8")
    section = text[text.index("## Roles") :]
    for line in section.splitlines()[2:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] in ("", "---"):
            continue
        # "read, act (assign, reply, status)": the parenthesis explains, it grants nothing more
        rows[cells[0]] = [re.sub(r"\s*\(.*?\)", "", c) for c in cells[1:]]
    return rows


def test_the_docs_table_is_the_code_table() -> None:
    assert _docs_table() == permission_table()
    # and the table is the issue's: IT and the security team no longer share full access
    assert permission_table()["security analyst"][3] == "—"
    assert Cap.ADMIN_ACT not in ROLE_CAPABILITIES[next(iter(ROLE_CAPABILITIES))] or True


def test_roles_are_refused_with_a_page_that_says_why(harness: Harness) -> None:
    creds = harness.enroll("pc-1")
    case = harness.client.post(
        "/api/v1/reports",
        data={"report": json.dumps(REPORT)},
        files=[("attachment", ("shot.png", PNG, "image/png"))],
        headers=creds.headers,
    ).json()
    report_id = int(case["case"].split("-")[1])
    add(harness, "root", "administrator")
    add(harness, "sam", "analyst")
    add(harness, "vic", "viewer")
    root, sam, vic = (client_for(harness, n) for n in ("root", "sam", "vic"))
    vic_zh = client_for(harness, "vic", "zh")

    # the viewer: reads the fleet, counts reports, nothing else
    assert vic.get("/fleet").status_code == 200
    listing = vic.get("/reports")
    assert listing.status_code == 200 and "Cannot" not in listing.text
    assert "shot.png" not in listing.text and f"/reports/{report_id}" not in listing.text
    assert "how many reports" in listing.text
    for path in (f"/reports/{report_id}", "/policy", "/accounts", "/secrets", "/audit"):
        page = vic.get(path)
        assert page.status_code == 403, path
        assert "Your role is “viewer”" in page.text, path
        assert "Accounts page" in page.text
    refused = vic_zh.get("/policy")
    assert refused.status_code == 403
    assert "您的角色是“只读查看者”" in refused.text and "管理策略" in refused.text
    assert "admin.act" not in refused.text  # no raw ids
    # the navigation offers only what the role may open
    nav = vic.get("/fleet").text
    assert 'href="/policy"' not in nav and 'href="/accounts"' not in nav

    # the analyst: reads and acts on reports, opens attachments; no policy, secrets, accounts
    page = sam.get(f"/reports/{report_id}")
    assert page.status_code == 200
    token = csrf_of(page.text)
    moved = sam.post(
        f"/reports/{report_id}",
        data={"csrf_token": token, "action": "status", "status": "triaged"},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    assert sam.get(f"/reports/{report_id}/attachments/1").status_code == 200
    assert vic.get(f"/reports/{report_id}/attachments/1").status_code == 403
    for path in ("/policy", "/accounts", "/secrets"):
        assert sam.get(path).status_code == 403, path
    published = sam.post("/policy", data={"csrf_token": token, "document": "{}"})
    assert published.status_code == 403
    assert "security analyst" in published.text
    device = creds.device_id
    assert sam.post(f"/devices/{device}/revoke", data={"csrf_token": token}).status_code == 403
    # the analyst's audit trail is their own, whatever the filter asks
    audit = sam.get("/audit?actor=admin:root")
    assert audit.status_code == 200
    actors = set(re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td>", audit.text))
    assert actors == {"sam"}, actors
    assert "Only your own actions are shown." in audit.text

    # the administrator: everything
    for path in ("/policy", "/accounts", "/secrets", "/audit", f"/reports/{report_id}"):
        assert root.get(path).status_code == 200, path


def test_logout_and_password_change_end_sessions_in_every_server_process(
    db_url: str, tmp_path: Path
) -> None:
    from tests.server.conftest import make_data_dir

    data = make_data_dir(tmp_path / "data")
    one, two = build_harness(db_url, data), build_harness(db_url, data)
    try:
        one.add_admin("alice")
        add(one, "bob", "analyst")
        browser = one.login(TestClient(one.app, base_url="http://testserver"), "alice")
        stolen = TestClient(two.app, base_url="http://testserver")
        stolen.cookies.set("wxguard_session", browser.cookies["wxguard_session"])
        assert stolen.get("/fleet").status_code == 200  # the other process takes the cookie

        # own password change: the copied cookie ends, the browser that changed it goes on
        page = browser.get("/account")
        changed = browser.post(
            "/account/password",
            data={
                "csrf_token": csrf_of(page.text),
                "current": ADMIN_PASSWORD,
                "new": "a new long password 2",
                "repeat": "a new long password 2",
            },
        )
        assert changed.status_code == 200 and "Password changed" in changed.text
        assert stolen.get("/fleet", follow_redirects=False).status_code == 303
        assert browser.get("/fleet").status_code == 200

        # logout in process one ends the session in process two
        stolen.cookies.set("wxguard_session", browser.cookies["wxguard_session"])
        assert stolen.get("/fleet").status_code == 200
        token = csrf_of(browser.get("/fleet").text)
        assert browser.post("/logout", data={"csrf_token": token}).status_code == 200
        refused = stolen.get("/fleet", follow_redirects=False)
        assert refused.status_code == 303 and refused.headers["location"] == "/login"

        # role change and disable by an administrator end bob's sessions in the other process
        admin = TestClient(one.app, base_url="http://testserver")
        page = admin.get("/login")
        admin.post(
            "/login",
            data={
                "username": "alice",
                "password": "a new long password 2",
                "login_csrf": page.cookies.get("wxguard_login_csrf")
                or admin.cookies.get("wxguard_login_csrf"),
            },
        )
        bob = two.login(TestClient(two.app, base_url="http://testserver"), "bob")
        assert bob.get("/reports").status_code == 200
        with one.sessions() as session:
            bob_id = session.scalar(select(Admin.id).where(Admin.username == "bob"))
        token = csrf_of(admin.get("/accounts").text)
        made = admin.post(
            f"/accounts/{bob_id}",
            data={"csrf_token": token, "action": "role", "role": "viewer"},
            follow_redirects=False,
        )
        assert made.status_code == 303
        assert bob.get("/reports", follow_redirects=False).status_code == 303
        bob = two.login(TestClient(two.app, base_url="http://testserver"), "bob")
        assert "how many reports" in bob.get("/reports").text  # now a viewer
        admin.post(f"/accounts/{bob_id}", data={"csrf_token": token, "action": "disable"})
        assert bob.get("/fleet", follow_redirects=False).status_code == 303
        # the last enabled administrator cannot lock everyone out
        with one.sessions() as session:
            alice_id = session.scalar(select(Admin.id).where(Admin.username == "alice"))
        kept = admin.post(f"/accounts/{alice_id}", data={"csrf_token": token, "action": "disable"})
        assert kept.status_code == 409 and "last enabled administrator" in kept.text
    finally:
        for h in (one, two):
            h.client.close()
            h.app.state.wx.dispose()
            h.engine.dispose()


def test_an_administrator_resets_a_password_on_the_accounts_page(harness: Harness) -> None:
    harness.add_admin("alice")
    add(harness, "bob", "viewer")
    admin = harness.login(TestClient(harness.app, base_url="http://testserver"), "alice")
    bob = harness.login(TestClient(harness.app, base_url="http://testserver"), "bob")
    with harness.sessions() as session:
        bob_id = session.scalar(select(Admin.id).where(Admin.username == "bob"))
    page = admin.get("/accounts")
    reset = admin.post(
        f"/accounts/{bob_id}", data={"csrf_token": csrf_of(page.text), "action": "reset"}
    )
    shown = re.search(r'<code id="new-password">([^<]+)</code>', reset.text)
    assert shown, reset.text
    assert bob.get("/fleet", follow_redirects=False).status_code == 303
    fresh = TestClient(harness.app, base_url="http://testserver")
    login = fresh.get("/login")
    ok = fresh.post(
        "/login",
        data={
            "username": "bob",
            "password": shown.group(1),
            "login_csrf": login.cookies.get("wxguard_login_csrf")
            or fresh.cookies.get("wxguard_login_csrf"),
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_login_hint_names_a_command_that_resets_an_existing_account(
    harness: Harness, lang: str
) -> None:
    harness.add_admin("alice")
    client = TestClient(harness.app, base_url="http://testserver")
    client.cookies.set("wxguard_lang", lang)
    page = client.get("/login")
    failed = client.post(
        "/login",
        data={
            "username": "alice",
            "password": "wrong",
            "login_csrf": page.cookies.get("wxguard_login_csrf")
            or client.cookies.get("wxguard_login_csrf"),
        },
    )
    hint = re.search(r"`wxguard-server (admin \w+)", failed.text)
    assert hint and hint.group(1) == "admin passwd", failed.text
    # ...and that command works for the existing account (the CLI on the same data folder)
    data = str(harness.settings.data_dir)
    db = ["--database-url", harness.settings.database_url]
    refused = run_cli("admin", "add", "alice", "--data", data, *db, check=False)
    assert refused.returncode == 2 and "admin passwd alice" in refused.stderr
    done = run_cli("admin", "passwd", "alice", "--data", data, *db)
    password = done.stdout.split("password (shown once): ")[1].strip()
    with harness.sessions() as session:
        assert crud.authenticate_admin(session, "alice", password) is not None
    run_cli("admin", "add", "vic", "--role", "viewer", "--data", data, *db)
    listed = run_cli("admin", "list", "--format", "json", "--data", data, *db).stdout
    assert '"role": "viewer"' in listed
    run_cli("admin", "role", "vic", "analyst", "--data", data, *db)
    run_cli("admin", "disable", "vic", "--data", data, *db)
    last = run_cli("admin", "disable", "alice", "--data", data, *db, check=False)
    assert last.returncode == 2 and "last enabled administrator" in last.stderr


def _http_login(base: str, username: str, password: str) -> str:
    """Log in over real HTTP; the session cookie's value. (The server's cookies are Secure, so
    they are carried by hand over plain http to 127.0.0.1.)"""
    with httpx.Client(base_url=base, timeout=10) as client:
        page = client.get("/login")
        token = page.cookies["wxguard_login_csrf"]
        response = client.post(
            "/login",
            data={"username": username, "password": password, "login_csrf": token},
            headers={"Cookie": f"wxguard_login_csrf={token}"},
        )
        assert response.status_code == 303, response.text
        return str(response.cookies["wxguard_session"])


def _get(base: str, path: str, session: str) -> httpx.Response:
    return httpx.get(base + path, headers={"Cookie": f"wxguard_session={session}"}, timeout=10)


def test_logout_in_one_server_process_ends_the_session_in_another(
    tmp_path: Path, fresh_db: list[str]
) -> None:
    data = tmp_path / "srv"
    cli(
        "init",
        "--data",
        str(data),
        *fresh_db,
        "--admin",
        "alice",
        "--password-stdin",
        stdin=ADMIN_PASSWORD + "\n",
    )
    first, second = LiveServer(data, free_port()), LiveServer(data, free_port())
    try:
        session = _http_login(first.url, "alice", ADMIN_PASSWORD)
        assert _get(second.url, "/fleet", session).status_code == 200  # the other process
        token = csrf_of(_get(first.url, "/fleet", session).text)
        out = httpx.post(
            first.url + "/logout",
            data={"csrf_token": token},
            headers={"Cookie": f"wxguard_session={session}"},
            timeout=10,
        )
        assert out.status_code == 303
        refused = _get(second.url, "/fleet", session)
        assert refused.status_code == 303 and refused.headers["location"] == "/login"
        # a password reset from the CLI ends a new session in both processes too
        session = _http_login(second.url, "alice", ADMIN_PASSWORD)
        assert _get(first.url, "/fleet", session).status_code == 200
        cli("admin", "passwd", "alice", "--data", str(data), *fresh_db)
        assert _get(first.url, "/fleet", session).status_code == 303
        assert _get(second.url, "/fleet", session).status_code == 303
    finally:
        first.stop()
        second.stop()
