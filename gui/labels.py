"""Human words for the agent's stable identifiers (categories, states, severities), in the
current language. Identifiers stay as the agent sends them; only the words are translated."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QCoreApplication

SEVERITIES = ("critical", "high", "medium", "low", "info")


def category(key: str) -> str:
    words = {
        "account-compromise": QCoreApplication.translate(
            "Labels", "Account stolen or suspicious login"
        ),
        "suspicious-message": QCoreApplication.translate("Labels", "Suspicious message or link"),
        "data-leak": QCoreApplication.translate("Labels", "Confidential information sent out"),
        "lost-device": QCoreApplication.translate("Labels", "Lost or stolen device"),
        "unapproved-software": QCoreApplication.translate(
            "Labels", "Unapproved software or plugin"
        ),
        "other": QCoreApplication.translate("Labels", "Something else"),
        "exec-blocked": QCoreApplication.translate("Labels", "Program blocked at start"),
        "approval-request": QCoreApplication.translate("Labels", "Request to approve a program"),
    }
    return words.get(key, key)


def severity(key: str) -> str:
    words = {
        "critical": QCoreApplication.translate("Labels", "Critical"),
        "high": QCoreApplication.translate("Labels", "High"),
        "medium": QCoreApplication.translate("Labels", "Medium"),
        "low": QCoreApplication.translate("Labels", "Low"),
        "info": QCoreApplication.translate("Labels", "Information"),
    }
    return words.get(key, key)


def account(key: str) -> str:
    words = {
        "enterprise": QCoreApplication.translate("Labels", "Enterprise WeChat account"),
        "personal": QCoreApplication.translate("Labels", "Personal WeChat account"),
        "none": QCoreApplication.translate("Labels", "No account / not sure"),
    }
    return words.get(key, key)


def contact(key: str) -> str:
    words = {
        "email": QCoreApplication.translate("Labels", "By email"),
        "phone": QCoreApplication.translate("Labels", "By phone"),
        "wechat": QCoreApplication.translate("Labels", "On enterprise WeChat"),
        "none": QCoreApplication.translate("Labels", "No need to contact me"),
    }
    return words.get(key, key)


# The first is the form's default: enterprise WeChat needs nothing typed (the team finds a
# colleague in the company directory); email and phone ask for the address or number.
CONTACTS = ("wechat", "email", "phone", "none")
AFFECTED = ("enterprise", "personal", "none")


def report_state(key: str) -> str:
    words = {
        "queued": QCoreApplication.translate("Labels", "Queued on this computer"),
        "delivered": QCoreApplication.translate("Labels", "Delivered to the security team"),
        "new": QCoreApplication.translate("Labels", "Received, not yet reviewed"),
        "triaged": QCoreApplication.translate("Labels", "Being handled"),
        "resolved": QCoreApplication.translate("Labels", "Resolved"),
    }
    return words.get(key, key)


def password_state(key: str) -> str:
    words = {
        "ok": QCoreApplication.translate("Labels", "Up to date"),
        "due-soon": QCoreApplication.translate("Labels", "Change due soon"),
        "overdue": QCoreApplication.translate("Labels", "Change overdue"),
        "unknown": QCoreApplication.translate("Labels", "Not recorded"),
        "no-expiry": QCoreApplication.translate("Labels", "No expiry"),
    }
    return words.get(key, key)


def tray_state(key: str) -> str:
    words = {
        "compliant": QCoreApplication.translate("Labels", "Compliant"),
        "action": QCoreApplication.translate("Labels", "Action needed"),
        "offline": QCoreApplication.translate(
            "Labels", "Offline: the wxguard server cannot be reached"
        ),
        "agent-down": QCoreApplication.translate("Labels", "Agent not running"),
        "starting": QCoreApplication.translate("Labels", "Connecting to the agent…"),
    }
    return words.get(key, key)


def device_state(key: str) -> str:
    """A protocol.device_state.State in words (when the agent sent no reasons)."""
    words = {
        "compliant": QCoreApplication.translate("Labels", "Compliant"),
        "non-compliant": QCoreApplication.translate("Labels", "Not compliant"),
        "blind": QCoreApplication.translate(
            "Labels", "The last check was incomplete: compliance cannot be confirmed"
        ),
        "unknown": QCoreApplication.translate("Labels", "No recent check"),
    }
    return words.get(key, key)


def labelled(label: str, value: str) -> str:
    """ "label: value", with the full-width colon in Chinese ("其他：手机丢了")."""
    pattern = QCoreApplication.translate("Labels", "%1: %2")
    return pattern.replace("%2", value).replace("%1", label)


def with_detail(value: str, detail: str) -> str:
    """ "value (detail)", with full-width parentheses in Chinese ("通过电话（+86 138 0013 8000）");
    just `value` when there is no detail."""
    if not detail:
        return value
    pattern = QCoreApplication.translate("Labels", "%1 (%2)")
    return pattern.replace("%2", detail).replace("%1", value)


def when(ts: float | str | None) -> str:
    """A Unix time or ISO string as local date and time; "never" when absent."""
    if ts is None or ts == "":
        return QCoreApplication.translate("Labels", "never")
    try:
        moment = (
            datetime.fromtimestamp(float(ts))
            if isinstance(ts, int | float)
            else datetime.fromisoformat(str(ts))
        )
    except (ValueError, OverflowError, OSError):
        return str(ts)
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M")
