"""Dashboard sessions and who may do what: the signed cookie, roles and their capabilities, the
one `require(capability)` dependency every page goes through, and CSRF checks.

The permission table (docs/dashboard.md, "Roles") is `ROLE_CAPABILITIES`; a test compares the
two. A session is refused when its account is gone, disabled, renamed, or its session generation
grew since the session was issued (logout, password change, role change, disable), so a stolen
cookie stops working in every server process at once: the generation is in the database.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Request
from fastapi.responses import Response

from server.api.deps import SessionDep, StateDep
from server.models import Admin
from server.security import SessionCodec, SessionData
from server.state import AppState

SESSION_COOKIE = "wxguard_session"
LOGIN_CSRF_COOKIE = "wxguard_login_csrf"


class Role(StrEnum):
    ADMINISTRATOR = "administrator"
    ANALYST = "analyst"  # security analyst
    VIEWER = "viewer"


class Cap(StrEnum):
    """One thing a dashboard page reads or does."""

    FLEET_READ = "fleet.read"  # fleet, devices, findings, compliance
    FLEET_ACT = "fleet.act"
    REPORTS_COUNT = "reports.count"  # how many reports in each status, nothing more
    REPORTS_READ = "reports.read"  # reports and their text
    REPORTS_ACT = "reports.act"  # assign, reply, note, status
    ATTACHMENTS_READ = "attachments.read"
    ADMIN_ACT = "admin.act"  # policy, enrollment secrets, device revoke, accounts
    AUDIT_READ = "audit.read"  # the whole audit trail
    AUDIT_READ_OWN = "audit.read_own"  # only the account's own actions
    ACCOUNT_OWN = "account.own"  # change one's own password and time zone


ROLE_CAPABILITIES: dict[Role, frozenset[Cap]] = {
    Role.ADMINISTRATOR: frozenset(
        {
            Cap.FLEET_READ,
            Cap.FLEET_ACT,
            Cap.REPORTS_COUNT,
            Cap.REPORTS_READ,
            Cap.REPORTS_ACT,
            Cap.ATTACHMENTS_READ,
            Cap.ADMIN_ACT,
            Cap.AUDIT_READ,
            Cap.AUDIT_READ_OWN,
            Cap.ACCOUNT_OWN,
        }
    ),
    Role.ANALYST: frozenset(
        {
            Cap.FLEET_READ,
            Cap.REPORTS_COUNT,
            Cap.REPORTS_READ,
            Cap.REPORTS_ACT,
            Cap.ATTACHMENTS_READ,
            Cap.AUDIT_READ_OWN,
            Cap.ACCOUNT_OWN,
        }
    ),
    Role.VIEWER: frozenset({Cap.FLEET_READ, Cap.REPORTS_COUNT, Cap.ACCOUNT_OWN}),
}


def role_of(admin: Admin) -> Role:
    """The account's role; an unknown stored value grants the least (viewer)."""
    try:
        return Role(admin.role)
    except ValueError:
        return Role.VIEWER


def can(admin: Admin, cap: Cap) -> bool:
    return cap in ROLE_CAPABILITIES[role_of(admin)]


def codec(state: AppState) -> SessionCodec:
    cached = state.extra.get("session_codec")
    if isinstance(cached, SessionCodec):
        return cached
    made = SessionCodec(state.settings.session_secret.get_secret_value())
    state.extra["session_codec"] = made
    return made


class LoginRequired(HTTPException):
    def __init__(self) -> None:
        super().__init__(303, "login required", headers={"Location": "/login"})


class CsrfFailed(Exception):
    """A form came without the token of the session that rendered it."""


class Forbidden(Exception):
    """The account is logged in but its role does not allow this page (answered 403 with a
    page naming the role and what it lacks)."""

    def __init__(self, cap: Cap, role: Role, session: SessionData) -> None:
        super().__init__(f"{role.value} lacks {cap.value}")
        self.cap = cap
        self.role = role
        self.session = session


def current_session(request: Request, state: StateDep) -> SessionData:
    raw = request.cookies.get(SESSION_COOKIE)
    data = codec(state).decode(raw, state.clock.now()) if raw else None
    if data is None:
        raise LoginRequired()
    return data


SessionDataDep = Annotated[SessionData, Depends(current_session)]


def logged_in_account(data: SessionDataDep, session: SessionDep) -> Admin:
    """The account of a live session (any role), or a redirect to the login page."""
    admin = session.get(Admin, data.admin_id)
    if (
        admin is None
        or admin.disabled
        or admin.username != data.username
        or admin.session_generation != data.generation
    ):
        raise LoginRequired()
    return admin


AccountDep = Annotated[Admin, Depends(logged_in_account)]


def require(cap: Cap) -> Callable[[Request, Admin, SessionData], Admin]:
    """A dependency: the logged-in account if its role has `cap`, else `Forbidden` (403)."""

    def check(request: Request, admin: AccountDep, data: SessionDataDep) -> Admin:
        request.state.wx_role = role_of(admin)  # the page's navigation shows what it may open
        request.state.wx_time_zone = admin.time_zone  # times on the page are in this zone
        if not can(admin, cap):
            raise Forbidden(cap, role_of(admin), data)
        return admin

    check.required_capability = cap  # type: ignore[attr-defined]  # read by the route audit test
    return check


# The full-access dependency other modules used before roles existed: administrators only, so
# a page nobody has classified yet is never shown to a viewer.
current_admin = require(Cap.ADMIN_ACT)
AdminDep = Annotated[Admin, Depends(current_admin)]

# Every page takes exactly one of these (tests/server/test_roles.py checks each route).
FleetReader = Annotated[Admin, Depends(require(Cap.FLEET_READ))]
ReportCounter = Annotated[Admin, Depends(require(Cap.REPORTS_COUNT))]
ReportReader = Annotated[Admin, Depends(require(Cap.REPORTS_READ))]
ReportActor = Annotated[Admin, Depends(require(Cap.REPORTS_ACT))]
AttachmentReader = Annotated[Admin, Depends(require(Cap.ATTACHMENTS_READ))]
Administrator = Annotated[Admin, Depends(require(Cap.ADMIN_ACT))]
AuditReader = Annotated[Admin, Depends(require(Cap.AUDIT_READ_OWN))]


def check_csrf(
    data: SessionDataDep,
    state: StateDep,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> None:
    if not codec(state).check_csrf(data, csrf_token):
        raise CsrfFailed()


CsrfDep = Annotated[None, Depends(check_csrf)]


def set_session_cookie(response: Response, state: AppState, data: SessionData) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        codec(state).encode(data),
        max_age=state.settings.session_hours * 3600,
        httponly=True,
        secure=state.settings.cookie_secure,
        samesite="lax",
        path="/",
    )


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


ROLE_NAMES = {
    Role.ADMINISTRATOR: "administrator",
    Role.ANALYST: "security analyst",
    Role.VIEWER: "viewer",
}


def permission_table() -> dict[str, list[str]]:
    """ROLE_CAPABILITIES in the words of docs/dashboard.md's table: role name -> one cell per
    column (fleet; reports; attachments; policy, secrets, revoke, accounts; audit)."""

    def cell(caps: frozenset[Cap], *pairs: tuple[str, Cap]) -> str:
        return ", ".join(word for word, cap in pairs if cap in caps) or "—"

    table: dict[str, list[str]] = {}
    for role, caps in ROLE_CAPABILITIES.items():
        reports = cell(caps, ("read", Cap.REPORTS_READ), ("act", Cap.REPORTS_ACT))
        if reports == "—" and Cap.REPORTS_COUNT in caps:
            reports = "counts only"
        audit = "read" if Cap.AUDIT_READ in caps else "read own"
        table[ROLE_NAMES[role]] = [
            cell(caps, ("read", Cap.FLEET_READ), ("act", Cap.FLEET_ACT)),
            reports,
            cell(caps, ("read", Cap.ATTACHMENTS_READ)),
            cell(caps, ("act", Cap.ADMIN_ACT)),
            audit if Cap.AUDIT_READ_OWN in caps else "—",
        ]
    return table
