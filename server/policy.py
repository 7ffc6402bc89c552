"""The policy document: its schema, rule validation, canonical bytes and signing."""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from checks.model import Category, Platform, Severity
from protocol.policy import (
    SCHEMA_VERSION,
    PasswordPolicy,
    PolicyBody,
    PolicyCreate,
    PolicyDocument,
    PolicyText,
    RuleChanges,
)
from server.schemas import RuleId

__all__ = [
    "SCHEMA_VERSION",
    "PasswordPolicy",
    "PolicyBody",
    "PolicyCreate",
    "PolicyDocument",
    "PolicyText",
    "RuleChanges",
]
from server.signing import PolicySigner


class PolicyError(ValueError):
    """A policy that must not be signed; the message lists what is wrong."""


# --- rules -------------------------------------------------------------------------------


class _I18n(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zh: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    en: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class _RuleShape(BaseModel):
    """The engine's TOML rule schema as far as the server knows it.

    `checks.catalogue.parse_rule` has the last word when present; this shape only guarantees the
    server's own needs (id, texts) when it is not. Extra keys are the engine's business.
    """

    model_config = ConfigDict(extra="allow")
    id: RuleId
    category: Category
    severity: Severity
    platforms: Annotated[list[Platform], Field(min_length=1)]
    title: _I18n
    remediation: _I18n
    match: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=100)]


class _ClientShape(BaseModel):
    """An approved client as far as the server knows it (the engine owns the full schema)."""

    model_config = ConfigDict(extra="allow")
    id: RuleId
    name: _I18n
    platforms: Annotated[list[Platform], Field(min_length=1)]


def _engine_parser(name: str) -> Callable[[dict[str, Any], str], Any] | None:
    """`checks.catalogue.parse_rule` / `parse_client` when the engine provides them."""
    try:
        module = importlib.import_module("checks.catalogue")
    except ImportError:
        return None
    parser = getattr(module, name, None)
    return parser if callable(parser) else None


def _validate_items(
    items: list[dict[str, Any]], shape: type[BaseModel], parser_name: str, where: str
) -> list[str]:
    problems: list[str] = []
    parser = _engine_parser(parser_name)
    seen: set[str] = set()
    for index, item in enumerate(items):
        here = f"{where}[{index}]"
        try:
            parsed = shape.model_validate(item)
        except ValidationError as exc:
            problems.extend(f"{here}: {_first_line(err)}" for err in exc.errors())
            continue
        item_id = str(getattr(parsed, "id", ""))
        if item_id and item_id in seen:
            problems.append(f"{here}: duplicate id {item_id!r}")
        seen.add(item_id)
        if parser is not None:
            try:
                parser(item, f"policy:{here}")
            except Exception as exc:  # the engine's own error type is not ours to know
                problems.append(f"{here}: {exc}")
    return problems


@functools.cache
def builtin_rule_ids() -> frozenset[str]:
    """The ids of the rules the agent ships (`checks.catalogue.load_builtin`); empty when the
    engine is not installed next to the server (then any well-formed id is accepted)."""
    try:
        module = importlib.import_module("checks.catalogue")
        return frozenset(rule.id for rule in module.load_builtin().rules)
    except ImportError:
        return frozenset()


def validate_disabled(disable: list[str], added: list[dict[str, Any]]) -> list[str]:
    """Problems with `rules.disable`: every id must be a shipped rule or one this policy adds
    (a typo would otherwise disable nothing, silently). Each problem in both languages."""
    known = builtin_rule_ids()
    if not known:
        return []
    known = known | {str(item.get("id")) for item in added if isinstance(item, dict)}
    return [
        f"rules.disable: 未知的规则 ID “{rule_id}” / unknown rule id {rule_id!r} "
        "(not a shipped rule and not added by this policy)"
        for rule_id in disable
        if rule_id not in known
    ]


def validate_rules(rules: list[dict[str, Any]]) -> list[str]:
    """Problems with the rules a policy adds, one line each; empty when all are valid."""
    return _validate_items(rules, _RuleShape, "parse_rule", "rules.add")


def validate_clients(clients: list[dict[str, Any]]) -> list[str]:
    return _validate_items(clients, _ClientShape, "parse_client", "approved_clients")


class _ObjectShape(BaseModel):
    """Any JSON object: the engine's parser says what it must hold."""

    model_config = ConfigDict(extra="allow")


def validate_exceptions(items: list[dict[str, Any]]) -> list[str]:
    """Problems with IT's finding exceptions (each needs a rule, a subject or key, a reason in
    both languages and an expiry: `checks.catalogue.parse_exception`)."""
    return _validate_items(items, _ObjectShape, "parse_exception", "exceptions")


def validate_yara(items: list[dict[str, Any]]) -> list[str]:
    return _validate_items(items, _ObjectShape, "parse_yara_source", "rules.yara")


def _first_line(err: Any) -> str:
    loc = ".".join(str(part) for part in err.get("loc", ()))
    return f"{loc}: {err.get('msg', 'invalid')}" if loc else str(err.get("msg", "invalid"))


def parse_policy_create(raw: bytes | str) -> PolicyCreate:
    """Parse and fully validate what IT wants to publish, or raise PolicyError."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PolicyError(f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PolicyError("a policy must be a JSON object")
    try:
        create = PolicyCreate.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(
            "; ".join(_first_line(err) for err in exc.errors(include_url=False))
        ) from exc
    problems = (
        validate_disabled(create.rules.disable, create.rules.add)
        + validate_rules(create.rules.add)
        + validate_clients(create.approved_clients)
        + validate_exceptions(create.exceptions)
        + validate_yara(create.rules.yara)
    )
    if problems:
        raise PolicyError("; ".join(problems))
    return create


def build_document(
    create: PolicyCreate, version: int, now: datetime, key_id: str
) -> PolicyDocument:
    body = create.model_dump(exclude={"devices", "groups", "valid_days"})
    return PolicyDocument(
        **body,
        version=version,
        issued_at=now,
        expires_at=now + timedelta(days=create.valid_days),
        devices=create.devices,
        groups=create.groups,
        key_id=key_id,
    )


def canonical_bytes(document: PolicyDocument) -> bytes:
    """The bytes that are signed and sent; agents verify them before parsing."""
    data = document.model_dump(mode="json")
    if data.get("groups") is None:  # a policy not scoped to groups reads as before groups were
        data.pop("groups", None)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def sign_document(document: PolicyDocument, signer: PolicySigner) -> tuple[bytes, bytes]:
    payload = canonical_bytes(document)
    return payload, signer.sign(payload)
