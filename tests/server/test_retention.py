"""Retention (issue 17): old resolved findings and audit events are pruned in batches; open
findings and recent history stay, and the audit trail stays append-only for everyone else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from server.models import AuditEvent, Finding
from server.retention import prune
from tests.server.conftest import Harness, run_cli


def _finding(
    conn: object, device: str, key: str, state: str, first: object, resolved: object
) -> None:
    conn.execute(  # type: ignore[attr-defined]
        text(
            "INSERT INTO findings (device_id, key, rule_id, title, title_i18n, category, severity,"
            " subject, evidence, remediation, remediation_i18n, state, first_seen, last_seen,"
            " resolved_at, received_at) VALUES (:d, :k, 'r', 't', '{}', 'c', 'low', '', '[]', '',"
            " '{}', :s, :f, :f, :r, :f)"
        ),
        {"d": device, "k": key, "s": state, "f": first, "r": resolved},
    )


def test_prune_deletes_only_old_resolved_findings_and_old_audit_events(harness: Harness) -> None:
    device = harness.enroll("pc-old").device_id
    now = harness.clock.now()
    old = (now - timedelta(days=400)).replace(tzinfo=None)
    recent = (now - timedelta(days=10)).replace(tzinfo=None)
    with harness.engine.begin() as conn:
        for n in range(5):
            _finding(conn, device, f"old-resolved-{n}", "resolved", old, old)
        _finding(conn, device, "old-open", "open", old, None)
        _finding(conn, device, "recent-resolved", "resolved", recent, recent)
        for _n in range(5):
            conn.execute(
                text(
                    "INSERT INTO audit_events (at, actor, action, target, ip, detail)"
                    " VALUES (:at, 'cli', 'old.event', '', '', '{}')"
                ),
                {"at": old},
            )
    done = prune(harness.sessions, now, 365, batch=2)
    assert (done.findings, done.audit_events) == (5, 5)
    with harness.sessions() as session:
        keys = set(session.scalars(select(Finding.key)))
        actions = list(session.scalars(select(AuditEvent.action)))
    assert keys == {"old-open", "recent-resolved"}
    assert "old.event" not in actions and "device.enroll" in actions
    assert "retention.prune" in actions
    # Nobody else may delete audit events, old or new: the permit is gone with the batch.
    with pytest.raises(DBAPIError), harness.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))


def test_prune_command_uses_the_setting_and_refuses_less_than_30_days(harness: Harness) -> None:
    url = harness.engine.url.render_as_string(hide_password=False)
    data = str(harness.settings.data_dir)
    out = run_cli("prune", "--data", data, "--database-url", url).stdout
    assert "deleted 0 resolved findings and 0 audit events" in out
    refused = run_cli("prune", "--data", data, "--database-url", url, "--days", "7", check=False)
    assert refused.returncode == 2 and "at least 30" in refused.stderr
