"""The management overview: today's figures and the daily rollup (daily_stats) behind 90-day trends.

Figures are computed by `rollup_day` from the device summaries and a few indexed aggregates, at
most every `REFRESH` per worker, and stored one row per day and group ("*" is the whole fleet);
the page reads those rows and never aggregates a million findings while a person waits.
"""

from __future__ import annotations

import logging
import statistics
import threading
from collections import defaultdict
from collections.abc import Callable
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
log = logging.getLogger("wxguard.server.overview")


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def rollup_day(
    session: Session, day: date, now: datetime, offline_after: timedelta, current_policy: int
) -> None:
    """Compute and store `day`'s row for the fleet and for every group (replacing earlier ones).
    Device states, offline and open counts are "as of now": call it for today (and once more
    for yesterday just after midnight), not for days long past."""
    store_day(session, day, now, compute_day(session, day, now, offline_after, current_policy))


def store_day(session: Session, day: date, now: datetime, rows: dict[str, dict[str, Any]]) -> None:
    """Replace `day`'s rows by `rows` (group -> figures): a short write."""
    session.execute(delete(DailyStats).where(DailyStats.day == day))
    for g, values in rows.items():
        session.add(DailyStats(day=day, group_label=g, computed_at=now, **values))
    session.flush()


def compute_day(
    session: Session, day: date, now: datetime, offline_after: timedelta, current_policy: int
) -> dict[str, dict[str, Any]]:
    """`day`'s figures per group ("*": the fleet), read only (no write lock held meanwhile)."""
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
                "by_kind": {},
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
        # Both at once ("severity|category"): the findings list narrowed by either or both.
        add_detail(group, "by_kind", f"{severity}|{category}", int(n))
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
    return dict(rows)


def is_fresh(row: DailyStats | None, now: datetime) -> bool:
    """Computed less than REFRESH ago, by this version (one made before `by_kind` was kept is
    recomputed at once: the findings list's narrowed totals read it)."""
    return (
        row is not None
        and row.detail is not None
        and "by_kind" in row.detail
        and now - row.computed_at < REFRESH
    )


def ensure_fresh(
    sessions: sessionmaker[Session],
    session: Session,
    now: datetime,
    offline_after: timedelta,
    current_policy: int,
    retention_days: int = 0,
    read_sessions: sessionmaker[Session] | None = None,
) -> bool:
    """True when today's row is fresh; else starts recomputing it in the background (one
    refresh per process at a time) and returns False. Never computes while the caller waits:
    a page shows the newest figures there are and says they are being computed."""
    today = now.date()
    if is_fresh(session.get(DailyStats, (today, ALL)), now):
        return True
    start_refresh(sessions, now, offline_after, current_policy, retention_days, read_sessions)
    return False


def start_refresh(
    sessions: sessionmaker[Session],
    now: datetime,
    offline_after: timedelta,
    current_policy: int,
    retention_days: int = 0,
    read_sessions: sessionmaker[Session] | None = None,
) -> threading.Thread | None:
    """Recompute today's rows (and yesterday's closing figures just after midnight) on a thread
    of its own; None when this process is already doing so."""
    if not _refreshing.acquire(blocking=False):
        return None

    def background() -> None:
        try:
            refresh(sessions, now, offline_after, current_policy, read_sessions)
            if retention_days and _pruned_on.get("pruned") != now.date():
                # Once a day per process, in batches, outside the rollup's transaction.
                _pruned_on["pruned"] = now.date()
                prune(sessions, now, retention_days)
        except Exception:  # a failed refresh leaves the previous figures; the next one retries
            log.exception("the overview rollup failed")
        finally:
            _refreshing.release()

    thread = threading.Thread(target=background, name="wxguard-rollup", daemon=True)
    thread.start()
    return thread


def refreshing() -> bool:
    """This process is recomputing the rollup now."""
    return _refreshing.locked()


def refresh(
    sessions: sessionmaker[Session],
    now: datetime,
    offline_after: timedelta,
    current_policy: int,
    read_sessions: sessionmaker[Session] | None = None,
) -> None:
    """Recompute today's rows unless they are fresh (another worker process may just have).
    The figures are read in a read transaction (`read_sessions`: on SQLite it takes no write
    lock, which a 100,000-device rollup held for tens of seconds, so logins and heartbeats
    failed with "database is locked"), then stored in one short write."""
    today = now.date()
    yesterday = today - timedelta(days=1)
    midnight = _day_bounds(yesterday)[1]
    with (read_sessions or sessions)() as r:
        if is_fresh(r.get(DailyStats, (today, ALL)), now):
            return
        # Yesterday's figures as the day closed: its last refresh may have come minutes
        # before midnight; one more, just after, is close to right. Backfilled days (no
        # detail) and days the server was down are left as they are.
        closing = r.get(DailyStats, (yesterday, ALL))
        days = [today]
        if (
            closing is not None
            and closing.detail is not None
            and closing.computed_at < midnight
            and now - midnight < REFRESH * 6
        ):
            days.insert(0, yesterday)
        figures = {d: compute_day(r, d, now, offline_after, current_policy) for d in days}
        r.rollback()
    with session_scope(sessions) as s:
        if s.get_bind().dialect.name == "postgresql" and not s.scalar(
            # One worker process at a time (the others' refreshes would only repeat it).
            text("SELECT pg_try_advisory_xact_lock(17170001)")
        ):
            return
        if is_fresh(s.get(DailyStats, (today, ALL)), now):
            return
        for d, rows in figures.items():
            store_day(s, d, now, rows)
        if s.get_bind().dialect.name == "sqlite":
            # Keeps the planner's statistics current as the tables grow (sqlite.org/lang_analyze).
            s.execute(text("PRAGMA optimize"))


class Schedule:
    """The periodic job of a server process: the rollup at start-up and every REFRESH after,
    so no page ever waits for it. `tick` computes its inputs (time, policy) and calls
    `start_refresh`; it runs on this schedule's own thread."""

    def __init__(self, tick: Callable[[], None], every: timedelta = REFRESH) -> None:
        self._tick = tick
        self._every = every.total_seconds()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="wxguard-schedule", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:
                log.exception("the periodic job failed")
            self._stop.wait(self._every)

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


@dataclass
class Overview:
    today: DailyStats
    trend: list[DailyStats]  # oldest first, up to TREND_DAYS
    groups: list[str]


def overview(session: Session, now: datetime, group: str) -> Overview | None:
    label = group or ALL
    today = session.get(DailyStats, (now.date(), label))
    if today is None or today.detail is None:
        # Today's figures are being computed: the newest there are, with their date.
        today = latest(session, label) or today
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


def latest(session: Session, label: str) -> DailyStats | None:
    """The newest row of a group ("*": the fleet) that has today's kind of figures (detail)."""
    return session.scalar(
        select(DailyStats)
        .where(DailyStats.group_label == label, DailyStats.detail.is_not(None))
        .order_by(DailyStats.day.desc())
        .limit(1)
    )


def detail_of(session: Session, now: datetime, group: str) -> dict[str, Any] | None:
    """The rollup detail for a group ("" for the fleet): today's, or while today's is being
    computed the newest of the last two days; None when there is none."""
    row = session.get(DailyStats, (now.date(), group or ALL))
    if row is None or row.detail is None:
        row = latest(session, group or ALL)
        if row is not None and now.date() - row.day > timedelta(days=1):
            return None
    return row.detail if row is not None else None
