"""Glue between the password-age library (agent.password_age) and the tray: keyring work on a
worker thread, one timer set to the next reminder, and the state reported to the agent."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from agent import password_age as pa
from agent.api import ACCOUNT_TYPES, AgentError
from gui.bridge import AgentBridge
from protocol.names import PasswordState

Clock = Callable[[], datetime]

# A reminder may be days away; the timer re-arms at least hourly so a laptop that slept or a
# clock that jumped still reminds on time.
MAX_TIMER_MS = 3600 * 1000


def local_now() -> datetime:
    return datetime.now().astimezone()


class PasswordController(QObject):
    changed = Signal()  # statuses were (re)computed
    failed = Signal(object)  # AgentError (KeyringUnavailable, refused date, deferral limit)
    reminder_due = Signal(str, object)  # account type, AccountStatus

    def __init__(
        self, bridge: AgentBridge, store: pa.PasswordAgeStore, clock: Clock = local_now
    ) -> None:
        super().__init__()
        self.bridge = bridge
        self.store = store
        self.clock = clock
        self.policy = pa.PasswordPolicy()
        self.loaded: dict[str, pa.Loaded] = {}
        self.statuses: dict[str, pa.AccountStatus] = {}
        self.error: AgentError | None = None
        self._reported: list[dict[str, Any]] | None = None
        self._keyring_said: bool | None = None  # what the agent was last told of the keyring
        self._keyring_lock = threading.RLock()  # one keyring read-modify-write at a time
        self._generation = 0  # counts keyring reads (worker side)
        self._shown_generation = 0  # the newest read applied (GUI side)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.check_reminders)
        bridge.done.connect(self._on_done)
        bridge.failed.connect(self._on_failed)

    # -- commands (all keyring I/O runs on the bridge's pool) ---------------------------------

    def reload(self) -> None:
        self.bridge.run("password-load", self._load_all)

    def record_change(self, account: str, day: date, no_expiry: bool = False) -> None:
        now = self.clock()
        try:
            pa.record_change(account, day, now, no_expiry=no_expiry)  # refused at once if bad
        except pa.PasswordAgeError as exc:
            self.failed.emit(exc)
            return
        self._save(account, lambda _: pa.record_change(account, day, now, no_expiry=no_expiry))

    def set_no_expiry(self, account: str, no_expiry: bool) -> None:
        self._save(account, lambda fresh: pa.set_no_expiry(fresh, account, no_expiry))

    def snooze(self, account: str, until: datetime) -> None:
        loaded = self.loaded.get(account, pa.Loaded(None))
        now, policy = self.clock(), self.policy
        try:
            pa.defer(loaded, account, until, policy, now)  # refused at once past the limit
        except pa.PasswordAgeError as exc:
            self.failed.emit(exc)
            return
        self._save(account, lambda fresh: pa.defer(fresh, account, until, policy, now))

    def set_policy(self, password_policy: dict[str, Any] | None) -> None:
        policy = pa.PasswordPolicy.from_json(password_policy)
        if policy != self.policy:
            self.policy = policy
            if self.loaded:
                self._recompute()

    def snooze_choices(self) -> list[pa.SnoozeChoice]:
        return pa.snooze_choices(self.clock())

    def deferral_allowed(self, account: str) -> bool:
        return pa.deferral_allowed(self.loaded.get(account, pa.Loaded(None)), self.policy)

    # -- reminders -----------------------------------------------------------------------------

    def check_reminders(self) -> None:
        """Emit `reminder_due` for every account whose next reminder has come, mark it shown."""
        now = self.clock()
        for account, status in list(self.statuses.items()):
            if status.next_reminder is None or status.next_reminder > now:
                continue
            self.reminder_due.emit(account, status)
            loaded = self.loaded.get(account, pa.Loaded(None))
            shown = pa.reminded(loaded, account, now)
            upcoming: datetime | None
            if loaded.modified:
                # Keep the evidence of the edit in the keyring until the employee records
                # again; remember this reminder in memory only.
                upcoming = pa.schedule_after(None, self.policy, now, now)
            else:
                upcoming = pa.next_reminder(pa.Loaded(shown), self.policy, now)
                self._save(account, _mark_reminded(account, now))
            # Updated at once, so a keyring that fails to save cannot make the timer spin.
            self.statuses[account] = replace(status, next_reminder=upcoming)
        self._arm()

    def next_reminder(self) -> datetime | None:
        times = [s.next_reminder for s in self.statuses.values() if s.next_reminder is not None]
        return min(times) if times else None

    def _arm(self) -> None:
        self._timer.stop()
        upcoming = self.next_reminder()
        if upcoming is None:
            return
        ms = int((upcoming - self.clock()).total_seconds() * 1000)
        self._timer.start(max(0, min(ms, MAX_TIMER_MS)))

    # -- plumbing ------------------------------------------------------------------------------

    def _load_all(self) -> tuple[int, dict[str, pa.Loaded]]:
        with self._keyring_lock:
            self._generation += 1
            return self._generation, {a: self.store.load(a) for a in ACCOUNT_TYPES}

    def _save(self, account: str, change: Callable[[pa.Loaded], pa.PasswordRecord]) -> None:
        """Apply `change` to the record as it is in the keyring *now*, on the worker pool.

        Writes are serialised and each starts from a fresh read, so two changes in flight (a
        reminder marked as shown while the employee ticks "does not expire") both land; a
        result older than one already shown is dropped."""

        def work() -> tuple[int, dict[str, pa.Loaded]]:
            with self._keyring_lock:
                self.store.save(change(self.store.load(account)))
                return self._load_all()

        self.bridge.run("password-save", work)

    def _on_done(self, op: str, result: Any) -> None:
        if op in ("password-load", "password-save"):
            generation, loaded = result
            if generation < self._shown_generation:
                return  # a newer state is already on screen
            self._shown_generation = generation
            self.error = None
            self.loaded = dict(loaded)
            self._recompute()

    def _on_failed(self, op: str, error: AgentError) -> None:
        if op in ("password-load", "password-save"):
            self.error = error
            self.failed.emit(error)
            self.changed.emit()
            if error.code == "keyring-unavailable":
                self._report_no_keyring()

    def _report_no_keyring(self) -> None:
        """Tell the agent (and so IT) that this user's keyring cannot be opened: every
        account's password age is then unknown; said once until the keyring works again."""
        if self._keyring_said is False:
            return
        self._keyring_said = False
        self._reported = None
        payload = [
            {"account_type": account, "state": PasswordState.UNKNOWN.value}
            for account in ACCOUNT_TYPES
        ]
        self.bridge.call("report_password_status", payload, False)

    def _recompute(self) -> None:
        now = self.clock()
        self.statuses = {
            account: pa.assess(account, self.loaded.get(account, pa.Loaded(None)), self.policy, now)
            for account in ACCOUNT_TYPES
        }
        self.changed.emit()
        self.report(only_news=True)
        self._arm()

    def report(self, only_news: bool = False) -> None:
        """Tell the agent the accounts' states (dates and states only); `only_news`: unless
        it was told exactly these already (a reload after our own report's event)."""
        if self.statuses:
            payload = [s.to_report() for s in self.statuses.values()]
            if only_news and payload == self._reported and self._keyring_said:
                return
            self._reported = payload
            self._keyring_said = True
            self.bridge.call("report_password_status", payload, True)


def _mark_reminded(account: str, at: datetime) -> Callable[[pa.Loaded], pa.PasswordRecord]:
    return lambda fresh: pa.reminded(fresh, account, at)
