"""The policy document (docs/protocol.md, "Policy"): one model that IT's input, the server's
signed document and the agent's parser all use.

The server validates strictly (an unknown key in what IT writes is a typo). The agent reads a
verified document with `read_document`, which ignores keys a newer server added (an
incompatible change bumps `schema_version`, which stays checked).
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from protocol.messages import RuleId
from protocol.names import BUILTIN_TEXT_VERSION as BUILTIN_TEXT_VERSION  # re-exported
from protocol.names import policy_label as policy_label
from protocol.text import Strict

SCHEMA_VERSION: Literal[1] = 1
DeviceId = Annotated[str, StringConstraints(min_length=1, max_length=36)]
# A device group as the server knows it (the device's `group_label`).
GroupLabel = Annotated[str, StringConstraints(min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=100_000)]


class Lenient(Strict):
    """Strict, unless validated with context {"lenient": True}: then unknown keys are dropped."""

    @model_validator(mode="before")
    @classmethod
    def _drop_unknown(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and info.context and info.context.get("lenient"):
            return {k: v for k, v in data.items() if k in cls.model_fields}
        return data


class PasswordPolicy(Lenient):
    max_age_days: Annotated[int, Field(ge=1, le=3650)] = 90
    # Days before expiry on which the employee is reminded; after the last one, daily.
    reminder_days: Annotated[
        list[Annotated[int, Field(ge=1, le=365)]],
        Field(max_length=30, default_factory=lambda: [14, 7, 3, 1]),
    ]
    daily_after_last: bool = True
    max_deferrals: Annotated[int, Field(ge=0, le=100)] = 3

    @field_validator("reminder_days")
    @classmethod
    def _decreasing(cls, value: list[int]) -> list[int]:
        if any(a <= b for a, b in itertools.pairwise(value)):
            raise ValueError("reminder_days must be strictly decreasing, e.g. [14, 7, 3, 1]")
        return value


class PolicyText(Lenient):
    version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    zh: LongText
    en: LongText


class RuleChanges(Lenient):
    add: Annotated[list[dict[str, Any]], Field(max_length=500, default_factory=list)]
    disable: Annotated[list[RuleId], Field(max_length=1000, default_factory=list)]
    # YARA sources for `content` indicators, {"name", "source"} (docs/rules.md "Content rules").
    yara: Annotated[list[dict[str, Any]], Field(max_length=50, default_factory=list)]


class PolicyBody(Lenient):
    enforcement: Literal["monitor", "enforce"] = "monitor"
    scan_interval_s: Annotated[int, Field(ge=60, le=7 * 86400)] = 3600
    heartbeat_interval_s: Annotated[int, Field(ge=60, le=86400)] = 300
    password: PasswordPolicy = Field(default_factory=lambda: PasswordPolicy.model_validate({}))
    rules: RuleChanges = Field(default_factory=lambda: RuleChanges.model_validate({}))
    # Same schema as the engine's clients/*.toml (identity by place, signer, bundle id; never name).
    approved_clients: Annotated[list[dict[str, Any]], Field(max_length=200, default_factory=list)]
    # IT's exceptions for one finding (rule + subject or key, bilingual reason, expiry):
    # checks.catalogue.parse_exception.
    exceptions: Annotated[list[dict[str, Any]], Field(max_length=1000, default_factory=list)]
    # Linux exec blocking (docs/exec.md); agents that do not know it ignore it, and None
    # leaves the agent's own setting in force.
    exec_blocking: Literal["off", "audit", "block"] | None = None
    text: PolicyText | None = None


class PolicyCreate(PolicyBody):
    """What IT writes: the server adds version, times and key id when it signs."""

    devices: Annotated[list[DeviceId], Field(min_length=1, max_length=10_000)] | None = None
    # Or the device groups it is for (the server decides membership when a device asks); a
    # policy is for all devices, some devices, or some groups, never two of these at once.
    groups: Annotated[list[GroupLabel], Field(min_length=1, max_length=100)] | None = None
    valid_days: Annotated[int, Field(ge=1, le=3650)] = 365

    @model_validator(mode="after")
    def _one_scope(self) -> PolicyCreate:
        if self.devices is not None and self.groups is not None:
            raise ValueError("a policy is scoped to devices or to groups, not both")
        return self


class PolicyDocument(PolicyBody):
    """What the agent receives (as exact bytes) and verifies."""

    schema_version: Literal[1] = SCHEMA_VERSION
    version: Annotated[int, Field(ge=1)]
    issued_at: AwareDatetime
    expires_at: AwareDatetime
    devices: list[DeviceId] | None = None
    # Groups it was published for (the server serves it to their devices; older agents ignore
    # the key, a device outside them is never served it).
    groups: list[GroupLabel] | None = None
    key_id: str


def read_document(payload: bytes) -> PolicyDocument:
    """A verified payload as its document (raises pydantic.ValidationError); unknown keys of a
    newer server are ignored."""
    return PolicyDocument.model_validate_json(payload, context={"lenient": True})
