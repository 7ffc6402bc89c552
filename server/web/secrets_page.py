"""Enrollment secrets on the dashboard (administrators): create (the secret is shown once),
list with uses left and expiry, revoke. The same crud functions as `wxguard-server secret`."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from server import crud
from server.api.deps import ClientIpDep, NowDep, SessionDep, StateDep
from server.models import Admin
from server.web.auth import Cap, CsrfDep, SessionDataDep, require
from server.web.render import render

router = APIRouter(include_in_schema=False)
Administrator = Annotated[Admin, Depends(require(Cap.ADMIN_ACT))]


def _page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    data: SessionDataDep,
    created: str = "",
    error: tuple[str, str, dict[str, object]] | None = None,
) -> Response:
    rows = [
        {
            "secret": s,
            "state": crud.secret_state(s, now),
            "left": max(0, s.uses_allowed - s.uses),
        }
        for s in reversed(crud.list_secrets(session))
    ]
    return render(
        request,
        state,
        "secrets.html",
        {"rows": rows, "created": created, "error": error},
        session=data,
        status=422 if error else 200,
    )


@router.get("/secrets")
def secrets_page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    data: SessionDataDep,
    _admin: Administrator,
) -> Response:
    return _page(request, state, session, now, data)


@router.post("/secrets")
def create_secret(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    data: SessionDataDep,
    admin: Administrator,
    _csrf: CsrfDep,
    uses: Annotated[int, Form(ge=1, le=100_000)] = 1,
    days: Annotated[int, Form(ge=0, le=3650)] = 7,
    label: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    label = label.replace("\x00", "").strip()
    expires = now + timedelta(days=days) if days else None
    secret = crud.create_secret(session, now, uses, expires, label)
    crud.audit(session, now, f"admin:{admin.username}", "secret.create", label, ip, {"uses": uses})
    session.flush()
    # Shown in this answer only: the database keeps a hash, and no page shows it again.
    return _page(request, state, session, now, data, created=secret)


@router.post("/secrets/{secret_id}/revoke")
def revoke_secret(
    request: Request,
    secret_id: Annotated[int, Path(ge=1, le=2_000_000_000)],
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    data: SessionDataDep,
    admin: Administrator,
    _csrf: CsrfDep,
) -> Response:
    try:
        crud.revoke_secret(session, secret_id, now, f"admin:{admin.username}")
    except crud.NotFound:
        return _page(request, state, session, now, data, error=("notfound.title", "notfound", {}))
    return RedirectResponse("/secrets", status_code=303)
