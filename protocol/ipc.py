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
    ANSWERS as ANSWERS,
)
from protocol.ipc_answers import (
    EVENT_DATA as EVENT_DATA,
)
from protocol.ipc_answers import (
    Acknowledged as Acknowledged,
)
from protocol.ipc_answers import (
    Answer as Answer,
)
from protocol.ipc_answers import (
    AnswerError as AnswerError,
)
from protocol.ipc_answers import (
    Bilingual as Bilingual,
)
from protocol.ipc_answers import (
    BlindSpotView as BlindSpotView,
)
from protocol.ipc_answers import (
    CoverageView as CoverageView,
)
from protocol.ipc_answers import (
    EnforcementEvent as EnforcementEvent,
)
from protocol.ipc_answers import (
    EnforcementStatus as EnforcementStatus,
)
from protocol.ipc_answers import (
    EnrollAnswer as EnrollAnswer,
)
from protocol.ipc_answers import (
    ErrorView as ErrorView,
)
from protocol.ipc_answers import (
    EventsAnswer as EventsAnswer,
)
from protocol.ipc_answers import (
    EventView as EventView,
)
from protocol.ipc_answers import (
    EvidenceView as EvidenceView,
)
from protocol.ipc_answers import (
    ExecBlockEvent as ExecBlockEvent,
)
from protocol.ipc_answers import (
    FindingNewEvent as FindingNewEvent,
)
from protocol.ipc_answers import (
    FindingResolvedEvent as FindingResolvedEvent,
)
from protocol.ipc_answers import (
    FindingView as FindingView,
)
from protocol.ipc_answers import (
    HelloAnswer as HelloAnswer,
)
from protocol.ipc_answers import (
    MyReport as MyReport,
)
from protocol.ipc_answers import (
    OpenAnswer as OpenAnswer,
)
from protocol.ipc_answers import (
    OutboxRejection as OutboxRejection,
)
from protocol.ipc_answers import (
    PasswordAccepted as PasswordAccepted,
)
from protocol.ipc_answers import (
    PasswordPolicyView as PasswordPolicyView,
)
from protocol.ipc_answers import (
    PasswordsEvent as PasswordsEvent,
)
from protocol.ipc_answers import (
    PendingTermination as PendingTermination,
)
from protocol.ipc_answers import (
    PolicyEvent as PolicyEvent,
)
from protocol.ipc_answers import (
    PolicyView as PolicyView,
)
from protocol.ipc_answers import (
    ReasonView as ReasonView,
)
from protocol.ipc_answers import (
    RefreshAnswer as RefreshAnswer,
)
from protocol.ipc_answers import (
    ReplyView as ReplyView,
)
from protocol.ipc_answers import (
    ReportEvent as ReportEvent,
)
from protocol.ipc_answers import (
    ReportQueued as ReportQueued,
)
from protocol.ipc_answers import (
    ScanSummaryView as ScanSummaryView,
)
from protocol.ipc_answers import (
    StatusAnswer as StatusAnswer,
)
from protocol.ipc_answers import (
    StatusEvent as StatusEvent,
)
from protocol.ipc_answers import (
    build_answer as build_answer,
)
from protocol.ipc_answers import (
    build_event as build_event,
)
from protocol.ipc_answers import (
    parse_answer as parse_answer,
)
from protocol.ipc_answers import (
    parse_event as parse_event,
)
from protocol.messages import AccountType, Day, PasswordState, ReportCategory
from protocol.text import Strict

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
    contact: Annotated[str, StringConstraints(max_length=L.MAX_SHORT)] = ""
    attachments: Annotated[list[AttachmentUpload], Field(max_length=L.MAX_ATTACHMENTS)] = []


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
