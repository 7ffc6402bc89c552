"""The monthly compliance report for auditors (issue 17): one calendar month's figures, with the
month's bounds in the reader's time zone.

Where each figure comes from:
- devices enrolled at month end: devices enrolled before the month's end and not revoked by
  then (`Device.enrolled_at`, `revoked_at`; a device enrolled again later carries its newer
  enrollment time, so it is missing from months before that);
- share compliant and password-overdue devices: the daily rollup (`daily_stats`, fleet row "*",
  server/overview.py) — the last day of the month that has figures, and the month's average
  share over its days with figures; days the migration backfilled have no password figures;
- findings opened / resolved by severity: `Finding.first_seen` / `resolved_at` within the month
  (resolved findings are pruned after `retention_days`, a year by default);
- incident reports received: `Report.created_at` within the month; resolved: reports whose
  last change to "resolved" in the month is in the audit trail (`report.status`, to
  "resolved"), and the median hours from the report to that change.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from protocol.device_state import SEVERITY_ORDER
from server.models import AuditEvent, DailyStats, Device, Finding, Report, ReportStatus
from server.overview import ALL

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_CASE = re.compile(r"^WXG-(\d{1,12})$")


def parse_month(text: str) -> tuple[int, int] | None:
    """ "2026-03" -> (2026, 3); None for anything else (years 2000–2999)."""
    match = _MONTH.match(text.strip())
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    return (year, month) if 2000 <= year <= 2999 and 1 <= month <= 12 else None


def shift(year: int, month: int, by: int) -> tuple[int, int]:
    """The month `by` months after (before, if negative) year-month."""
    index = year * 12 + month - 1 + by
    return index // 12, index % 12 + 1


def bounds(year: int, month: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, in `zone`, as UTC times."""
    ny, nm = shift(year, month, 1)
    start = datetime(year, month, 1, tzinfo=zone).astimezone(UTC)
    return start, datetime(ny, nm, 1, tzinfo=zone).astimezone(UTC)


@dataclass
class MonthlyReport:
    year: int
    month: int
    zone: str
    group: str  # "": the whole fleet
    start: datetime  # UTC
    end: datetime  # UTC, exclusive
    devices_at_end: int
    compliant_share_end: float | None  # 0..1, None: no rollup day in the month
    compliant_share_avg: float | None
    rollup_day: date | None  # the day the month-end figures are from
    rollup_days: int  # days of the month with compliance figures
    overdue_devices: int | None  # None: the rollup day has no password figures
    opened: dict[str, int] = field(default_factory=dict)  # severity -> findings
    resolved: dict[str, int] = field(default_factory=dict)
    reports_received: int = 0
    reports_resolved: int = 0
    median_resolve_hours: float | None = None

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def _by_severity(
    session: Session, column: Any, start: datetime, end: datetime, group: str
) -> dict[str, int]:
    query = select(Finding.severity, func.count()).where(column >= start, column < end)
    if group:
        query = query.join(Device, Device.id == Finding.device_id).where(
            Device.group_label == group
        )
    counts = {str(s): int(n) for s, n in session.execute(query.group_by(Finding.severity))}
    order = list(SEVERITY_ORDER) + sorted(set(counts) - set(SEVERITY_ORDER))
    return {s: counts.get(s, 0) for s in order}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def monthly_report(
    session: Session, year: int, month: int, zone: ZoneInfo, group: str = ""
) -> MonthlyReport:
    """The figures of year-month, its bounds in `zone` (see the module's note for sources);
    `group`: only that device group's (devices, findings and reports of the devices in it now;
    the rollup's figures of the group as it was each day)."""
    start, end = bounds(year, month, zone)
    in_group = [Device.group_label == group] if group else []
    devices = int(
        session.scalar(
            select(func.count())
            .select_from(Device)
            .where(
                Device.enrolled_at < end,
                (Device.revoked_at.is_(None)) | (Device.revoked_at >= end),
                *in_group,
            )
        )
        or 0
    )
    # Rollup days are UTC days; a day belongs to the month its first instant falls in.
    rows = [
        r
        for r in session.scalars(
            select(DailyStats)
            .where(
                DailyStats.group_label == (group or ALL),
                DailyStats.day >= start.date(),
                DailyStats.day <= end.date(),
            )
            .order_by(DailyStats.day)
        )
        if start <= datetime(r.day.year, r.day.month, r.day.day, tzinfo=UTC) < end
        and r.devices
        and r.compliant is not None
    ]
    shares = [(r.compliant or 0) / (r.devices or 1) for r in rows]
    last = rows[-1] if rows else None
    overdue: int | None = None
    if last is not None and last.detail is not None:
        overdue = int(last.detail.get("passwords", {}).get("overdue", 0))
    of_group = (
        [Report.device_id.in_(select(Device.id).where(Device.group_label == group))]
        if group
        else []
    )
    received = int(
        session.scalar(
            select(func.count())
            .select_from(Report)
            .where(Report.created_at >= start, Report.created_at < end, *of_group)
        )
        or 0
    )
    # The last change to "resolved" of each case within the month (the audit trail).
    resolved_at: dict[int, datetime] = {}
    for target, at, detail in session.execute(
        select(AuditEvent.target, AuditEvent.at, AuditEvent.detail)
        .where(AuditEvent.action == "report.status", AuditEvent.at >= start, AuditEvent.at < end)
        .order_by(AuditEvent.id)
    ):
        case = _CASE.match(target or "")
        if case and (detail or {}).get("to") == ReportStatus.RESOLVED.value:
            resolved_at[int(case.group(1))] = _aware(at)
    hours: list[float] = []
    if resolved_at:
        for report_id, created in session.execute(
            select(Report.id, Report.created_at).where(Report.id.in_(list(resolved_at)), *of_group)
        ):
            hours.append((resolved_at[report_id] - _aware(created)).total_seconds() / 3600)
    return MonthlyReport(
        year=year,
        month=month,
        zone=zone.key,
        group=group,
        start=start,
        end=end,
        devices_at_end=devices,
        compliant_share_end=shares[-1] if shares else None,
        compliant_share_avg=sum(shares) / len(shares) if shares else None,
        rollup_day=last.day if last else None,
        rollup_days=len(rows),
        overdue_devices=overdue,
        opened=_by_severity(session, Finding.first_seen, start, end, group),
        resolved=_by_severity(session, Finding.resolved_at, start, end, group),
        reports_received=received,
        reports_resolved=len(hours),
        median_resolve_hours=round(statistics.median(hours), 1) if hours else None,
    )
