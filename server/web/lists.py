"""Dashboard list pages at fleet scale: fleet, findings, compliance, reports and audit trail.

Each page is one keyset page of a server-side query (server/lists.py) with its filters and sort
in the URL (a GET form), totals for the current filters, and a CSV export of the same rows.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from protocol.device_state import SEVERITY_ORDER
from protocol.policy import policy_label
from server import crud, lists
from server import overview as ov
from server.api.deps import NowDep, SessionDep, StateDep
from server.models import Device, ReportCategory, ReportStatus
from server.web import lists_i18n  # noqa: F401  (the pages' strings)
from server.web.auth import AuditReader, Cap, FleetReader, ReportCounter, SessionDataDep, can
from server.web.render import render

router = APIRouter(include_in_schema=False)

Param = Annotated[str, Query(max_length=200)]
Cursor = Annotated[str, Query(max_length=2000)]


# --- the filters, from the URL (shared by the pages and their CSV exports) ---------------


def fleet_filter(
    state: Annotated[str, Query(max_length=32)] = "",
    presence: Param = "",
    os: Param = "",
    agent: Param = "",
    group: Param = "",
    severity: Param = "",
    findings: Param = "",
    q: Param = "",
    sort: Param = "hostname",
    after: Cursor = "",
    before: Cursor = "",
) -> lists.FleetFilter:
    return lists.FleetFilter(
        state, presence, os, agent, group, severity, findings, q, sort, after, before
    )


def finding_filter(
    state: Annotated[str, Query(max_length=16)] = "open",
    severity: Param = "",
    category: Param = "",
    rule: Param = "",
    group: Param = "",
    device: Param = "",
    q: Param = "",
    sort: Param = "-first_seen",
    after: Cursor = "",
    before: Cursor = "",
) -> lists.FindingFilter:
    return lists.FindingFilter(
        state, severity, category, rule, group, device, q, sort, after, before
    )


def compliance_filter(
    password: Param = "",
    ack: Param = "",
    group: Param = "",
    q: Param = "",
    after: Cursor = "",
    before: Cursor = "",
) -> lists.ComplianceFilter:
    return lists.ComplianceFilter(password, ack, group, q, after, before)


def report_filter(
    status: Param = "",
    category: Param = "",
    assignee: Param = "",
    group: Param = "",
    q: Param = "",
    sort: Param = "-id",
    after: Cursor = "",
    before: Cursor = "",
) -> lists.ReportListFilter:
    return lists.ReportListFilter(status, category, assignee, group, q, sort, after, before)


def audit_filter(
    actor: Param = "", action: Param = "", q: Param = "", after: Cursor = "", before: Cursor = ""
) -> lists.AuditFilter:
    return lists.AuditFilter(actor, action, q, after, before)


FleetFilterDep = Annotated[lists.FleetFilter, Depends(fleet_filter)]
FindingFilterDep = Annotated[lists.FindingFilter, Depends(finding_filter)]
ComplianceFilterDep = Annotated[lists.ComplianceFilter, Depends(compliance_filter)]
ReportFilterDep = Annotated[lists.ReportListFilter, Depends(report_filter)]
AuditFilterDep = Annotated[lists.AuditFilter, Depends(audit_filter)]


def offline_after(state: StateDep, session: SessionDep, now: NowDep) -> timedelta:
    """N heartbeat intervals of the current policy (or the default interval)."""
    interval = state.settings.default_heartbeat_interval_s
    current = crud.current_policy(session, now)
    if current is not None:
        interval = int(json.loads(current.payload).get("heartbeat_interval_s", interval))
    return timedelta(seconds=interval * state.settings.offline_after_heartbeats)


def link(path: str, flt: Any, **changes: str) -> str:
    """`path` with the filter's GET parameters (and `changes`); empty values left out. A link
    starts at the first page unless `changes` names a cursor (`after` / `before`)."""
    params = lists.query_params(flt, **{"after": "", "before": "", **changes})
    return f"{path}?{urlencode(params)}" if params else path


def pager(path: str, flt: Any, page: lists.Page[Any]) -> dict[str, str]:
    """Links to the first, the previous and the next page of the same view (keyset: there is no
    page 7; the previous page is read backwards from this page's first row)."""
    out = {}
    if not page.first:
        out["first"] = link(path, flt)
    if page.prev_cursor:
        out["prev"] = link(path, flt, before=page.prev_cursor)
    if page.next_cursor:
        out["next"] = link(path, flt, after=page.next_cursor)
    return out


# --- fleet -------------------------------------------------------------------------------


@router.get("/fleet")
def fleet(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    data: SessionDataDep,
    _reader: FleetReader,
    flt: FleetFilterDep,
) -> Response:
    window = offline_after(state, session, now)
    result = lists.fleet_page(session, flt, now, window)
    rows = [_device_row(d, now, window) for d in result.page.rows]
    return render(
        request,
        state,
        "fleet.html",
        {
            "rows": rows,
            "result": result,
            "f": result.filter,
            "offline_n": state.settings.offline_after_heartbeats,
            "counts": result.state_counts,
            "pages": pager("/fleet", result.filter, result.page),
            "export": link("/fleet.csv", result.filter, after=""),
            "sort_link": lambda name: link("/fleet", result.filter, sort=name, after=""),
            "state_link": lambda name: link("/fleet", result.filter, state=name, after=""),
            "states": lists.DEVICE_STATES,
            "severities": list(SEVERITY_ORDER),
        },
        session=data,
    )


def _device_row(device: Any, now: Any, window: timedelta) -> crud.DeviceRow:
    computed = crud.device_state_of(
        device, device.open_findings, device.worst_severity, device.overdue_passwords
    )
    revoked = device.revoked_at is not None
    offline = device.last_seen_at is None or now - device.last_seen_at > window
    return crud.DeviceRow(
        device,
        device.open_findings,
        device.worst_severity,
        device.overdue_passwords,
        offline and not revoked,
        "revoked" if revoked else device.compliance_state,
        computed.reasons,
    )


# --- findings ----------------------------------------------------------------------------


@router.get("/findings")
def findings(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    data: SessionDataDep,
    _reader: FleetReader,
    flt: FindingFilterDep,
) -> Response:
    return _findings_page(request, state, session, now, data, flt)


@router.get("/findings/rule/{rule_id}")
def findings_for_rule(
    request: Request,
    rule_id: Annotated[str, Path(max_length=128)],
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    data: SessionDataDep,
    _reader: FleetReader,
    state_: Annotated[str, Query(alias="state", max_length=16)] = "all",
    after: Cursor = "",
    before: Cursor = "",
) -> Response:
    flt = lists.FindingFilter(state=state_, rule=rule_id, after=after, before=before)
    return _findings_page(request, state, session, now, data, flt)


def _findings_page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    data: SessionDataDep,
    flt: lists.FindingFilter,
) -> Response:
    f = flt.normalised()
    rollup = None
    if lists.is_rollup_view(f):
        current = crud.current_policy(session, now)
        ov.ensure_fresh(
            state.sessions,
            session,
            now,
            offline_after(state, session, now),
            current.version if current else 0,
            read_sessions=state.read_sessions,
        )
        rollup = ov.detail_of(session, now, f.group)
    result = lists.findings_page(session, f, rollup)
    f = result.filter
    # The per-rule summary is the first page's overview; narrowed views skip it.
    rules = (
        lists.rules_summary(session, f, rollup=rollup) if result.page.first and not f.rule else []
    )
    return render(
        request,
        state,
        "findings.html",
        {
            "result": result,
            "f": f,
            "rules": rules,
            "as_of": result.from_rollup,
            "pages": pager("/findings", f, result.page),
            "export": link("/findings.csv", f, after=""),
            "sort_link": lambda name: link("/findings", f, sort=name, after=""),
            "rule_link": lambda rule_id: link("/findings", f, rule=rule_id, after=""),
            "titles": crud.rule_titles(
                session, [r.rule_id for r in rules] + ([f.rule] if f.rule else [])
            ),
            "states": lists.FINDING_STATES,
            "severities": list(SEVERITY_ORDER),
            "groups": lists.distinct_values(session, Device.group_label),
        },
        session=data,
    )


# --- compliance --------------------------------------------------------------------------


@router.get("/compliance")
def compliance(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    data: SessionDataDep,
    _reader: FleetReader,
    flt: ComplianceFilterDep,
) -> Response:
    current = crud.current_policy(session, now)
    version = current.version if current else 0
    result = lists.compliance_page(session, flt, version)
    return render(
        request,
        state,
        "compliance.html",
        {
            "result": result,
            "f": result.filter,
            "rows": result.page.rows,
            "current": version,
            "current_label": crud.label_of(current),
            "label_of_ack": lambda row: (
                policy_label(row.acked_version, row.acked_text) if row.acked_version >= 0 else "—"
            ),
            "pages": pager("/compliance", result.filter, result.page),
            "export": link("/compliance.csv", result.filter, after=""),
            "password_filters": lists.PASSWORD_FILTERS,
            "ack_filters": lists.ACK_FILTERS,
            "groups": lists.distinct_values(session, Device.group_label),
        },
        session=data,
    )


# --- reports -----------------------------------------------------------------------------


@router.get("/reports")
def reports(
    request: Request,
    state: StateDep,
    session: SessionDep,
    data: SessionDataDep,
    admin: ReportCounter,
    flt: ReportFilterDep,
) -> Response:
    result = lists.reports_page(session, flt)
    f = result.filter
    readable = can(admin, Cap.REPORTS_READ)  # a viewer sees how many, never what
    return render(
        request,
        state,
        "reports.html",
        {
            "result": result,
            "f": f,
            "reports": result.page.rows if readable else [],
            "counts_only": not readable,
            "counts": result.status_counts,
            "status": f.status,
            "statuses": [s.value for s in ReportStatus],
            "categories": [c.value for c in ReportCategory],
            "admins": [a.username for a in crud.admins(session)] if readable else [],
            "groups": lists.distinct_values(session, Device.group_label),
            "status_link": lambda name: link("/reports", f, status=name, after=""),
            "pages": pager("/reports", f, result.page),
            "export": link("/reports.csv", f, after=""),
        },
        session=data,
    )


# --- audit trail -------------------------------------------------------------------------


@router.get("/audit")
def audit(
    request: Request,
    state: StateDep,
    session: SessionDep,
    data: SessionDataDep,
    admin: AuditReader,
    flt: AuditFilterDep,
) -> Response:
    own_only = not can(admin, Cap.AUDIT_READ)  # a security analyst reads their own actions
    if own_only:
        flt.actor = f"admin:{admin.username}"
    page, flt = lists.audit_page(session, flt)
    return render(
        request,
        state,
        "audit.html",
        {
            "events": page.rows,
            "page": page,
            "f": flt,
            "pages": pager("/audit", flt, page),
            "export": link("/audit.csv", flt, after=""),
            "own_only": own_only,
        },
        session=data,
    )
