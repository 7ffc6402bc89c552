"""Wire schemas of the device protocol (docs/protocol.md), one family per entity."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from checks.model import Severity
from server.models import AccountType, PasswordState, ReportCategory, ReportStatus


class Strict(BaseModel):
    """Unknown fields are refused, and no string may hold NUL or a lone surrogate.

    PostgreSQL cannot store either, and no legitimate agent sends them: refusing them here turns
    what would be a database error (a 500) into a clear 422.
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        _check_storable(value)
        return value


def _check_storable(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from exc
    elif isinstance(value, list | tuple):
        for item in value:
            _check_storable(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key)
            _check_storable(item)


Str64 = Annotated[str, StringConstraints(max_length=64)]
Str128 = Annotated[str, StringConstraints(max_length=128)]
Str200 = Annotated[str, StringConstraints(max_length=200)]
Str255 = Annotated[str, StringConstraints(max_length=255)]
Str1000 = Annotated[str, StringConstraints(max_length=1000)]
Str4096 = Annotated[str, StringConstraints(max_length=4096)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=256)]
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


class ErrorPublic(Strict):
    error: str
    detail: str


# --- enrollment --------------------------------------------------------------------------


class EnrollRequest(Strict):
    secret: Token
    hostname: Str255 = ""
    os: Str200 = ""
    agent_version: Str64 = ""


class EnrollResponse(Strict):
    device_id: str
    device_token: str
    policy_key_id: str
    heartbeat_interval_s: int


# --- heartbeat ---------------------------------------------------------------------------


class HeartbeatRequest(Strict):
    agent_version: Str64
    os: Str200 = ""
    hostname: Str255 | None = None
    users_seen: Annotated[list[Str128], Field(max_length=64)] = []
    last_scan_at: AwareDatetime | None = None
    policy_version_seen: Version = 0


class HeartbeatResponse(Strict):
    server_time: datetime
    policy_version: int
    heartbeat_interval_s: int


# --- findings ----------------------------------------------------------------------------


class I18nText(Strict):
    zh: Annotated[str, StringConstraints(max_length=4000)]
    en: Annotated[str, StringConstraints(max_length=4000)]


class EvidenceIn(Strict):
    kind: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    matched: Str1000
    path: Str4096 = ""
    pid: Annotated[int, Field(ge=0, le=2**32)] | None = None
    package: Str255 = ""
    detail: Annotated[str, StringConstraints(max_length=2000)] = ""


class FindingIn(Strict):
    key: FindingKey
    status: Literal["new", "present", "resolved"]
    rule_id: RuleId
    title: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    title_i18n: I18nText | None = None
    category: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    severity: Severity
    subject: Str1000 = ""
    evidence: Annotated[list[EvidenceIn], Field(max_length=50)] = []
    remediation: Annotated[str, StringConstraints(max_length=4000)] = ""
    remediation_i18n: I18nText | None = None
    references: Annotated[list[Str1000], Field(max_length=20)] = []
    first_seen: AwareDatetime
    last_seen: AwareDatetime


class CoverageIn(Strict):
    """What the scan behind a batch could see (protocol.device_state.Coverage), and whether it
    ran at all (`outcome`): a failed scan's batch is empty and incomplete."""

    complete: bool = True
    blind_spots: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    failed_probes: Annotated[list[Str128], Field(max_length=64)] = []
    outcome: Literal["ok", "failed"] = "ok"


class FindingsBatch(Strict):
    batch_id: IdempotencyKey | None = None
    scanned_at: AwareDatetime
    # A complete batch is the whole picture: open findings it does not mention are resolved.
    complete: bool = False
    findings: Annotated[list[FindingIn], Field(max_length=1000)]
    # Absent from agents before issue 10: such a device's scans read as complete and good.
    coverage: CoverageIn | None = None


class FindingsResult(Strict):
    received: int
    new: int
    updated: int
    resolved: int


# --- incident reports --------------------------------------------------------------------


class ReportCreate(Strict):
    idempotency_key: IdempotencyKey
    category: ReportCategory
    occurred_at: AwareDatetime | None = None
    summary: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=10_000)] = ""
    affected_account: Str200 = ""
    reporter: Str200 = ""


class AttachmentPublic(Strict):
    filename: str
    content_type: str
    size: int
    sha256: str


class ReplyPublic(Strict):
    body: str
    at: datetime


class ReportPublic(Strict):
    case: str
    category: ReportCategory
    status: ReportStatus
    summary: str
    created_at: datetime
    updated_at: datetime
    attachments: list[AttachmentPublic]
    replies: list[ReplyPublic]


class ReportList(Strict):
    reports: list[ReportPublic]


# --- password age and acknowledgements ---------------------------------------------------


class PasswordAccountStatus(Strict):
    user: Str128 = ""
    account_type: AccountType
    state: PasswordState
    last_changed: AwareDatetime | None = None
    due_at: AwareDatetime | None = None
    deferrals: Annotated[int, Field(ge=0, le=10_000)] = 0


class PasswordStatusRequest(Strict):
    accounts: Annotated[list[PasswordAccountStatus], Field(min_length=1, max_length=32)]


class PolicyAckRequest(Strict):
    version: Annotated[int, Field(ge=1, le=2_000_000_000)]
    text_version: Str64 = ""
    user: Str128 = ""
    acknowledged_at: AwareDatetime


class Accepted(Strict):
    accepted: int


# --- policy ------------------------------------------------------------------------------


class SignedPolicyPublic(Strict):
    version: int
    key_id: str
    issued_at: datetime
    expires_at: datetime
    payload: str  # base64 of the exact signed bytes: verify these, then parse them
    signature: str  # base64 Ed25519 signature over the payload bytes
