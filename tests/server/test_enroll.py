"""Enrollment: secrets that are single-use, N-use, expiring or wrong, and the per-address limit."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from tests.server.conftest import Harness


def _enroll(client: TestClient, secret: str) -> int:
    return client.post("/api/v1/enroll", json={"secret": secret, "hostname": "h"}).status_code


def test_enrollment_returns_identity_and_stores_only_a_token_hash(harness: Harness) -> None:
    response = harness.client.post(
        "/api/v1/enroll", json={"secret": harness.secret(), "hostname": "pc-1", "os": "Debian 12"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["device_token"].startswith("wxd_") and len(body["device_token"]) > 40
    assert body["policy_key_id"] == harness.app.state.wx.signer.key_id
    with harness.engine.connect() as conn:
        dump = " ".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM devices"))
    assert body["device_token"] not in dump
    assert body["device_id"] in dump


def test_single_use_secret_is_refused_the_second_time(harness: Harness) -> None:
    secret = harness.secret(uses=1)
    assert _enroll(harness.client, secret) == 201
    before = harness.row_counts()
    assert _enroll(harness.client, secret) == 403
    assert harness.row_counts() == before


def test_n_use_secret_allows_exactly_n_devices(harness: Harness) -> None:
    secret = harness.secret(uses=3)
    assert [_enroll(harness.client, secret) for _ in range(4)] == [201, 201, 201, 403]


def test_expired_secret_is_refused(harness: Harness) -> None:
    secret = harness.secret(uses=5, expires_in=timedelta(hours=1))
    harness.clock.advance(hours=1, seconds=1)
    before = harness.row_counts()
    response = harness.client.post("/api/v1/enroll", json={"secret": secret})
    assert response.status_code == 403
    assert response.json()["error"] == "enrollment_refused"
    assert harness.row_counts() == before


def test_wrong_secret_is_refused(harness: Harness) -> None:
    harness.secret(uses=5)
    assert _enroll(harness.client, "wxe_not-the-secret") == 403
    assert harness.row_counts()["devices"] == 0


def test_eleventh_enrollment_attempt_in_a_minute_is_rate_limited(harness: Harness) -> None:
    secret = harness.secret(uses=100)
    client = TestClient(harness.app, client=("192.0.2.7", 4000))
    codes = [_enroll(client, secret if i % 2 else "wrong-secret") for i in range(10)]
    assert 429 not in codes
    response = client.post("/api/v1/enroll", json={"secret": secret})
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    # Another address is not affected, and the window reopens after a minute.
    assert _enroll(TestClient(harness.app, client=("192.0.2.8", 4000)), secret) == 201
    harness.clock.advance(seconds=61)
    assert _enroll(client, secret) == 201


def test_unknown_fields_and_oversized_strings_are_refused(harness: Harness) -> None:
    secret = harness.secret()
    extra = harness.client.post("/api/v1/enroll", json={"secret": secret, "device_id": "mine"})
    assert extra.status_code == 422
    long = harness.client.post("/api/v1/enroll", json={"secret": secret, "hostname": "x" * 300})
    assert long.status_code == 422
    assert harness.row_counts()["devices"] == 0
