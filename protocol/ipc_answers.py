"""The answers and events of the IPC between the tray or CLI and the agent (docs/ipc.md), as
msgspec Structs: the agent builds one for every answer to the tray, so they are kept out of
pydantic (an idle agent that never talks to the server does not import it; `bench.agent
--imports`). `protocol.ipc` re-exports every name here: import from there outside the agent.

Answers and pushed events are built by the agent with `build_answer` / `build_event` (a field
the model does not name, or a value of the wrong type, is an `AnswerError` there: in the
agent's tests, never on the employee's screen) and read by the tray and the CLI with
`parse_answer` / `parse_event`, which ignore fields they do not know, so a newer agent does not
break an older tray. `StatusAnswer`, `FindingView` and `EvidenceView` keep the fields they do
not name (other parts of the agent add status fields); a new field anywhere is optional with a
default. Both return the JSON form with exactly the fields that were given (pydantic's
`exclude_unset`), validated and converted by msgspec (https://jcristharif.com/msgspec/).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec
from msgspec import field

# A built answer that does not fit its model (agent side), or a read answer whose known field
# has the wrong type (tray side).
AnswerError = msgspec.ValidationError


class Answer(msgspec.Struct, kw_only=True):
    """An answer or an event's data. Read tolerantly (unknown fields ignored); when the agent
    builds one (`build_answer`, `build_event`), a field the model does not name is an error."""

    # Answers that keep the fields they do not name (several parts of the agent add to them).
    keeps_unknown: ClassVar[bool] = False


class OpenAnswer(Answer, kw_only=True):
    """An answer that keeps the fields it does not name (several parts of the agent add to it)."""

    keeps_unknown: ClassVar[bool] = True


class Bilingual(Answer, kw_only=True):
    zh: str = ""
    en: str = ""


class ReasonView(Answer, kw_only=True):
    """Why the device is in its state (`protocol.device_state.Reason`), and what the person
    does about it (`next_step`; older agents sent none)."""

    code: str
    zh: str = ""
    en: str = ""
    next_step: Bilingual | None = None


class CoverageView(Answer, kw_only=True):
    """What the last scan could see (`protocol.device_state.Coverage`)."""

    complete: bool = True
    blind_spots: int = 0
    failed_probes: list[str] = []


class ScanSummaryView(Answer, kw_only=True):
    """One scan: `scan_now`'s answer, `status.last_scan`, and the `scan` event. Times are Unix
    seconds; `outcome` is `ok` or `failed` (then `error` says why)."""

    started_at: float
    duration_s: float
    trigger: str
    findings: int
    new: int
    resolved: int
    blind_spots: int
    outcome: str = "ok"
    coverage: CoverageView | None = None
    error: str = ""


class BlindSpotView(Answer, kw_only=True):
    probe: str
    what: str
    reason: str


class PendingTermination(Answer, kw_only=True):
    pid: int
    name: str
    rule_id: str
    in_s: float


class EnforcementStatus(Answer, kw_only=True):
    mode: str
    grace_s: float
    pending: list[PendingTermination] = []


class OutboxRejection(Answer, kw_only=True):
    id: str
    kind: str
    error: Any = None


class ErrorView(Answer, kw_only=True):
    """An error as the IPC carries it: a stable code and the text in both languages."""

    code: str
    zh: str = ""
    en: str = ""


class ExceptionView(Answer, kw_only=True):
    """Why IT excepted a finding: the reason, until when (Unix seconds), the device group it
    was granted to ("" for this device alone) and by whom."""

    reason: Bilingual = field(default_factory=Bilingual)
    expires: float = 0.0
    group: str = ""
    granted_by: str = ""


class ExceptedView(Answer, kw_only=True):
    """A finding IT excepted (`status.excepted`): shown with its exception, not counted open."""

    key: str
    rule_id: str
    title_i18n: Bilingual = field(default_factory=Bilingual)
    subject: str = ""
    exception: ExceptionView = field(default_factory=ExceptionView)


class StatusAnswer(OpenAnswer, kw_only=True):
    """`status`: the device's state and everything `wxguard status` and the tray show.

    The fields from `agent.service` are always there; those of the server exchange
    (`enrolled` … `outbox_rejected`), the policy (`policy_*`), enforcement and exec blocking only
    when that part runs. Other fields pass through unchanged: a new one is added here as
    optional with a default (never renamed), and docs/ipc.md is regenerated.
    """

    agent_version: str
    mode: str
    pid: int
    started_at: float
    last_scan: ScanSummaryView | None = None
    open_findings: int = 0
    by_severity: dict[str, int] = {}
    compliant: bool = False
    state: str = "unknown"  # protocol.device_state.State
    reasons: list[ReasonView] = []
    coverage: CoverageView | None = None
    blind_spots: list[BlindSpotView] = []
    watching: int = 0
    watching_healthy: bool = True
    watching_capped: bool = False
    watching_limit: int = 0
    unwatched_folders: int = 0
    process_events: str = ""
    process_events_reason: str = ""
    throttled_scans: int = 0
    scans_by_trigger: dict[str, int] = {}
    scan_interval_s: float = 0.0
    managed_keys: list[str] = []
    event_seq: int = 0
    # the server exchange (agent.sync.Sync.status)
    enrolled: bool | None = None
    revoked: bool = False
    upgrade_required: bool = False
    configured: bool | None = None
    device_id: str | None = None
    server_url: str | None = None
    server_reachable: bool | None = None
    last_contact: float | None = None
    last_error: dict[str, Any] | None = None
    backoff_until: float | None = None
    next_heartbeat: float | None = None
    heartbeat_interval_s: float | None = None
    server_policy_version: int | None = None
    outbox_depth: dict[str, int] | None = None
    outbox_rejected: list[OutboxRejection] = []
    exchange_error: ErrorView | None = None
    # the policy in force (agent.policy.PolicyGuard.status)
    policy_label: str | None = None
    policy_key_present: bool | None = None
    policy_version: int | None = None
    policy_mode: str | None = None
    policy_expires_at: float | None = None
    policy_expired: bool | None = None
    policy_text_version: str | None = None
    policy_acknowledged: bool | None = None
    policy_refusals: list[dict[str, Any]] = []
    policy_floor_version: int | None = None
    policy_store_problem: str | None = None
    # enforcement and exec blocking, when they run
    enforcement: EnforcementStatus | None = None
    exec_blocking: dict[str, Any] | None = None
    # What the state was decided from (`protocol.device_state.DeviceInputs.to_json`), so the
    # tray can add the facts only it knows (the keyring) and decide again.
    state_inputs: dict[str, Any] | None = None
    excepted: list[ExceptedView] = []  # the last scan's findings IT excepted (older agents: [])


class HelloAnswer(Answer, kw_only=True):
    """`hello`: who the agent sees you as (`uid`: a POSIX uid, or a Windows SID)."""

    agent_version: str
    protocol: int
    uid: int | str
    admin: bool
    ops: list[str]


class EvidenceView(OpenAnswer, kw_only=True):
    kind: str
    matched: str
    path: str = ""
    pid: int | None = None
    package: str = ""
    detail: str = ""


class FindingView(OpenAnswer, kw_only=True):
    """One open finding (`findings`): as `wxguard check --format json` prints it
    (docs/check-output.md), plus when the agent first and last saw it (Unix seconds)."""

    key: str
    rule_id: str
    title: str = ""
    title_i18n: Bilingual = field(default_factory=Bilingual)
    category: str = ""
    severity: str = ""
    subject: str = ""
    evidence: list[EvidenceView] = []
    remediation: str = ""
    remediation_i18n: Bilingual = field(default_factory=Bilingual)
    references: list[str] = []
    first_seen: float | None = None
    last_seen: float | None = None


class EventView(Answer, kw_only=True):
    """One event of the feed; `data` is the event kind's model (`EVENT_DATA`) as JSON."""

    seq: int
    kind: str
    at: float
    data: dict[str, Any] = {}


class EventsAnswer(Answer, kw_only=True):
    """`events`: the feed's sequence number now and the events after `since` for this user."""

    seq: int
    events: list[EventView] = []


class ReportQueued(Answer, kw_only=True):
    """`submit_report`: the report is in the encrypted outbox."""

    idempotency_key: str
    state: str  # "queued"


class ReplyView(Answer, kw_only=True):
    body: str
    at: str  # ISO 8601, as the server sent it


class MyReport(Answer, kw_only=True):
    """One of `my_reports`: this user's report and what the security team answered.
    `state`: queued, delivered, new, triaged, resolved, rejected; times are Unix seconds."""

    idempotency_key: str
    category: str
    created_at: float
    case: str | None = None
    state: str = "queued"
    summary: str | None = None
    replies: list[ReplyView] = []
    updated_at: float | None = None
    # How the employee asked to be contacted (protocol.contact.ContactMethod) and the address
    # or number they gave; older agents sent neither.
    contact_method: str | None = None
    contact_address: str = ""


class RefreshAnswer(Answer, kw_only=True):
    refreshing: bool


class PasswordAccepted(Answer, kw_only=True):
    """`report_password_status`: how many accounts' states were queued for the server."""

    accepted: int


class PasswordPolicyView(Answer, kw_only=True):
    max_age_days: int | None = None
    reminder_days: list[int] = []
    daily_after_last: bool = True
    max_deferrals: int = 0


class PolicyView(Answer, kw_only=True):
    """`policy`: the policy in force as the employee reads it. `label` is the one version
    label shown everywhere (`protocol.policy.policy_label`)."""

    label: str = ""  # older agents sent none
    version: int
    mode: str
    text: Bilingual
    text_version: str
    acknowledged_version: str | None = None
    acknowledged: bool = False
    password: PasswordPolicyView = field(default_factory=PasswordPolicyView)
    collected: list[Bilingual] = []
    never_collected: Bilingual = field(default_factory=Bilingual)


class Acknowledged(Answer, kw_only=True):
    """`acknowledge_policy`: the text version now acknowledged."""

    acknowledged: str


class EnrollAnswer(Answer, kw_only=True):
    enrolled: bool
    device_id: str | None = None
    last_error: dict[str, Any] | None = None


# Event data, by kind.


class FindingNewEvent(Answer, kw_only=True):
    """A finding opened. `pid`: the process whose start was judged alone (exec events;
    docs/exec.md), when that is how it was found; absent when a scan found it."""

    key: str
    rule_id: str
    severity: str
    title_i18n: Bilingual = field(default_factory=Bilingual)
    pid: int | None = None


class FindingSeenEvent(Answer, kw_only=True):
    """An open finding has new evidence: a program it is about was started again (`pid`, a
    process not announced before for this finding; `name`, its process name). Sent once per
    new process, by the look at that process at exec or by the scan that first lists it;
    trays that do not know the kind ignore it (the finding stays the same one)."""

    key: str
    rule_id: str
    severity: str
    pid: int
    name: str = ""
    title_i18n: Bilingual = field(default_factory=Bilingual)


class FindingResolvedEvent(Answer, kw_only=True):
    key: str
    rule_id: str


class StatusEvent(Answer, kw_only=True):
    """Something about the server exchange changed; exactly one field is set."""

    policy_refused: dict[str, Any] | None = None
    enrolled: dict[str, Any] | None = None
    unauthorized: dict[str, Any] | None = None
    revoked: dict[str, Any] | None = None


class PolicyEvent(Answer, kw_only=True):
    version: int
    mode: str


class ReportEvent(Answer, kw_only=True):
    """A report of this user changed: delivered (with its case), a status or reply from the
    security team (`replies` counts them), or rejected by the server (`error`)."""

    state: str
    case: str | None = None
    replies: int | None = None
    error: Any = None


class EnforcementEvent(Answer, kw_only=True):
    """`warning` (terminated in `grace_s` seconds unless closed) then `terminated`."""

    state: str
    pid: int
    name: str
    rule_id: str
    title_i18n: Bilingual | None = None
    grace_s: float | None = None
    exe: str | None = None
    finding_key: str | None = None


class ExecBlockEvent(Answer, kw_only=True):
    """`exec-blocked` / `exec-would-block` (docs/exec.md)."""

    at: float
    pid: int
    path: str
    name: str
    sha256: str
    rule_id: str
    mode: str
    uid: int | None = None  # who started it (-1 or None: not known)
    user: str = ""  # that account's name, as the tray and the dashboard show it
    title_i18n: dict[str, str] = {}
    message_i18n: dict[str, str] = {}


# The answer of each operation; an operation not listed here (added by a newer part of the
# agent) is passed through as it is.
ANSWERS: dict[str, Any] = {
    "hello": HelloAnswer,
    "status": StatusAnswer,
    "findings": list[FindingView],
    "scan_now": ScanSummaryView | None,
    "events": EventsAnswer,
    "submit_report": ReportQueued,
    "my_reports": list[MyReport],
    "refresh": RefreshAnswer,
    "report_password_status": PasswordAccepted,
    "policy": PolicyView,
    "acknowledge_policy": Acknowledged,
    "enroll": EnrollAnswer,
}


class PasswordsEvent(Answer, kw_only=True):
    """A password change or snooze was recorded (from the CLI or the tray): windows showing
    password age read it again."""

    accounts: int


EVENT_DATA: dict[str, type[Answer]] = {
    "scan": ScanSummaryView,
    "finding-new": FindingNewEvent,
    "finding-seen": FindingSeenEvent,
    "finding-resolved": FindingResolvedEvent,
    "status": StatusEvent,
    "policy": PolicyEvent,
    "report": ReportEvent,
    "enforcement": EnforcementEvent,
    "exec-blocked": ExecBlockEvent,
    "exec-would-block": ExecBlockEvent,
    "passwords": PasswordsEvent,
}


def _json(value: Any, given: Any, building: bool, where: str) -> Any:
    """`value` (converted from `given`) in its JSON form with only the fields `given` had."""
    if isinstance(value, Answer):
        if not isinstance(given, Mapping):
            return msgspec.to_builtins(value)
        names = value.__struct_fields__
        out: dict[str, Any] = {}
        unknown = []
        for key, item in given.items():
            if key in names:
                out[key] = _json(getattr(value, key), item, building, f"{where}.{key}")
            elif value.keeps_unknown:
                out[key] = item  # passed through as it came (JSON already)
            else:
                unknown.append(str(key))
        if unknown and building:
            raise AnswerError(
                f"{type(value).__name__} has no field(s) {', '.join(sorted(unknown))}"
                f" - at `{where}`"
            )
        return out
    if isinstance(value, list) and isinstance(given, list | tuple):
        return [
            _json(v, g, building, f"{where}[{i}]")
            for i, (v, g) in enumerate(zip(value, given, strict=False))
        ]
    if isinstance(value, dict) and isinstance(given, Mapping):
        return {k: _json(v, given.get(k), building, f"{where}.{k}") for k, v in value.items()}
    return msgspec.to_builtins(value)


def _build(kind: Any, data: Any) -> Any:
    return _json(msgspec.convert(data, kind, strict=True), data, True, "$")


def _parse(kind: Any, data: Any) -> Any:
    return _json(msgspec.convert(data, kind, strict=False), data, False, "$")


def build_answer(op: str, result: Any) -> Any:
    """`result` of `op` checked against its model (AnswerError when it does not fit: a bug in
    the agent) and returned in its JSON form, with exactly the fields set."""
    kind = ANSWERS.get(op)
    return result if kind is None else _build(kind, result)


def parse_answer(op: str, result: Any) -> Any:
    """The agent's answer to `op` checked against its model, fields this side does not know
    dropped (those of `OpenAnswer`s kept); AnswerError when a known field is wrong."""
    kind = ANSWERS.get(op)
    return result if kind is None else _parse(kind, result)


def build_event(kind: str, data: Any) -> dict[str, Any]:
    """An event's data checked against `EVENT_DATA[kind]` (a kind not listed passes as is)."""
    model = EVENT_DATA.get(kind)
    return dict(data) if model is None else dict(_build(model, data))


def parse_event(kind: str, data: Any) -> dict[str, Any]:
    """An event's data as this side knows its kind (unknown fields dropped)."""
    model = EVENT_DATA.get(kind)
    return dict(data) if model is None else dict(_parse(model, data))
