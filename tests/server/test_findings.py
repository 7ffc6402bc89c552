"""Findings uploads: new, still present and resolved; idempotent batches; full snapshots."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.server.conftest import START, Harness, iso


def finding(key: str, status: str = "new", **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "status": status,
        "rule_id": f"rule.{key}",
        "title": "Injected plugin in WeChat",
        "title_i18n": {"zh": "微信中注入了插件", "en": "Injected plugin in WeChat"},
        "category": "plugin-injection",
        "severity": "high",
        "subject": f"/home/u/{key}",
        "evidence": [{"kind": "file", "matched": "libhook.so", "path": f"/home/u/{key}"}],
        "remediation": "Remove the plugin and reinstall WeChat.",
        "first_seen": iso(START - timedelta(hours=1)),
        "last_seen": iso(START),
        **extra,
    }


def _rows(harness: Harness) -> dict[str, tuple[str, object]]:
    with harness.engine.connect() as conn:
        return {
            r[0]: (r[1], r[2])
            for r in conn.exec_driver_sql("SELECT key, state, resolved_at FROM findings")
        }


def test_new_present_and_resolved(harness: Harness) -> None:
    device = harness.enroll()
    batch = {"scanned_at": iso(START), "findings": [finding("a"), finding("b")]}
    first = harness.client.post("/api/v1/findings", json=batch, headers=device.headers)
    assert first.json() == {"received": 2, "new": 2, "updated": 0, "resolved": 0}
    # Sending the same batch again changes nothing that matters.
    again = harness.client.post("/api/v1/findings", json=batch, headers=device.headers)
    assert again.json()["new"] == 0
    assert harness.row_counts()["findings"] == 2
    later = {
        "scanned_at": iso(START + timedelta(minutes=5)),
        "findings": [
            finding("a", "present", last_seen=iso(START + timedelta(minutes=5))),
            finding("b", "resolved", last_seen=iso(START + timedelta(minutes=5))),
        ],
    }
    result = harness.client.post("/api/v1/findings", json=later, headers=device.headers).json()
    assert result["resolved"] == 1
    rows = _rows(harness)
    assert rows["a"][0] == "open" and rows["b"][0] == "resolved"


def test_a_complete_snapshot_resolves_what_it_does_not_mention(harness: Harness) -> None:
    device = harness.enroll()
    harness.client.post(
        "/api/v1/findings",
        json={"scanned_at": iso(START), "findings": [finding("a"), finding("b")]},
        headers=device.headers,
    )
    snapshot = {"scanned_at": iso(START), "complete": True, "findings": [finding("a", "present")]}
    result = harness.client.post("/api/v1/findings", json=snapshot, headers=device.headers).json()
    assert result["resolved"] == 1
    assert _rows(harness)["b"][0] == "resolved"
    empty = {"scanned_at": iso(START), "complete": True, "findings": []}
    harness.client.post("/api/v1/findings", json=empty, headers=device.headers)
    assert {state for state, _ in _rows(harness).values()} == {"resolved"}


def test_implausible_times_are_refused(harness: Harness) -> None:
    device = harness.enroll()
    future = finding(
        "a", first_seen=iso(START + timedelta(days=2)), last_seen=iso(START + timedelta(days=2))
    )
    r = harness.client.post(
        "/api/v1/findings",
        json={"scanned_at": iso(START), "findings": [future]},
        headers=device.headers,
    )
    assert r.status_code == 422
    backwards = finding("a", first_seen=iso(START), last_seen=iso(START - timedelta(days=1)))
    r = harness.client.post(
        "/api/v1/findings",
        json={"scanned_at": iso(START), "findings": [backwards]},
        headers=device.headers,
    )
    assert r.status_code == 422
    naive = finding("a", first_seen="2026-03-02T08:00:00", last_seen="2026-03-02T08:00:00")
    r = harness.client.post(
        "/api/v1/findings",
        json={"scanned_at": iso(START), "findings": [naive]},
        headers=device.headers,
    )
    assert r.status_code == 422
    assert harness.row_counts()["findings"] == 0


def test_heartbeat_password_status_and_ack_are_recorded(harness: Harness) -> None:
    device = harness.enroll()
    hb = {
        "agent_version": "1.2.0",
        "os": "Debian 12",
        "users_seen": ["bob", "alice", "bob"],
        "last_scan_at": iso(START),
        "policy_version_seen": 0,
    }
    r = harness.client.post("/api/v1/heartbeat", json=hb, headers=device.headers)
    assert r.status_code == 200 and r.json()["policy_version"] == 0
    pw = {
        "accounts": [
            {
                "user": "alice",
                "account_type": "enterprise",
                "state": "overdue",
                "last_changed": iso(START - timedelta(days=120)),
                "due_at": iso(START - timedelta(days=30)),
            },
            {"user": "alice", "account_type": "personal", "state": "no-expiry"},
        ]
    }
    assert harness.client.post(
        "/api/v1/password-status", json=pw, headers=device.headers
    ).json() == {"accepted": 2}
    # Resending replaces, never duplicates.
    harness.client.post("/api/v1/password-status", json=pw, headers=device.headers)
    counts = harness.row_counts()
    assert counts["password_status"] == 2
    # Acknowledging a version that was never published is a clear 422.
    ack = {"version": 1, "acknowledged_at": iso(START), "user": "alice"}
    assert (
        harness.client.post("/api/v1/policy/ack", json=ack, headers=device.headers).status_code
        == 422
    )
    with harness.engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT agent_version, users_seen FROM devices").one()
    assert row[0] == "1.2.0" and "alice" in str(row[1])


def test_concurrent_uploads_of_the_same_findings_do_not_collide(harness: Harness) -> None:
    import threading

    import httpx
    import uvicorn

    from tests.server.conftest import free_port

    device = harness.enroll()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(harness.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
    batch = {"scanned_at": iso(START), "findings": [finding(k) for k in "abcdef"]}
    codes: list[int] = []

    def upload() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            codes.append(
                http.post("/api/v1/findings", json=batch, headers=device.headers).status_code
            )

    try:
        workers = [threading.Thread(target=upload) for _ in range(8)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        server.should_exit = True
        thread.join(10)
    assert codes == [200] * 8
    assert harness.row_counts()["findings"] == 6
