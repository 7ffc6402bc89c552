"""The device protocol's messages (docs/protocol.md): one model per message, used by the agent
to build and check what it sends and by the server to accept it.

Requests are `Strict` (unknown fields refused, storable text only). Answers are `Answer`: the
server builds them, and the agent reads them ignoring fields a newer server added, so a server
can grow its answers without breaking older agents.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from checks.model import Severity
from protocol import limits as L
from protocol.contact import ContactMethod, explain_contact

# The stable strings live in a module without pydantic (the idle agent uses them).
from protocol.names import AccountType, PasswordState, ReportCategory, ReportStatus
from protocol.text import Strict

__all__ = [
    "Accepted",
    "AccountType",
    "Answer",
    "ApprovedIn",
    "AttachmentPublic",
    "ContactMethod",
    "CoverageIn",
    "EnrollRequest",
    "EnrollResponse",
    "ErrorPublic",
    "EvidenceIn",
    "FindingIn",
    "FindingsBatch",
    "FindingsResult",
    "HeartbeatRequest",
    "HeartbeatResponse",
    "I18nText",
    "PasswordAccountStatus",
    "PasswordState",
    "PasswordStatusRequest",
    "PolicyAckRequest",
    "ReplyPublic",
    "ReportCategory",
    "ReportCreate",
    "ReportList",
    "ReportPublic",
    "ReportStatus",
    "SignedPolicyPublic",
    "Strict",
]


# --- field types ---------------------------------------------------------------------------


def _max(n: int) -> Any:
    return StringConstraints(max_length=n)


Str64 = Annotated[str, _max(64)]
Str128 = Annotated[str, _max(128)]
Str200 = Annotated[str, _max(200)]
Str255 = Annotated[str, _max(255)]
Str1000 = Annotated[str, _max(1000)]
Str4096 = Annotated[str, _max(4096)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=L.MAX_TOKEN)]
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
]
FindingKey = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
]
RuleId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
]
Version = Annotated[int, Field(ge=0, le=2_000_000_000)]


def _day(value: Any) -> Any:
    # A calendar day; an aware date-time (what no agent sends, but the documented v1 shape
    # said "date-time") is read as its UTC day. A naive date-time stays refused.
    if isinstance(value, str) and len(value) > 10:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError("a date-time must carry its time zone; or send a date (YYYY-MM-DD)")
        return parsed.astimezone(UTC).date()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a date-time must carry its time zone; or send a date (YYYY-MM-DD)")
        return value.astimezone(UTC).date()
    return value


Day = Annotated[date, BeforeValidator(_day)]


class Answer(BaseModel):
    """A server answer: the agent ignores fields it does not know (a newer server's)."""

    model_config = ConfigDict(extra="ignore")


class ErrorPublic(Answer):
    """Every refusal: a stable `error` code and a `detail` for people."""

    error: str
    detail: str


# --- enrollment --------------------------------------------------------------------------


class EnrollRequest(Strict):
    secret: Token
    hostname: Annotated[str, _max(L.MAX_HOSTNAME)] = ""
    os: Annotated[str, _max(L.MAX_OS)] = ""
    agent_version: Annotated[str, _max(L.MAX_AGENT_VERSION)] = ""
    # The machine's stable id (/etc/machine-id, IOPlatformUUID, MachineGuid), hashed by the
    # agent: a re-enrolled machine is linked to its earlier record. Protocol 1, optional.
    machine_id: Annotated[str, _max(L.MAX_MACHINE_ID)] = ""
    # The hardware serial number as printed on the machine (agent.machine.serial_number), so
    # IT tells same-named devices apart; "" when the platform gives none. Optional.
    serial_number: Annotated[str, _max(L.MAX_SERIAL_NUMBER)] = ""


class EnrollResponse(Answer):
    device_id: str
    device_token: str
    policy_key_id: str
    heartbeat_interval_s: int


# --- heartbeat ---------------------------------------------------------------------------


class HeartbeatRequest(Strict):
    agent_version: Annotated[str, _max(L.MAX_AGENT_VERSION)]
    os: Annotated[str, _max(L.MAX_OS)] = ""
    hostname: Annotated[str, _max(L.MAX_HOSTNAME)] | None = None
    users_seen: Annotated[
        list[Annotated[str, _max(L.MAX_USER)]], Field(max_length=L.MAX_USERS_SEEN)
    ] = []
    last_scan_at: AwareDatetime | None = None
    policy_version_seen: Version = 0


class HeartbeatResponse(Answer):
    server_time: datetime
    policy_version: int
    heartbeat_interval_s: int
    # The server's protocol version, and whether this agent's is one it will stop accepting.
    protocol: int = L.PROTOCOL_VERSION
    upgrade: bool = False
    # Grows whenever something new waits for the device (a reply, a report status, a policy):
    # an agent that sees it change fetches at once instead of at its next refresh.
    news: int = 0


# --- findings ----------------------------------------------------------------------------


class I18nText(Strict):
    zh: Annotated[str, _max(L.MAX_TEXT)]
    en: Annotated[str, _max(L.MAX_TEXT)]


class I18nSteps(Strict):
    """Numbered remediation steps per language (issue 16), each one whole sentence."""

    zh: Annotated[list[Annotated[str, _max(L.MAX_TEXT)]], Field(max_length=L.MAX_STEPS)] = []
    en: Annotated[list[Annotated[str, _max(L.MAX_TEXT)]], Field(max_length=L.MAX_STEPS)] = []


class EvidenceIn(Strict):
    kind: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    matched: Annotated[str, _max(L.MAX_MATCHED)]
    path: Annotated[str, _max(L.MAX_PATH)] = ""
    pid: Annotated[int, Field(ge=0, le=2**32)] | None = None
    package: Annotated[str, _max(L.MAX_PACKAGE)] = ""
    detail: Annotated[str, _max(L.MAX_DETAIL)] = ""
    # Optional (issue 16): `matched` in both languages, and where a person finds the thing:
    # the absolute path on the machine, or the path inside an offline image (`in_image`).
    matched_i18n: I18nText | None = None
    location: Annotated[str, _max(L.MAX_PATH)] = ""
    in_image: bool = False


class FindingIn(Strict):
    key: FindingKey
    status: Literal["new", "present", "resolved"]
    rule_id: RuleId
    title: Annotated[str, StringConstraints(min_length=1, max_length=L.MAX_TITLE)]
    title_i18n: I18nText | None = None
    category: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    severity: Severity
    subject: Str1000 = ""
    evidence: Annotated[list[EvidenceIn], Field(max_length=L.MAX_EVIDENCE)] = []
    remediation: Annotated[str, _max(L.MAX_TEXT)] = ""
    remediation_i18n: I18nText | None = None
    # Structured remediation (optional, additive): what was found and why, then the steps.
    # `remediation` / `remediation_i18n` keep the flat text for servers that know only those.
    remediation_intro_i18n: I18nText | None = None
    remediation_steps: I18nSteps | None = None
    references: Annotated[list[Str1000], Field(max_length=L.MAX_REFERENCES)] = []
    first_seen: AwareDatetime
    last_seen: AwareDatetime


class ApprovedIn(Strict):
    """An official client the scan found and the identity that approved it
    (checks.model.Approval): the device's page shows why it is not a finding."""

    client_id: Str128
    name: I18nText | None = None
    kind: Literal["app", "process"]
    path: Str1000 = ""
    how: Str1000 = ""


class CoverageIn(Strict):
    """What the scan behind a batch could see (protocol.device_state.Coverage), and whether it
    ran at all (`outcome`): a failed scan's batch is empty and incomplete. `approved`: the
    official clients it recognised, and by which identity (absent from older agents)."""

    complete: bool = True
    blind_spots: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    failed_probes: Annotated[list[Str128], Field(max_length=64)] = []
    outcome: Literal["ok", "failed"] = "ok"
    approved: Annotated[list[ApprovedIn], Field(max_length=64)] = []


class FindingsBatch(Strict):
    batch_id: IdempotencyKey | None = None
    scanned_at: AwareDatetime
    # A complete batch is the whole picture: open findings it does not mention are resolved.
    complete: bool = False
    findings: Annotated[list[FindingIn], Field(max_length=L.MAX_BATCH_FINDINGS)]
    # Absent from agents before issue 10: such a device's scans read as complete and good.
    coverage: CoverageIn | None = None


class FindingsResult(Answer):
    received: int
    new: int
    updated: int
    resolved: int


# --- incident reports --------------------------------------------------------------------


class ReportCreate(Strict):
    idempotency_key: IdempotencyKey
    category: ReportCategory
    occurred_at: AwareDatetime | None = None
    summary: Annotated[str, StringConstraints(min_length=1, max_length=L.MAX_SUMMARY)]
    description: Annotated[str, _max(L.MAX_DESCRIPTION)] = ""
    affected_account: Annotated[str, _max(L.MAX_SHORT)] = ""
    reporter: Annotated[str, _max(L.MAX_SHORT)] = ""
    # How the security team may reach the reporter (protocol/contact.py); older agents sent
    # none (and wrote "[contact: …]" into the description instead).
    contact_method: ContactMethod | None = None
    contact_address: Annotated[str, _max(L.MAX_CONTACT_ADDRESS)] = ""

    @model_validator(mode="after")
    def _contact_fits_its_method(self) -> ReportCreate:
        problem = explain_contact(self.contact_method, self.contact_address)
        if problem is not None:
            raise ValueError(f"contact_address: {problem[1]}")
        return self


class AttachmentPublic(Answer):
    filename: str
    content_type: str
    size: int
    sha256: str


class ReplyPublic(Answer):
    body: str
    at: datetime


class ReportPublic(Answer):
    case: str
    category: ReportCategory
    status: ReportStatus
    summary: str
    created_at: datetime
    updated_at: datetime
    attachments: list[AttachmentPublic]
    replies: list[ReplyPublic]


class ReportList(Answer):
    reports: list[ReportPublic]


# --- password age and acknowledgements ---------------------------------------------------


class PasswordAccountStatus(Strict):
    """One account's password age. Dates are calendar days (YYYY-MM-DD): the agent knows the
    day a password was changed and the day it is due, not an instant."""

    user: Annotated[str, _max(L.MAX_USER)] = ""
    account_type: AccountType
    state: PasswordState
    last_changed: Day | None = None
    due_at: Day | None = None
    deferrals: Annotated[int, Field(ge=0, le=L.MAX_DEFERRALS)] = 0


class PasswordStatusRequest(Strict):
    accounts: Annotated[
        list[PasswordAccountStatus], Field(min_length=1, max_length=L.MAX_PASSWORD_ACCOUNTS)
    ]
    # Whether the accounts' user could open the keyring that holds the password dates (only
    # their own session can); None: not said (older agents and trays). Sent only when known.
    keyring_available: bool | None = None


class PolicyAckRequest(Strict):
    # 0: the built-in policy the agent ships with (its text_version says which).
    version: Annotated[int, Field(ge=0, le=2_000_000_000)]
    text_version: Str64 = ""
    user: Annotated[str, _max(L.MAX_USER)] = ""
    acknowledged_at: AwareDatetime


class Accepted(Answer):
    accepted: int


# --- policy ------------------------------------------------------------------------------


class SignedPolicyPublic(Answer):
    version: int
    key_id: str
    issued_at: datetime
    expires_at: datetime
    payload: str  # base64 of the exact signed bytes: verify these, then parse them
    signature: str  # base64 Ed25519 signature over the payload bytes
