"""Dashboard pages: login, fleet, findings, incident reports, compliance, policy, audit."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Path, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from server import attachments as att
from server import crud
from server.api.deps import ClientIpDep, NowDep, SessionDep, StateDep
from server.models import Admin, MessageKind, Report, ReportCategory, ReportStatus, case_number
from server.ratelimit import RateLimited
from server.security import new_session
from server.web import accounts, policy_page, secrets_page
from server.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Administrator,
    AttachmentReader,
    Cap,
    CsrfDep,
    CsrfFailed,
    FleetReader,
    Forbidden,
    ReportActor,
    ReportReader,
    SessionDataDep,
    can,
    new_login_csrf,
    set_session_cookie,
)
from server.web.i18n import LANG_COOKIE, LANGS
from server.web.osname import os_display
from server.web.render import render

router = APIRouter(include_in_schema=False)


Text = Annotated[str, Form(max_length=10_000)]
# Attachment types shown as images on the report page (sniffed from the bytes at upload).
PREVIEWABLE = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# A report page shown again within this time after the reader's own event on the case is not
# audited as a new view.
VIEW_AUDIT_WINDOW = timedelta(minutes=15)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/")
def home() -> Response:
    return _redirect("/overview")


@router.get("/lang/{code}")
def set_lang(
    code: Annotated[str, Path(max_length=8)],
    state: StateDep,
    next: Annotated[str, Query(max_length=500)] = "/",
) -> Response:
    # Only local paths, so the switch cannot be used as an open redirect.
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = _redirect(target)
    if code in LANGS:
        response.set_cookie(
            LANG_COOKIE,
            code,
            max_age=365 * 86400,
            samesite="lax",
            secure=state.settings.cookie_secure,
        )
    return response


# --- login -------------------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, state: StateDep) -> Response:
    token = new_login_csrf()
    response = render(request, state, "login.html", {"login_csrf": token})
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        secure=state.settings.cookie_secure,
        samesite="strict",
        path="/login",
    )
    return response


@router.post("/login")
def login(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    login_csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    try:
        state.limiters.login_ip.hit(ip)
    except RateLimited as exc:
        return render(
            request,
            state,
            "login.html",
            {"error": ("login.limited.title", "login.limited", {"seconds": exc.retry_after})},
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie_token or cookie_token != login_csrf:
        return render(
            request, state, "error.html", {"error": ("csrf.title", "csrf", {})}, status=403
        )
    shown = username.replace("\x00", "").encode("utf-8", "replace").decode()[:64]
    settings = state.settings
    window = timedelta(minutes=settings.login_failure_window_minutes)
    failures = crud.login_failures(session, shown, ip, now - window)
    if (
        failures.from_ip >= settings.login_failures_per_account_and_ip
        or failures.total >= settings.login_failures_per_account
    ):
        # Refused before the password is even looked at: guessing goes no faster with more
        # workers or more attempts. Audited, so IT sees the attack in the audit trail.
        crud.audit(session, now, f"admin:{shown}", "admin.login_locked", ip=ip)
        opens = (failures.oldest or now) + window
        minutes = max(1, math.ceil((opens - now).total_seconds() / 60))
        return render(
            request,
            state,
            "login.html",
            {
                "error": ("login.limited.title", "login.locked", {"minutes": minutes}),
                "login_csrf": login_csrf,
            },
            status=429,
            headers={"Retry-After": str(minutes * 60)},
        )
    admin = crud.authenticate_admin(session, username, password)
    if admin is None:
        crud.audit(session, now, f"admin:{shown}", "admin.login_failed", ip=ip)
        return render(
            request,
            state,
            "login.html",
            {"error": ("login.failed.title", "login.failed", {}), "login_csrf": login_csrf},
            status=401,
        )
    admin.last_login_at = now
    crud.audit(session, now, f"admin:{admin.username}", "admin.login", ip=ip)
    response = _redirect("/fleet")
    set_session_cookie(
        response,
        state,
        new_session(
            admin.id,
            admin.username,
            now,
            state.settings.session_hours,
            admin.session_generation,
        ),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(
    data: SessionDataDep, session: SessionDep, now: NowDep, ip: ClientIpDep, _csrf: CsrfDep
) -> Response:
    # Logging out ends every session of the account (a copied cookie too), in every process.
    admin = session.get(Admin, data.admin_id)
    if admin is not None and admin.session_generation == data.generation:
        crud.end_sessions(admin)
        crud.audit(session, now, f"admin:{admin.username}", "admin.logout", ip=ip)
    response = _redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- fleet -------------------------------------------------------------------------------


@router.get("/devices/{device_id}")
def device(
    request: Request,
    device_id: Annotated[str, Path(max_length=36)],
    state: StateDep,
    session: SessionDep,
    data: SessionDataDep,
    _admin: FleetReader,
) -> Response:
    try:
        dev = crud.get_device(session, device_id)
    except crud.NotFound:
        return _not_found(request, state, data)
    return render(
        request,
        state,
        "device.html",
        {
            "device": dev,
            "device_state": crud.device_status(session, dev),
            "findings": crud.device_findings(session, device_id),
            "passwords": crud.device_password_status(session, device_id),
            "acks": crud.device_acks(session, device_id),
            "reports": crud.device_reports(session, device_id)
            if can(_admin, Cap.REPORTS_READ)
            else None,
            "namesakes": crud.namesakes(session, dev),
            "os_display": os_display,
            "may_revoke": can(_admin, Cap.ADMIN_ACT),
        },
        session=data,
    )


@router.get("/devices/{device_id}/revoke")
def revoke_confirm(
    request: Request,
    device_id: Annotated[str, Path(max_length=36)],
    state: StateDep,
    session: SessionDep,
    data: SessionDataDep,
    _admin: Administrator,
) -> Response:
    """The confirmation step: what revoking does, and to which machine exactly."""
    try:
        dev = crud.get_device(session, device_id)
    except crud.NotFound:
        return _not_found(request, state, data)
    return render(
        request,
        state,
        "revoke_confirm.html",
        {"device": dev, "os_display": os_display},
        session=data,
    )


@router.post("/devices/{device_id}/revoke")
def revoke(
    request: Request,
    device_id: Annotated[str, Path(max_length=36)],
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    data: SessionDataDep,
    admin: Administrator,
    _csrf: CsrfDep,
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    if confirm != "yes":  # one stray click never revokes: the confirmation page first
        return _redirect(f"/devices/{quote(device_id)}/revoke")
    try:
        crud.revoke_device(session, device_id, now, f"admin:{admin.username}", ip)
    except crud.NotFound:
        return _not_found(request, state, data)
    return _redirect(f"/devices/{quote(device_id)}")


# --- incident reports --------------------------------------------------------------------


@router.get("/reports/{report_id}")
def report(
    request: Request,
    report_id: Annotated[int, Path(ge=1, le=2_000_000_000)],
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    data: SessionDataDep,
    admin: ReportReader,
) -> Response:
    try:
        item = crud.get_report(session, report_id)
    except crud.NotFound:
        return _not_found(request, state, data)
    # Reading a report is itself recorded: reports can hold personal data. The page shown
    # again right after the reader's own action on it (or a reload) is not a new reading.
    actor = f"admin:{admin.username}"
    if not crud.acted_recently(session, actor, item.case, now - VIEW_AUDIT_WINDOW):
        crud.audit(session, now, actor, "report.view", item.case, ip)
    return _report_page(request, state, session, data, admin, item, None)


def _report_page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    data: SessionDataDep,
    admin: Admin,
    item: Report,
    error: tuple[str, str, dict[str, object]] | None,
) -> Response:
    return render(
        request,
        state,
        "report.html",
        {
            "report": item,
            "history": crud.report_history(session, item),
            "previewable": PREVIEWABLE,
            "may_act": can(admin, Cap.REPORTS_ACT),
            "device": crud.get_device(session, item.device_id),
            # Only accounts that may act on reports can be given one.
            "admins": [
                a for a in crud.admins(session) if not a.disabled and can(a, Cap.REPORTS_ACT)
            ],
            "statuses": [s.value for s in ReportStatus],
            "categories": [c.value for c in ReportCategory],
            "error": error,
        },
        session=data,
        status=422 if error else 200,
    )


@router.post("/reports/{report_id}")
def update_report(
    request: Request,
    report_id: Annotated[int, Path(ge=1, le=2_000_000_000)],
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    data: SessionDataDep,
    admin: ReportActor,
    _csrf: CsrfDep,
    action: Annotated[str, Form(max_length=16)] = "",
    status: Annotated[str, Form(max_length=16)] = "",
    assignee: Annotated[str, Form(max_length=16)] = "",
    body: Text = "",
) -> Response:
    try:
        item = crud.get_report(session, report_id)
    except crud.NotFound:
        return _not_found(request, state, data)
    try:
        if action == "status" and status in {s.value for s in ReportStatus}:
            crud.update_report(session, item, now, admin, ip, status=ReportStatus(status))
        elif action == "assign":
            target = int(assignee) if assignee.isdigit() else None
            crud.update_report(session, item, now, admin, ip, assignee_id=target)
        elif action in {MessageKind.NOTE.value, MessageKind.REPLY.value}:
            if not body.strip():
                return _report_page(
                    request,
                    state,
                    session,
                    data,
                    admin,
                    item,
                    ("report.set_status", "report.empty_text", {}),
                )
            crud.add_message(session, item, MessageKind(action), body.strip(), admin, now)
        else:
            return _not_found(request, state, data)
    except crud.NotFound:
        return _not_found(request, state, data)
    return _redirect(f"/reports/{report_id}")


@router.get("/reports/{report_id}/attachments/{attachment_id}")
def attachment(
    request: Request,
    report_id: Annotated[int, Path(ge=1, le=2_000_000_000)],
    attachment_id: Annotated[int, Path(ge=1, le=2_000_000_000)],
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    data: SessionDataDep,
    admin: AttachmentReader,
) -> Response:
    try:
        item = crud.get_attachment(session, report_id, attachment_id)
        path = att.path_of(state.settings.attachments_dir, item.stored_name)
    except (crud.NotFound, att.AttachmentRejected):
        return _not_found(request, state, data)
    if not path.is_file():
        return _not_found(request, state, data)
    crud.audit(
        session,
        now,
        f"admin:{admin.username}",
        "report.attachment",
        case_number(report_id),
        ip,
        {"attachment": attachment_id},
    )
    # Always a download, never rendered inline: the content came from an endpoint.
    return FileResponse(
        path,
        media_type=item.content_type,
        filename=item.filename,
        content_disposition_type="attachment",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
    )


@router.get("/reports/{report_id}/attachments/{attachment_id}/preview")
def attachment_preview(
    request: Request,
    report_id: Annotated[int, Path(ge=1, le=2_000_000_000)],
    attachment_id: Annotated[int, Path(ge=1, le=2_000_000_000)],
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    data: SessionDataDep,
    admin: AttachmentReader,
) -> Response:
    """An image attachment shown inline on the report page. Only the raster types the upload
    sniffed from the bytes (never SVG, which can hold script), with that content type, nosniff
    and a CSP that allows nothing to run even if the file is opened on its own."""
    try:
        item = crud.get_attachment(session, report_id, attachment_id)
        path = att.path_of(state.settings.attachments_dir, item.stored_name)
    except (crud.NotFound, att.AttachmentRejected):
        return _not_found(request, state, data)
    if item.content_type not in PREVIEWABLE or not path.is_file():
        return _not_found(request, state, data)
    actor = f"admin:{admin.username}"
    target = case_number(report_id)
    if not crud.acted_recently(session, actor, target, now - VIEW_AUDIT_WINDOW):
        crud.audit(
            session, now, actor, "report.attachment", target, ip, {"attachment": attachment_id}
        )
    return FileResponse(
        path,
        media_type=item.content_type,
        filename=item.filename,
        content_disposition_type="inline",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


def _not_found(request: Request, state: StateDep, data: SessionDataDep) -> Response:
    return render(
        request,
        state,
        "error.html",
        {"error": ("notfound.title", "notfound", {})},
        session=data,
        status=404,
    )


def install(app: FastAPI) -> None:
    """Dashboard-specific error pages (the API answers JSON; people get a page)."""

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        state = request.app.state.wx
        return render(
            request,
            state,
            "forbidden.html",
            {"role": exc.role.value, "cap": exc.cap.value},
            session=exc.session,
            status=403,
        )

    @app.exception_handler(CsrfFailed)
    async def _csrf_failed(request: Request, _exc: CsrfFailed) -> Response:
        state = request.app.state.wx
        return render(
            request, state, "error.html", {"error": ("csrf.title", "csrf", {})}, status=403
        )


router.include_router(accounts.router)
router.include_router(secrets_page.router)
router.include_router(policy_page.router)
