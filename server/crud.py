"""Reads and writes of the server's entities; every function takes the session and the time."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import JSON, Connection, Integer, String, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from protocol.device_state import (
    Coverage,
    DeviceInputs,
    DeviceState,
    Reason,
    ScanOutcome,
    State,
    device_state,
    worst_severity,
)
from protocol.policy import policy_label
from server import attachments as att
from server.models import (
    Admin,
    Attachment,
    AuditEvent,
    Device,
    EnrollmentSecret,
    Finding,
    FindingState,
    MessageKind,
    PasswordState,
    PasswordStatus,
    Policy,
    PolicyAck,
    Report,
    ReportMessage,
    ReportStatus,
    UTCDateTime,
)
from server.policy import PolicyCreate, PolicyDocument, build_document, sign_document
from server.schemas import (
    EnrollRequest,
    FindingsBatch,
    FindingsResult,
    HeartbeatRequest,
    PasswordStatusRequest,
    PolicyAckRequest,
    ReportCreate,
)
from server.security import (
    dummy_password_hash,
    hash_password,
    new_device_token,
    new_enrollment_secret,
    token_hash,
    verify_password,
)
from server.signing import PolicySigner

T = TypeVar("T")
_DEVICE_ID_RE = re.compile(r"^[0-9a-f-]{36}$")
_RULE_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


class ConflictError(Exception):
    """The request contradicts what is stored (e.g. an idempotency key reused with new content)."""


class EnrollmentRefused(Exception):
    """The secret is unknown, used up, revoked or expired (deliberately not said which)."""


class NotFound(Exception):
    pass


# --- audit -------------------------------------------------------------------------------


def audit(
    session: Session,
    now: datetime,
    actor: str,
    action: str,
    target: str = "",
    ip: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEvent(at=now, actor=actor, action=action, target=target, ip=ip, detail=detail or {})
    )


@dataclass(frozen=True, slots=True)
class LoginFailures:
    from_ip: int
    total: int
    oldest: datetime | None  # the first failure still counted


def login_failures(session: Session, account: str, ip: str, since: datetime) -> LoginFailures:
    """Failed logins to `account` since `since` or its last successful login, whichever is
    later (from the audit trail, which every worker writes)."""
    actor = f"admin:{account}"
    last_success = session.scalar(
        select(func.max(AuditEvent.at)).where(
            AuditEvent.action == "admin.login", AuditEvent.actor == actor, AuditEvent.at >= since
        )
    )
    start = max(since, last_success) if last_success is not None else since
    failed = (AuditEvent.action == "admin.login_failed", AuditEvent.actor == actor)
    total, oldest = session.execute(
        select(func.count(), func.min(AuditEvent.at)).where(*failed, AuditEvent.at > start)
    ).one()
    from_ip = session.scalar(
        select(func.count()).where(*failed, AuditEvent.at > start, AuditEvent.ip == ip)
    )
    return LoginFailures(int(from_ip or 0), int(total or 0), oldest)


def audit_events(
    session: Session, limit: int = 200, action: str = "", actor: str = ""
) -> list[AuditEvent]:
    """The newest events first; `action` and `actor` (exact values) narrow them when given."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEvent.action == action)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    return list(session.scalars(query))


def audit_actions(session: Session) -> list[str]:
    """Every action the trail holds, for the filter's choices."""
    return [str(a) for a in session.scalars(select(AuditEvent.action).distinct())]


# --- admins ------------------------------------------------------------------------------


ROLES = ("administrator", "analyst", "viewer")  # server.web.auth.Role


class LastAdministrator(Exception):
    """The change would leave no enabled administrator, and nobody could manage accounts."""


def create_admin(
    session: Session, username: str, password: str, now: datetime, role: str = "administrator"
) -> Admin:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if session.scalar(select(Admin).where(Admin.username == username)) is not None:
        raise ConflictError(f"admin {username!r} already exists")
    admin = Admin(
        username=username,
        password_hash=hash_password(password),
        created_at=now,
        disabled=False,
        role=role,
        session_generation=0,
    )
    session.add(admin)
    session.flush()
    return admin


def authenticate_admin(session: Session, username: str, password: str) -> Admin | None:
    storable = "\x00" not in username and username == username.encode("utf-8", "ignore").decode()
    admin = session.scalar(select(Admin).where(Admin.username == username)) if storable else None
    if admin is None or admin.disabled:
        verify_password(dummy_password_hash(), password)  # same cost either way
        return None
    return admin if verify_password(admin.password_hash, password) else None


def admins(session: Session) -> list[Admin]:
    return list(session.scalars(select(Admin).order_by(Admin.username)))


def admin_by_name(session: Session, username: str) -> Admin:
    admin = session.scalar(select(Admin).where(Admin.username == username))
    if admin is None:
        raise NotFound(username)
    return admin


def end_sessions(admin: Admin) -> None:
    """Every session issued to this account so far is refused from now on, in every process."""
    admin.session_generation = (admin.session_generation or 0) + 1


def _other_enabled_administrators(session: Session, admin: Admin) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                Admin.role == "administrator", Admin.disabled.is_(False), Admin.id != admin.id
            )
        )
        or 0
    )


def set_admin_password(
    session: Session, admin: Admin, password: str, now: datetime, actor: str, ip: str = ""
) -> None:
    """A new password (own change or reset by an administrator); ends the account's sessions."""
    admin.password_hash = hash_password(password)
    end_sessions(admin)
    own = actor == f"admin:{admin.username}"
    audit(session, now, actor, "admin.password" if own else "admin.reset", admin.username, ip)


def set_admin_role(
    session: Session, admin: Admin, role: str, now: datetime, actor: str, ip: str = ""
) -> bool:
    """Change the role (ends the account's sessions); False if it already had it. Refuses to
    demote the last enabled administrator (LastAdministrator)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if admin.role == role:
        return False
    last = admin.role == "administrator" and not admin.disabled
    if last and _other_enabled_administrators(session, admin) == 0:
        raise LastAdministrator(admin.username)
    audit(session, now, actor, "admin.role", admin.username, ip, {"from": admin.role, "to": role})
    admin.role = role
    end_sessions(admin)
    return True


def set_admin_disabled(
    session: Session, admin: Admin, disabled: bool, now: datetime, actor: str, ip: str = ""
) -> bool:
    """Disable (ends its sessions) or enable an account; False if nothing changed. Refuses to
    disable the last enabled administrator (LastAdministrator)."""
    if admin.disabled == disabled:
        return False
    last = disabled and admin.role == "administrator"
    if last and _other_enabled_administrators(session, admin) == 0:
        raise LastAdministrator(admin.username)
    admin.disabled = disabled
    end_sessions(admin)
    audit(session, now, actor, "admin.disable" if disabled else "admin.enable", admin.username, ip)
    return True


# --- enrollment --------------------------------------------------------------------------


def create_secret(
    session: Session, now: datetime, uses: int, expires_at: datetime | None, label: str = ""
) -> str:
    secret = new_enrollment_secret()
    session.add(
        EnrollmentSecret(
            secret_hash=token_hash(secret),
            label=label,
            uses_allowed=uses,
            uses=0,
            created_at=now,
            expires_at=expires_at,
            revoked=False,
        )
    )
    return secret


def secret_state(secret: EnrollmentSecret, now: datetime) -> str:
    """active, revoked, used-up or expired: why an agent can or cannot enroll with it."""
    if secret.revoked:
        return "revoked"
    if secret.uses >= secret.uses_allowed:
        return "used-up"
    if secret.expires_at is not None and secret.expires_at <= now:
        return "expired"
    return "active"


def list_secrets(session: Session) -> list[EnrollmentSecret]:
    return list(session.scalars(select(EnrollmentSecret).order_by(EnrollmentSecret.id)))


def revoke_secret(session: Session, secret_id: int, now: datetime, actor: str) -> bool:
    """Refuse every later enrollment with this secret; devices already enrolled keep working
    (revoke them one by one). False if it was revoked already."""
    secret = session.get(EnrollmentSecret, secret_id)
    if secret is None:
        raise NotFound(secret_id)
    if secret.revoked:
        return False
    secret.revoked = True
    audit(session, now, actor, "secret.revoke", str(secret_id), detail={"label": secret.label})
    return True


def enroll(session: Session, req: EnrollRequest, ip: str, now: datetime) -> tuple[Device, str]:
    secret_hash = token_hash(req.secret)
    # One conditional UPDATE consumes a use atomically, so two devices racing for the last use of
    # a secret cannot both win (on SQLite and PostgreSQL alike).
    consumed = session.execute(
        update(EnrollmentSecret)
        .where(
            EnrollmentSecret.secret_hash == secret_hash,
            EnrollmentSecret.revoked.is_(False),
            EnrollmentSecret.uses < EnrollmentSecret.uses_allowed,
            (EnrollmentSecret.expires_at.is_(None)) | (EnrollmentSecret.expires_at > now),
        )
        .values(uses=EnrollmentSecret.uses + 1)
        .returning(EnrollmentSecret.id)
    ).scalar_one_or_none()
    if consumed is None:
        raise EnrollmentRefused()
    token = new_device_token()
    earlier = _revoked_machine(session, req.machine_id)
    if earlier is not None:
        # The same machine, enrolled again on purpose by IT after a revocation: one record,
        # its history kept, with a new token. A live device's record is never taken over.
        earlier.token_hash = token_hash(token)
        earlier.revoked_at = None
        earlier.hostname = req.hostname
        earlier.os = req.os
        earlier.agent_version = req.agent_version
        earlier.serial_number = req.serial_number or earlier.serial_number
        earlier.enrolled_at = now
        earlier.enrolled_ip = ip
        earlier.secret_id = consumed
        refresh_summary(session, earlier.id)
        audit(
            session,
            now,
            f"device:{earlier.id}",
            "device.reenroll",
            earlier.id,
            ip,
            {"secret": consumed},
        )
        return earlier, token
    label = session.scalar(select(EnrollmentSecret.label).where(EnrollmentSecret.id == consumed))
    device = Device(
        id=str(uuid.uuid4()),
        # The secret's label (a department, a site) is the device's group from the start.
        group_label=label or "",
        # Enrolling is contact: a device is "last seen" from then on, never NULL (lists sort
        # and page on this column).
        last_seen_at=now,
        machine_id=req.machine_id or None,
        serial_number=req.serial_number or None,
        token_hash=token_hash(token),
        hostname=req.hostname,
        os=req.os,
        agent_version=req.agent_version,
        enrolled_at=now,
        enrolled_ip=ip,
        secret_id=consumed,
        policy_version_seen=0,
        users_seen=[],
    )
    session.add(device)
    audit(session, now, f"device:{device.id}", "device.enroll", device.id, ip, {"secret": consumed})
    return device, token


def _revoked_machine(session: Session, machine_id: str) -> Device | None:
    if not machine_id:
        return None
    return session.scalar(
        select(Device)
        .where(Device.machine_id == machine_id, Device.revoked_at.is_not(None))
        .order_by(Device.enrolled_at.desc())
        .limit(1)
    )


def device_id_for_token_hash(session: Session, hashed: str) -> str | None:
    """The device a bearer token belongs to, if known and not revoked (hot path: one query)."""
    row = session.execute(
        select(Device.id, Device.revoked_at).where(Device.token_hash == hashed)
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    return str(row.id)


def token_is_revoked(session: Session, hashed: str) -> bool:
    """True when the token belongs to a device IT revoked (not merely an unknown token)."""
    revoked_at = session.scalar(select(Device.revoked_at).where(Device.token_hash == hashed))
    return revoked_at is not None


def revoke_device(session: Session, device_id: str, now: datetime, actor: str, ip: str) -> None:
    device = get_device(session, device_id)
    if device.revoked_at is None:
        device.revoked_at = now
        device.compliance_state = "revoked"
        audit(session, now, actor, "device.revoke", device_id, ip)


# --- heartbeat ---------------------------------------------------------------------------


def record_heartbeats(
    conn: Connection, beats: Sequence[tuple[str, HeartbeatRequest, datetime]]
) -> list[tuple[str, int] | None]:
    """Authenticate and record a batch of heartbeats (token hash, body, time) in two statements.

    Returns, per heartbeat, (device id, its news counter) or None when the token is unknown or
    revoked. This is
    the fleet's hottest path (budget: 1,000/s on 2 cores): `server.heartbeats` gathers the
    heartbeats that arrive together, and they cost one SELECT and one executemany UPDATE here.
    """
    wanted = {hashed for hashed, _req, _now in beats}
    known: dict[str, str] = {}
    news: dict[str, int] = {}
    for hashed, device_id, count in conn.execute(
        select(Device.token_hash, Device.id, Device.news).where(
            Device.token_hash.in_(wanted), Device.revoked_at.is_(None)
        )
    ):
        known[str(hashed)] = str(device_id)
        news[str(device_id)] = int(count or 0)
    bigger = func.max if conn.dialect.name == "sqlite" else func.greatest
    # One row per device (a batch may hold two heartbeats of one device), in id order: several
    # server processes then lock rows in the same order and cannot deadlock each other.
    latest: dict[str, dict[str, Any]] = {}
    for hashed, req, now in beats:
        if hashed not in known:
            continue
        device_id = known[hashed]
        seen = latest.get(device_id)
        latest[device_id] = {
            "b_id": device_id,
            "b_now": now,
            "b_agent": req.agent_version,
            "b_os": req.os,
            "b_users": sorted(set(req.users_seen)),
            "b_host": req.hostname,
            "b_scan": req.last_scan_at,
            "b_policy": max(req.policy_version_seen, seen["b_policy"] if seen else 0),
        }
    rows = [latest[device_id] for device_id in sorted(latest)]
    if rows:
        conn.execute(
            update(Device)
            .where(Device.id == bindparam("b_id"), Device.revoked_at.is_(None))
            .values(
                last_seen_at=bindparam("b_now", type_=UTCDateTime()),
                agent_version=bindparam("b_agent"),
                # An agent that does not say its OS leaves the one it gave before.
                os=func.coalesce(func.nullif(bindparam("b_os", type_=String()), ""), Device.os),
                users_seen=bindparam("b_users", type_=JSON()),
                # Omitted fields leave the stored value alone.
                hostname=func.coalesce(bindparam("b_host", type_=String()), Device.hostname),
                last_scan_at=func.coalesce(
                    bindparam("b_scan", type_=UTCDateTime()), Device.last_scan_at
                ),
                # Never let a stale heartbeat lower what the device told us before.
                policy_version_seen=bigger(
                    Device.policy_version_seen, bindparam("b_policy", type_=Integer())
                ),
            ),
            rows,
        )
    return [
        (known[hashed], news[known[hashed]]) if hashed in known else None
        for hashed, _req, _now in beats
    ]


# --- findings ----------------------------------------------------------------------------


def retrying_upsert(session: Session, work: Callable[[], T]) -> T:
    """Run a select-then-insert in a savepoint, again if a concurrent request inserted first.

    Two uploads from one device can race (an agent retrying while the first is in flight); the
    unique constraints catch it, and the second attempt sees the winner's rows and updates them.
    """
    for attempt in range(3):
        try:
            with session.begin_nested():
                return work()
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def upsert_findings(
    session: Session, device_id: str, batch: FindingsBatch, now: datetime
) -> FindingsResult:
    """Idempotent: sending the same batch again changes nothing but `received_at`."""
    return retrying_upsert(session, lambda: _upsert_findings(session, device_id, batch, now))


def _upsert_findings(
    session: Session, device_id: str, batch: FindingsBatch, now: datetime
) -> FindingsResult:
    # The last word about a key in a batch wins (agents may coalesce).
    incoming = {f.key: f for f in batch.findings}
    existing = {
        f.key: f
        for f in session.scalars(
            select(Finding).where(Finding.device_id == device_id, Finding.key.in_(incoming))
        )
    }
    new = updated = resolved = 0
    for key, item in incoming.items():
        is_resolved = item.status == "resolved"
        row = existing.get(key)
        if row is None:
            row = Finding(device_id=device_id, key=key, first_seen=item.first_seen)
            session.add(row)
            new += 0 if is_resolved else 1
        else:
            updated += 1
            row.first_seen = min(row.first_seen, item.first_seen)
        was_open = row.state == FindingState.OPEN.value
        row.rule_id = item.rule_id
        row.title = item.title
        row.title_i18n = item.title_i18n.model_dump() if item.title_i18n else {}
        row.category = item.category
        row.severity = str(item.severity)
        row.subject = item.subject
        row.evidence = [e.model_dump(exclude_defaults=True) for e in item.evidence]
        row.remediation = item.remediation
        row.remediation_i18n = item.remediation_i18n.model_dump() if item.remediation_i18n else {}
        row.last_seen = max(row.last_seen or item.last_seen, item.last_seen)
        row.received_at = now
        if is_resolved:
            if was_open or row.resolved_at is None:
                row.resolved_at = item.last_seen
                resolved += 1
            row.state = FindingState.RESOLVED.value
        else:
            row.state = FindingState.OPEN.value
            row.resolved_at = None
    if batch.complete:
        stale = session.scalars(
            select(Finding).where(
                Finding.device_id == device_id,
                Finding.state == FindingState.OPEN.value,
                Finding.key.not_in(incoming) if incoming else Finding.id.is_not(None),
            )
        )
        for row in stale:
            row.state = FindingState.RESOLVED.value
            row.resolved_at = batch.scanned_at
            row.received_at = now
            resolved += 1
    scan: dict[str, Any] = {"last_scan_at": batch.scanned_at, "last_seen_at": now}
    if batch.coverage is not None:
        scan["last_scan_outcome"] = batch.coverage.outcome
        scan["last_scan_coverage"] = batch.coverage.model_dump(exclude={"outcome"})
    session.execute(update(Device).where(Device.id == device_id).values(**scan))
    refresh_summary(session, device_id)
    return FindingsResult(received=len(batch.findings), new=new, updated=updated, resolved=resolved)


# --- incident reports --------------------------------------------------------------------


def report_payload_hash(req: ReportCreate, files: list[tuple[str, bytes]]) -> str:
    body = req.model_dump(mode="json")
    body["attachments"] = [[name, hashlib.sha256(data).hexdigest()] for name, data in files]
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def find_report_by_key(session: Session, device_id: str, key: str) -> Report | None:
    return session.scalar(
        select(Report).where(Report.device_id == device_id, Report.idempotency_key == key)
    )


def create_report(
    session: Session,
    device_id: str,
    req: ReportCreate,
    stored: list[att.StoredAttachment],
    payload_sha256: str,
    now: datetime,
) -> Report:
    report = Report(
        device_id=device_id,
        idempotency_key=req.idempotency_key,
        payload_sha256=payload_sha256,
        category=req.category.value,
        occurred_at=req.occurred_at,
        summary=req.summary,
        description=req.description,
        affected_account=req.affected_account,
        reporter=req.reporter,
        contact_method=req.contact_method.value if req.contact_method else None,
        contact_address=req.contact_address,
        created_at=now,
        updated_at=now,
        status=ReportStatus.NEW.value,
    )
    session.add(report)
    for item in stored:
        report.attachments.append(
            Attachment(
                stored_name=item.stored_name,
                filename=item.filename,
                content_type=item.content_type,
                size=item.size,
                sha256=item.sha256,
            )
        )
    session.flush()
    return report


def device_reports(session: Session, device_id: str) -> list[Report]:
    return list(
        session.scalars(
            select(Report)
            .where(Report.device_id == device_id)
            .order_by(Report.id.desc())
            .limit(200)
        )
    )


def device_report(session: Session, device_id: str, report_id: int) -> Report | None:
    return session.scalar(
        select(Report).where(Report.device_id == device_id, Report.id == report_id)
    )


@dataclass
class ReportFilter:
    status: str | None = None
    category: str | None = None


def reports(session: Session, flt: ReportFilter, limit: int = 500) -> list[Report]:
    query = select(Report).order_by(Report.id.desc()).limit(limit)
    if flt.status:
        query = query.where(Report.status == flt.status)
    if flt.category:
        query = query.where(Report.category == flt.category)
    return list(session.scalars(query))


def report_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Report.status, func.count()).group_by(Report.status))
    return {str(status): int(count) for status, count in rows}


def get_report(session: Session, report_id: int) -> Report:
    report = session.get(Report, report_id)
    if report is None:
        raise NotFound(str(report_id))
    return report


def update_report(
    session: Session,
    report: Report,
    now: datetime,
    actor: Admin,
    ip: str,
    status: ReportStatus | None = None,
    assignee_id: int | bool | None = False,
) -> None:
    """Change status and/or assignee (False means leave the assignee alone)."""
    if status is not None and status.value != report.status:
        audit(
            session,
            now,
            f"admin:{actor.username}",
            "report.status",
            report.case,
            ip,
            {"from": report.status, "to": status.value},
        )
        report.status = status.value
        report.updated_at = now
        tell_device(session, report.device_id)
    if assignee_id is not False and assignee_id != report.assignee_id:
        new_id = assignee_id if isinstance(assignee_id, int) else None
        if new_id is not None and session.get(Admin, new_id) is None:
            raise NotFound(f"admin {new_id}")
        audit(
            session,
            now,
            f"admin:{actor.username}",
            "report.assign",
            report.case,
            ip,
            {"assignee": new_id},
        )
        report.assignee_id = new_id
        report.updated_at = now


def add_message(
    session: Session, report: Report, kind: MessageKind, body: str, author: Admin, now: datetime
) -> None:
    body = body.replace("\x00", "")  # PostgreSQL cannot store NUL; no person types one
    report.messages.append(
        ReportMessage(kind=kind.value, author_id=author.id, body=body, created_at=now)
    )
    report.updated_at = now
    if kind is MessageKind.REPLY:  # internal notes are never the device's news
        tell_device(session, report.device_id)
    audit(session, now, f"admin:{author.username}", f"report.{kind.value}", report.case)


def acted_recently(session: Session, actor: str, target: str, since: datetime) -> bool:
    """Whether `actor` has an audit event on `target` since `since` (a page view right after
    the person's own action on it is not a new view)."""
    found = session.scalar(
        select(AuditEvent.id)
        .where(AuditEvent.actor == actor, AuditEvent.target == target, AuditEvent.at >= since)
        .limit(1)
    )
    return found is not None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of a report's history: a message (note/reply) or a status / assignee change."""

    at: datetime
    kind: str  # "note", "reply", "status", "assign"
    actor: str  # the account's username, "" for the server command line
    body: str = ""
    before: str = ""  # status changes: from
    after: str = ""  # status changes: to; assignments: the new assignee's username or ""


def report_history(session: Session, report: Report) -> list[HistoryEntry]:
    """Messages, status changes and assignments of a report, oldest first."""
    entries = [
        HistoryEntry(m.created_at, m.kind, m.author.username if m.author else "", m.body)
        for m in report.messages
    ]
    names = {a.id: a.username for a in admins(session)}
    events = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.target == report.case,
            AuditEvent.action.in_(("report.status", "report.assign")),
        )
        .order_by(AuditEvent.id)
    )
    for event in events:
        who = event.actor.removeprefix("admin:")
        detail = event.detail or {}
        if event.action == "report.status":
            entries.append(
                HistoryEntry(
                    event.at,
                    "status",
                    who,
                    before=str(detail.get("from", "")),
                    after=str(detail.get("to", "")),
                )
            )
        else:
            assignee = detail.get("assignee")
            name = names.get(assignee, "") if isinstance(assignee, int) else ""
            entries.append(HistoryEntry(event.at, "assign", who, after=name))
    return sorted(entries, key=lambda e: e.at)


def tell_device(session: Session, device_id: str) -> None:
    """Something new waits for this device: its next heartbeat answer says so (`news`)."""
    session.execute(update(Device).where(Device.id == device_id).values(news=Device.news + 1))


def get_attachment(session: Session, report_id: int, attachment_id: int) -> Attachment:
    item = session.scalar(
        select(Attachment).where(Attachment.id == attachment_id, Attachment.report_id == report_id)
    )
    if item is None:
        raise NotFound(str(attachment_id))
    return item


# --- password age and acknowledgements ---------------------------------------------------


def day_start(day: date | None) -> datetime | None:
    """A protocol day (password age is kept in days) as the instant the tables store: 00:00 UTC."""
    return None if day is None else datetime.combine(day, time(0), tzinfo=UTC)


def set_password_status(
    session: Session, device_id: str, req: PasswordStatusRequest, now: datetime
) -> int:
    return retrying_upsert(session, lambda: _set_password_status(session, device_id, req, now))


def _set_password_status(
    session: Session, device_id: str, req: PasswordStatusRequest, now: datetime
) -> int:
    wanted = {(a.user, a.account_type.value): a for a in req.accounts}
    rows = {
        (r.user, r.account_type): r
        for r in session.scalars(
            select(PasswordStatus).where(PasswordStatus.device_id == device_id)
        )
    }
    for key, item in wanted.items():
        row = rows.get(key)
        if row is None:
            row = PasswordStatus(device_id=device_id, user=key[0], account_type=key[1])
            session.add(row)
        row.state = item.state.value
        row.last_changed = day_start(item.last_changed)
        row.due_at = day_start(item.due_at)
        row.deferrals = item.deferrals
        row.reported_at = now
        row.keyring_available = req.keyring_available
    refresh_summary(session, device_id)
    return len(wanted)


def ack_policy(session: Session, device_id: str, req: PolicyAckRequest, now: datetime) -> None:
    retrying_upsert(session, lambda: _ack_policy(session, device_id, req, now))


def _ack_policy(session: Session, device_id: str, req: PolicyAckRequest, now: datetime) -> None:
    existing = session.scalar(
        select(PolicyAck).where(
            PolicyAck.device_id == device_id,
            PolicyAck.user == req.user,
            PolicyAck.policy_version == req.version,
        )
    )
    if existing is not None:
        return  # acknowledging twice is the same acknowledgement
    session.add(
        PolicyAck(
            device_id=device_id,
            user=req.user,
            policy_version=req.version,
            text_version=req.text_version,
            acknowledged_at=req.acknowledged_at,
            received_at=now,
        )
    )
    # The device row keeps the newest version acknowledged (the compliance list filters on it).
    session.execute(
        update(Device)
        .where(Device.id == device_id, Device.acked_version < req.version)
        .values(acked_version=req.version)
    )


# --- policy ------------------------------------------------------------------------------


def latest_policy_version(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(Policy.version), 0))) or 0)


def publish_policy(
    session: Session,
    signer: PolicySigner,
    create: PolicyCreate,
    now: datetime,
    actor: str,
    ip: str = "",
) -> PolicyDocument:
    version = latest_policy_version(session) + 1
    document = build_document(create, version, now, signer.key_id)
    payload, signature = sign_document(document, signer)
    session.add(
        Policy(
            version=version,
            payload=payload,
            signature=signature,
            key_id=signer.key_id,
            issued_at=document.issued_at,
            expires_at=document.expires_at,
            device_scope=document.devices,
            group_scope=document.groups,
            published_by=actor,
        )
    )
    try:
        session.flush()
    except IntegrityError as exc:  # another publisher took this version number first
        raise ConflictError("another policy was published at the same time; try again") from exc
    audit(session, now, actor, "policy.publish", str(version), ip, {"key_id": signer.key_id})
    return document


def policies(session: Session, limit: int = 100) -> list[Policy]:
    return list(session.scalars(select(Policy).order_by(Policy.version.desc()).limit(limit)))


def policy_applies(policy: Policy, device_id: str, group: str | None) -> bool:
    """Whether a stored policy is for this device: for every device, scoped to it, or scoped
    to its group (`group`: the device's group label; None: unknown, group policies skipped)."""
    if policy.group_scope is not None:
        return bool(group) and group in policy.group_scope
    return policy.device_scope is None or device_id in policy.device_scope


def policy_for_device(session: Session, device_id: str, now: datetime) -> Policy | None:
    """The newest unexpired policy that applies to this device (global, scoped to it, or to
    its group as the server knows it now)."""
    group = session.scalar(select(Device.group_label).where(Device.id == device_id))
    for policy in session.scalars(
        select(Policy).where(Policy.expires_at > now).order_by(Policy.version.desc()).limit(200)
    ):
        if policy_applies(policy, device_id, group):
            return policy
    return None


def policy_for_group(session: Session, group: str, now: datetime) -> Policy | None:
    """The newest unexpired policy for every device or scoped to this group."""
    for policy in session.scalars(
        select(Policy).where(Policy.expires_at > now).order_by(Policy.version.desc()).limit(200)
    ):
        if policy.device_scope is None and (
            policy.group_scope is None or group in policy.group_scope
        ):
            return policy
    return None


def label_of(policy: Policy | None) -> str:
    """A stored policy's one name (protocol.policy.policy_label); "—" for none."""
    if policy is None:
        return "—"
    text = json.loads(policy.payload).get("text") or {}
    return policy_label(policy.version, str(text.get("version") or ""))


def current_policy(session: Session, now: datetime) -> Policy | None:
    return session.scalar(
        select(Policy)
        .where(Policy.expires_at > now, Policy.device_scope.is_(None), Policy.group_scope.is_(None))
        .order_by(Policy.version.desc())
        .limit(1)
    )


# --- dashboard views ---------------------------------------------------------------------


@dataclass
class DeviceRow:
    device: Device
    open_findings: int
    worst_severity: str | None
    password_overdue: int
    offline: bool
    compliance: str  # "revoked", or a protocol.device_state.State: "compliant", "blind", …
    reasons: tuple[Reason, ...] = ()


def device_state_of(
    device: Device, open_findings: int, worst: str | None, overdue: int
) -> DeviceState:
    """The device's state by the one function agent, tray and server share (with the
    device row's summary of its users' keyrings, `keyring_on`)."""
    coverage = Coverage.from_json(device.last_scan_coverage)
    if device.last_scan_at is None:
        outcome = ScanOutcome.NONE
    elif device.last_scan_outcome == ScanOutcome.FAILED.value:
        outcome = ScanOutcome.FAILED
    else:
        outcome = ScanOutcome.OK
    return device_state(
        DeviceInputs(
            last_scan=outcome,
            scanned_at=device.last_scan_at.timestamp() if device.last_scan_at else None,
            coverage=coverage,
            open_findings=open_findings,
            worst_severity=worst,
            overdue_passwords=overdue,
            keyring_available=getattr(device, "keyring_available", None),
        )
    )


def keyring_on(session: Session, device_id: str) -> bool | None:
    """Whether the device's users could open their keyrings, as their trays last said:
    False when any could not (that user's password age cannot be checked), True when all that
    said could, None when none said (older agents and trays)."""
    said = set(
        session.scalars(
            select(PasswordStatus.keyring_available).where(
                PasswordStatus.device_id == device_id,
                PasswordStatus.keyring_available.is_not(None),
            )
        )
    )
    if not said:
        return None
    return False not in said


def device_status(session: Session, device: Device) -> DeviceState:
    """One device's state (the device page): its open findings and overdue passwords."""
    severities = list(
        session.scalars(
            select(Finding.severity).where(
                Finding.device_id == device.id, Finding.state == FindingState.OPEN.value
            )
        )
    )
    overdue = session.scalar(
        select(func.count()).where(
            PasswordStatus.device_id == device.id,
            PasswordStatus.state == PasswordState.OVERDUE.value,
        )
    )
    return device_state_of(device, len(severities), worst_severity(severities), int(overdue or 0))


def refresh_summary(session: Session, device_id: str) -> None:
    """Recompute the device row's summary (open findings, worst severity, overdue passwords,
    compliance state) from its findings and password status: called by every write that can
    change them, so lists read one row per device."""
    session.flush()
    device = session.get(Device, device_id, populate_existing=True)
    if device is None:
        return
    severities = list(
        session.scalars(
            select(Finding.severity).where(
                Finding.device_id == device_id, Finding.state == FindingState.OPEN.value
            )
        )
    )
    device.open_findings = len(severities)
    device.worst_severity = worst_severity(severities)
    device.overdue_passwords = int(
        session.scalar(
            select(func.count()).where(
                PasswordStatus.device_id == device_id,
                PasswordStatus.state == PasswordState.OVERDUE.value,
            )
        )
        or 0
    )
    device.keyring_available = keyring_on(session, device_id)
    computed = device_state_of(
        device, device.open_findings, device.worst_severity, device.overdue_passwords
    )
    device.compliance_state = "revoked" if device.revoked_at else str(computed.state)
    device.acked_version = int(
        session.scalar(
            select(func.coalesce(func.max(PolicyAck.policy_version), -1)).where(
                PolicyAck.device_id == device_id
            )
        )
        or -1
    )


def state_counts(rows: Sequence[DeviceRow]) -> dict[str, int]:
    """How many devices are in each state (revoked ones left out), every state listed."""
    counts = {str(s): 0 for s in State}
    for row in rows:
        if row.compliance in counts:
            counts[row.compliance] += 1
    return counts


def fleet(session: Session, now: datetime, offline_after: timedelta) -> list[DeviceRow]:
    open_counts: dict[str, Counter[str]] = {}
    for device_id, severity, count in session.execute(
        select(Finding.device_id, Finding.severity, func.count())
        .where(Finding.state == FindingState.OPEN.value)
        .group_by(Finding.device_id, Finding.severity)
    ):
        open_counts.setdefault(device_id, Counter())[severity] = int(count)
    overdue: dict[str, int] = {
        device_id: int(count)
        for device_id, count in session.execute(
            select(PasswordStatus.device_id, func.count())
            .where(PasswordStatus.state == PasswordState.OVERDUE.value)
            .group_by(PasswordStatus.device_id)
        )
    }
    rows: list[DeviceRow] = []
    for device in session.scalars(select(Device).order_by(Device.hostname, Device.id)):
        counts = open_counts.get(device.id, Counter())
        worst = worst_severity([s for s in counts if counts[s]])
        offline = device.last_seen_at is None or now - device.last_seen_at > offline_after
        computed = device_state_of(
            device, sum(counts.values()), worst, int(overdue.get(device.id, 0))
        )
        rows.append(
            DeviceRow(
                device,
                sum(counts.values()),
                worst,
                int(overdue.get(device.id, 0)),
                offline and device.revoked_at is None,
                "revoked" if device.revoked_at is not None else str(computed.state),
                computed.reasons,
            )
        )
    return rows


def get_device(session: Session, device_id: str) -> Device:
    if not _DEVICE_ID_RE.match(device_id):  # also keeps NUL and friends away from the database
        raise NotFound(device_id)
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(device_id)
    return device


def namesakes(session: Session, device: Device, limit: int = 50) -> list[Device]:
    """Other devices with the same host name (told apart by machine fingerprint, OS, users)."""
    if not device.hostname:
        return []
    return list(
        session.scalars(
            select(Device)
            .where(Device.hostname == device.hostname, Device.id != device.id)
            .order_by(Device.enrolled_at)
            .limit(limit)
        )
    )


def device_findings(session: Session, device_id: str) -> list[Finding]:
    return list(
        session.scalars(
            select(Finding)
            .where(Finding.device_id == device_id)
            .order_by(Finding.state, Finding.severity, Finding.rule_id)
        )
    )


def device_password_status(session: Session, device_id: str) -> list[PasswordStatus]:
    return list(
        session.scalars(select(PasswordStatus).where(PasswordStatus.device_id == device_id))
    )


def device_acks(session: Session, device_id: str) -> list[PolicyAck]:
    return list(
        session.scalars(
            select(PolicyAck)
            .where(PolicyAck.device_id == device_id)
            .order_by(PolicyAck.policy_version.desc())
        )
    )


@dataclass
class RuleSummary:
    rule_id: str
    title: str
    category: str
    severity: str
    open: int
    resolved: int
    devices: int


def findings_by_rule(session: Session) -> list[RuleSummary]:
    rows = session.execute(
        select(
            Finding.rule_id,
            func.max(Finding.title),
            func.max(Finding.category),
            func.max(Finding.severity),
            func.sum(func.cast(Finding.state == FindingState.OPEN.value, Integer())),
            func.sum(func.cast(Finding.state == FindingState.RESOLVED.value, Integer())),
            func.count(func.distinct(Finding.device_id)),
        )
        .group_by(Finding.rule_id)
        .order_by(Finding.rule_id)
    )
    return [
        RuleSummary(
            str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4] or 0), int(r[5] or 0), int(r[6])
        )
        for r in rows
    ]


def rule_titles(
    session: Session, rule_ids: Iterable[str] | None = None
) -> dict[str, dict[str, Any]]:
    """rule id -> the newest finding's title in each language ({"zh": …, "en": …}), for the
    rules named (one index lookup each, on (rule_id, id)) or for every rule (a whole scan)."""
    if rule_ids is not None:
        out: dict[str, dict[str, Any]] = {}
        for rule_id in dict.fromkeys(rule_ids):
            titles = session.scalar(
                select(Finding.title_i18n)
                .where(Finding.rule_id == rule_id)
                .order_by(Finding.id.desc())
                .limit(1)
            )
            if titles is not None:
                out[rule_id] = dict(titles)
        return out
    newest = select(func.max(Finding.id)).group_by(Finding.rule_id)
    rows = session.execute(
        select(Finding.rule_id, Finding.title_i18n).where(Finding.id.in_(newest))
    )
    return {str(rule_id): dict(titles or {}) for rule_id, titles in rows}


def findings_for_rule(session: Session, rule_id: str) -> list[tuple[Finding, Device]]:
    if not _RULE_ID_RE.match(rule_id):
        return []
    return [
        (f, d)
        for f, d in session.execute(
            select(Finding, Device)
            .join(Device, Device.id == Finding.device_id)
            .where(Finding.rule_id == rule_id)
            .order_by(Finding.state, Device.hostname)
            .limit(1000)
        )
    ]


def findings_timeline(
    session: Session, now: datetime, days: int = 14
) -> list[tuple[date, int, int]]:
    """(day, new, resolved) for the last `days` days, oldest first."""
    since = now - timedelta(days=days)
    new = Counter(
        f.date()
        for f in session.scalars(select(Finding.first_seen).where(Finding.first_seen >= since))
    )
    resolved = Counter(
        r.date()
        for r in session.scalars(select(Finding.resolved_at).where(Finding.resolved_at >= since))
        if r is not None
    )
    today = now.date()
    return [
        (day, new.get(day, 0), resolved.get(day, 0))
        for day in (today - timedelta(days=i) for i in range(days - 1, -1, -1))
    ]


@dataclass
class ComplianceRow:
    device: Device
    passwords: list[PasswordStatus]
    acked_version: int  # -1: nothing acknowledged; 0: the agent's built-in policy
    acked_label: str  # protocol.policy.policy_label, as the tray and `wxguard status` show it


def compliance(session: Session) -> list[ComplianceRow]:
    passwords: dict[str, list[PasswordStatus]] = {}
    for row in session.scalars(select(PasswordStatus).order_by(PasswordStatus.user)):
        passwords.setdefault(row.device_id, []).append(row)
    acked: dict[str, tuple[int, str]] = {}
    for device_id, version, text_version in session.execute(
        select(PolicyAck.device_id, PolicyAck.policy_version, PolicyAck.text_version)
    ):
        if device_id not in acked or version > acked[device_id][0]:
            acked[device_id] = (int(version), str(text_version))
    return [
        ComplianceRow(
            d,
            passwords.get(d.id, []),
            acked[d.id][0] if d.id in acked else -1,
            policy_label(*acked[d.id]) if d.id in acked else "—",
        )
        for d in session.scalars(
            select(Device).where(Device.revoked_at.is_(None)).order_by(Device.hostname)
        )
    ]
