"""Policy authoring (administrators): the current policy as a person reads it, a form for the
common settings that starts from the current policy (so a block left alone keeps its values),
JSON for experts with the same validation, and a diff to confirm before anything is signed.

Flow: GET /policy -> POST /policy (form or JSON, no `confirm`) shows the diff against the
version the editor started from -> POST /policy with `confirm=1` publishes, unless another
version was published meanwhile (then the diff is shown again against the new one). Bad input
re-renders the editor with everything that was typed; nothing is stored.
"""

from __future__ import annotations

import difflib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from server import crud
from server.api.deps import ClientIpDep, NowDep, SessionDep, StateDep
from server.models import Admin, Policy
from server.policy import PolicyCreate, PolicyError, parse_policy_create
from server.security import SessionData
from server.web.auth import Cap, CsrfDep, SessionDataDep, require
from server.web.render import render
from server.web.rulebook import builtin_rules

router = APIRouter(include_in_schema=False)
Administrator = Annotated[Admin, Depends(require(Cap.ADMIN_ACT))]
Field = Annotated[str, Form(max_length=200_000)]
# What the server adds when it signs: not IT's to write.
_SIGNED_ONLY = ("schema_version", "version", "issued_at", "expires_at", "key_id")


def create_of(policy: Policy | None) -> dict[str, Any]:
    """What IT would write to publish `policy` again (PolicyCreate as JSON); the defaults when
    no policy was published."""
    if policy is None:
        return PolicyCreate.model_validate({}).model_dump(mode="json")
    body = json.loads(policy.payload)
    for key in _SIGNED_ONLY:
        body.pop(key, None)
    days = (policy.expires_at - policy.issued_at).days
    body["valid_days"] = max(1, min(3650, days))
    return PolicyCreate.model_validate(body).model_dump(mode="json")


def pretty(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True)


def diff_lines(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str]]:
    """A unified diff of the two documents as (kind, line): kind is add, del, ctx or hunk."""
    lines = difflib.unified_diff(
        pretty(before).splitlines(), pretty(after).splitlines(), lineterm="", n=2
    )
    out: list[tuple[str, str]] = []
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "ctx")
        out.append((kind, line))
    return out


def form_values(create: dict[str, Any]) -> dict[str, Any]:
    """The form's fields (strings, as typed) for a PolicyCreate JSON."""
    password = create.get("password") or {}
    text = create.get("text") or {}
    return {
        "enforcement": create.get("enforcement", "monitor"),
        "scan_interval_s": str(create.get("scan_interval_s", "")),
        "heartbeat_interval_s": str(create.get("heartbeat_interval_s", "")),
        "max_age_days": str(password.get("max_age_days", "")),
        "reminder_days": ", ".join(str(d) for d in password.get("reminder_days", [])),
        "max_deferrals": str(password.get("max_deferrals", "")),
        "daily_after_last": bool(password.get("daily_after_last", True)),
        "disable": list((create.get("rules") or {}).get("disable", [])),
        "approved_clients": pretty_list(create.get("approved_clients") or []),
        "text_version": text.get("version", ""),
        "text_zh": text.get("zh", ""),
        "text_en": text.get("en", ""),
        "valid_days": str(create.get("valid_days", 365)),
    }


def pretty_list(items: list[Any]) -> str:
    return json.dumps(items, ensure_ascii=False, indent=2) if items else "[]"


class FormProblem(ValueError):
    """A field that could not be read; the message is bilingual."""


def _int(value: str, field: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise FormProblem(f"{field}: 需要一个整数 / must be a whole number") from None


def apply_form(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """`base` with the form's fields written over it; keys the form does not show (added
    rules, YARA, exceptions, exec blocking, scope) are kept as they were."""
    out: dict[str, Any] = json.loads(json.dumps(base))
    out["enforcement"] = values["enforcement"]
    out["scan_interval_s"] = _int(values["scan_interval_s"], "scan_interval_s")
    out["heartbeat_interval_s"] = _int(values["heartbeat_interval_s"], "heartbeat_interval_s")
    out["valid_days"] = _int(values["valid_days"], "valid_days")
    password = dict(out.get("password") or {})
    password["max_age_days"] = _int(values["max_age_days"], "password.max_age_days")
    password["max_deferrals"] = _int(values["max_deferrals"], "password.max_deferrals")
    parts = [p for p in values["reminder_days"].replace("，", ",").split(",") if p.strip()]
    password["reminder_days"] = [_int(p, "password.reminder_days") for p in parts]
    password["daily_after_last"] = bool(values["daily_after_last"])
    out["password"] = password
    rules = dict(out.get("rules") or {})
    rules["disable"] = list(values["disable"])
    out["rules"] = rules
    try:
        clients = json.loads(values["approved_clients"] or "[]")
    except ValueError as exc:
        raise FormProblem(f"approved_clients: 不是有效的 JSON / not valid JSON ({exc})") from None
    if not isinstance(clients, list):
        raise FormProblem("approved_clients: 需要 JSON 数组 / must be a JSON list [...]")
    out["approved_clients"] = clients
    text = (values["text_version"].strip(), values["text_zh"], values["text_en"])
    if any(part.strip() for part in text):
        out["text"] = {"version": text[0], "zh": text[1], "en": text[2]}
    else:
        out["text"] = None
    return out


def _page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    data: SessionData,
    *,
    values: dict[str, Any] | None = None,
    document: str | None = None,
    mode: str = "form",
    error: str | None = None,
    published: int | None = None,
    status: int = 200,
) -> Response:
    current = crud.current_policy(session, now)
    base = create_of(current)
    known = {r.id for r in builtin_rules()}
    shown = values if values is not None else form_values(base)
    history = crud.policies(session)
    # Each policy by its one label (protocol.policy.policy_label), as the tray and CLI show it.
    labels = {p.version: crud.label_of(p) for p in history}
    return render(
        request,
        state,
        "policy.html",
        {
            "current": current,
            "current_doc": base if current else None,
            "current_label": crud.label_of(current),
            "base_version": current.version if current else 0,
            "values": shown,
            "document": document if document is not None else pretty(base),
            "mode": mode,
            "rules": builtin_rules(),
            "other_disabled": [r for r in shown["disable"] if r not in known],
            "history": history,
            "labels": labels,
            "key_id": state.signer.key_id,
            "policy_error": error,
            "published": published,
            "published_label": labels.get(published or 0, f"v{published}"),
        },
        session=data,
        status=422 if error else status,
    )


@router.get("/policy")
def policy(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    data: SessionDataDep,
    _admin: Administrator,
) -> Response:
    return _page(request, state, session, now, data)


@router.post("/policy")
def publish_policy(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    ip: ClientIpDep,
    data: SessionDataDep,
    admin: Administrator,
    _csrf: CsrfDep,
    mode: Annotated[str, Form(max_length=8)] = "json",
    confirm: Annotated[str, Form(max_length=4)] = "",
    base_version: Annotated[int, Form(ge=0)] = -1,
    document: Annotated[str, Form(max_length=500_000)] = "",
    enforcement: Annotated[str, Form(max_length=16)] = "monitor",
    scan_interval_s: Annotated[str, Form(max_length=16)] = "",
    heartbeat_interval_s: Annotated[str, Form(max_length=16)] = "",
    max_age_days: Annotated[str, Form(max_length=16)] = "",
    reminder_days: Annotated[str, Form(max_length=400)] = "",
    max_deferrals: Annotated[str, Form(max_length=16)] = "",
    daily_after_last: Annotated[str, Form(max_length=4)] = "",
    disable: Annotated[list[str] | None, Form(max_length=1000)] = None,
    approved_clients: Field = "[]",
    text_version: Annotated[str, Form(max_length=64)] = "",
    text_zh: Field = "",
    text_en: Field = "",
    valid_days: Annotated[str, Form(max_length=16)] = "365",
) -> Response:
    current = crud.current_policy(session, now)
    base = create_of(current)
    values: dict[str, Any] | None = None
    if mode == "form":
        values = {
            "enforcement": enforcement,
            "scan_interval_s": scan_interval_s,
            "heartbeat_interval_s": heartbeat_interval_s,
            "max_age_days": max_age_days,
            "reminder_days": reminder_days,
            "max_deferrals": max_deferrals,
            "daily_after_last": daily_after_last == "1",
            "disable": list(disable or []),
            "approved_clients": approved_clients,
            "text_version": text_version,
            "text_zh": text_zh,
            "text_en": text_en,
            "valid_days": valid_days,
        }
        try:
            document = pretty(apply_form(base, values))
        except FormProblem as exc:
            return _page(request, state, session, now, data, values=values, error=str(exc))

    def refused(message: str) -> Response:
        return _page(
            request,
            state,
            session,
            now,
            data,
            values=values,
            document=document,
            mode=mode if mode in ("form", "json") else "json",
            error=message,
        )

    try:
        create = parse_policy_create(document)
    except PolicyError as exc:
        return refused(str(exc))
    candidate = create.model_dump(mode="json")
    version = current.version if current else 0
    if confirm != "1" or base_version != version:
        # Nothing is signed before the person saw what changes (again, if another version was
        # published since they started).
        return render(
            request,
            state,
            "policy_confirm.html",
            {
                "diff": diff_lines(base, candidate),
                "document": pretty(candidate),
                "base_version": version,
                "current_label": crud.label_of(current),
                "moved": confirm == "1" and base_version != version,
            },
            session=data,
        )
    try:
        published = crud.publish_policy(
            session, state.signer, create, now, f"admin:{admin.username}", ip
        )
    except crud.ConflictError as exc:
        return refused(str(exc))
    state.policies.invalidate()
    session.flush()
    return _page(request, state, session, now, data, published=published.version)


@router.post("/policy/edit")
def edit_policy(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    data: SessionDataDep,
    _admin: Administrator,
    _csrf: CsrfDep,
    document: Annotated[str, Form(max_length=500_000)] = "",
) -> Response:
    """Back from the diff to the editor, with the draft (not the current policy) in it."""
    try:
        values = form_values(parse_policy_create(document).model_dump(mode="json"))
    except PolicyError:
        values = None
    return _page(request, state, session, now, data, values=values, document=document)
