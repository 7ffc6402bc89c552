"""The monthly compliance report for auditors (`/reports/monthly?month=YYYY-MM`) and its CSV,
in the reader's language, the month's bounds in the reader's time zone (server/monthly.py).

Readers of incident reports (`reports.read`: administrators and security analysts) may open it:
it counts reports and the time to resolve them, besides the fleet's figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from protocol.names import SEVERITY_WORDS
from server import crud, exports
from server.api.deps import ClientIpDep, NowDep, SessionDep, StateDep
from server.lists import distinct_values
from server.models import Device
from server.monthly import MonthlyReport, monthly_report, parse_month, shift
from server.web.auth import ReportReader, SessionDataDep
from server.web.i18n import translator
from server.web.render import render, request_lang, time_formatter, viewer_zone

router = APIRouter(include_in_schema=False)

# This page's strings (zh, en); keys are stable.
MESSAGES: dict[str, tuple[str, str]] = {
    "monthly.title": ("月度合规报告", "Monthly compliance report"),
    "monthly.period": (
        "统计区间：{start} 至 {end}（不含）",
        "Period: {start} to {end} (exclusive)",
    ),
    "monthly.previous": ("上个月", "Previous month"),
    "monthly.next": ("下个月", "Next month"),
    "monthly.csv": ("下载 CSV", "Download CSV"),
    "monthly.pick": ("月份", "Month"),
    "monthly.show": ("显示", "Show"),
    "monthly.bad_month.title": ("月份无效", "Not a month"),
    "monthly.bad_month": (
        "请按“年-月”填写月份，例如 2026-03。下面显示的是上个月。",
        "Give the month as year-month, e.g. 2026-03. The previous month is shown below.",
    ),
    "monthly.zone": ("时区", "Time zone"),
    "monthly.group": ("设备组", "Device group"),
    "monthly.all": ("全部设备", "all devices"),
    "monthly.start": ("开始（含）", "Start (inclusive)"),
    "monthly.end": ("结束（不含）", "End (exclusive)"),
    "monthly.devices": ("月末已注册设备", "Devices enrolled at month end"),
    "monthly.share_end": ("月末合规比例", "Share compliant at month end"),
    "monthly.share_avg": ("本月平均合规比例", "Share compliant, average over the month"),
    "monthly.share_note": (
        "来自每日汇总：月末数据取自 {day}，平均值基于 {n} 天的数据。",
        "From the daily rollup: the month-end figure is of {day}; the average covers {n} days.",
    ),
    "monthly.no_rollup": ("本月没有每日汇总数据", "no daily rollup for this month"),
    "monthly.overdue": ("月末密码逾期设备", "Devices with an overdue password at month end"),
    "monthly.not_recorded": ("未记录", "not recorded"),
    "monthly.findings": ("发现（按严重程度）", "Findings by severity"),
    "monthly.severity": ("严重程度", "Severity"),
    "monthly.opened": ("新出现", "Opened"),
    "monthly.resolved": ("已解决", "Resolved"),
    "monthly.total": ("合计", "Total"),
    "monthly.reports": ("事件报告", "Incident reports"),
    "monthly.received": ("收到的报告", "Reports received"),
    "monthly.reports_resolved": ("已解决的报告", "Reports resolved"),
    "monthly.median": ("解决报告的时间中位数", "Median time to resolve a report"),
    "monthly.hours": ("{n} 小时", "{n} hours"),
    "monthly.sources": (
        "数据来源：设备注册与吊销时间；每日汇总（合规比例、密码状态）；发现的首次出现与解决时间；"
        "报告的提交时间，以及审计日志中报告状态改为“已解决”的时间。",
        "Sources: device enrollment and revocation times; the daily rollup (share compliant, "
        "password states); findings' first-seen and resolved times; reports' filing times and "
        "the audit trail's changes of a report to resolved.",
    ),
    "csv.month": ("月份", "month"),
    "csv.key": ("指标代码", "key"),
    "csv.figure": ("指标", "figure"),
    "csv.value": ("数值", "value"),
}
_EN_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def _t(lang: str) -> Callable[..., str]:
    index = 0 if lang == "zh" else 1
    common = translator(lang)

    def t(key: str, **params: object) -> str:
        pair = MESSAGES.get(key)
        if pair is None:
            return common(key, **params)
        return pair[index].format(**params) if params else pair[index]

    return t


def month_name(year: int, month: int, lang: str) -> str:
    return f"{year}年{month}月" if lang == "zh" else f"{_EN_MONTHS[month - 1]} {year}"


def _pct(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f}%"


def _chosen(month: str, now: datetime, zone: ZoneInfo) -> tuple[int, int, bool]:
    """(year, month, valid): the asked month, or the previous one (in `zone`)."""
    parsed = parse_month(month) if month else None
    if parsed is not None:
        return parsed[0], parsed[1], True
    local = now.astimezone(zone)
    year, mon = shift(local.year, local.month, -1)
    return year, mon, not month


def figures(report: MonthlyReport, lang: str) -> list[tuple[str, str, str]]:
    """(stable key, figure in `lang`, value) rows: the CSV's body, in the page's order."""
    t = _t(lang)
    overdue = report.overdue_devices
    zone = ZoneInfo(report.zone)
    rows = [
        ("group", t("monthly.group"), report.group or t("monthly.all")),
        ("time_zone", t("monthly.zone"), report.zone),
        ("period_start", t("monthly.start"), report.start.astimezone(zone).isoformat()),
        ("period_end", t("monthly.end"), report.end.astimezone(zone).isoformat()),
        ("devices_at_end", t("monthly.devices"), str(report.devices_at_end)),
        ("compliant_share_end", t("monthly.share_end"), _pct(report.compliant_share_end)),
        ("compliant_share_avg", t("monthly.share_avg"), _pct(report.compliant_share_avg)),
        (
            "password_overdue_devices",
            t("monthly.overdue"),
            str(overdue) if overdue is not None else t("monthly.not_recorded"),
        ),
    ]
    for kind, counts in (("opened", report.opened), ("resolved", report.resolved)):
        for severity, n in counts.items():
            word = SEVERITY_WORDS.get(severity, (severity, severity))[0 if lang == "zh" else 1]
            rows.append((f"findings_{kind}.{severity}", f"{t('monthly.' + kind)} · {word}", str(n)))
    hours = report.median_resolve_hours
    rows += [
        ("reports_received", t("monthly.received"), str(report.reports_received)),
        ("reports_resolved", t("monthly.reports_resolved"), str(report.reports_resolved)),
        (
            "median_resolve_hours",
            t("monthly.median"),
            t("monthly.hours", n=hours) if hours is not None else "—",
        ),
    ]
    return rows


@router.get("/reports/monthly")
def monthly_page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    data: SessionDataDep,
    _admin: ReportReader,
    month: Annotated[str, Query(max_length=16)] = "",
    group: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    lang = request_lang(request)
    zone = viewer_zone(request, lang)
    year, mon, valid = _chosen(month, now, zone)
    report = monthly_report(session, year, mon, zone, group.strip())
    fmt = time_formatter(zone)
    prev_y, prev_m = shift(year, mon, -1)
    next_y, next_m = shift(year, mon, 1)
    return render(
        request,
        state,
        "monthly.html",
        {
            "t": _t(lang),
            "r": report,
            "name": month_name(year, mon, lang),
            "period": (fmt(report.start), fmt(report.end)),
            "previous": f"{prev_y:04d}-{prev_m:02d}",
            # No link into months that have not begun.
            "next": f"{next_y:04d}-{next_m:02d}" if report.end <= now else None,
            "pct": _pct,
            "groups": distinct_values(session, Device.group_label),
            "group_query": f"&group={quote(report.group)}" if report.group else "",
            "error": None if valid else ("monthly.bad_month.title", "monthly.bad_month", {}),
        },
        session=data,
        status=200 if valid else 422,
    )


@router.get("/reports/monthly.csv")
def monthly_csv(
    request: Request,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    admin: ReportReader,
    month: Annotated[str, Query(max_length=16)] = "",
    group: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    lang = request_lang(request)
    zone = viewer_zone(request, lang)
    year, mon, valid = _chosen(month, now, zone)
    if not valid:
        t = _t(lang)
        return Response(t("monthly.bad_month"), status_code=422, media_type="text/plain")
    report = monthly_report(session, year, mon, zone, group.strip())
    crud.audit(
        session,
        now,
        f"admin:{admin.username}",
        "export",
        "monthly",
        ip,
        {
            "month": report.label,
            "zone": zone.key,
            **({"group": report.group} if report.group else {}),
        },
    )
    columns = [
        (key, f"{MESSAGES[key][0]} / {MESSAGES[key][1]}")
        for key in ("csv.month", "csv.key", "csv.figure", "csv.value")
    ]

    def rows() -> Iterator[dict[str, Any]]:
        for key, figure, value in figures(report, lang):
            yield {
                "csv.month": report.label,
                "csv.key": key,
                "csv.figure": figure,
                "csv.value": value,
            }

    return StreamingResponse(
        exports.csv_stream(columns, rows()),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="wxguard-monthly-{report.label}.csv"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
