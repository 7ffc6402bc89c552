"""CSV exports of the dashboard's lists: the same filters as the page, streamed row by row."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from server import crud, exports
from server.api.deps import ClientIpDep, NowDep, SessionDep, StateDep
from server.state import AppState
from server.web.auth import AuditReader, Cap, FleetReader, ReportReader, can
from server.web.lists import (
    AuditFilterDep,
    ComplianceFilterDep,
    FindingFilterDep,
    FleetFilterDep,
    ReportFilterDep,
    offline_after,
)

router = APIRouter(include_in_schema=False)


def _stream(
    state: AppState,
    name: str,
    now: datetime,
    columns: list[tuple[str, str]],
    rows: Callable[[Session], Iterator[dict[str, Any]]],
) -> StreamingResponse:
    def body() -> Iterator[bytes]:
        # Its own read session: the request's session is committed and closed before the first
        # byte leaves, and an export of a million rows must not hold the write gate meanwhile.
        with state.read_sessions() as session:
            yield from exports.csv_stream(columns, rows(session))

    filename = f"wxguard-{name}-{now:%Y%m%d-%H%M}.csv"
    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


def _audit(session: Session, now: datetime, admin: Any, ip: str, name: str, flt: Any) -> None:
    # Exports carry personal data (host names, users, reports): who took which rows is recorded.
    params = {k: v for k, v in vars(flt).items() if v and k not in ("after", "before")}
    crud.audit(session, now, f"admin:{admin.username}", "export", name, ip, params)


@router.get("/fleet.csv")
def fleet_csv(
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    admin: FleetReader,
    flt: FleetFilterDep,
) -> StreamingResponse:
    window = offline_after(state, session, now)
    _audit(session, now, admin, ip, "fleet", flt)
    flt.after = flt.before = ""
    return _stream(
        state,
        "fleet",
        now,
        exports.FLEET_COLUMNS,
        lambda s: exports.fleet_rows(s, flt, now, window),
    )


@router.get("/findings.csv")
def findings_csv(
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    admin: FleetReader,
    flt: FindingFilterDep,
) -> StreamingResponse:
    _audit(session, now, admin, ip, "findings", flt)
    flt.after = flt.before = ""
    return _stream(
        state, "findings", now, exports.FINDING_COLUMNS, lambda s: exports.finding_rows(s, flt)
    )


@router.get("/compliance.csv")
def compliance_csv(
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    admin: FleetReader,
    flt: ComplianceFilterDep,
) -> StreamingResponse:
    current = crud.current_policy(session, now)
    version = current.version if current else 0
    _audit(session, now, admin, ip, "compliance", flt)
    flt.after = flt.before = ""
    return _stream(
        state,
        "compliance",
        now,
        exports.COMPLIANCE_COLUMNS,
        lambda s: exports.compliance_rows(s, flt, version),
    )


@router.get("/reports.csv")
def reports_csv(
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    admin: ReportReader,
    flt: ReportFilterDep,
) -> StreamingResponse:
    _audit(session, now, admin, ip, "reports", flt)
    flt.after = flt.before = ""
    return _stream(
        state, "reports", now, exports.REPORT_COLUMNS, lambda s: exports.report_rows(s, flt)
    )


@router.get("/audit.csv")
def audit_csv(
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    admin: AuditReader,
    flt: AuditFilterDep,
) -> StreamingResponse:
    if not can(admin, Cap.AUDIT_READ):  # a security analyst exports their own actions
        flt.actor = f"admin:{admin.username}"
    _audit(session, now, admin, ip, "audit", flt)
    flt.after = flt.before = ""
    return _stream(state, "audit", now, exports.AUDIT_COLUMNS, lambda s: exports.audit_rows(s, flt))
