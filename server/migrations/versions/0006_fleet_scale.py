"""Fleet scale (issue 17): device summaries and groups, an index for every list filter and sort,
the daily rollup table behind the overview's trends, and retention pruning of old audit events.

Backfilled from existing rows:
- devices: open findings, worst severity, overdue passwords and compliance state (the same
  protocol.device_state function the server uses); group = the enrollment secret's label;
  last_seen_at = enrolled_at where a device never sent a heartbeat; the newest policy version
  acknowledged; revoked devices' state is "revoked".
- daily_stats, the past 90 days (fleet "*" and each group): devices enrolled and not revoked,
  findings new, resolved and open at the end of each day (from first_seen / resolved_at), reports
  received. NOT reconstructible, left NULL for past days: the compliant / non-compliant / blind /
  unknown / offline counts (no history of device states or heartbeats is kept) and the number
  of reports open (their status history is only in audit details). Findings a device re-opened
  after a resolution count from their first sighting, as the rows keep only the latest span.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 19:20:00
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL_DAYS = 90

INDEXES: list[tuple[str, str, list[str]]] = [
    ("ix_devices_hostname", "devices", ["hostname", "id"]),
    ("ix_devices_state", "devices", ["compliance_state", "hostname", "id"]),
    ("ix_devices_last_seen", "devices", ["last_seen_at", "id"]),
    ("ix_devices_os", "devices", ["os", "hostname"]),
    ("ix_devices_agent_version", "devices", ["agent_version", "hostname"]),
    ("ix_devices_group", "devices", ["group_label", "hostname"]),
    ("ix_devices_open_findings", "devices", ["open_findings", "id"]),
    ("ix_devices_acked_version", "devices", ["acked_version"]),
    ("ix_findings_state_first_seen", "findings", ["state", "first_seen", "id"]),
    (
        "ix_findings_state_severity",
        "findings",
        ["state", "severity", "category", "first_seen", "id"],
    ),
    (
        "ix_findings_state_category",
        "findings",
        ["state", "category", "severity", "first_seen", "id"],
    ),
    ("ix_findings_rule_state", "findings", ["rule_id", "state", "device_id"]),
    ("ix_findings_device_state", "findings", ["device_id", "state", "severity"]),
    ("ix_findings_resolved_at", "findings", ["resolved_at"]),
    ("ix_findings_first_seen", "findings", ["first_seen"]),
    ("ix_reports_assignee", "reports", ["assignee_id", "id"]),
    ("ix_reports_category", "reports", ["category", "id"]),
    ("ix_reports_created", "reports", ["created_at"]),
    ("ix_password_status_state", "password_status", ["state", "device_id"]),
    ("ix_audit_actor", "audit_events", ["actor", "id"]),
    ("ix_audit_action", "audit_events", ["action", "id"]),
]


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("compliance_state", sa.String(16), server_default="unknown", nullable=False)
        )
        batch_op.add_column(
            sa.Column("open_findings", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("worst_severity", sa.String(16), nullable=True))
        batch_op.add_column(
            sa.Column("overdue_passwords", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("group_label", sa.String(200), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("acked_version", sa.Integer(), server_default="-1", nullable=False)
        )
    op.create_table(
        "daily_stats",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("group_label", sa.String(200), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=True)
            for name in (
                "devices",
                "compliant",
                "non_compliant",
                "blind",
                "unknown",
                "offline",
                "open_findings",
                "new_findings",
                "resolved_findings",
                "reports_new",
                "reports_open",
            )
        ),
        sa.Column("detail", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day", "group_label"),
    )
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    bind = op.get_bind()
    _backfill_devices(bind)
    _backfill_daily(bind, datetime.now(UTC))
    _audit_pruning(bind)


def _backfill_devices(bind: sa.Connection) -> None:
    from protocol.device_state import (
        Coverage,
        DeviceInputs,
        ScanOutcome,
        device_state,
        worst_severity,
    )

    bind.execute(
        sa.text(
            "UPDATE devices SET group_label = COALESCE((SELECT label FROM enrollment_secrets s "
            "WHERE s.id = devices.secret_id), '')"
        )
    )
    bind.execute(
        sa.text("UPDATE devices SET last_seen_at = enrolled_at WHERE last_seen_at IS NULL")
    )
    bind.execute(
        sa.text(
            "UPDATE devices SET acked_version = COALESCE((SELECT MAX(policy_version) FROM "
            "policy_acks a WHERE a.device_id = devices.id), -1)"
        )
    )
    severities: dict[str, list[str]] = defaultdict(list)
    for device_id, severity in bind.execute(
        sa.text("SELECT device_id, severity FROM findings WHERE state = 'open'")
    ):
        severities[device_id].append(severity)
    overdue: dict[str, int] = dict(
        bind.execute(
            sa.text(
                "SELECT device_id, COUNT(*) FROM password_status WHERE state = 'overdue' "
                "GROUP BY device_id"
            )
        ).all()
    )
    updates: list[dict[str, Any]] = []
    for device_id, scanned_at, outcome, coverage, revoked_at in bind.execute(
        sa.text(
            "SELECT id, last_scan_at, last_scan_outcome, last_scan_coverage, revoked_at "
            "FROM devices"
        )
    ):
        if isinstance(coverage, str):
            import json

            coverage = json.loads(coverage)
        sev = severities.get(device_id, [])
        state = device_state(
            DeviceInputs(
                last_scan=ScanOutcome.NONE
                if scanned_at is None
                else ScanOutcome.FAILED
                if outcome == "failed"
                else ScanOutcome.OK,
                coverage=Coverage.from_json(coverage),
                open_findings=len(sev),
                worst_severity=worst_severity(sev),
                overdue_passwords=int(overdue.get(device_id, 0)),
            )
        )
        updates.append(
            {
                "b_id": device_id,
                "n": len(sev),
                "w": worst_severity(sev),
                "o": int(overdue.get(device_id, 0)),
                "s": "revoked" if revoked_at is not None else str(state.state),
            }
        )
    for start in range(0, len(updates), 5000):
        bind.execute(
            sa.text(
                "UPDATE devices SET open_findings = :n, worst_severity = :w, "
                "overdue_passwords = :o, compliance_state = :s WHERE id = :b_id"
            ),
            updates[start : start + 5000],
        )


def _day(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.date() if isinstance(value, datetime) else None


def _backfill_daily(bind: sa.Connection, now: datetime) -> None:
    today = now.date()
    first = today - timedelta(days=BACKFILL_DAYS - 1)
    days = [first + timedelta(days=i) for i in range(BACKFILL_DAYS)]
    index = {d: i for i, d in enumerate(days)}
    n = BACKFILL_DAYS

    def zeros() -> list[int]:
        return [0] * (n + 1)

    groups: dict[str, str] = dict(
        bind.execute(sa.text("SELECT id, group_label FROM devices")).all()
    )
    labels = {"*", *groups.values()}
    devices = {g: zeros() for g in labels}
    new = {g: zeros() for g in labels}
    resolved = {g: zeros() for g in labels}
    open_delta = {g: zeros() for g in labels}
    reports = {g: zeros() for g in labels}

    def span(acc: dict[str, list[int]], group: str, start: date | None, end: date | None) -> None:
        """+1 from `start` (inclusive) to `end` (exclusive) as a difference array."""
        lo = 0 if start is None or start < first else index.get(start, n)
        hi = n if end is None or end > today else (index[end] if end >= first else 0)
        if lo < hi:
            for g in (group, "*"):
                acc[g][lo] += 1
                acc[g][hi] -= 1

    for device_id, enrolled, revoked in bind.execute(
        sa.text("SELECT id, enrolled_at, revoked_at FROM devices")
    ):
        span(devices, groups.get(device_id, ""), _day(enrolled), _day(revoked))
    rows = bind.execute(
        sa.text("SELECT device_id, first_seen, resolved_at, state FROM findings").execution_options(
            yield_per=10_000
        )
    )
    for device_id, first_seen, resolved_at, state in rows:
        group = groups.get(device_id, "")
        seen, gone = _day(first_seen), _day(resolved_at)
        if seen in index:
            for g in (group, "*"):
                new[g][index[seen]] += 1
        if gone in index:
            for g in (group, "*"):
                resolved[g][index[gone]] += 1
        # Open at the end of a day: seen by then and not resolved by then.
        span(open_delta, group, seen, gone if state != "open" else None)
    for device_id, created in bind.execute(sa.text("SELECT device_id, created_at FROM reports")):
        day = _day(created)
        if day in index:
            for g in (groups.get(device_id, ""), "*"):
                reports[g][index[day]] += 1
    table = sa.table(
        "daily_stats",
        sa.column("day", sa.Date()),
        sa.column("group_label", sa.String()),
        sa.column("devices", sa.Integer()),
        sa.column("open_findings", sa.Integer()),
        sa.column("new_findings", sa.Integer()),
        sa.column("resolved_findings", sa.Integer()),
        sa.column("reports_new", sa.Integer()),
        sa.column("computed_at", sa.DateTime()),
    )
    stamp = now.replace(tzinfo=None)
    out: list[dict[str, Any]] = []
    for g in labels:
        dev_running = open_running = 0
        for i, day in enumerate(days):
            dev_running += devices[g][i]
            open_running += open_delta[g][i]
            out.append(
                {
                    "day": day,
                    "group_label": g,
                    "devices": dev_running,
                    "open_findings": open_running,
                    "new_findings": new[g][i],
                    "resolved_findings": resolved[g][i],
                    "reports_new": reports[g][i],
                    "computed_at": stamp,
                }
            )
    for start in range(0, len(out), 5000):
        bind.execute(table.insert(), out[start : start + 5000])


def _audit_pruning(bind: sa.Connection) -> None:
    """The audit trail stays append-only, except for the events older than a cutoff the
    retention pruner (crud.prune) writes into audit_prune_permits in its own transaction."""
    op.create_table(
        "audit_prune_permits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cutoff", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    if bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
        op.execute(
            "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
            "WHEN NOT EXISTS (SELECT 1 FROM audit_prune_permits p WHERE old.at < p.cutoff) "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )
    else:
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "IF TG_OP = 'DELETE' AND EXISTS "
            "(SELECT 1 FROM audit_prune_permits p WHERE OLD.at < p.cutoff) THEN RETURN OLD; END IF; "
            "RAISE EXCEPTION 'audit_events is append-only'; END $$"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
        op.execute(
            "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )
    else:
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$"
        )
    op.drop_table("audit_prune_permits")
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("daily_stats")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        for column in (
            "acked_version",
            "group_label",
            "overdue_passwords",
            "worst_severity",
            "open_findings",
            "compliance_state",
        ):
            batch_op.drop_column(column)
