"""The overview home page for management: today's figures and 90-day trends as inline SVG.

Charts are drawn on the server (no script, nothing fetched: the strict CSP stays as it is);
the figures come from the daily rollup (server/overview.py), never from all rows per view.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup, escape

from server import crud
from server import overview as ov
from server.api.deps import NowDep, SessionDep, StateDep
from server.models import DailyStats
from server.state import AppState
from server.web import lists_i18n
from server.web.auth import FleetReader, SessionDataDep
from server.web.i18n import MESSAGES, translator
from server.web.lists import offline_after
from server.web.render import render, request_lang

router = APIRouter(include_in_schema=False)

MESSAGES.update(
    {
        k: v
        for k, v in {
            "nav.overview": ("概览", "Overview"),
            "overview.title": ("合规概览", "Compliance overview"),
            "overview.devices": ("设备", "Devices"),
            "overview.offline": ("离线", "Offline"),
            "overview.open_findings": ("未解决发现", "Open findings"),
            "overview.by_severity": ("按严重程度", "By severity"),
            "overview.by_category": ("按类别", "By category"),
            "overview.password_ok": ("密码期限合规", "Password age compliant"),
            "overview.ack_rate": ("当前策略确认率", "Current policy acknowledged"),
            "overview.reports_open": ("未结事件报告", "Open incident reports"),
            "overview.first_answer": ("首次答复（中位数）", "Time to first answer (median)"),
            "overview.hours": ("{n} 小时", "{n} h"),
            "overview.trends": ("最近 90 天趋势", "Trends, last 90 days"),
            "overview.trend_states": ("设备合规状态", "Device compliance"),
            "overview.trend_open": ("未解决发现", "Open findings"),
            "overview.trend_flow": ("每日新增与解决的发现", "Findings new and resolved per day"),
            "overview.trend_reports": ("每日新报告", "New reports per day"),
            "overview.computed": (
                "数据更新于 {at}（每 10 分钟）",
                "Figures as of {at} (every 10 minutes)",
            ),
            "overview.gaps": (
                "启用本功能之前的日期没有设备合规状态的历史（无法从现有数据重建），图中该段为空。",
                "Days before this feature was installed have no history of device states (it "
                "cannot be rebuilt from the rows kept), so those lines start later.",
            ),
            "overview.none": ("还没有数据。", "No figures yet."),
            "overview.computing": (
                "今天的数据正在后台计算中，显示的是 {at} 的数据；本页会自动刷新。",
                "Today's figures are being computed in the background; these are the figures "
                "as of {at}. This page reloads by itself.",
            ),
            "overview.computing_none": (
                "数据正在后台计算中（大型设备群需要几秒到几分钟）；本页会自动刷新。",
                "The figures are being computed in the background (seconds to minutes for a "
                "large fleet). This page reloads by itself.",
            ),
            "overview.all_groups": ("全部分组", "all groups"),
        }.items()
        if k not in MESSAGES
    }
)
assert lists_i18n.LIST_MESSAGES  # the list strings are loaded too

COLORS = {
    "compliant": "#2e7d32",
    "non_compliant": "#c62828",
    "blind": "#ef6c00",
    "offline": "#616161",
    "open_findings": "#c62828",
    "new_findings": "#c62828",
    "resolved_findings": "#2e7d32",
    "reports_new": "#1565c0",
}


def line_chart(
    chart_id: str,
    title: str,
    days: Sequence[date],
    series: Sequence[tuple[str, str, Sequence[int | None]]],
    width: int = 720,
    height: int = 160,
) -> Markup:
    """An inline SVG line chart: one polyline per (key, label, values); None leaves a gap."""
    left, bottom, top, right = 44, 20, 8, 8
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([v for _k, _l, values in series for v in values if v is not None] or [0]) or 1
    n = max(len(days), 2)

    def xy(i: int, v: int) -> str:
        x = left + plot_w * i / (n - 1)
        y = top + plot_h * (1 - v / peak)
        return f"{x:.1f},{y:.1f}"

    parts = [
        f'<svg id="{chart_id}" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        'stroke="#999"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" font-size="10">{peak}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" font-size="10">0</text>',
    ]
    if days:
        parts.append(
            f'<text x="{left}" y="{height - 4}" font-size="10">{days[0].isoformat()}</text>'
        )
        parts.append(
            f'<text x="{width - right}" y="{height - 4}" text-anchor="end" font-size="10">'
            f"{days[-1].isoformat()}</text>"
        )
    for key, label, values in series:
        segment: list[str] = []
        segments: list[list[str]] = []
        for i, v in enumerate(values):
            if v is None:
                if segment:
                    segments.append(segment)
                segment = []
            else:
                segment.append(xy(i, v))
        if segment:
            segments.append(segment)
        color = COLORS.get(key, "#333")
        for points in segments:
            if len(points) == 1:
                x, y = points[0].split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="2" fill="{color}"/>')
            else:
                parts.append(
                    f'<polyline class="series-{key}" fill="none" stroke="{color}" '
                    f'stroke-width="1.5" points="{" ".join(points)}"><title>{escape(label)}'
                    "</title></polyline>"
                )
    parts.append("</svg>")
    legend = " ".join(
        f'<span class="legend" style="border-left: 1em solid {COLORS.get(k, "#333")}; '
        f'padding-left: .3em">{escape(label)}</span>'
        for k, label, _values in series
    )
    return Markup("".join(parts) + f'<p class="legend">{legend}</p>')


def schedule(state: AppState) -> ov.Schedule:
    """The server process's periodic job: the overview rollup at start-up and every 10 minutes
    (server/overview.py), so the first person to open the overview does not wait for it."""

    def tick() -> None:
        with state.sessions() as session:
            now = state.clock.now()
            current = crud.current_policy(session, now)
            window = offline_after(state, session, now)
            if ov.is_fresh(session.get(DailyStats, (now.date(), ov.ALL)), now):
                return
        ov.start_refresh(
            state.sessions,
            now,
            window,
            current.version if current else 0,
            state.settings.retention_days,
            state.read_sessions,
        )

    return ov.Schedule(tick)


@router.get("/overview")
def overview_page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    data: SessionDataDep,
    _reader: FleetReader,
    group: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    current = crud.current_policy(session, now)
    version = current.version if current else 0
    fresh = ov.ensure_fresh(
        state.sessions,
        session,
        now,
        offline_after(state, session, now),
        version,
        state.settings.retention_days,
        state.read_sessions,
    )
    found = ov.overview(session, now, group.replace("\x00", ""))
    # Being computed: today's figures are not there yet (or are older than the refresh).
    computing = not fresh and (
        found is None or found.today.detail is None or found.today.day != now.date()
    )
    t = translator(request_lang(request))
    charts: list[Markup] = []
    if found is not None:
        days = [r.day for r in found.trend]

        def values(name: str) -> list[int | None]:
            return [getattr(r, name) for r in found.trend]

        charts = [
            line_chart(
                "chart-states",
                t("overview.trend_states"),
                days,
                [
                    ("compliant", t("state.compliant"), values("compliant")),
                    ("non_compliant", t("state.non-compliant"), values("non_compliant")),
                    ("blind", t("state.blind"), values("blind")),
                    ("offline", t("overview.offline"), values("offline")),
                ],
            ),
            line_chart(
                "chart-open",
                t("overview.trend_open"),
                days,
                [("open_findings", t("overview.trend_open"), values("open_findings"))],
            ),
            line_chart(
                "chart-flow",
                t("overview.trend_flow"),
                days,
                [
                    ("new_findings", t("findings.new"), values("new_findings")),
                    ("resolved_findings", t("findings.resolved"), values("resolved_findings")),
                ],
            ),
            line_chart(
                "chart-reports",
                t("overview.trend_reports"),
                days,
                [("reports_new", t("overview.trend_reports"), values("reports_new"))],
            ),
        ]
    detail = (found.today.detail or {}) if found else {}
    return render(
        request,
        state,
        "overview.html",
        {
            "o": found,
            "d": detail,
            "computing": computing,
            "group": group,
            "charts": charts,
            "severities": ov.severity_order(detail.get("by_severity", {})),
            "categories": sorted(detail.get("by_category", {}).items(), key=lambda kv: -kv[1]),
            "current": version,
            "pct": lambda a, b: f"{100 * a / b:.0f} %" if b else "—",
        },
        session=data,
    )
