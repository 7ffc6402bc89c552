"""The device page's group form (administrators): put a device in a department or site
(server/groups.py), audited; a name that cannot be stored is refused with the reason."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from server import crud
from server.api.deps import ClientIpDep, NowDep, SessionDep, StateDep
from server.groups import GroupInvalid, clean_group, set_group
from server.models import Admin
from server.web.auth import Cap, CsrfDep, SessionDataDep, require
from server.web.render import render, request_lang

router = APIRouter(include_in_schema=False)
FleetActor = Annotated[Admin, Depends(require(Cap.FLEET_ACT))]


@router.post("/devices/{device_id}/group")
def device_group(
    request: Request,
    device_id: Annotated[str, Path(max_length=36)],
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    data: SessionDataDep,
    admin: FleetActor,
    _csrf: CsrfDep,
    group: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        device = crud.get_device(session, device_id)
    except crud.NotFound:
        return render(
            request,
            state,
            "error.html",
            {"error": ("notfound.title", "notfound", {})},
            session=data,
            status=404,
        )
    try:
        name = clean_group(group)
    except GroupInvalid as exc:
        reason = exc.zh if request_lang(request) == "zh" else exc.en
        return render(
            request,
            state,
            "device_group.html",
            {
                "device": device,
                "typed": group,
                "error": ("group.error.title", "group.error", {"reason": reason}),
            },
            session=data,
            status=422,
        )
    if set_group(session, device, name, now, f"admin:{admin.username}", ip):
        state.policies.invalidate()  # a group-scoped policy may now apply to it, or no longer
    return RedirectResponse(f"/devices/{quote(device_id)}#group", status_code=303)
