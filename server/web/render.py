"""Rendering dashboard pages: templates, language, CSRF token and security headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from checks.text import reveal
from server.security import SessionData
from server.state import AppState
from server.web.auth import ROLE_CAPABILITIES, Role, codec
from server.web.i18n import LANG_COOKIE, choose_lang, translator

TEMPLATES = Path(__file__).with_name("templates")


def _shown(value: Any) -> Any:
    """Every `{{ … }}` goes through here: device- and employee-supplied text (host names,
    evidence paths, subjects, report fields, attachment names, user names) shows its
    bidirectional, zero-width and control characters as `<U+202E>`, so a file named
    `e<U+202E>gnp.exe` cannot read as `eexe.png`. Autoescaping then applies as usual."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return reveal(value)
    return value


# `finalize` rather than a filter on chosen fields: a template added later is covered too.
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=_shown,
)
_env.filters["reveal"] = reveal

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def request_lang(request: Request) -> str:
    return choose_lang(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def fmt_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "—"


def render(
    request: Request,
    state: AppState,
    template: str,
    context: dict[str, Any],
    *,
    session: SessionData | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    lang = request_lang(request)
    known = getattr(request.state, "wx_role", None)
    role = known if isinstance(known, Role) else Role.VIEWER
    # Unknown account (an error page before the login was checked): every link, each page
    # still checks for itself.
    caps = {c.value for c in ROLE_CAPABILITIES[role]} if known is not None else set()
    ctx = {
        "caps": caps,
        "role": role.value,
        "lang": lang,
        "t": translator(lang),
        "fmt_time": fmt_time,
        "csrf_token": codec(state).csrf_token(session) if session else "",
        "logged_in": session is not None,
        "username": session.username if session else "",
        "path": request.url.path,
        **context,
    }
    html = _env.get_template(template).render(ctx)
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})
