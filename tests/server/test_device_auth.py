"""Every device route demands a valid, unrevoked token and only ever touches its own device."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute

from server import crud
from server.api.device import router as device_router
from server.db import session_scope
from tests.server.conftest import START, Harness, iso

NOW = iso(START)

# A valid body per route, so that a 401 is due to the token and nothing else.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/heartbeat"): {"agent_version": "1.0", "users_seen": ["alice"]},
    ("POST", "/api/v1/findings"): {
        "scanned_at": NOW,
        "findings": [
            {
                "key": "k1",
                "status": "new",
                "rule_id": "r1",
                "title": "t",
                "category": "plugin-injection",
                "severity": "high",
                "first_seen": NOW,
                "last_seen": NOW,
            }
        ],
    },
    ("POST", "/api/v1/reports"): {
        "idempotency_key": "report-0001",
        "category": "other",
        "summary": "something odd",
    },
    ("POST", "/api/v1/password-status"): {
        "accounts": [{"account_type": "enterprise", "state": "ok", "last_changed": NOW}]
    },
    ("POST", "/api/v1/policy/ack"): {"version": 1, "acknowledged_at": NOW},
}


def device_routes(app: Any) -> list[tuple[str, str]]:
    """All /api/v1 routes but enrollment, from the app's own route table (new ones are covered)."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        if not path.startswith("/api/v1/") or path == "/api/v1/enroll":
            continue
        for method in operations:
            found.append((method.upper(), path.replace("{case}", "WXG-000001")))
    # Cross-check against the router itself so a route hidden from the schema is not missed.
    assert len(found) == len([r for r in device_router.routes if isinstance(r, APIRoute)]) - 1
    return found


def test_router_has_the_documented_device_routes(harness: Harness) -> None:
    assert set(device_routes(harness.app)) == {
        ("POST", "/api/v1/heartbeat"),
        ("POST", "/api/v1/findings"),
        ("POST", "/api/v1/reports"),
        ("GET", "/api/v1/reports"),
        ("GET", "/api/v1/reports/WXG-000001"),
        ("POST", "/api/v1/password-status"),
        ("POST", "/api/v1/policy/ack"),
        ("GET", "/api/v1/policy"),
    }


@pytest.mark.parametrize(
    "auth",
    [None, "Bearer wxd_invalid-token", "Basic abc", "Bearer ", "revoked"],
    ids=["missing", "invalid", "wrong-scheme", "empty", "revoked"],
)
def test_every_device_route_refuses_bad_tokens_and_stores_nothing(
    harness: Harness, auth: str | None
) -> None:
    device = harness.enroll()
    if auth == "revoked":
        with session_scope(harness.sessions) as session:
            crud.revoke_device(session, device.device_id, START, "test", "")
        headers = device.headers
    else:
        headers = {"Authorization": auth} if auth else {}
    before = harness.row_counts()
    for method, path in device_routes(harness.app):
        body = BODIES.get((method, path))
        response = harness.client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert harness.row_counts() == before


def test_device_a_cannot_read_or_touch_device_b(harness: Harness) -> None:
    a = harness.enroll("a")
    b = harness.enroll("b")
    created = harness.client.post(
        "/api/v1/reports", json=BODIES[("POST", "/api/v1/reports")], headers=b.headers
    )
    assert created.status_code == 201
    case = created.json()["case"]
    # A sees none of B's reports, and B's case number looks missing to A.
    assert harness.client.get("/api/v1/reports", headers=a.headers).json() == {"reports": []}
    assert harness.client.get(f"/api/v1/reports/{case}", headers=a.headers).status_code == 404
    assert harness.client.get(f"/api/v1/reports/{case}", headers=b.headers).status_code == 200
    # Identity never comes from the body: a device id in the payload is refused outright.
    sneaky = {"agent_version": "1", "device_id": b.device_id}
    assert (
        harness.client.post("/api/v1/heartbeat", json=sneaky, headers=a.headers).status_code == 422
    )
    # A's findings land on A only, even with the same finding key as B.
    findings = BODIES[("POST", "/api/v1/findings")]
    harness.client.post("/api/v1/findings", json=findings, headers=b.headers)
    harness.client.post("/api/v1/findings", json=findings, headers=a.headers)
    with harness.engine.connect() as conn:
        owners = sorted(r[0] for r in conn.exec_driver_sql("SELECT device_id FROM findings"))
    assert owners == sorted([a.device_id, b.device_id])
    # The same idempotency key on another device is another report, not a replay of B's.
    again = harness.client.post(
        "/api/v1/reports", json=BODIES[("POST", "/api/v1/reports")], headers=a.headers
    )
    assert again.status_code == 201 and again.json()["case"] != case
