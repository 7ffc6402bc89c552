"""Dashboard accounts: one's own password and time zone; administrators add accounts, reset
passwords, change roles, disable and enable (every change that should ends sessions does, via
the account's session generation, see server.web.auth)."""

from __future__ import annotations

import re
import secrets
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from server import crud
from server.api.deps import ClientIpDep, NowDep, SessionDep, StateDep
from server.models import Admin
from server.security import SessionData, new_session, verify_password
from server.web.auth import (
    Cap,
    CsrfDep,
    Role,
    SessionDataDep,
    require,
    set_session_cookie,
)
from server.web.render import render

router = APIRouter(include_in_schema=False)

Own = Annotated[Admin, Depends(require(Cap.ACCOUNT_OWN))]
Administrator = Annotated[Admin, Depends(require(Cap.ADMIN_ACT))]
Secret = Annotated[str, Form(max_length=1024)]
MIN_PASSWORD = 12
_USERNAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
Msg = tuple[str, str, dict[str, object]]


def valid_zone(name: str) -> bool:
    """An IANA time zone name the server's tz database knows (zoneinfo)."""
    if not name or len(name) > 64 or name.startswith("/") or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _own_page(
    request: Request,
    state: StateDep,
    data: SessionData,
    admin: Admin,
    error: Msg | None = None,
    saved: str = "",
) -> Response:
    return render(
        request,
        state,
        "account.html",
        {"account": admin, "error": error, "saved": saved},
        session=data,
        status=422 if error else 200,
    )


@router.get("/account")
def own_account(request: Request, state: StateDep, data: SessionDataDep, admin: Own) -> Response:
    return _own_page(request, state, data, admin)


@router.post("/account/password")
def change_own_password(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    data: SessionDataDep,
    admin: Own,
    _csrf: CsrfDep,
    current: Secret = "",
    new: Secret = "",
    repeat: Secret = "",
) -> Response:
    problem = None
    if not verify_password(admin.password_hash, current):
        problem = "account.wrong_password"
    elif len(new) < MIN_PASSWORD:
        problem = "account.short_password"
    elif new != repeat:
        problem = "account.mismatch"
    if problem:
        return _own_page(request, state, data, admin, ("account.change_password", problem, {}))
    crud.set_admin_password(session, admin, new, now, f"admin:{admin.username}", ip)
    # Every other session (a stolen cookie too) ends; this browser gets a fresh one, and the
    # page carries the fresh session's CSRF token.
    fresh = new_session(
        admin.id, admin.username, now, state.settings.session_hours, admin.session_generation
    )
    response = _own_page(request, state, fresh, admin, saved="account.password_changed")
    set_session_cookie(response, state, fresh)
    return response


@router.post("/account/time-zone")
def set_own_zone(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    data: SessionDataDep,
    admin: Own,
    _csrf: CsrfDep,
    time_zone: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    zone = time_zone.strip()
    if zone and not valid_zone(zone):
        return _own_page(request, state, data, admin, ("account.time_zone", "account.bad_zone", {}))
    admin.time_zone = zone or None
    crud.audit(session, now, f"admin:{admin.username}", "admin.time_zone", zone, ip)
    return _own_page(request, state, data, admin, saved="accounts.saved")


# --- administrators: everyone's accounts --------------------------------------------------


def _accounts_page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    data: SessionDataDep,
    error: Msg | None = None,
    shown: tuple[str, str] | None = None,
    status: int | None = None,
) -> Response:
    return render(
        request,
        state,
        "accounts.html",
        {
            "accounts": crud.admins(session),
            "roles": [r.value for r in Role],
            "error": error,
            "shown": shown,
        },
        session=data,
        status=status or (422 if error else 200),
    )


@router.get("/accounts")
def accounts(
    request: Request, state: StateDep, session: SessionDep, data: SessionDataDep, _a: Administrator
) -> Response:
    return _accounts_page(request, state, session, data)


@router.post("/accounts")
def add_account(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    data: SessionDataDep,
    admin: Administrator,
    _csrf: CsrfDep,
    username: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[str, Form(max_length=32)] = "viewer",
) -> Response:
    if not _USERNAME.match(username) or role not in crud.ROLES:
        return _accounts_page(
            request, state, session, data, ("accounts.add", "accounts.bad_name", {})
        )
    password = secrets.token_urlsafe(15)
    try:
        crud.create_admin(session, username, password, now, role)
    except crud.ConflictError:
        return _accounts_page(
            request,
            state,
            session,
            data,
            ("accounts.add", "accounts.exists", {"username": username}),
            status=409,
        )
    crud.audit(
        session, now, f"admin:{admin.username}", "admin.create", username, ip, {"role": role}
    )
    return _accounts_page(request, state, session, data, shown=(username, password))


AccountId = Annotated[int, Path(ge=1, le=2_000_000_000)]


@router.post("/accounts/{account_id}")
def change_account(
    request: Request,
    account_id: AccountId,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    data: SessionDataDep,
    admin: Administrator,
    _csrf: CsrfDep,
    action: Annotated[str, Form(max_length=16)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    target = session.get(Admin, account_id)
    if target is None:
        return render(
            request,
            state,
            "error.html",
            {"error": ("notfound.title", "notfound", {})},
            session=data,
            status=404,
        )
    actor = f"admin:{admin.username}"
    shown = None
    try:
        if action == "reset":
            password = secrets.token_urlsafe(15)
            crud.set_admin_password(session, target, password, now, actor, ip)
            shown = (target.username, password)
        elif action == "role" and role in crud.ROLES:
            crud.set_admin_role(session, target, role, now, actor, ip)
        elif action in ("disable", "enable"):
            crud.set_admin_disabled(session, target, action == "disable", now, actor, ip)
        else:
            return _accounts_page(
                request, state, session, data, ("accounts.title", "notfound", {}), status=400
            )
    except crud.LastAdministrator:
        return _accounts_page(
            request, state, session, data, ("accounts.title", "accounts.last_admin", {}), status=409
        )
    if shown is not None:
        return _accounts_page(request, state, session, data, shown=shown)
    return RedirectResponse("/accounts", status_code=303)
