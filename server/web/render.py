"""Rendering dashboard pages: templates, language, CSRF token and security headers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from checks.text import reveal
from server.security import SessionData
from server.state import AppState
from server.web.auth import ROLE_CAPABILITIES, Role, codec
from server.web.i18n import LANG_COOKIE, MESSAGES, choose_lang, translator
from server.web.osname import os_display
from server.web.rulebook import rule_title

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


TZ_COOKIE = "wxguard_tz"  # the browser's IANA zone, set by /static/tz.js
DEFAULT_ZONES = {"zh": "Asia/Shanghai", "en": "UTC"}  # China is UTC+8 all year


def _zone(name: str | None) -> ZoneInfo | None:
    if not name or len(name) > 64 or ".." in name or name.startswith("/"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def viewer_zone(request: Request, lang: str) -> ZoneInfo:
    """The zone times are shown in: the account's setting, else the browser's (cookie), else
    Asia/Shanghai for Chinese pages and UTC for English ones."""
    for name in (
        getattr(request.state, "wx_time_zone", None),
        unquote(request.cookies.get(TZ_COOKIE) or ""),
        DEFAULT_ZONES.get(lang),
    ):
        zone = _zone(name)
        if zone is not None:
            return zone
    return ZoneInfo("UTC")


def offset_label(value: datetime, zone: ZoneInfo) -> str:
    """ "UTC" or "UTC+08:00" for that moment in that zone (summer time included)."""
    offset = value.astimezone(zone).utcoffset() or timedelta(0)
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _offset_note(zone_name: str, offset: str, lang: str) -> str:
    """ "（UTC+08:00）" after a zone's name, or nothing where the name is the offset ("UTC")."""
    if zone_name == offset:
        return ""
    return f"（{offset}）" if lang == "zh" else f" ({offset})"


def time_formatter(zone: ZoneInfo) -> Callable[[Any], str]:
    def fmt_time(value: Any) -> str:
        """ "2026-03-02 17:00 UTC+08:00": local wall time with its offset; "—" for none."""
        if value is None:
            return "—"
        return f"{value.astimezone(zone):%Y-%m-%d %H:%M} {offset_label(value, zone)}"

    return fmt_time


fmt_time = time_formatter(ZoneInfo("UTC"))


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
    t = translator(lang)

    def label(prefix: str, value: str) -> str:
        """The translation of a stored id (`action.report.view`), or the id when none."""
        key = prefix + value
        return t(key) if key in MESSAGES else value

    def actor_label(actor: str) -> str:
        """ "admin:alice" -> "alice"; "cli" -> the server command line; devices as stored."""
        if actor.startswith("admin:"):
            return actor.removeprefix("admin:")
        if actor.startswith("device:"):
            return t("actor.device", id=actor.removeprefix("device:")[:8])
        return label("actor.", actor)

    zone = viewer_zone(request, lang)
    now = datetime.now(UTC)
    ctx = {
        "zone_name": zone.key,
        "zone_offset": _offset_note(zone.key, offset_label(now, zone), lang),
        "os_display": os_display,
        "rule_title": rule_title,
        "label": label,
        "actor_label": actor_label,
        "caps": caps,
        "role": role.value,
        "lang": lang,
        # Between a label and its value: the full-width colon in Chinese, as in the tray.
        "colon": "：" if lang == "zh" else ": ",
        "t": t,
        "fmt_time": time_formatter(zone),
        "csrf_token": codec(state).csrf_token(session) if session else "",
        "logged_in": session is not None,
        "username": session.username if session else "",
        "path": request.url.path,
        **context,
    }
    html = _env.get_template(template).render(ctx)
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})
