"""WeChat password age (policy art. 19): the keyring record, its integrity tag, and the pure
date arithmetic behind the tray's reminders. Shared by the tray and the CLI.

Storage: the OS keyring (never a file), service `wxguard-password-age`:

    enterprise      JSON record for the enterprise WeChat account
    personal        JSON record for the personal WeChat account
    integrity-key   hex of a per-user random 256-bit key; each record carries an HMAC-SHA256
                    tag under this key, so a value edited by hand (secret-tool, Seahorse, a
                    script) is noticed and shown as "record was modified"

A record holds dates and reminder bookkeeping, never a password. A missing, locked or refused
keyring raises `KeyringUnavailable`; the record is never moved to a plaintext file.

Everything below `PasswordPolicy` is pure: the clock is a parameter (`now`, an aware datetime
in local time), so the schedule is testable to the minute.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol

import keyring.backend

from agent.api import ACCOUNT_TYPES, AgentError
from agent.credentials import AgentKeyring, CredentialsError

SERVICE = "wxguard-password-age"
KEY_INTEGRITY = "integrity-key"
RECORD_VERSION = 1

REMINDER_HOUR = 9  # reminders and snoozes land at 09:00 local time
MAX_DAYS = 3650  # clamp: no day count beyond ten years is meaningful
EARLIEST_CHANGE = date(2011, 1, 21)  # WeChat's first release: no password is older

STATES = ("ok", "due-soon", "overdue", "unknown", "no-expiry")


# --- errors --------------------------------------------------------------------------------


class PasswordAgeError(AgentError):
    """A refused input or operation; `zh`/`en` say what to do."""


class KeyringUnavailable(PasswordAgeError):
    """The OS keyring cannot be used. The record is never written anywhere else."""

    def __init__(self, detail: str) -> None:
        # The backend's own words ("no secure backend: keyring.backends.fail.Keyring") are
        # for the log, not for the employee: they are kept apart in `detail`.
        super().__init__(
            "keyring-unavailable",
            "无法使用系统钥匙串（未安装或已锁定），所以 wxguard 无法保存密码的更改日期。"
            "日期只保存在系统钥匙串中，wxguard 不会改用明文文件。请解锁登录钥匙串"
            "（Linux：GNOME 钥匙串或 KWallet，未安装时请安装 gnome-keyring 并注销后重新登录；"
            "macOS：钥匙串；Windows：凭据管理器），然后重试；仍不行请联系 IT。",
            "The system keyring cannot be used (it is missing or locked), so wxguard cannot keep "
            "the date of your password change. The date is kept only in the system keyring; "
            "wxguard never falls back to a plain file. Log in to a desktop session and unlock the "
            "keyring (Linux: GNOME Keyring or KWallet; if there is none, install gnome-keyring, "
            "then log out and in again; macOS: Keychain; Windows: Credential Manager), then try "
            "again, or contact IT.",
        )
        self.detail = detail


def _future_date(day: date, today: date) -> PasswordAgeError:
    return PasswordAgeError(
        "future-date",
        f"更改日期 {day.isoformat()} 晚于今天（{today.isoformat()}）。请填写您实际更改密码的日期。",
        f"The change date {day.isoformat()} is after today ({today.isoformat()}). "
        "Enter the day you actually changed the password.",
    )


def _too_old(day: date) -> PasswordAgeError:
    return PasswordAgeError(
        "date-too-old",
        f"更改日期 {day.isoformat()} 早于微信发布（{EARLIEST_CHANGE.isoformat()}），请检查日期。",
        f"The change date {day.isoformat()} is before WeChat existed "
        f"({EARLIEST_CHANGE.isoformat()}). Check the date.",
    )


def _unknown_account(account: str) -> PasswordAgeError:
    return PasswordAgeError(
        "bad-account",
        f"未知的账号类型 {account!r}（可用：{', '.join(ACCOUNT_TYPES)}）。",
        f"Unknown account type {account!r} (use one of: {', '.join(ACCOUNT_TYPES)}).",
    )


def _deferral_limit(limit: int) -> PasswordAgeError:
    return PasswordAgeError(
        "deferral-limit",
        f"提醒已推迟 {limit} 次，不能再推迟。请更改微信密码，然后记录更改。",
        f"This reminder has been postponed {limit} times and cannot be postponed again. "
        "Change your WeChat password, then record the change.",
    )


# --- the record ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PasswordRecord:
    """What the keyring holds per account: dates and reminder bookkeeping, never a password."""

    account_type: str
    changed_on: date | None = None
    no_expiry: bool = False
    deferrals: int = 0
    snoozed_until: datetime | None = None
    last_reminded: datetime | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "v": RECORD_VERSION,
            "account_type": self.account_type,
            "changed_on": self.changed_on.isoformat() if self.changed_on else None,
            "no_expiry": self.no_expiry,
            "deferrals": self.deferrals,
            "snoozed_until": self.snoozed_until.isoformat() if self.snoozed_until else None,
            "last_reminded": self.last_reminded.isoformat() if self.last_reminded else None,
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> PasswordRecord:
        def when(value: Any) -> datetime | None:
            return datetime.fromisoformat(value) if isinstance(value, str) else None

        changed = data.get("changed_on")
        return cls(
            account_type=str(data["account_type"]),
            changed_on=date.fromisoformat(changed) if isinstance(changed, str) else None,
            no_expiry=bool(data.get("no_expiry", False)),
            deferrals=max(0, int(data.get("deferrals", 0))),
            snoozed_until=when(data.get("snoozed_until")),
            last_reminded=when(data.get("last_reminded")),
        )


@dataclass(frozen=True, slots=True)
class Loaded:
    """The result of reading one account: the record, or None; `modified` if the tag failed."""

    record: PasswordRecord | None
    modified: bool = False


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


def seal(record: PasswordRecord, key: bytes) -> str:
    payload = record.payload()
    tag = hmac.new(key, _canonical(payload), hashlib.sha256).hexdigest()
    return json.dumps({**payload, "tag": tag}, sort_keys=True)


def unseal(raw: str, key: bytes, account_type: str) -> Loaded:
    """Parse and verify a stored value; anything that does not verify reads as modified."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            return Loaded(None, modified=True)
        tag = data.pop("tag", None)
        expected = hmac.new(key, _canonical(data), hashlib.sha256).hexdigest()
        if not isinstance(tag, str) or not hmac.compare_digest(tag, expected):
            return Loaded(None, modified=True)
        record = PasswordRecord.from_payload(data)
    except (ValueError, KeyError, TypeError):
        return Loaded(None, modified=True)
    if record.account_type != account_type:  # a record copied from the other account
        return Loaded(None, modified=True)
    return Loaded(record)


class SecretStore(Protocol):
    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    def delete(self, key: str) -> None: ...


class PasswordAgeStore:
    """The records in the OS keyring, behind one error type (`KeyringUnavailable`)."""

    def __init__(
        self,
        secrets_: SecretStore | None = None,
        backend: keyring.backend.KeyringBackend | None = None,
        token: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self._secrets = secrets_ or AgentKeyring(backend=backend, service=SERVICE)
        self._token = token
        self._key: bytes | None = None

    def _call(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except CredentialsError as exc:
            detail = str(exc.en).split("(", 1)[-1].split(")", 1)[0]
            raise KeyringUnavailable(detail) from exc
        except PasswordAgeError:
            raise
        except Exception as exc:  # an injected store failing in its own way
            raise KeyringUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def _integrity_key(self) -> bytes:
        if self._key is None:
            stored = self._call(lambda: self._secrets.get(KEY_INTEGRITY))
            try:
                key = bytes.fromhex(stored) if stored else b""
            except ValueError:
                key = b""
            if len(key) < 32:
                # First use, or the key itself was tampered with: a new key makes every
                # existing record read as modified, which is the truth.
                key = self._token(32)
                self._call(lambda: self._secrets.set(KEY_INTEGRITY, key.hex()))
            self._key = key
        return self._key

    def load(self, account_type: str) -> Loaded:
        if account_type not in ACCOUNT_TYPES:
            raise _unknown_account(account_type)
        raw = self._call(lambda: self._secrets.get(account_type))
        key = self._integrity_key()
        if raw is None:
            return Loaded(None)
        return unseal(str(raw), key, account_type)

    def save(self, record: PasswordRecord) -> None:
        if record.account_type not in ACCOUNT_TYPES:
            raise _unknown_account(record.account_type)
        value = seal(record, self._integrity_key())
        self._call(lambda: self._secrets.set(record.account_type, value))

    def clear(self, account_type: str) -> None:
        self._call(lambda: self._secrets.delete(account_type))


# --- policy and pure arithmetic ------------------------------------------------------------


def _ok_int(value: Any, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    max_age_days: int = 90
    reminder_days: tuple[int, ...] = (14, 7, 3, 1)
    max_deferrals: int = 3
    daily_after_last: bool = True  # after the last reminder day: every day, past the due date

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> PasswordPolicy:
        """From `policy()["password"]`; absent or nonsensical values take the defaults."""
        default = cls()
        if not isinstance(data, dict):
            return default
        max_age: Any = data.get("max_age_days")
        days: Any = data.get("reminder_days")
        deferrals: Any = data.get("max_deferrals")
        daily: Any = data.get("daily_after_last")
        max_age_ok: int = int(max_age) if _ok_int(max_age, 1, MAX_DAYS) else default.max_age_days
        if isinstance(days, list | tuple) and all(_ok_int(d, 1, max_age_ok) for d in days):
            reminder = tuple(sorted({int(d) for d in days}, reverse=True))
        else:
            reminder = tuple(d for d in default.reminder_days if d <= max_age_ok)
        return cls(
            max_age_days=max_age_ok,
            reminder_days=reminder,
            max_deferrals=int(deferrals or 0)
            if _ok_int(deferrals, 0, 100)
            else default.max_deferrals,
            daily_after_last=daily if isinstance(daily, bool) else default.daily_after_last,
        )


@dataclass(frozen=True, slots=True)
class AccountStatus:
    account_type: str
    state: str  # one of STATES
    last_changed: date | None
    due_on: date | None
    days_since: int | None
    days_left: int | None  # negative when overdue, clamped to ±MAX_DAYS
    deferrals: int
    deferrals_left: int
    no_expiry: bool
    modified: bool
    next_reminder: datetime | None = field(default=None)

    def to_report(self) -> dict[str, Any]:
        """What `report_password_status` sends: dates, counts and states only (the agent
        refuses any other field; days left follow from `due_at`)."""
        return {
            "account_type": self.account_type,
            "state": self.state,
            "last_changed": self.last_changed.isoformat() if self.last_changed else None,
            "due_at": self.due_on.isoformat() if self.due_on else None,
            "deferrals": self.deferrals,
            "no_expiry": self.no_expiry,
        }


def _clamp(days: int) -> int:
    return max(-MAX_DAYS, min(MAX_DAYS, days))


def at_reminder_hour(day: date, now: datetime) -> datetime:
    return datetime.combine(day, time(REMINDER_HOUR), tzinfo=now.tzinfo)


def due_date(changed_on: date, policy: PasswordPolicy) -> date:
    return changed_on + timedelta(days=policy.max_age_days)


def assess(
    account_type: str, loaded: Loaded, policy: PasswordPolicy, now: datetime
) -> AccountStatus:
    """The state of one account at `now`."""
    record = loaded.record
    today = now.date()
    deferrals = record.deferrals if record else 0
    common = {
        "account_type": account_type,
        "deferrals": deferrals,
        "deferrals_left": max(0, policy.max_deferrals - deferrals),
        "modified": loaded.modified,
    }
    if record is None or loaded.modified:
        return AccountStatus(
            state="unknown",
            last_changed=None,
            due_on=None,
            days_since=None,
            days_left=None,
            no_expiry=False,
            next_reminder=next_reminder(loaded, policy, now),
            **common,  # type: ignore[arg-type]
        )
    changed = record.changed_on
    if record.no_expiry:
        days_since = max(0, _clamp((today - changed).days)) if changed else None
        return AccountStatus(
            state="no-expiry",
            last_changed=changed,
            due_on=None,
            days_since=days_since,
            days_left=None,
            no_expiry=True,
            **common,  # type: ignore[arg-type]
        )
    if changed is None:
        return AccountStatus(
            state="unknown",
            last_changed=None,
            due_on=None,
            days_since=None,
            days_left=None,
            no_expiry=False,
            next_reminder=next_reminder(loaded, policy, now),
            **common,  # type: ignore[arg-type]
        )
    due = due_date(changed, policy)
    days_since = max(0, _clamp((today - changed).days))
    days_left = _clamp((due - today).days)
    window = max(policy.reminder_days, default=0)
    if days_left < 0:
        state = "overdue"
    elif days_left <= window:
        state = "due-soon"
    else:
        state = "ok"
    return AccountStatus(
        state=state,
        last_changed=changed,
        due_on=due,
        days_since=days_since,
        days_left=days_left,
        no_expiry=False,
        next_reminder=next_reminder(loaded, policy, now),
        **common,  # type: ignore[arg-type]
    )


def schedule_after(
    changed_on: date | None, policy: PasswordPolicy, after: datetime, now: datetime
) -> datetime | None:
    """The first scheduled reminder strictly after `after`: the policy's days before the due
    date at 09:00, then (`daily_after_last`) every day at 09:00 — through the due date and
    after it — or else once more on the due date. An unknown date is reminded daily."""
    if changed_on is None:
        day = after.date()
        candidate = at_reminder_hour(day, now)
        return candidate if candidate > after else at_reminder_hour(day + timedelta(days=1), now)
    due = due_date(changed_on, policy)
    for days in sorted(policy.reminder_days, reverse=True):
        point = at_reminder_hour(due - timedelta(days=days), now)
        if point > after:
            return point
    if not policy.daily_after_last:
        on_due = at_reminder_hour(due, now)
        return on_due if on_due > after else None
    start = max(due, after.date())
    candidate = at_reminder_hour(start, now)
    return candidate if candidate > after else at_reminder_hour(start + timedelta(days=1), now)


def next_reminder(loaded: Loaded, policy: PasswordPolicy, now: datetime) -> datetime | None:
    """When the tray should next remind about this account; None for no-expiry accounts.

    A reminder missed while the tray was not running fires now (once). A snooze suppresses
    every scheduled reminder before it. Recording a change restarts the schedule from the new
    date, so reminders stop at once.
    """
    record = loaded.record
    if record is not None and record.no_expiry and not loaded.modified:
        return None
    changed = None if (record is None or loaded.modified) else record.changed_on
    if record is None or loaded.modified:
        anchor = now - timedelta(days=1)  # never asked, or must be asked again: now
    elif record.last_reminded is not None:
        anchor = record.last_reminded
    elif changed is not None:
        anchor = at_reminder_hour(changed, now)
    else:
        anchor = now - timedelta(days=1)
    snooze = record.snoozed_until if record is not None and not loaded.modified else None
    candidate: datetime | None
    if snooze is not None and snooze > anchor:
        candidate = snooze
    else:
        candidate = schedule_after(changed, policy, anchor, now)
    return None if candidate is None else max(candidate, now)


@dataclass(frozen=True, slots=True)
class SnoozeChoice:
    key: str  # "tomorrow" or "monday": the tray words it ("tomorrow at 09:00")
    at: datetime


def snooze_choices(now: datetime) -> list[SnoozeChoice]:
    """Concrete times to postpone to: tomorrow at 09:00 and next Monday at 09:00."""
    tomorrow = at_reminder_hour(now.date() + timedelta(days=1), now)
    ahead = (7 - now.weekday()) % 7 or 7  # Monday is weekday 0
    monday = at_reminder_hour(now.date() + timedelta(days=ahead), now)
    choices = [SnoozeChoice("tomorrow", tomorrow)]
    if monday != tomorrow:
        choices.append(SnoozeChoice("monday", monday))
    return choices


def record_change(
    account_type: str, changed_on: date, now: datetime, no_expiry: bool = False
) -> PasswordRecord:
    """A fresh record for "I changed my password on `changed_on`": reminders and deferrals reset."""
    if account_type not in ACCOUNT_TYPES:
        raise _unknown_account(account_type)
    if changed_on > now.date():
        raise _future_date(changed_on, now.date())
    if changed_on < EARLIEST_CHANGE:
        raise _too_old(changed_on)
    return PasswordRecord(account_type=account_type, changed_on=changed_on, no_expiry=no_expiry)


def set_no_expiry(loaded: Loaded, account_type: str, no_expiry: bool) -> PasswordRecord:
    base = loaded.record if loaded.record is not None and not loaded.modified else None
    if base is None:
        return PasswordRecord(account_type=account_type, no_expiry=no_expiry)
    return replace(base, no_expiry=no_expiry, snoozed_until=None)


def defer(
    loaded: Loaded, account_type: str, until: datetime, policy: PasswordPolicy, now: datetime
) -> PasswordRecord:
    """Postpone this account's reminders to `until`; refused after `max_deferrals`."""
    if until <= now:
        raise PasswordAgeError(
            "bad-snooze",
            "推迟的时间必须在将来。",
            "The time to postpone to must be in the future.",
        )
    base = loaded.record if loaded.record is not None and not loaded.modified else None
    record = base or PasswordRecord(account_type=account_type)
    if record.deferrals >= policy.max_deferrals:
        raise _deferral_limit(policy.max_deferrals)
    return replace(record, deferrals=record.deferrals + 1, snoozed_until=until, last_reminded=now)


def reminded(loaded: Loaded, account_type: str, now: datetime) -> PasswordRecord:
    """The record after a reminder was shown at `now` (so it is not shown again)."""
    base = loaded.record if loaded.record is not None and not loaded.modified else None
    record = base or PasswordRecord(account_type=account_type)
    return replace(record, last_reminded=now)


def deferral_allowed(loaded: Loaded, policy: PasswordPolicy) -> bool:
    record = loaded.record if not loaded.modified else None
    return (record.deferrals if record else 0) < policy.max_deferrals
