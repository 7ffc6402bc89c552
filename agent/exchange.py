"""The agent's connected side: runs `Sync` on its own thread and serves what the tray asks of
the server (reports, their statuses and replies, password-age status, policy and its
acknowledgement), routing each user's data to that user only."""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import threading
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar

from agent import outbox as ob
from agent.api import AgentError
from agent.exec_approvals import ApprovalLimiter
from agent.policy import EffectivePolicy
from agent.principals import UserId, account_name
from agent.server_client import approvals_json, findings_batch
from agent.service import AgentService, ScanSummary
from agent.store import LocalRecords, ScanDelta
from agent.sync import Sync
from checks.catalogue import Catalogue
from checks.model import ScanResult
from protocol.attachments import ACCEPTED, sniff
from protocol.blocked import APPROVAL_CATEGORY
from protocol.contact import explain_contact
from protocol.device_state import ScanOutcome
from protocol.limits import (
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENT_NAME,
    MAX_PAST_DAYS,
    MAX_SHORT,
    MAX_SUMMARY,
    MAX_USER,
)
from protocol.names import BUILTIN_TEXT_VERSION, policy_label
from protocol.plain import storable

if TYPE_CHECKING:  # the pydantic models are imported on first use: an idle agent has none
    from pydantic import BaseModel

    from protocol.ipc import AttachmentUpload
    from protocol.messages import PasswordStatusRequest, ReportCreate

log = logging.getLogger("wxguard.agent.exchange")

# What the agent sends to the server: shown to the employee ("What wxguard collects").
COLLECTED: tuple[dict[str, str], ...] = (
    {
        "zh": "设备名称、操作系统和 wxguard 版本",
        "en": "Device name, operating system and wxguard version",
    },
    {
        "zh": "最近扫描时间，以及本机登录过的用户名",
        "en": "Time of the last scan and the user names seen on this machine",
    },
    {
        "zh": "检查发现：规则、文件路径、程序名称和进程号、软件包名称",
        "en": "Findings: the rule, file paths, program names and process ids, package names",
    },
    {
        "zh": "微信密码的更改日期和状态（从不包含密码本身）",
        "en": "WeChat password change dates and states (never the password)",
    },
    {
        "zh": "你对公司微信管理制度的确认（版本和时间）",
        "en": "Your acknowledgements of the WeChat policy (version and time)",
    },
    {
        "zh": "你主动提交的安全事件报告及附件",
        "en": "Security incident reports you file, with their attachments",
    },
)
NEVER_COLLECTED = {
    "zh": "wxguard 从不读取聊天内容、消息数据库或通讯录。",
    "en": "wxguard never reads chat content, message databases or contacts.",
}


def _bad(zh: str, en: str) -> AgentError:
    return AgentError("invalid", zh, en)


M = TypeVar("M", bound="BaseModel")


def validated(model: type[M], data: Any, what: tuple[str, str]) -> M:
    """`data` as `model`, or an AgentError naming each field that is wrong, in both languages."""
    from pydantic import ValidationError

    from protocol.text import explain

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        zh, en = explain(exc)
        raise AgentError(
            "invalid", f"{what[0]}无效：{zh}", f"{what[1]} is not valid: {en}"
        ) from None


def clean_name(name: str) -> str:
    """An attachment's display name: no folders, no control characters (the server's rule)."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in storable(name) if unicodedata.category(ch)[0] != "C")
    return name.strip().strip(".")[:MAX_ATTACHMENT_NAME] or "attachment"


def default_policy_text() -> dict[str, str]:
    """The company WeChat policy shipped with the agent, used until a signed policy says otherwise."""
    base = resources.files("agent").joinpath("resources")
    texts: dict[str, str] = {}
    for lang in ("zh", "en"):
        item = base.joinpath(f"policy_default_{lang}.txt")
        texts[lang] = item.read_text("utf-8") if item.is_file() else ""
    if not texts["en"]:
        texts["en"] = texts["zh"]
    return texts


@dataclass(frozen=True, slots=True)
class Caller:
    uid: UserId
    user: str

    @classmethod
    def of(cls, uid: UserId) -> Caller:
        return cls(uid, account_name(uid))


class Exchange:
    """Owns the Sync thread and the per-user records; registered with the IPC dispatcher."""

    def __init__(
        self,
        service: AgentService,
        sync: Sync,
        builtin: Catalogue,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.service = service
        self.sync = sync
        self.builtin = builtin
        self.clock = clock
        self.records = LocalRecords(service.store)
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_reports: datetime | None = None
        self._applied_version = -1
        self.approvals = ApprovalLimiter()  # approval requests' rate (agent.exec_approvals)
        # Told about every policy in force (enforcement mode, intervals).
        self.policy_listeners: list[Callable[[EffectivePolicy], None]] = []
        sync._on_event = self._on_sync_event
        service.scan_listeners.append(self._on_scan)
        service.scan_failure_listeners.append(self._on_scan_failed)
        service.status_providers.append(self._status)

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._apply_policy(self.sync.effective_policy())
        self._thread = threading.Thread(target=self._loop, name="wxguard-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.sync.close()

    def kick(self) -> None:
        self._kick.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = self.clock()
            try:
                wake = self.sync.step(now)
                if self.sync.take_news():  # a reply or a status change waits: fetch it now
                    self._last_reports = None
                refresh = timedelta(seconds=self.sync.settings.report_refresh_s)
                if self._last_reports is None or now - self._last_reports >= refresh:
                    self._refresh_reports(now)
            except Exception:
                log.exception("server exchange step failed")
                wake = now + timedelta(seconds=30)
            cap = min(60.0, float(self.sync.settings.report_refresh_s))
            delay = max(0.05, min((wake - self.clock()).total_seconds(), cap))
            self._kick.wait(delay)
            self._kick.clear()

    # -- scans and sync events -----------------------------------------------------------

    def _on_scan(self, result: ScanResult, delta: ScanDelta) -> None:
        scanned_at = datetime.fromtimestamp(result.started_at, UTC)
        users = sorted({u.name for u in self.service.scanner.layout.users})
        self.sync.note_scan(scanned_at, users)
        # Only a scan that saw everything may let the server resolve what it does not mention.
        batch = findings_batch(
            delta.new,
            delta.present,
            delta.resolved,
            scanned_at,
            complete=delta.coverage.complete,
            coverage=delta.coverage.to_json()
            | {"outcome": str(ScanOutcome.OK), "approved": approvals_json(result)},
        )
        self.sync.queue_findings(batch, self.clock())
        self.kick()

    def _on_scan_failed(self, summary: ScanSummary) -> None:
        """A failed scan tells the server so (an empty, incomplete batch): it resolves nothing,
        and the dashboard shows the device blind instead of its last good verdict."""
        batch = findings_batch(
            [],
            [],
            [],
            datetime.fromtimestamp(summary.started_at, UTC),
            complete=False,
            coverage=summary.coverage.to_json() | {"outcome": str(ScanOutcome.FAILED)},
        )
        self.sync.queue_findings(batch, self.clock())
        self.kick()

    def _on_sync_event(self, name: str, data: dict[str, Any]) -> None:
        now = self.clock().timestamp()
        if name == "delivered" and data.get("kind") == str(ob.Kind.REPORT):
            response = data.get("response") or {}
            uid = self.records.update_report(
                self._key_of(data), now, case=response.get("case"), state="delivered"
            )
            if uid is not None:
                self.service.events.publish(
                    "report", {"case": response.get("case"), "state": "delivered"}, uid=uid
                )
            self._last_reports = None  # fetch the server's view soon
            self.sync.set_fast(True)
        elif name == "rejected" and data.get("kind") == str(ob.Kind.REPORT):
            uid = self.records.update_report(self._key_of(data), now, state="rejected")
            if uid is not None:
                self.service.events.publish(
                    "report", {"state": "rejected", "error": data.get("error")}, uid=uid
                )
        elif name == "policy":
            self._apply_policy(self.sync.effective_policy())
            self.service.events.publish("policy", dict(data))
        elif name == "policy-refused":
            log.error(
                "refused a policy from the server (%s): %s; the last good policy stays in force",
                data.get("reason"),
                data.get("detail"),
            )
            self.service.events.publish("status", {"policy_refused": dict(data)})
        elif name in ("enrolled", "unauthorized", "revoked"):
            self.service.events.publish("status", {name: dict(data)})

    def _key_of(self, data: dict[str, Any]) -> str:
        item_id = str(data.get("id", ""))
        try:
            return self.sync.outbox.get(item_id).idempotency_key
        except (KeyError, ob.OutboxError):
            return item_id

    def _apply_policy(self, policy: EffectivePolicy) -> None:
        if policy.version == self._applied_version:
            return
        self._applied_version = policy.version
        for listener in self.policy_listeners:
            listener(policy)
        if policy.version == 0:
            return  # built-in rules and defaults
        try:
            catalogue = policy.apply_to(self.builtin)
        except ValueError as exc:  # verified, but its rules do not load: keep the current ones
            log.error("policy %d has rules this agent cannot load: %s", policy.version, exc)
            return
        log.info("policy %d in force (%s mode)", policy.version, policy.enforcement)
        self.service.apply_catalogue(catalogue, policy.scan_interval_s)

    def _refresh_reports(self, now: datetime) -> None:
        receipts = self.sync.fetch_reports(now)
        if receipts is None:
            return
        self._last_reports = now
        # Someone waits for an answer while a report is open: heartbeat often until it closes.
        self.sync.set_fast(any(r.status != "resolved" for r in receipts))
        keys = self.records.by_case()
        for receipt in receipts:
            key = keys.get(receipt.case)
            if key is None:
                continue
            replies = [
                {"body": str(r.get("body", "")), "at": str(r.get("at", ""))}
                for r in receipt.replies
            ]
            uid = self.records.update_report(
                key, now.timestamp(), state=receipt.status, summary=receipt.summary, replies=replies
            )
            if uid is not None:
                self.service.events.publish(
                    "report",
                    {"case": receipt.case, "state": receipt.status, "replies": len(replies)},
                    uid=uid,
                )

    def _status(self) -> dict[str, Any]:
        status = self.sync.status(self.clock())
        policy = self.sync.effective_policy()
        status["policy_mode"] = policy.enforcement
        return status

    def report_termination(self, record: dict[str, Any]) -> None:
        """Every enforcement termination reaches the security team as an incident report."""
        report = {
            "category": "unapproved-software",
            "summary": f"wxguard terminated {record['name']} (rule {record['rule_id']})"[
                :MAX_SUMMARY
            ],
            "description": (
                f"Policy mode enforce: process {record['name']} (pid {record['pid']}, {record['exe'] or 'unknown path'}) "
                f"matched rule {record['rule_id']} (finding {record['finding_key']}) and was terminated after the "
                "employee was warned and the grace period passed."
            ),
            "affected_account": "",
            "reporter": "wxguard-agent",
        }
        try:
            self.sync.queue_report(report, self.clock())
            self.kick()
        except ob.OutboxError as exc:
            log.error("could not queue the termination report: %s", exc.en)

    # -- operations for the tray and the CLI ------------------------------------------------

    def submit_report(self, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
        """Check a report with the server's own model (`prepare_report`) and queue it durably:
        what this returns "queued" for, the server accepts."""
        now = self.clock()
        report, attachments = prepare_report(args, caller.user, now)
        key = report.idempotency_key
        body = report.model_dump(mode="json", exclude_none=True, exclude={"idempotency_key"})
        if not body.get("contact_address"):
            # Only sent when given: a server older than the contact fields accepts the rest.
            body.pop("contact_address", None)
        # Approval requests for blocked programs: a few an hour per account, no duplicates.
        limit = (
            self.approvals.admission(caller.uid, report.description)
            if str(report.category) == APPROVAL_CATEGORY
            else contextlib.nullcontext()
        )
        with limit:
            # Durable first (the outbox commits before returning), then the routing record.
            self.sync.queue_report(body, now, attachments, idempotency_key=key)
        self.records.add_report(
            key,
            caller.uid,
            caller.user,
            str(report.category),
            now.timestamp(),
            None if report.contact_method is None else str(report.contact_method),
            report.contact_address or "",
        )
        log.info(
            "incident report %s queued for %s (%d attachments)", key, caller.user, len(attachments)
        )
        self.kick()
        return {"idempotency_key": key, "state": "queued"}  # protocol.ipc.ReportQueued

    def refresh(self, caller: Caller) -> dict[str, Any]:
        """The tray's Refresh: ask the server now (heartbeat, then reports and policy if there
        is news); the answers arrive as `report` and `policy` events."""
        self.sync.refresh_now()
        self._last_reports = None
        self.kick()
        return {"refreshing": True}

    def my_reports(self, caller: Caller) -> list[dict[str, Any]]:
        return self.records.reports_for(caller.uid)

    def report_password_status(
        self, caller: Caller, accounts: Any, keyring_available: Any = None
    ) -> dict[str, Any]:
        """Check the tray's password-age states (and whether its keyring opened) with the
        server's model and queue them."""
        now = self.clock()
        clean = prepare_password_status(accounts, caller.user, now, keyring_available).model_dump(
            mode="json"
        )
        self.sync.queue_password_status(clean["accounts"], now, clean["keyring_available"])
        self.kick()
        # The same person's other front end (the tray, after `wxguard password changed`)
        # reloads the record instead of showing a stale state.
        self.service.events.publish(
            "passwords", {"accounts": len(clean["accounts"])}, uid=caller.uid
        )
        return {"accepted": len(clean["accounts"])}

    def policy(self, caller: Caller) -> dict[str, Any]:
        policy = self.sync.effective_policy()
        if policy.text is not None:
            text = {"zh": policy.text.zh, "en": policy.text.en or policy.text.zh}
            text_version = policy.text.version
        else:
            text = default_policy_text()
            text_version = BUILTIN_TEXT_VERSION
        acked = self.records.acknowledged(caller.uid)
        return {
            "label": policy_label(policy.version, text_version),
            "version": policy.version,
            "mode": policy.enforcement,
            "text": text,
            "text_version": text_version,
            "acknowledged_version": acked[-1] if acked else None,
            "acknowledged": text_version in acked,
            "password": {
                "max_age_days": policy.password.max_age_days,
                "reminder_days": list(policy.password.reminder_days),
                "daily_after_last": policy.password.daily_after_last,
                "max_deferrals": policy.password.max_deferrals,
            },
            "collected": list(COLLECTED),
            "never_collected": NEVER_COLLECTED,
        }

    def acknowledge_policy(self, caller: Caller, text_version: Any) -> dict[str, Any]:
        current = self.policy(caller)
        if text_version != current["text_version"]:
            raise _bad(
                "要确认的制度版本不是当前版本，请重新打开制度后再确认。",
                "That is not the current policy text version; reopen the policy and acknowledge again.",
            )
        now = self.clock()
        self.records.record_ack(
            caller.uid, str(text_version), int(current["version"]), now.timestamp()
        )
        # The built-in policy (version 0) is acknowledged like any other: IT sees who read it.
        self.sync.queue_policy_ack(
            int(current["version"]), now, now, str(text_version), storable(caller.user)[:MAX_USER]
        )
        self.kick()
        return {"acknowledged": text_version}


# -- the checks behind "queued": pure, so the contract tests drive them with any input ------


def prepare_report(
    args: Any, reporter: str, now: datetime
) -> tuple[ReportCreate, list[ob.Attachment]]:
    """The tray's or CLI's report (protocol.ipc.ReportSubmission) as the server's ReportCreate
    with its attachments, or an AgentError ("invalid") saying in both languages what to fix."""
    from protocol.ipc import ReportSubmission
    from protocol.messages import ReportCreate

    sub = validated(ReportSubmission, args, ("事件报告", "The report"))
    summary = sub.summary.strip()
    if not summary:
        raise _bad(
            f"请用 1–{MAX_SUMMARY} 个字概括发生了什么。",
            f"Summarise what happened in 1–{MAX_SUMMARY} characters.",
        )
    occurred_at = _occurred_at(sub.occurred_at, now)
    attachments = _attachments(sub.attachments)
    method = sub.contact.strip() or None
    address = sub.contact_address.strip()
    problem = explain_contact(method, address)
    if problem is not None:
        raise _bad(*problem)
    report = validated(
        ReportCreate,
        {
            "idempotency_key": f"report-{uuid.uuid4().hex}",
            "category": sub.category,
            "summary": summary,
            "description": sub.description,  # as the employee wrote it
            "affected_account": sub.affected_account,
            "contact_method": method,
            "contact_address": address,
            "reporter": storable(reporter)[:MAX_SHORT],
            "occurred_at": occurred_at,
        },
        ("事件报告", "The report"),
    )
    return report, attachments


def _occurred_at(occurred: str | None, now: datetime) -> datetime | None:
    if not occurred:
        return None
    try:
        when = datetime.fromisoformat(occurred)
    except ValueError:
        raise _bad(
            "发生时间格式无效，请用 ISO 8601。",
            "The time it happened is not a valid ISO 8601 date-time.",
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()
    if when > now + timedelta(minutes=5):
        raise _bad("发生时间不能晚于现在。", "The time it happened cannot be in the future.")
    if when < now - timedelta(days=MAX_PAST_DAYS - 1):
        raise _bad(
            f"发生时间不能早于 {MAX_PAST_DAYS // 365} 年前。",
            f"The time it happened cannot be more than {MAX_PAST_DAYS // 365} years ago.",
        )
    return when


def _attachments(raw: list[AttachmentUpload]) -> list[ob.Attachment]:
    out: list[ob.Attachment] = []
    for item in raw:
        try:
            data = base64.b64decode(item.content_b64, validate=True)
        except (binascii.Error, ValueError):
            raise _bad(
                "附件内容不是有效的 base64。", "An attachment's content is not valid base64."
            ) from None
        name = clean_name(item.name)
        mib = MAX_ATTACHMENT_BYTES // (1024 * 1024)
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise _bad(
                f"附件 {name} 超过 {mib} MiB。", f"The attachment {name} is larger than {mib} MiB."
            )
        if not data or sniff(data) is None:
            raise _bad(
                f"附件 {name} 的类型不被接受（可用：{ACCEPTED}）。",
                f"The attachment {name} is not of an accepted type ({ACCEPTED}).",
            )
        out.append(ob.Attachment(name, data))
    return out


def prepare_password_status(
    accounts: Any, user: str, now: datetime, keyring_available: Any = None
) -> PasswordStatusRequest:
    """The tray's password-age states (protocol.ipc.PasswordStatusArgs) as the server's
    PasswordStatusRequest, or an AgentError saying in both languages what to fix."""
    from protocol.ipc import PasswordStatusArgs
    from protocol.messages import PasswordStatusRequest

    what = ("密码状态", "The password status")
    given: dict[str, Any] = {"accounts": accounts}
    if keyring_available is not None:
        given["keyring_available"] = keyring_available
    args = validated(PasswordStatusArgs, given, what)
    today = now.date()
    for entry in args.accounts:
        for name, day in (("last_changed", entry.last_changed), ("due_at", entry.due_at)):
            if day is not None and abs((day - today).days) > MAX_PAST_DAYS - 1:
                raise _bad(f"{name} 不是可信的日期。", f"{name} is not a plausible date.")
        # The tray's days are local: east of UTC, "today" there is tomorrow in UTC.
        if entry.last_changed is not None and entry.last_changed > today + timedelta(days=1):
            raise _bad("密码更改日期不能晚于今天。", "last_changed cannot be in the future.")
    return validated(
        PasswordStatusRequest,
        {
            "accounts": [
                {"user": storable(user)[:MAX_USER], **entry.model_dump(exclude={"no_expiry"})}
                for entry in args.accounts
            ],
            "keyring_available": args.keyring_available,
        },
        what,
    )
