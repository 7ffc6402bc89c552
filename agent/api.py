"""The one typed API between the agent and its front ends (tray, CLI).

`AgentAPI` is satisfied over the local socket (named pipe on Windows) by
`agent.client.AgentClient`. Every method returns plain serialisable data.
Errors a person sees are `AgentError`s carrying a code and a message in both languages.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from protocol.ipc_answers import AnswerError, parse_answer, parse_event
from protocol.limits import MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS
from protocol.names import AccountType, ReportCategory

__all__ = ["MAX_ATTACHMENTS", "MAX_ATTACHMENT_BYTES"]

PROTOCOL_VERSION = 1

log = logging.getLogger("wxguard.agent.api")


class AgentError(Exception):
    """An error from the agent, with a stable code and a message in Chinese and English."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(f"{en} / {zh}")
        self.code = code
        self.zh = zh
        self.en = en

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "zh": self.zh, "en": self.en}

    def message(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


class AgentNotRunning(AgentError):
    def __init__(self, where: str) -> None:
        super().__init__(
            "not-running",
            f"wxguard 代理未运行（{where}）。请联系 IT，或以 `wxguard agent run` 启动它。",
            f"The wxguard agent is not running ({where}). Contact IT, or start it with `wxguard agent run`.",
        )


# The wire's stable strings and limits are the protocol's (protocol/): one definition for the
# tray, the CLI, the agent and the server.
REPORT_CATEGORIES = tuple(str(c) for c in ReportCategory)
# Filed by the agent (a blocked exec) and the blocked-program window, not the incident form.
AGENT_FILED_CATEGORIES = (ReportCategory.EXEC_BLOCKED.value, ReportCategory.APPROVAL_REQUEST.value)
ACCOUNT_TYPES = tuple(str(a) for a in AccountType)


class AgentAPI(Protocol):
    """What the tray and the CLI may ask of the agent. Data shapes are documented in docs/ipc.md.

    - `status()`: agent_version, mode, state ("compliant", "non-compliant", "blind",
      "unknown": protocol.device_state), reasons [{code, zh, en}], compliant (state is
      compliant), coverage, open_findings, by_severity, last_scan {started_at, duration_s,
      trigger, findings, new, resolved, blind_spots, outcome, coverage, error?}, blind_spots
      [{probe, what, reason}], managed_keys, event_seq; and once enrolled: enrolled,
      server_reachable, last_contact, last_error, policy_version, policy_mode, outbox_depth.
    - `findings()`: open findings as `wxguard check --format json` prints them, plus
      first_seen / last_seen (Unix time).
    - `wait_events(since, timeout)`: {seq, events: [{seq, kind, at, data}]}; kinds: scan,
      finding-new, finding-seen, finding-resolved, status, report (this user's only), policy, enforcement.
    - `submit_report(...)`: durably queued before it returns {idempotency_key, state: "queued"}.
    - `refresh()`: ask the server now (the tray's Refresh); answers come as events.
    - `my_reports()`: this user's reports: [{idempotency_key, case, state, category, summary,
      created_at, replies: [{body, at}]}]; state: queued, delivered, new, triaged, resolved.
    - `report_password_status(accounts, keyring_available=None)`: [{account_type, state,
      last_changed, due_at, deferrals, no_expiry}] — dates and states, never a password;
      keyring_available: whether the caller's keyring opened (False: the states are unknown).
    - `policy()`: {version, mode, text: {zh, en}, text_version, acknowledged_version,
      password: {max_age_days, reminder_days, max_deferrals}, collected: [{zh, en}]}.
    - `acknowledge_policy(text_version)`: records this user's acknowledgement.
    """

    def hello(self) -> dict[str, Any]: ...

    def status(self) -> dict[str, Any]: ...

    def findings(self) -> list[dict[str, Any]]: ...

    def scan_now(self) -> dict[str, Any] | None: ...

    def wait_events(self, since: int, timeout: float) -> dict[str, Any]: ...

    def submit_report(
        self,
        category: str,
        summary: str,
        description: str,
        occurred_at: str | None,
        affected_account: str,
        contact: str,
        attachments: list[dict[str, str]],
        contact_address: str = "",
    ) -> dict[str, Any]: ...

    def my_reports(self) -> list[dict[str, Any]]: ...

    def refresh(self) -> dict[str, Any]: ...

    def report_password_status(
        self, accounts: list[dict[str, Any]], keyring_available: bool | None = None
    ) -> dict[str, Any]: ...

    def policy(self) -> dict[str, Any]: ...

    def acknowledge_policy(self, text_version: str) -> dict[str, Any]: ...


def unreadable_answer(op: str, exc: AnswerError) -> AgentError:
    """An answer whose known fields do not fit their model (an agent of another version with
    a changed field, or a bug): said plainly instead of failing later on a missing value."""
    # msgspec says "Expected `int`, got `str` - at `$.findings[0].pid`".
    message, _, at = str(exc).partition(" - at `")
    where = f"{at.rstrip('`').removeprefix('$.').removeprefix('$')}: {message}" if at else message
    return AgentError(
        "bad-answer",
        f"无法读取 wxguard 代理对 {op} 的回答（{where}）。代理和托盘的版本可能不一致，请联系 IT。",
        f"The wxguard agent's answer to {op} cannot be read ({where}). The agent and this "
        "program may be of different versions; contact IT.",
    )


class TypedCalls:
    """The typed methods of `AgentAPI`, written once over one untyped `call(op, args)`; the
    socket client and the in-process adapter differ only in how they carry the call.

    Every answer is read through its model (`protocol.ipc.parse_answer`): fields this side
    does not know are dropped (a newer agent does not break an older tray), a known field of
    the wrong type is the AgentError `bad-answer`."""

    def call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def answer(self, op: str, args: dict[str, Any] | None = None) -> Any:
        """`call(op, args)`, its answer read through the operation's model."""
        result = self.call(op, args)
        try:
            return parse_answer(op, result)
        except AnswerError as exc:
            raise unreadable_answer(op, exc) from None

    def hello(self) -> dict[str, Any]:
        return dict(self.answer("hello"))

    def status(self) -> dict[str, Any]:
        return dict(self.answer("status"))

    def findings(self) -> list[dict[str, Any]]:
        return list(self.answer("findings"))

    def scan_now(self) -> dict[str, Any] | None:
        result = self.answer("scan_now")
        return dict(result) if result is not None else None

    def wait_events(self, since: int, timeout: float) -> dict[str, Any]:
        reply = dict(self.answer("events", {"since": since, "timeout": timeout}))
        events = []
        for event in reply.get("events") or []:
            try:
                event["data"] = parse_event(str(event.get("kind", "")), event.get("data") or {})
            except AnswerError as exc:  # one unreadable event must not stop the feed
                log.warning("dropped an unreadable %s event: %s", event.get("kind"), exc)
                continue
            events.append(event)
        reply["events"] = events
        return reply

    def submit_report(
        self,
        category: str,
        summary: str,
        description: str,
        occurred_at: str | None,
        affected_account: str,
        contact: str,
        attachments: list[dict[str, str]],
        contact_address: str = "",
    ) -> dict[str, Any]:
        """`contact` is how to contact the reporter (`protocol.contact.ContactMethod`, or ""),
        `contact_address` the address or number for it."""
        args = {
            "category": category,
            "summary": summary,
            "description": description,
            "occurred_at": occurred_at,
            "affected_account": affected_account,
            "contact": contact,
            "attachments": attachments,
            "contact_address": contact_address,
        }
        return dict(self.answer("submit_report", args))

    def my_reports(self) -> list[dict[str, Any]]:
        return list(self.answer("my_reports"))

    def refresh(self) -> dict[str, Any]:
        return dict(self.answer("refresh"))

    def report_password_status(
        self, accounts: list[dict[str, Any]], keyring_available: bool | None = None
    ) -> dict[str, Any]:
        args: dict[str, Any] = {"accounts": accounts}
        if keyring_available is not None:  # older agents refuse a field they do not know
            args["keyring_available"] = keyring_available
        return dict(self.answer("report_password_status", args))

    def policy(self) -> dict[str, Any]:
        return dict(self.answer("policy"))

    def acknowledge_policy(self, text_version: str) -> dict[str, Any]:
        return dict(self.answer("acknowledge_policy", {"text_version": text_version}))
