"""Dashboard page of programs blocked at exec and of employees' requests to approve one
(reports of categories `exec-blocked` and `approval-request`, docs/exec.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from protocol import blocked
from server.api.deps import SessionDep, StateDep
from server.models import Device, Report
from server.web.auth import ReportReader, SessionDataDep
from server.web.render import render

router = APIRouter(include_in_schema=False)

KINDS = (blocked.BLOCKED_CATEGORY, blocked.APPROVAL_CATEGORY)
LIMIT = 500


@dataclass(frozen=True, slots=True)
class Row:
    """One report as the page shows it: the block's facts read back from its description."""

    id: int
    case: str
    kind: str
    status: str
    received: datetime
    hostname: str
    fields: dict[str, str]


@router.get("/exec-blocks")
def exec_blocks(
    request: Request,
    state: StateDep,
    session: SessionDep,
    data: SessionDataDep,
    _reader: ReportReader,
    kind: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    chosen = [kind] if kind in KINDS else list(KINDS)
    query = (
        select(Report, Device.hostname)
        .join(Device, Device.id == Report.device_id)
        .where(Report.category.in_(chosen))
        .order_by(Report.id.desc())
        .limit(LIMIT)
    )
    rows = [
        Row(
            report.id,
            report.case,
            report.category,
            report.status,
            report.created_at,
            hostname,
            blocked.parse(report.description),
        )
        for report, hostname in session.execute(query)
    ]
    return render(
        request,
        state,
        "exec_blocks.html",
        {"rows": rows, "kind": kind if kind in KINDS else "", "kinds": KINDS, "limit": LIMIT},
        session=data,
    )
