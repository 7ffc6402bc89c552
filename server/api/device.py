"""The device protocol, version 1 (docs/protocol.md): thin routes over `crud`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from starlette.datastructures import UploadFile

from protocol.limits import OLDEST_PROTOCOL, PROTOCOL_HEADER, PROTOCOL_VERSION
from server import attachments as att
from server import crud
from server.api.deps import (
    ClientIpDep,
    DeviceDep,
    NowDep,
    SessionDep,
    StateDep,
    bearer_token_hash,
    check_time_window,
    get_state,
)
from server.errors import ApiError, revoked, unauthorized
from server.models import MessageKind, Report
from server.schemas import (
    Accepted,
    AttachmentPublic,
    EnrollRequest,
    EnrollResponse,
    FindingsBatch,
    FindingsResult,
    HeartbeatRequest,
    HeartbeatResponse,
    PasswordStatusRequest,
    PolicyAckRequest,
    ReplyPublic,
    ReportCreate,
    ReportList,
    ReportPublic,
    SignedPolicyPublic,
)
from server.signing import b64

router = APIRouter(prefix="/api/v1", tags=["device"])

CASE_RE = re.compile(r"^WXG-(\d{6,9})$")


def agent_protocol(request: Request) -> int:
    """The protocol version the agent speaks (`Wxguard-Protocol`; absent: 1, the first).

    Versions from OLDEST_PROTOCOL on are served; an older agent gets 426 and must be upgraded.
    """
    raw = request.headers.get(PROTOCOL_HEADER, "1").strip()
    version = int(raw) if raw.isdigit() and len(raw) < 6 else 0
    if version < OLDEST_PROTOCOL:
        raise ApiError(
            426,
            "upgrade_required",
            f"protocol {raw[:16]!r} is no longer served (oldest: {OLDEST_PROTOCOL}, "
            f"current: {PROTOCOL_VERSION}); install the current wxguard agent",
        )
    return version


def require_json(request: Request) -> None:
    """415 unless the body is declared JSON (docs/protocol.md: "Content-Type: application/json")."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")


async def json_body(request: Request) -> None:
    agent_protocol(request)
    require_json(request)


JsonOnly = Depends(json_body)


@router.post("/enroll", response_model=EnrollResponse, status_code=201, dependencies=[JsonOnly])
def enroll(
    body: EnrollRequest, state: StateDep, session: SessionDep, now: NowDep, ip: ClientIpDep
) -> EnrollResponse:
    state.limiters.enroll_ip.hit(ip)
    try:
        device, token = crud.enroll(session, body, ip, now)
    except crud.EnrollmentRefused:
        raise ApiError(
            403, "enrollment_refused", "enrollment secret unknown, used up or expired"
        ) from None
    return EnrollResponse(
        device_id=device.id,
        device_token=token,
        policy_key_id=state.signer.key_id,
        heartbeat_interval_s=state.settings.default_heartbeat_interval_s,
    )


@router.post(
    "/heartbeat",
    response_model=HeartbeatResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": HeartbeatRequest.model_json_schema()}},
        }
    },
)
async def heartbeat(request: Request) -> Response:
    # The fleet's hottest route (1,000/s on 2 cores is the budget): FastAPI's dependency
    # resolution, body handling and response re-validation cost more than the database work
    # here, so this route calls the dependencies' helpers directly, parses the body with
    # pydantic-core in one step, and answers raw JSON. Same checks, same errors.
    state = await get_state(request)
    hashed = bearer_token_hash(request, state)
    require_json(request)
    agent_protocol(request)
    try:
        body = HeartbeatRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    now = state.clock.now()
    check_time_window(state, now, last_scan_at=body.last_scan_at)
    device_id, news, policy = await state.heartbeats.submit(hashed, body, now)
    if device_id is None:
        raise await run_in_threadpool(_refusal, state, hashed)
    answer = HeartbeatResponse(
        protocol=PROTOCOL_VERSION,
        upgrade=agent_protocol(request) < PROTOCOL_VERSION,
        # A new policy is news too: versions only grow, so the sum changes whenever either does.
        news=news + (policy.version if policy else 0),
        server_time=now,
        policy_version=policy.version if policy else 0,
        heartbeat_interval_s=policy.heartbeat_interval_s
        if policy
        else state.settings.default_heartbeat_interval_s,
    )
    return Response(answer.model_dump_json(), media_type="application/json")


def _refusal(state: Any, hashed: str) -> ApiError:
    # Off the hot path: only a refused heartbeat pays for telling "revoked" from "unknown".
    with state.read_sessions() as session:
        return revoked() if crud.token_is_revoked(session, hashed) else unauthorized()


@router.post("/findings", response_model=FindingsResult, dependencies=[JsonOnly])
def upload_findings(
    body: FindingsBatch, device_id: DeviceDep, state: StateDep, session: SessionDep, now: NowDep
) -> FindingsResult:
    check_time_window(state, now, scanned_at=body.scanned_at)
    for item in body.findings:
        check_time_window(state, now, first_seen=item.first_seen, last_seen=item.last_seen)
        if item.first_seen > item.last_seen:
            raise ApiError(422, "bad_time", f"finding {item.key}: first_seen is after last_seen")
    return crud.upsert_findings(session, device_id, body, now)


@router.post(
    "/reports",
    response_model=ReportPublic,
    status_code=201,
    responses={200: {"description": "the same report was already stored (idempotent replay)"}},
)
async def create_report(
    request: Request,
    response: Response,
    device_id: DeviceDep,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
) -> ReportPublic:
    body, files = await _read_report(request, state.settings.max_attachments)
    check_time_window(state, now, occurred_at=body.occurred_at)
    limit = state.settings.max_attachment_bytes
    for name, data in files:
        if len(data) > limit:
            raise ApiError(413, "too_large", f"attachment {name!r} is larger than {limit} bytes")
    digest = crud.report_payload_hash(body, files)

    def store() -> tuple[Report, bool]:
        existing = crud.find_report_by_key(session, device_id, body.idempotency_key)
        if existing is not None:
            return existing, False
        folder = state.settings.attachments_dir
        stored: list[att.StoredAttachment] = []
        try:
            for name, data in files:
                stored.append(att.store(folder, name, data, limit))
            report = crud.create_report(session, device_id, body, stored, digest, now)
            # Committed here, not when the request ends: the files take their final names only
            # once their rows are durable, so a crash leaves nothing `att.sweep` cannot sort out.
            session.commit()
            att.commit(folder, stored)
            return report, True
        except att.AttachmentRejected as exc:
            _discard(folder, stored)
            raise ApiError(415, "unsupported_attachment", str(exc)) from None
        except IntegrityError:
            # Another request with the same key won the race: answer like a replay.
            _discard(folder, stored)
            session.rollback()
            winner = crud.find_report_by_key(session, device_id, body.idempotency_key)
            if winner is None:
                raise
            return winner, False

    report, created = await run_in_threadpool(store)
    if not created:
        if report.payload_sha256 != digest:
            raise ApiError(
                422,
                "idempotency_conflict",
                "this idempotency key was already used for a different report",
            )
        response.status_code = 200
    return _report_public(report)


def _discard(folder: Any, stored: list[att.StoredAttachment]) -> None:
    for item in stored:
        att.remove(folder, item.stored_name)


async def _read_report(
    request: Request, max_files: int
) -> tuple[ReportCreate, list[tuple[str, bytes]]]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/json":
            return ReportCreate.model_validate_json(await request.body()), []
        if kind == "multipart/form-data":
            form = await request.form(max_files=max_files, max_fields=4, max_part_size=64 * 1024)
            raw = form.get("report")
            if not isinstance(raw, str):
                raise ApiError(422, "missing_report", "multipart field 'report' (JSON) is missing")
            body = ReportCreate.model_validate_json(raw)
            files: list[tuple[str, bytes]] = []
            for item in form.getlist("attachment"):
                if not isinstance(item, UploadFile):
                    raise ApiError(422, "bad_attachment", "'attachment' fields must be files")
                files.append((item.filename or "attachment", await item.read()))
            unknown = set(form.keys()) - {"report", "attachment"}
            if unknown:
                raise ApiError(422, "unknown_field", f"unknown form fields: {sorted(unknown)}")
            return body, files
    except ValidationError as exc:
        raise ApiError(422, "invalid_report", _summarise(exc)) from None
    raise ApiError(415, "unsupported_media_type", "send application/json or multipart/form-data")


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:10]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "; ".join(parts)


def _report_public(report: Report) -> ReportPublic:
    return ReportPublic(
        case=report.case,
        category=report.category,  # type: ignore[arg-type]  # validated on the way in
        status=report.status,  # type: ignore[arg-type]
        summary=report.summary,
        created_at=report.created_at,
        updated_at=report.updated_at,
        attachments=[
            AttachmentPublic(
                filename=a.filename, content_type=a.content_type, size=a.size, sha256=a.sha256
            )
            for a in report.attachments
        ],
        replies=[
            ReplyPublic(body=m.body, at=m.created_at)
            for m in report.messages
            if m.kind == MessageKind.REPLY.value
        ],
    )


@router.get("/reports", response_model=ReportList)
def my_reports(device_id: DeviceDep, session: SessionDep) -> ReportList:
    return ReportList(reports=[_report_public(r) for r in crud.device_reports(session, device_id)])


@router.get("/reports/{case}", response_model=ReportPublic)
def my_report(
    case: Annotated[str, Path(max_length=16)], device_id: DeviceDep, session: SessionDep
) -> ReportPublic:
    match = CASE_RE.match(case)
    report = crud.device_report(session, device_id, int(match.group(1))) if match else None
    if report is None:  # someone else's case looks exactly like a missing one
        raise ApiError(404, "not_found", f"no report {case} from this device")
    return _report_public(report)


@router.post("/password-status", response_model=Accepted, dependencies=[JsonOnly])
def password_status(
    body: PasswordStatusRequest,
    device_id: DeviceDep,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
) -> Accepted:
    earliest = (now - timedelta(days=state.settings.max_past_days)).date()
    # Days are the device's local days: up to a day ahead of the server's UTC day.
    latest = (now + timedelta(days=1)).date()
    for item in body.accounts:
        if item.last_changed is not None and not earliest <= item.last_changed <= latest:
            raise ApiError(
                422,
                "bad_time",
                f"last_changed is outside the accepted window ({earliest} to {latest}); "
                "check the device clock",
            )
        if item.due_at is not None and abs((item.due_at - now.date()).days) > 36500:
            raise ApiError(422, "bad_time", "due_at is not a plausible date")
    return Accepted(accepted=crud.set_password_status(session, device_id, body, now))


@router.post("/policy/ack", response_model=Accepted, dependencies=[JsonOnly])
def policy_ack(
    body: PolicyAckRequest, device_id: DeviceDep, state: StateDep, session: SessionDep, now: NowDep
) -> Accepted:
    check_time_window(state, now, acknowledged_at=body.acknowledged_at)
    # Version 0 is the agent's built-in policy: acknowledged like any other.
    if body.version > crud.latest_policy_version(session):
        raise ApiError(422, "unknown_policy", f"policy version {body.version} was never published")
    crud.ack_policy(session, device_id, body, now)
    return Accepted(accepted=1)


@router.get("/policy", response_model=SignedPolicyPublic)
def get_policy(device_id: DeviceDep, session: SessionDep, now: NowDep) -> SignedPolicyPublic:
    policy = crud.policy_for_device(session, device_id, now)
    if policy is None:
        raise ApiError(404, "no_policy", "no policy has been published for this device")
    return SignedPolicyPublic(
        version=policy.version,
        key_id=policy.key_id,
        issued_at=policy.issued_at,
        expires_at=policy.expires_at,
        payload=b64(policy.payload),
        signature=b64(policy.signature),
    )
