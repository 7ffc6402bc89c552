"""The messages between the tray or CLI and the agent (docs/ipc.md) that carry what a person
typed: checked here with the same limits the server applies, so what the agent queues arrives.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from protocol import limits as L
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


class ReportQueued(Strict):
    idempotency_key: str
    state: str  # "queued"


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


def schema_fields(model: type[Strict]) -> dict[str, Any]:
    """Field name -> its JSON schema, for the docs check (tests/protocol)."""
    return dict(model.model_json_schema().get("properties", {}))
