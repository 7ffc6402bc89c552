"""The protocol's stable strings (never renamed) and the one label of a policy: in a module of
their own, without pydantic, because the idle agent uses them (its status, the tray's lists).
`protocol.messages` and `protocol.policy` re-export them."""

from __future__ import annotations

from enum import StrEnum

# --- stable strings (never renamed) ----------------------------------------------------------


class ReportCategory(StrEnum):
    ACCOUNT_COMPROMISE = "account-compromise"
    SUSPICIOUS_MESSAGE = "suspicious-message"
    DATA_LEAK = "data-leak"
    LOST_DEVICE = "lost-device"
    UNAPPROVED_SOFTWARE = "unapproved-software"
    OTHER = "other"
    # Filed by the agent and the tray, not chosen in the incident form (docs/exec.md): a program
    # blocked (or, in audit mode, that would have been) at exec, and an employee's request
    # that IT approve one. A server older than these answers 422: upgrade the server first.
    EXEC_BLOCKED = "exec-blocked"
    APPROVAL_REQUEST = "approval-request"


# How a severity (the stable ids of `checks.model.Severity`) reads, in Chinese and English.
SEVERITY_WORDS: dict[str, tuple[str, str]] = {
    "critical": ("严重", "critical"),
    "high": ("高", "high"),
    "medium": ("中", "medium"),
    "low": ("低", "low"),
    "info": ("提示", "information"),
}


def counted(n: int, one: str, many: str = "") -> str:
    """`n` and an English noun in the right number: counted(1, "finding") == "1 finding",
    counted(3, "finding") == "3 findings", counted(2, "copy", "copies") == "2 copies"."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


class ReportStatus(StrEnum):
    NEW = "new"
    TRIAGED = "triaged"
    RESOLVED = "resolved"


class AccountType(StrEnum):
    ENTERPRISE = "enterprise"
    PERSONAL = "personal"


class PasswordState(StrEnum):
    OK = "ok"
    DUE_SOON = "due-soon"
    OVERDUE = "overdue"
    UNKNOWN = "unknown"
    NO_EXPIRY = "no-expiry"


# The text version of the policy the agent ships with, in force until a signed policy says
# otherwise; acknowledged as policy version 0.
BUILTIN_TEXT_VERSION = "builtin-1"


def policy_label(version: int, text_version: str) -> str:
    """The one name of a policy, the same in the tray, `wxguard status` and the dashboard:
    "v3 · 2026-03" for a signed policy with its text's version, "built-in · builtin-1"
    before any."""
    if version <= 0:
        return f"built-in · {text_version or BUILTIN_TEXT_VERSION}"
    return f"v{version} · {text_version}" if text_version else f"v{version}"
