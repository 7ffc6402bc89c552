"""JSON columns mean the same on SQLite and PostgreSQL: a Python None is SQL NULL, and every
query on a JSON column finds what it should on both (issue 11)."""

from __future__ import annotations

import json

from sqlalchemy import select, text

from server import crud
from server.models import Device, Policy
from tests.server.conftest import Harness
from tests.server.test_dashboard import csrf_of
from tests.server.test_policy import POLICY, publish


def test_the_current_policy_is_found_and_shown_on_the_dashboard(harness: Harness) -> None:
    harness.add_admin()
    harness.login()
    csrf = csrf_of(harness.client.get("/policy").text)
    page = harness.client.post(
        "/policy",
        data={
            "document": json.dumps(POLICY),
            "csrf_token": csrf,
            "confirm": "1",
            "base_version": "0",
        },
    )
    assert "Published v1 · 2026-03" in page.text
    assert "No policy has been published yet." not in page.text
    again = harness.client.get("/policy").text
    assert "No policy has been published yet." not in again
    with harness.sessions() as session:
        current = crud.current_policy(session, harness.clock.now())
        assert current is not None and current.version == 1
        # Stored as SQL NULL, not as the JSON text 'null'.
        assert session.scalar(text("SELECT count(*) FROM policies WHERE device_scope IS NULL")) == 1
    compliance = harness.client.get("/compliance").text
    assert "Current policy version: v1 · 2026-03" in compliance, compliance


def test_scoped_and_global_policies_apply_to_the_right_devices(harness: Harness) -> None:
    a, b = harness.enroll("a"), harness.enroll("b")
    publish(harness)  # version 1: everyone
    publish(harness, {**POLICY, "devices": [a.device_id]})  # version 2: only a
    now = harness.clock.now()
    with harness.sessions() as session:
        assert crud.policy_for_device(session, a.device_id, now).version == 2  # type: ignore[union-attr]
        assert crud.policy_for_device(session, b.device_id, now).version == 1  # type: ignore[union-attr]
        current = crud.current_policy(session, now)
        assert current is not None and current.version == 1
        scopes = dict(session.execute(select(Policy.version, Policy.device_scope)).all())
        assert scopes == {1: None, 2: [a.device_id]}


def test_a_device_without_coverage_has_sql_null(harness: Harness) -> None:
    device = harness.enroll()
    with harness.sessions() as session:
        row = session.get(Device, device.device_id)
        assert row is not None and row.last_scan_coverage is None
        nulls = session.scalar(
            text("SELECT count(*) FROM devices WHERE last_scan_coverage IS NULL")
        )
        assert nulls == 1
