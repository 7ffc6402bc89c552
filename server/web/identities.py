"""Dashboard page of approved client identities and finding exceptions; IT grants one device
or one device group an exception (a reason, an expiry), published as a policy scoped to that
device or group and audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from checks.catalogue import load_builtin
from server import crud
from server.api.deps import ClientIpDep, NowDep, SessionDep, StateDep
from server.exceptions import grant, group_exists
from server.models import Device, Policy
from server.policy import PolicyError
from server.web.auth import AdminDep, CsrfDep, SessionDataDep
from server.web.render import render, request_lang

router = APIRouter(include_in_schema=False)

# This page's strings (zh, en); keys are stable.
MESSAGES: dict[str, tuple[str, str]] = {
    "title": ("批准的客户端身份与例外", "Approved identities and exceptions"),
    "builtin": ("内置的官方客户端身份", "Built-in official client identities"),
    "from_policy": ("策略批准的身份", "Identities approved by policy"),
    "none": ("无", "None"),
    "id": ("标识", "Id"),
    "name": ("名称", "Name"),
    "platforms": ("平台", "Platforms"),
    "identity": ("身份依据", "Identified by"),
    "policy": ("策略", "Policy"),
    "scope": ("适用范围", "Applies to"),
    "scope.all": ("所有设备", "All devices"),
    "scope.groups": ("设备组", "device group"),
    "group": ("设备组", "Device group"),
    "exceptions": ("发现例外", "Finding exceptions"),
    "rule": ("规则", "Rule"),
    "subject": ("对象（路径或进程）", "Subject (path or process)"),
    "key": ("发现键", "Finding key"),
    "reason": ("理由", "Reason"),
    "expires": ("到期", "Expires"),
    "expired": ("已过期", "expired"),
    "granted_by": ("批准人", "Granted by"),
    "grant": ("为一台设备或一个设备组批准例外", "Grant one device or one group an exception"),
    "grant.help": (
        "填写设备 ID 或设备组之一。将以该设备（或该组）当前的策略为基础，加入此例外，签名后只发布给"
        "该设备或该组的设备（按服务器当前所知的分组；之后加入该组的设备也会得到）。组内已有单独策略的"
        "设备，其策略也会加入此例外后重新发布。之后若发布面向所有设备的新策略，它会取代此策略："
        "请在新策略中保留仍需要的例外。",
        "Fill in a device id or a device group. The device's (or the group's) current policy, "
        "with this exception added, is signed and published to that device alone or to the "
        "group's devices (as the server groups them; a device that joins the group later gets "
        "it too). Devices of the group that have a policy of their own get it again with this "
        "exception added. A newer policy for all devices replaces it later: carry over the "
        "exceptions still needed.",
    ),
    "granted.group": (
        "已批准：策略 v{version} 已发布给设备组 {group}。",
        "Granted: policy v{version} was published to device group {group}.",
    ),
    "error.group": (
        "没有设备属于设备组 {group}。请从设备列表复制组名。",
        "No device is in the group {group}. Copy the group's name from the device list.",
    ),
    "error.scope": (
        "请只填写设备 ID 或设备组之一。",
        "Fill in either a device id or a device group, not both and not neither.",
    ),
    "device": ("设备 ID", "Device id"),
    "reason_zh": ("理由（中文）", "Reason (Chinese)"),
    "reason_en": ("理由（英文）", "Reason (English)"),
    "days": ("有效天数", "Valid for (days)"),
    "submit": ("批准并发布", "Grant and publish"),
    "granted": (
        "已批准：策略 v{version} 已发布给设备 {device}。",
        "Granted: policy v{version} was published to device {device}.",
    ),
    "error.title": ("无法批准例外", "The exception was not granted"),
    "error.device": (
        "找不到设备 {device}。请从设备页面复制设备 ID。",
        "No device {device}. Copy the device id from the device's page.",
    ),
    "error.target": (
        "请填写对象或发现键之一，说明例外针对哪一条发现。",
        "Fill in the subject or the finding key, to say which finding is excepted.",
    ),
    "error.policy": (
        "策略未通过校验：{problem}",
        "The policy did not pass validation: {problem}",
    ),
}


def _t(lang: str) -> Any:
    index = 0 if lang == "zh" else 1

    def t(key: str, **params: object) -> str:
        pair = MESSAGES.get(key)
        text = pair[index] if pair else key
        return text.format(**params) if params else text

    return t


def _identity(client: Any) -> str:
    """What identifies a client, in one line (signers, Team IDs, bundle ids, packages, …)."""
    parts: list[str] = []
    for label, values in (
        ("signer", client.get("signers")),
        ("Team ID", client.get("team_ids")),
        ("bundle id", client.get("bundle_ids")),
        ("MSIX", client.get("msix_families")),
        ("package", [f"{e}:{n}" for e, n in client.get("packages") or []]),
        ("path", client.get("install_paths")),
    ):
        if values:
            parts.append(f"{label}: {', '.join(map(str, values))}")
    return "; ".join(parts)


def _builtin() -> list[dict[str, Any]]:
    out = []
    for c in load_builtin().clients:
        client = {
            "id": c.id,
            "name": {"zh": c.name.zh, "en": c.name.en},
            "platforms": [p.value for p in c.platforms],
            "signers": c.signers,
            "team_ids": c.team_ids,
            "bundle_ids": c.bundle_ids,
            "msix_families": c.msix_families,
            "packages": c.packages,
            "install_paths": (),
        }
        out.append({**client, "identity": _identity(client)})
    return out


def _live_policies(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Unexpired policies, newest first: scope, approved identities and exceptions."""
    rows = session.scalars(
        select(Policy).where(Policy.expires_at > now).order_by(Policy.version.desc()).limit(200)
    )
    out = []
    for row in rows:
        body = json.loads(row.payload)
        clients = [c for c in body.get("approved_clients") or [] if isinstance(c, dict)]
        exceptions = []
        for x in body.get("exceptions") or []:
            if not isinstance(x, dict):
                continue
            expires = _when(x.get("expires"))
            exceptions.append({**x, "expires_at": expires, "expired": expires <= now})
        out.append(
            {
                "version": row.version,
                "label": crud.label_of(row),
                "scope": row.device_scope,
                "groups": row.group_scope,
                "clients": [{**c, "identity": _identity(c)} for c in clients],
                "exceptions": exceptions,
            }
        )
    return out


def _when(value: object) -> datetime:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    try:
        stamp = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.fromtimestamp(0, UTC)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _groups(session: Session) -> list[str]:
    """The device groups the server knows (for the form's suggestions), at most 500."""
    return list(
        session.scalars(
            select(Device.group_label)
            .where(Device.group_label != "")
            .distinct()
            .order_by(Device.group_label)
            .limit(500)
        )
    )


def _page(
    request: Request,
    state: StateDep,
    session: Session,
    now: datetime,
    data: SessionDataDep,
    error: str = "",
    granted: str = "",
    status: int = 200,
) -> Response:
    return render(
        request,
        state,
        "identities.html",
        {
            "tx": _t(request_lang(request)),
            "builtin": _builtin(),
            "policies": _live_policies(session, now),
            "grant_error": error,
            "granted": granted,
            "groups": _groups(session),
        },
        session=data,
        status=status,
    )


@router.get("/identities")
def identities(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    data: SessionDataDep,
    _admin: AdminDep,
    granted: Annotated[str, Query(max_length=80)] = "",
) -> Response:
    return _page(request, state, session, now, data, granted=granted)


@router.post("/identities/exceptions")
def grant_exception(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    data: SessionDataDep,
    admin: AdminDep,
    _csrf: CsrfDep,
    rule_id: Annotated[str, Form(max_length=128)],
    reason_zh: Annotated[str, Form(min_length=1, max_length=2000)],
    reason_en: Annotated[str, Form(min_length=1, max_length=2000)],
    device_id: Annotated[str, Form(max_length=36)] = "",
    group: Annotated[str, Form(max_length=200)] = "",
    days: Annotated[int, Form(ge=1, le=365)] = 30,
    subject: Annotated[str, Form(max_length=1000)] = "",
    key: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    t = _t(request_lang(request))
    device_id, group = device_id.strip(), group.strip()
    subject, key = subject.strip(), key.strip()

    def refused(message: str) -> Response:
        return _page(request, state, session, now, data, error=message, status=422)

    if bool(device_id) == bool(group):
        return refused(t("error.scope"))
    if device_id:
        try:
            crud.get_device(session, device_id)
        except crud.NotFound:
            return refused(t("error.device", device=device_id))
    elif not group_exists(session, group):
        return refused(t("error.group", group=group))
    if not (subject or key):
        return refused(t("error.target"))
    actor = f"admin:{admin.username}"
    exception = {
        "rule_id": rule_id.strip(),
        "reason": {"zh": reason_zh.strip(), "en": reason_en.strip()},
        "expires": (now + timedelta(days=days)).isoformat(),
        "granted_by": actor,
        **({"subject": subject} if subject else {}),
        **({"key": key} if key else {}),
    }
    try:
        version = grant(session, state.signer, now, actor, ip, exception, device_id, group)
    except (PolicyError, crud.ConflictError) as exc:
        return refused(t("error.policy", problem=str(exc)))
    state.policies.invalidate()
    granted = quote(f"{version}:{device_id}" if device_id else f"{version}:group:{group}")
    return RedirectResponse(f"/identities?granted={granted}", status_code=303)
