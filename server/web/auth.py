"""Dashboard sessions: the signed cookie, the logged-in admin dependency and CSRF checks."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Request
from fastapi.responses import Response

from server.api.deps import SessionDep, StateDep
from server.models import Admin
from server.security import SessionCodec, SessionData
from server.state import AppState

SESSION_COOKIE = "wxguard_session"
LOGIN_CSRF_COOKIE = "wxguard_login_csrf"


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


def current_session(request: Request, state: StateDep) -> SessionData:
    raw = request.cookies.get(SESSION_COOKIE)
    data = codec(state).decode(raw, state.clock.now()) if raw else None
    if data is None:
        raise LoginRequired()
    return data


SessionDataDep = Annotated[SessionData, Depends(current_session)]


def current_admin(data: SessionDataDep, session: SessionDep) -> Admin:
    admin = session.get(Admin, data.admin_id)
    if admin is None or admin.disabled or admin.username != data.username:
        raise LoginRequired()
    return admin


AdminDep = Annotated[Admin, Depends(current_admin)]


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
