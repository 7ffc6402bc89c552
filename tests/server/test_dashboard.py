"""The admin dashboard over the real app: login, CSRF, languages, triage, policy, audit trail."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from server import crud
from server.models import Finding
from tests.server.conftest import ADMIN_PASSWORD, Harness, build_harness
from tests.server.test_policy import POLICY
from tests.server.test_reports import PNG, REPORT


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "page has no CSRF token"
    return match.group(1)


def audit_actions(harness: Harness) -> list[str]:
    with harness.engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT action FROM audit_events ORDER BY id"))]


def test_pages_require_login(harness: Harness) -> None:
    for path in [
        "/fleet",
        "/findings",
        "/reports",
        "/reports/1",
        "/compliance",
        "/policy",
        "/audit",
    ]:
        response = harness.client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/login", path


def test_login_sets_a_hardened_session_cookie_and_is_audited(harness: Harness) -> None:
    harness.add_admin()
    page = harness.client.get("/login")
    token = harness.client.cookies["wxguard_login_csrf"]
    response = harness.client.post(
        "/login",
        data={"username": "alice", "password": ADMIN_PASSWORD, "login_csrf": token},
        follow_redirects=False,
    )
    assert page.status_code == 200 and response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "wxguard_session=" in cookie
    assert harness.client.get("/fleet").status_code == 200
    assert "admin.login" in audit_actions(harness)


def test_wrong_password_and_missing_login_token_are_refused(harness: Harness) -> None:
    harness.add_admin()
    harness.client.get("/login")
    token = harness.client.cookies["wxguard_login_csrf"]
    wrong = harness.client.post(
        "/login", data={"username": "alice", "password": "nope", "login_csrf": token}
    )
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
    forged = TestClient(harness.app).post(
        "/login", data={"username": "alice", "password": ADMIN_PASSWORD, "login_csrf": "x"}
    )
    assert forged.status_code == 403
    assert "admin.login_failed" in audit_actions(harness)


def test_login_is_rate_limited_per_address(harness: Harness) -> None:
    harness.add_admin()
    client = TestClient(harness.app, client=("198.51.100.9", 1234))
    for _ in range(10):
        client.post("/login", data={"username": "alice", "password": "guess"})
    limited = client.post("/login", data={"username": "alice", "password": ADMIN_PASSWORD})
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert "Too many login attempts" in limited.text


def _attempt(client: TestClient, password: str) -> int:
    client.get("/login")
    token = client.cookies.get("wxguard_login_csrf")
    return client.post(
        "/login",
        data={"username": "alice", "password": password, "login_csrf": token},
        follow_redirects=False,
    ).status_code


def test_failed_logins_lock_the_account_for_that_address_in_every_worker(
    harness: Harness, db_url: str, tmp_path: Path
) -> None:
    """Guesses spread over worker processes count together (they are in the database): after
    5 failures from one address, a second worker refuses that address even the right password,
    before checking it; another address still gets in, and the window closes again."""
    harness.add_admin()
    other_worker = build_harness(db_url, harness.settings.data_dir)
    other_worker.clock.set(harness.clock.now())
    try:
        attacker = TestClient(harness.app, client=("198.51.100.7", 1000))
        assert [_attempt(attacker, f"guess{i}") for i in range(5)] == [401] * 5
        same_address = TestClient(other_worker.app, client=("198.51.100.7", 1001))
        refused = same_address.post(
            "/login",
            data={
                "username": "alice",
                "password": ADMIN_PASSWORD,
                "login_csrf": same_address.get("/login").cookies.get("wxguard_login_csrf"),
            },
            follow_redirects=False,
        )
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "900"
        assert "Too many failed logins to this account" in refused.text
        assert "admin.login_locked" in audit_actions(harness)

        colleague = TestClient(other_worker.app, client=("203.0.113.5", 1002))
        assert _attempt(colleague, ADMIN_PASSWORD) == 303  # the admin is not locked out

        for _ in range(5):
            _attempt(attacker, "guess")  # after that success the count started anew
        assert _attempt(attacker, ADMIN_PASSWORD) == 429
        harness.clock.advance(minutes=16)
        other_worker.clock.advance(minutes=16)
        later = TestClient(other_worker.app, client=("198.51.100.7", 1003))
        assert _attempt(later, ADMIN_PASSWORD) == 303
    finally:
        other_worker.client.close()
        other_worker.app.state.wx.dispose()
        other_worker.engine.dispose()


def test_forms_without_the_session_csrf_token_are_refused(harness: Harness) -> None:
    harness.add_admin()
    device = harness.enroll()
    harness.login()
    response = harness.client.post(
        f"/devices/{device.device_id}/revoke", data={"csrf_token": "bad"}
    )
    assert response.status_code == 403
    assert (
        harness.client.post(
            "/api/v1/heartbeat", json={"agent_version": "1"}, headers=device.headers
        ).status_code
        == 200
    )


def test_language_follows_accept_language_and_the_switch(harness: Harness) -> None:
    zh = harness.client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert 'lang="zh-CN"' in zh.text and "管理员登录" in zh.text
    en = harness.client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert 'lang="en"' in en.text and "Administrator login" in en.text
    harness.client.get("/lang/zh?next=/login")
    switched = harness.client.get("/login", headers={"Accept-Language": "en"})
    assert "管理员登录" in switched.text
    offsite = harness.client.get("/lang/en?next=//evil.example/", follow_redirects=False)
    assert offsite.headers["location"] == "/"


def test_error_messages_a_person_sees_are_bilingual(harness: Harness) -> None:
    harness.add_admin()
    harness.client.get("/login", headers={"Accept-Language": "zh-CN"})
    token = harness.client.cookies["wxguard_login_csrf"]
    wrong = harness.client.post(
        "/login",
        data={"username": "alice", "password": "nope", "login_csrf": token},
        headers={"Accept-Language": "zh-CN"},
    )
    assert "用户名或密码不正确" in wrong.text


def test_fleet_triage_reply_and_attachment_download(harness: Harness) -> None:
    harness.add_admin()
    device = harness.enroll("finance-pc-07")
    harness.client.post(
        "/api/v1/heartbeat",
        json={"agent_version": "1.4.2", "os": "Windows 11"},
        headers=device.headers,
    )
    created = harness.client.post(
        "/api/v1/reports",
        data={"report": json.dumps(REPORT)},
        files=[("attachment", ("shot.png", PNG, "image/png"))],
        headers=device.headers,
    ).json()
    report_id = int(created["case"].split("-")[1])
    # Attachments are for admins only.
    anonymous = TestClient(harness.app).get(
        f"/reports/{report_id}/attachments/1", follow_redirects=False
    )
    assert anonymous.status_code == 303
    harness.login()
    fleet = harness.client.get("/fleet").text
    assert "finance-pc-07" in fleet and "1.4.2" in fleet
    page = harness.client.get(f"/reports/{report_id}").text
    assert created["case"] in page and "sent me a payment link" in page
    csrf = csrf_of(page)
    for form in (
        {"action": "status", "status": "triaged"},
        {"action": "assign", "assignee": "1"},
        {"action": "note", "body": "matches the phishing wave of March"},
        {"action": "reply", "body": "Thank you. Do not open the link; we are on it."},
    ):
        r = harness.client.post(
            f"/reports/{report_id}", data={**form, "csrf_token": csrf}, follow_redirects=False
        )
        assert r.status_code == 303, (form, r.text)
    download = harness.client.get(f"/reports/{report_id}/attachments/1")
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["content-disposition"].startswith("attachment")
    mine = harness.client.get(f"/api/v1/reports/{created['case']}", headers=device.headers).json()
    assert mine["status"] == "triaged"
    assert [r["body"] for r in mine["replies"]] == [
        "Thank you. Do not open the link; we are on it."
    ]
    assert "phishing wave" not in json.dumps(mine)
    actions = audit_actions(harness)
    for expected in (
        "device.enroll",
        "admin.login",
        "report.view",
        "report.status",
        "report.assign",
        "report.attachment",
    ):
        assert expected in actions


def test_revoking_a_device_cuts_it_off(harness: Harness) -> None:
    harness.add_admin()
    device = harness.enroll()
    harness.login()
    page = harness.client.get(f"/devices/{device.device_id}").text
    r = harness.client.post(
        f"/devices/{device.device_id}/revoke",
        data={"csrf_token": csrf_of(page), "confirm": "yes"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert (
        harness.client.post(
            "/api/v1/heartbeat", json={"agent_version": "1"}, headers=device.headers
        ).status_code
        == 401
    )
    assert "device.revoke" in audit_actions(harness)


def test_offline_devices_are_highlighted(harness: Harness) -> None:
    harness.add_admin()
    device = harness.enroll("sleepy")
    harness.client.post("/api/v1/heartbeat", json={"agent_version": "1"}, headers=device.headers)
    harness.login()
    assert 'class="offline' not in harness.client.get("/fleet").text
    harness.clock.advance(seconds=3 * 300 + 1)
    assert 'class="offline' in harness.client.get("/fleet").text


def test_publishing_a_policy_from_the_dashboard_validates_first(harness: Harness) -> None:
    harness.add_admin()
    harness.login()
    csrf = csrf_of(harness.client.get("/policy").text)
    bad = harness.client.post(
        "/policy", data={"document": '{"enforcement": "nuke"}', "csrf_token": csrf}
    )
    assert bad.status_code == 422 and "enforcement" in bad.text
    review = harness.client.post(
        "/policy", data={"document": json.dumps(POLICY), "csrf_token": csrf}
    )
    assert review.status_code == 200 and "Sign and publish" in review.text
    assert "policy.publish" not in audit_actions(harness)  # nothing signed before confirming
    good = harness.client.post(
        "/policy",
        data={
            "document": json.dumps(POLICY),
            "csrf_token": csrf,
            "confirm": "1",
            "base_version": "0",
        },
    )
    assert good.status_code == 200 and "Published v1 · 2026-03" in good.text
    assert "policy.publish" in audit_actions(harness)


def test_findings_and_compliance_pages_show_the_fleet(harness: Harness) -> None:
    from tests.server.test_findings import finding

    harness.add_admin()
    device = harness.enroll("pc-9")
    harness.client.post(
        "/api/v1/findings",
        json={"scanned_at": "2026-03-02T09:00:00Z", "findings": [finding("a")]},
        headers=device.headers,
    )
    harness.client.post(
        "/api/v1/password-status",
        json={"accounts": [{"user": "li", "account_type": "enterprise", "state": "overdue"}]},
        headers=device.headers,
    )
    harness.login()
    findings = harness.client.get("/findings").text
    assert "rule.a" in findings and "Injected plugin in WeChat" in findings
    rule = harness.client.get("/findings/rule/rule.a").text
    assert "libhook.so" in rule and "Remove the plugin" in rule
    compliance = harness.client.get("/compliance").text
    assert "pc-9" in compliance and "overdue" in compliance
    assert "non-compliant" in harness.client.get("/fleet").text


def test_the_audit_trail_is_append_only(harness: Harness) -> None:
    harness.add_admin()
    harness.login()
    with pytest.raises(DBAPIError), harness.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'nobody'"))
    with pytest.raises(DBAPIError), harness.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))
    assert "admin.login" in audit_actions(harness)


def test_a_blind_device_is_shown_blind_and_not_counted_compliant(harness: Harness) -> None:
    """Issue 10: an agent whose packages probe failed sends an incomplete batch with its
    coverage; the server resolves nothing it did not name, and shows the device blind."""
    from tests.server.test_findings import finding

    harness.add_admin()
    blind = harness.enroll("pc-blind")
    clean = harness.enroll("pc-clean")
    old = harness.enroll("pc-old-agent")
    first = harness.client.post(
        "/api/v1/findings",
        json={"scanned_at": "2026-03-02T09:00:00Z", "complete": True, "findings": [finding("a")]},
        headers=blind.headers,
    )
    assert first.status_code == 200, first.text
    partial = harness.client.post(
        "/api/v1/findings",
        json={
            "scanned_at": "2026-03-02T10:00:00Z",
            "complete": False,
            "findings": [],
            "coverage": {"complete": False, "blind_spots": 0, "failed_probes": ["packages"]},
        },
        headers=blind.headers,
    )
    assert partial.status_code == 200 and partial.json()["resolved"] == 0, partial.text
    ok = harness.client.post(
        "/api/v1/findings",
        json={
            "scanned_at": "2026-03-02T10:00:00Z",
            "complete": True,
            "findings": [],
            "coverage": {"complete": True, "blind_spots": 0, "failed_probes": []},
        },
        headers=clean.headers,
    )
    assert ok.status_code == 200, ok.text
    # An agent from before coverage: still accepted, read as a complete, good scan.
    legacy = harness.client.post(
        "/api/v1/findings",
        json={"scanned_at": "2026-03-02T10:00:00Z", "complete": True, "findings": []},
        headers=old.headers,
    )
    assert legacy.status_code == 200, legacy.text
    harness.login()
    fleet = harness.client.get("/fleet").text
    # pc-blind still has its finding: non-compliant, with the failed probe as a reason.
    assert "Some checks could not run (packages)" in fleet
    counts = fleet[fleet.index('id="state-counts"') :]
    assert "compliant: 2" in counts and "non-compliant: 1" in counts
    # The finding goes away on the device while the probe is still blind: it stays open there
    # (the agent does not resolve it); with nothing else open the device is blind.
    with harness.sessions() as session:
        row = session.scalars(select(Finding)).one()
        row.state = "resolved"
        # The device row's summary is kept by the server's own writes (crud.refresh_summary).
        crud.refresh_summary(session, row.device_id)
        session.commit()
    fleet = harness.client.get("/fleet").text
    counts = fleet[fleet.index('id="state-counts"') :]
    assert "blind (partial check): 1" in counts and "compliant: 2" in counts
    assert "state-blind" in fleet
    page = harness.client.get(f"/devices/{blind.device_id}").text
    assert "blind (partial check)" in page and 'data-code="probe-failed"' in page
    bad = harness.client.post(
        "/api/v1/findings",
        json={
            "scanned_at": "2026-03-02T11:00:00Z",
            "findings": [],
            "coverage": {"complete": False, "blind_spots": -1},
        },
        headers=blind.headers,
    )
    assert bad.status_code == 422
