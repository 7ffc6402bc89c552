"""The management overview: today's figures and the daily rollup (daily_stats) behind 90-day trends.

Figures are computed by `rollup_day` from the device summaries and a few indexed aggregates, at
most every `REFRESH` per worker, and stored one row per day and group ("*" is the whole fleet);
the page reads those rows and never aggregates a million findings while a person waits.
"""

from __future__ import annotations

import statistics
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Integer, and_, delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from protocol.device_state import SEVERITY_ORDER, State
from server.db import session_scope
from server.models import (
    DailyStats,
    Device,
    Finding,
    FindingState,
    PasswordStatus,
    PolicyAck,
    Report,
    ReportMessage,
    ReportStatus,
)
from server.retention import prune

ALL = "*"
TREND_DAYS = 90
REFRESH = timedelta(minutes=10)
_refreshing = threading.Lock()
_pruned_on: dict[str, date] = {}


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def rollup_day(
    session: Session, day: date, now: datetime, offline_after: timedelta, current_policy: int
) -> None:
    """Compute and store `day`'s row for the fleet and for every group (replacing earlier ones).
    Device states, offline and open counts are "as of now": call it for today (and once more
    for yesterday just after midnight), not for days long past."""
    start, end = _day_bounds(day)
    rows: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "devices": 0,
            "compliant": 0,
            "non_compliant": 0,
            "blind": 0,
            "unknown": 0,
            "offline": 0,
            "open_findings": 0,
            "new_findings": 0,
            "resolved_findings": 0,
            "reports_new": 0,
            "reports_open": 0,
            "detail": {
                "by_severity": {},
                "by_category": {},
                "by_rule": {},
                "passwords": {},
                "password_ok_devices": 0,
                "acked_devices": 0,
                "first_answer_hours": None,
            },
        }
    )
    live = Device.revoked_at.is_(None)
    column = {str(s): str(s).replace("-", "_") for s in State}

    def add(group: str, key: str, n: int) -> None:
        for g in (group, ALL):
            rows[g][key] += n

    def add_detail(group: str, key: str, sub: str, n: int) -> None:
        for g in (group, ALL):
            bucket = rows[g]["detail"][key]
            bucket[sub] = bucket.get(sub, 0) + n

    for group, state, n, open_n, ok_pw in session.execute(
        select(
            Device.group_label,
            Device.compliance_state,
            func.count(),
            func.sum(Device.open_findings),
            func.sum(func.cast(Device.overdue_passwords == 0, Integer())),
        )
        .where(live)
        .group_by(Device.group_label, Device.compliance_state)
    ):
        add(group, "devices", int(n))
        add(group, "open_findings", int(open_n or 0))
        if state in column:
            add(group, column[state], int(n))
        for g in (group, ALL):
            rows[g]["detail"]["password_ok_devices"] += int(ok_pw or 0)
    for group, n in session.execute(
        select(Device.group_label, func.count())
        .where(live, Device.last_seen_at < now - offline_after)
        .group_by(Device.group_label)
    ):
        add(group, "offline", int(n))
    group_of = select(Device.group_label).where(Device.id == Finding.device_id).scalar_subquery()
    open_rows = session.execute(
        select(Device.group_label, Finding.severity, Finding.category, func.count())
        .join(Device, Device.id == Finding.device_id)
        .where(Finding.state == FindingState.OPEN.value)
        .group_by(Device.group_label, Finding.severity, Finding.category)
    )
    for group, severity, category, n in open_rows:
        add_detail(group, "by_severity", severity, int(n))
        add_detail(group, "by_category", category, int(n))
    # Open findings per rule: [open, devices, title, category, severity] (the findings page's
    # summary; device counts of the fleet row add up the groups' distinct counts).
    for group, rule_id, n, devices, title, category, severity in session.execute(
        select(
            Device.group_label,
            Finding.rule_id,
            func.count(),
            func.count(func.distinct(Finding.device_id)),
            func.max(Finding.title),
            func.max(Finding.category),
            func.max(Finding.severity),
        )
        .join(Device, Device.id == Finding.device_id)
        .where(Finding.state == FindingState.OPEN.value)
        .group_by(Device.group_label, Finding.rule_id)
    ):
        for g in (group, ALL):
            entry = rows[g]["detail"]["by_rule"].setdefault(
                rule_id, [0, 0, str(title), str(category), str(severity)]
            )
            entry[0] += int(n)
            entry[1] += int(devices)
    for key, column_ in (
        ("new_findings", Finding.first_seen),
        ("resolved_findings", Finding.resolved_at),
    ):
        for group, n in session.execute(
            select(group_of, func.count()).where(column_ >= start, column_ < end).group_by(group_of)
        ):
            add(str(group or ""), key, int(n))
    for group, state, n in session.execute(
        select(Device.group_label, PasswordStatus.state, func.count(func.distinct(Device.id)))
        .join(Device, Device.id == PasswordStatus.device_id)
        .where(live)
        .group_by(Device.group_label, PasswordStatus.state)
    ):
        add_detail(group, "passwords", state, int(n))
    if current_policy:
        for group, n in session.execute(
            select(Device.group_label, func.count(func.distinct(PolicyAck.device_id)))
            .join(Device, Device.id == PolicyAck.device_id)
            .where(live, PolicyAck.policy_version >= current_policy)
            .group_by(Device.group_label)
        ):
            for g in (group, ALL):
                rows[g]["detail"]["acked_devices"] += int(n)
    for group, created, status in session.execute(
        select(Device.group_label, Report.created_at, Report.status).join(
            Device, Device.id == Report.device_id
        )
    ):
        if start <= created < end:
            add(group, "reports_new", 1)
        if status != ReportStatus.RESOLVED.value:
            add(group, "reports_open", 1)
    # Time to first answer: hours from a report to its first reply the reporter saw (last 90 days).
    answers: dict[str, list[float]] = defaultdict(list)
    first_reply = (
        select(ReportMessage.report_id, func.min(ReportMessage.created_at).label("at"))
        .where(ReportMessage.kind == "reply")
        .group_by(ReportMessage.report_id)
        .subquery()
    )
    for group, created, answered in session.execute(
        select(Device.group_label, Report.created_at, first_reply.c.at)
        .join(first_reply, first_reply.c.report_id == Report.id)
        .join(Device, Device.id == Report.device_id)
        .where(Report.created_at >= start - timedelta(days=TREND_DAYS))
    ):
        answered_at = answered if answered.tzinfo else answered.replace(tzinfo=UTC)
        hours = (answered_at - created).total_seconds() / 3600
        answers[group].append(hours)
        answers[ALL].append(hours)
    for g, hours_list in answers.items():
        rows[g]["detail"]["first_answer_hours"] = round(statistics.median(hours_list), 1)
    rows[ALL]  # the fleet row exists even for an empty fleet
    session.execute(delete(DailyStats).where(DailyStats.day == day))
    for g, values in rows.items():
        session.add(DailyStats(day=day, group_label=g, computed_at=now, **values))
    session.flush()


def ensure_fresh(
    sessions: sessionmaker[Session],
    session: Session,
    now: datetime,
    offline_after: timedelta,
    current_policy: int,
    retention_days: int = 0,
) -> None:
    """Today's row, recomputed when older than REFRESH: at once if there is none, else in the
    background (the page shows the previous figures meanwhile)."""
    today = now.date()
    row = session.get(DailyStats, (today, ALL))
    if row is not None and row.detail is not None and now - row.computed_at < REFRESH:
        return

    def work() -> None:
        with session_scope(sessions) as s:
            # Yesterday's figures as the day closed: its last refresh may have come minutes
            # before midnight; one more, just after, is close to right. Backfilled days (no
            # detail) and days the server was down are left as they are.
            yesterday = today - timedelta(days=1)
            midnight = _day_bounds(yesterday)[1]
            closing = s.get(DailyStats, (yesterday, ALL))
            if (
                closing is not None
                and closing.detail is not None
                and closing.computed_at < midnight
                and now - midnight < REFRESH * 6
            ):
                rollup_day(s, yesterday, now, offline_after, current_policy)
            rollup_day(s, today, now, offline_after, current_policy)
            if s.get_bind().dialect.name == "sqlite":
                # Keeps the planner's statistics current as the tables grow (sqlite.org/lang_analyze).
                s.execute(text("PRAGMA optimize"))

    if row is None or row.detail is None:  # none yet, or only what the migration could tell
        # In the request's own transaction: on SQLite it already holds the write lock.
        rollup_day(session, today, now, offline_after, current_policy)
        return
    if _refreshing.acquire(blocking=False):

        def background() -> None:
            try:
                work()
                if retention_days and _pruned_on.get("pruned") != today:
                    # Once a day per process, in batches, outside the rollup's transaction.
                    _pruned_on["pruned"] = today
                    prune(sessions, now, retention_days)
            finally:
                _refreshing.release()

        threading.Thread(target=background, name="wxguard-rollup", daemon=True).start()


@dataclass
class Overview:
    today: DailyStats
    trend: list[DailyStats]  # oldest first, up to TREND_DAYS
    groups: list[str]


def overview(session: Session, now: datetime, group: str) -> Overview | None:
    label = group or ALL
    today = session.get(DailyStats, (now.date(), label))
    if today is None:
        today = session.scalar(
            select(DailyStats)
            .where(DailyStats.group_label == label)
            .order_by(DailyStats.day.desc())
            .limit(1)
        )
    if today is None:
        return None
    since = now.date() - timedelta(days=TREND_DAYS - 1)
    trend = list(
        session.scalars(
            select(DailyStats)
            .where(and_(DailyStats.group_label == label, DailyStats.day >= since))
            .order_by(DailyStats.day)
        )
    )
    groups = [
        str(g)
        for g in session.scalars(
            select(DailyStats.group_label)
            .where(DailyStats.day == today.day, DailyStats.group_label != ALL)
            .order_by(DailyStats.group_label)
        )
    ]
    return Overview(today, trend, groups)


def severity_order(by_severity: dict[str, int]) -> list[tuple[str, int]]:
    known = [(s, by_severity[s]) for s in SEVERITY_ORDER if s in by_severity]
    return known + sorted((k, v) for k, v in by_severity.items() if k not in SEVERITY_ORDER)


def detail_of(session: Session, now: datetime, group: str) -> dict[str, Any] | None:
    """Today's rollup detail for a group ("" for the fleet), None when there is none."""
    row = session.get(DailyStats, (now.date(), group or ALL))
    return row.detail if row is not None else None
