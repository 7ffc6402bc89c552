"""The messages between the tray or CLI and the agent (docs/ipc.md).

Requests that carry what a person typed (`ReportSubmission`, `PasswordStatusArgs`,
`AcknowledgeArgs`) are `Strict`: checked with the same limits the server applies, so what the
agent queues arrives.

Answers and pushed events are `Answer`s (msgspec Structs in `protocol.ipc_answers`, re-exported
here: the agent builds one for every answer, and an idle agent does not import pydantic), built by the agent with `build_answer` /
`build_event` (a field the model does not name, or a value of the wrong type, fails there: in
the agent's tests, never on the employee's screen) and read by the tray and the CLI with
`parse_answer` / `parse_event`, which ignore fields they do not know, so a newer agent does not
break an older tray. `StatusAnswer` and `FindingView` keep the fields they do not name (other
parts of the agent add status fields); a new field anywhere is optional with a default.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from protocol import limits as L
from protocol.ipc_answers import (  # re-exported: msgspec Structs, no pydantic
    ANSWERS,
    EVENT_DATA,
    Acknowledged,
    Answer,
    AnswerError,
    Bilingual,
    BlindSpotView,
    CoverageView,
    EnforcementEvent,
    EnforcementStatus,
    EnrollAnswer,
    ErrorView,
    EventsAnswer,
    EventView,
    EvidenceView,
    ExceptedView,
    ExceptionView,
    ExecBlockEvent,
    FindingNewEvent,
    FindingResolvedEvent,
    FindingSeenEvent,
    FindingView,
    HelloAnswer,
    MyReport,
    OpenAnswer,
    OutboxRejection,
    PasswordAccepted,
    PasswordPolicyView,
    PasswordsEvent,
    PendingTermination,
    PolicyEvent,
    PolicyView,
    ReasonView,
    RefreshAnswer,
    ReplyView,
    ReportEvent,
    ReportQueued,
    ScanSummaryView,
    StatusAnswer,
    StatusEvent,
    build_answer,
    build_event,
    parse_answer,
    parse_event,
)
from protocol.messages import AccountType, Day, PasswordState, ReportCategory
from protocol.text import Strict

__all__ = [  # re-exported from protocol.ipc_answers (the requests above are public too)
    "ANSWERS",
    "EVENT_DATA",
    "Acknowledged",
    "Answer",
    "AnswerError",
    "Bilingual",
    "BlindSpotView",
    "CoverageView",
    "EnforcementEvent",
    "EnforcementStatus",
    "EnrollAnswer",
    "ErrorView",
    "EventView",
    "EventsAnswer",
    "EvidenceView",
    "ExceptedView",
    "ExceptionView",
    "ExecBlockEvent",
    "FindingNewEvent",
    "FindingResolvedEvent",
    "FindingSeenEvent",
    "FindingView",
    "HelloAnswer",
    "MyReport",
    "OpenAnswer",
    "OutboxRejection",
    "PasswordAccepted",
    "PasswordPolicyView",
    "PasswordsEvent",
    "PendingTermination",
    "PolicyEvent",
    "PolicyView",
    "ReasonView",
    "RefreshAnswer",
    "ReplyView",
    "ReportEvent",
    "ReportQueued",
    "ScanSummaryView",
    "StatusAnswer",
    "StatusEvent",
    "build_answer",
    "build_event",
    "parse_answer",
    "parse_event",
]

# The IPC protocol's version (`hello` answers it); the tray refuses an agent it does not know.
IPC_VERSION = 1


class AttachmentUpload(Strict):
    name: Annotated[str, StringConstraints(max_length=4096)]
    content_b64: str  # size checked after decoding (MAX_ATTACHMENT_BYTES)


class ReportSubmission(Strict):
    """`submit_report`: what the employee filled in; the agent adds reporter and key."""

    category: ReportCategory
    summary: Annotated[str, StringConstraints(max_length=L.MAX_SUMMARY)]
    description: Annotated[str, StringConstraints(max_length=L.MAX_DESCRIPTION)] = ""
    occurred_at: str | None = None  # ISO 8601; a naive time is the agent's local time
    affected_account: Annotated[str, StringConstraints(max_length=L.MAX_SHORT)] = ""
    # How to contact the reporter: a `protocol.contact.ContactMethod` value ("email", "phone",
    # "wechat", "none") or "" (not said); `contact_address` is the address or number for it.
    contact: Annotated[str, StringConstraints(max_length=L.MAX_SHORT)] = ""
    attachments: Annotated[list[AttachmentUpload], Field(max_length=L.MAX_ATTACHMENTS)] = []
    contact_address: Annotated[str, StringConstraints(max_length=L.MAX_CONTACT_ADDRESS)] = ""


class PasswordEntry(Strict):
    """One account in `report_password_status`: dates, counts and states, never a password."""

    account_type: AccountType
    state: PasswordState = PasswordState.UNKNOWN
    last_changed: Day | None = None
    due_at: Day | None = None
    deferrals: Annotated[int, Field(ge=0, le=L.MAX_DEFERRALS)] = 0
    no_expiry: bool = False


class PasswordStatusArgs(Strict):
    accounts: Annotated[list[PasswordEntry], Field(min_length=1, max_length=len(AccountType))]
    # Whether the employee's keyring (where the dates are kept) could be opened: False sends
    # each account as `unknown`; None (older trays): not said.
    keyring_available: bool | None = None


class AcknowledgeArgs(Strict):
    text_version: Annotated[str, StringConstraints(min_length=1, max_length=64)]


def json_schema(model: type[BaseModel] | type[Answer]) -> dict[str, Any]:
    """A request's (pydantic) or an answer's (msgspec) JSON schema, with its `$defs`."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        return model.model_json_schema()
    import msgspec

    (schema,), components = msgspec.json.schema_components([model], ref_template="#/$defs/{name}")
    schema = dict(components.get(model.__name__, schema))
    return {**schema, "$defs": components}


def schema_fields(model: type[BaseModel] | type[Answer]) -> dict[str, Any]:
    """Field name -> its JSON schema, for the docs check (tests/protocol)."""
    return dict(json_schema(model).get("properties", {}))
