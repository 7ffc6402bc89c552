"""The tray icon and its menu: the hub that holds the agent's latest answers and shows them.

Data flows one way: the event pump or a finished call delivers an answer, the tray keeps it and
re-renders whatever is open. Nothing here decides compliance; the agent does, and the password
arithmetic lives in agent.password_age.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon, QWidget

from agent import password_age as pa
from agent.api import AgentAPI, AgentError
from gui import desktop_notify, icons, labels
from gui.blocked import BlockedWindow, block_key
from gui.bridge import AgentBridge, EventPump
from gui.i18n import Languages, system_language
from gui.password_dialog import PasswordDialog, status_words
from gui.passwords import PasswordController, local_now
from gui.policy_window import (
    AboutDialog,
    CollectsWindow,
    PolicyWindow,
    SettingsDialog,
    policy_acknowledged,
)
from gui.report_dialog import MyReportsWindow, ReportDialog
from gui.seen import SeenStore
from gui.status_window import StatusWindow
from protocol.device_state import State, state_of_status

MENU = (
    "status",
    "check",
    "findings",
    "password",
    "report",
    "my-reports",
    "blocked",
    "policy",
    "collects",
    "settings",
    "about",
    "quit",
)

# "Started again" is told at most once in this time per finding: a program restarted in a
# loop does not flood the desktop (each start is still in the status window's evidence).
AGAIN_QUIET = timedelta(minutes=1)


class Tray(QObject):
    state_changed = Signal(str)
    reports_changed = Signal(list)
    notified = Signal(str, str, str)  # key, title, message
    quit_requested = Signal()

    def __init__(
        self,
        agent: AgentAPI,
        settings: QSettings,
        *,
        events_agent: AgentAPI | None = None,
        password_store: pa.PasswordAgeStore | None = None,
        clock: Callable[[], datetime] = local_now,
        poll_timeout: float = 25.0,
        retry_min: float = 1.0,
        retry_max: float = 30.0,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.clock = clock
        self.lang = Languages()
        self.lang.install(self._language_setting())
        self.bridge = AgentBridge(agent)
        self.pump = EventPump(
            events_agent or agent,
            poll_timeout=poll_timeout,
            retry_min=retry_min,
            retry_max=retry_max,
        )
        self.seen = SeenStore(settings)
        self.passwords = PasswordController(
            self.bridge, password_store or pa.PasswordAgeStore(), clock
        )

        self.state = "starting"
        self.agent_error: AgentError | None = None
        self.status: dict[str, Any] = {}
        self.findings: list[dict[str, Any]] = []
        self.policy: dict[str, Any] = {}
        self.policy_error: AgentError | None = None
        self.reports: list[dict[str, Any]] = []
        self.blocked: dict[str, dict[str, Any]] = {}  # block_key → the agent's event data
        self.notification_looks: list[str] = []
        self.no_host = False
        self.notifications: list[tuple[str, str, str]] = []
        self._told_again: dict[str, datetime] = {}  # finding key → when "started again" was told
        self._last_click: str = "status"
        self._asked_ack: set[str] = set()
        self.windows: dict[str, QWidget] = {}

        self.icon = QSystemTrayIcon()
        self.menu = QMenu()
        self.actions: dict[str, QAction] = {}
        self._build_menu()
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._on_activated)
        self.icon.messageClicked.connect(self._on_message_clicked)

        self.bridge.done.connect(self._on_done)
        self.bridge.failed.connect(self._on_failed)
        self.bridge.busy_changed.connect(self._on_busy)
        self.pump.signals.events.connect(self._on_events)
        self.pump.signals.agent_down.connect(self._on_agent_down)
        self.pump.signals.agent_up.connect(self._on_agent_up)
        self.passwords.changed.connect(self._on_passwords)
        self.passwords.reminder_due.connect(self._on_reminder)
        self._render()

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self.icon.show()
        self.pump.start()
        self.passwords.reload()

    def start_without_host(self) -> None:
        """No tray host on this desktop (stock GNOME, a bare window manager): never run
        invisibly. The status window opens, says so and is the way in; the icon still
        appears if a host starts later (`show_icon_when_host_appears`)."""
        self.pump.start()
        self.passwords.reload()
        self.no_host = True
        w = self.open_status()
        w.set_notice(self._no_host_notice())

    def _no_host_notice(self, news: str = "") -> str:
        """Why this window opened by itself, and the latest news below it: the news never
        hides the explanation."""
        why = self.tr(
            "This desktop shows no tray icons, so wxguard opens this window instead. "
            "Its news appears here; reopen it from your applications menu (wxguard)."
        )
        return f"{why}\n\n{news}" if news else why

    def show_icon_when_host_appears(self) -> bool:
        """Show the icon once a tray host exists; True when shown."""
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.icon.show()
            return True
        return False

    def stop(self) -> None:
        self.pump.stop()
        self.icon.hide()
        for w in self.windows.values():
            w.close()

    def _language_setting(self) -> str:
        choice = str(self.settings.value("language", "system"))
        return system_language() if choice == "system" else choice

    def set_language(self, choice: str) -> None:
        self.settings.setValue("language", choice)
        self.settings.sync()
        self.lang.install(self._language_setting())
        # Windows are rebuilt in the new language the next time they open.
        for w in list(self.windows.values()):
            w.close()
            w.deleteLater()
        self.windows.clear()
        self._build_menu()
        self._render()

    # -- menu ----------------------------------------------------------------------------------

    def _build_menu(self) -> None:
        self.menu.clear()
        self.actions.clear()
        texts = {
            "status": self.tr("Open wxguard status"),
            "check": self.tr("Check now"),
            "findings": self.tr("Findings and how to fix them"),
            "password": self.tr("Record a WeChat password change…"),
            "report": self.tr("Report a security incident…"),
            "my-reports": self.tr("My reports"),
            "blocked": self.tr("Blocked programs…"),
            "policy": self.tr("WeChat policy"),
            "collects": self.tr("What wxguard collects"),
            "settings": self.tr("Settings…"),
            "about": self.tr("About wxguard"),
            "quit": self.tr("Quit the tray (checks keep running)"),
        }
        handlers: dict[str, Callable[[], Any]] = {
            "status": self.open_status,
            "check": self.check_now,
            "findings": self.open_status,
            "password": self.open_password,
            "report": self.open_report,
            "my-reports": self.open_my_reports,
            "blocked": self.open_blocked,
            "policy": self.open_policy,
            "collects": self.open_collects,
            "settings": self.open_settings,
            "about": self.open_about,
            "quit": self.quit,
        }
        for key in MENU:
            if key in ("findings", "collects", "quit"):
                self.menu.addSeparator()
            action = self.menu.addAction(texts[key])
            action.setObjectName(key)
            action.triggered.connect(handlers[key])
            self.actions[key] = action

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.open_status()

    # -- windows -------------------------------------------------------------------------------

    def _window(self, key: str, make: Callable[[], QWidget]) -> QWidget:
        w = self.windows.get(key)
        if w is None:
            w = make()
            self.windows[key] = w
        return w

    def _present(self, w: QWidget) -> None:
        w.show()
        w.raise_()
        w.activateWindow()

    def status_window(self) -> StatusWindow:
        def make() -> StatusWindow:
            w = StatusWindow(self.lang)
            w.check_now.connect(self.check_now)
            return w

        w = self._window("status", make)
        assert isinstance(w, StatusWindow)
        return w

    def open_status(self) -> StatusWindow:
        w = self.status_window()
        self._render()
        self._present(w)
        if self.state != "agent-down":
            self.bridge.call("status")
            self.bridge.call("findings")
        return w

    def check_now(self) -> None:
        if self.state == "agent-down":
            self.pump.retry_now()
            return
        if not self.bridge.is_busy("scan_now"):
            self.bridge.call("scan_now")

    def open_password(self) -> PasswordDialog:
        w = self._window("password", lambda: PasswordDialog(self.passwords, self.lang))
        assert isinstance(w, PasswordDialog)
        w.refresh()
        self._present(w)
        return w

    def open_report(self) -> ReportDialog:
        old = self.windows.get("report")
        if isinstance(old, ReportDialog) and old.isVisible():
            self._present(old)
            return old
        if old is not None:
            old.deleteLater()
        w = ReportDialog(self.bridge, self.lang, clock=self.clock)
        w.submitted.connect(lambda _key: self.bridge.call("my_reports"))
        self.reports_changed.connect(w.update_reports)
        self.windows["report"] = w
        self._present(w)
        return w

    def _refresh_reports(self) -> None:
        # Refresh asks the agent to ask the server; replies arrive as `report` events.
        self.bridge.call("refresh")
        self.bridge.call("my_reports")

    def open_my_reports(self) -> MyReportsWindow:
        def make() -> MyReportsWindow:
            w = MyReportsWindow(self.lang)
            w.refresh.connect(self._refresh_reports)
            return w

        w = self._window("my-reports", make)
        assert isinstance(w, MyReportsWindow)
        w.show_data(self.reports)
        self._present(w)
        self.bridge.call("my_reports")
        return w

    def policy_window(self) -> PolicyWindow:
        def make() -> PolicyWindow:
            w = PolicyWindow(self.lang)
            w.acknowledge.connect(lambda v: self.bridge.call("acknowledge_policy", v))
            return w

        w = self._window("policy", make)
        assert isinstance(w, PolicyWindow)
        return w

    def open_policy(self) -> PolicyWindow:
        w = self.policy_window()
        w.show_policy(self.policy, self.policy_error)
        self._present(w)
        if self.state != "agent-down":
            self.bridge.call("policy")
        return w

    def open_collects(self) -> CollectsWindow:
        w = self._window("collects", lambda: CollectsWindow(self.lang))
        assert isinstance(w, CollectsWindow)
        w.show_policy(self.policy)
        self._present(w)
        return w

    def open_about(self) -> AboutDialog:
        w = self._window("about", lambda: AboutDialog(self.lang))
        assert isinstance(w, AboutDialog)
        w.show_info(self.status, self.policy)
        self._present(w)
        return w

    def open_settings(self) -> SettingsDialog:
        w = SettingsDialog(self.lang, str(self.settings.value("language", "system")))
        w.language_chosen.connect(self.set_language)
        self.windows["settings"] = w
        self._present(w)
        return w

    def quit(self) -> None:
        self.stop()
        self.quit_requested.emit()

    # -- answers from the agent ----------------------------------------------------------------

    def _on_agent_up(self) -> None:
        self.agent_error = None
        for op in ("status", "findings", "policy", "my_reports"):
            self.bridge.call(op)
        self.passwords.report()  # the agent may have restarted without our last report
        self._render()

    def _on_agent_down(self, error: AgentError) -> None:
        self.agent_error = error
        self._render()

    def _on_events(self, _seq: int, events: list[dict[str, Any]]) -> None:
        kinds = {str(e.get("kind")) for e in events}
        for e in events:
            if e.get("kind") in ("exec-blocked", "exec-would-block"):
                self._program_blocked(dict(e.get("data") or {}))
            if e.get("kind") == "finding-new":
                data = e.get("data") or {}
                key = str(data.get("key", ""))
                title = self.lang.pick(data.get("title_i18n"), str(data.get("rule_id", "")))
                self.notify(
                    f"finding:{key}",
                    self.tr("New finding: %1").replace(
                        "%1", labels.severity(str(data.get("severity", "")))
                    ),
                    title,
                    click="status",
                    look="action",
                )
            if e.get("kind") == "finding-seen":
                self._started_again(dict(e.get("data") or {}))
        if kinds & {
            "scan",
            "finding-new",
            "finding-seen",
            "finding-resolved",
            "status",
            "enforcement",
        }:
            self.bridge.call("status")
            self.bridge.call("findings")
        if "report" in kinds:
            self.bridge.call("my_reports")
        if "policy" in kinds:
            self.bridge.call("policy")
        if "passwords" in kinds:
            self._reload_passwords_soon()

    def _on_done(self, op: str, result: Any) -> None:
        if op == "status":
            self.status = dict(result or {})
        elif op == "findings":
            self.findings = list(result or [])
            self._forget_resolved_findings()
            self._notify_unseen_findings()
        elif op == "policy":
            self.policy = dict(result or {})
            self.policy_error = None
            self.passwords.set_policy(self.policy.get("password"))
            self._policy_arrived()
        elif op == "acknowledge_policy":
            self.bridge.call("policy")
        elif op == "my_reports":
            self._reports_arrived(list(result or []))
        elif op == "scan_now":
            self.bridge.call("status")
            self.bridge.call("findings")
            self._check_done(result)
        else:
            return
        self._render()

    def _on_failed(self, op: str, error: AgentError) -> None:
        if error.code == "not-running":
            self.pump.retry_now()  # the pump owns the up/down state; let it look again
        elif op == "policy":
            self.policy_error = error
        elif op == "acknowledge_policy":
            w = self.windows.get("policy")
            if isinstance(w, PolicyWindow):
                w.ack_failed(error)
        self._render()

    def _on_busy(self, op: str, busy: bool) -> None:
        if op == "scan_now":
            w = self.windows.get("status")
            if isinstance(w, StatusWindow):
                w.set_busy(busy)

    def _policy_arrived(self) -> None:
        version = str(self.policy.get("text_version") or "")
        w = self.windows.get("policy")
        if isinstance(w, PolicyWindow):
            w.show_policy(self.policy)
        c = self.windows.get("collects")
        if isinstance(c, CollectsWindow):
            c.show_policy(self.policy)
        if not policy_acknowledged(self.policy) and version not in self._asked_ack:
            self._asked_ack.add(version)
            self.notify(
                f"policy:{version}",
                self.tr("New WeChat policy"),
                self.tr("Please read version %1 of the WeChat policy and confirm.").replace(
                    "%1", version
                ),
                click="policy",
            )
            self.open_policy()

    def _reports_arrived(self, reports: list[dict[str, Any]]) -> None:
        self.reports = reports
        for r in reports:
            key = str(r.get("idempotency_key", ""))
            state = str(r.get("state", ""))
            replies = len(r.get("replies") or [])
            if state == "queued" and not replies:
                continue  # the employee just filed it; nothing new to say
            case = str(r.get("case") or "")
            message = (
                self.tr("%1: %2")
                .replace("%1", case or r.get("summary", ""))
                .replace("%2", labels.report_state(state))
            )
            if replies:
                last = (r.get("replies") or [])[-1]
                message += "\n" + self.tr("Reply: %1").replace("%1", str(last.get("body", "")))
            # The first news of a report is that it arrived; "updated" is for what follows.
            told = any(k.startswith(f"report:{key}:") for k in self.seen.entries())
            self.notify(
                f"report:{key}:{state}:{replies}",
                self.tr("Your incident report was updated")
                if told
                else self.tr("Your incident report was received"),
                message,
                click="my-reports",
                look="compliant" if not told else "",
            )
        w = self.windows.get("my-reports")
        if isinstance(w, MyReportsWindow):
            w.show_data(reports)
        self.reports_changed.emit(reports)

    def open_blocked(self) -> BlockedWindow:
        def make() -> BlockedWindow:
            return BlockedWindow(self.bridge, self.lang)

        w = self._window("blocked", make)
        assert isinstance(w, BlockedWindow)
        w.show_data(list(self.blocked.values()))
        self._present(w)
        return w

    def _program_blocked(self, data: dict[str, Any]) -> None:
        """The agent stopped (or in audit mode would have stopped) a program this employee
        started: say so, why, and how to get it approved."""
        key = block_key(data)
        self.blocked[key] = data
        name = str(data.get("name", ""))
        why = self.lang.pick(data.get("title_i18n"), str(data.get("rule_id", "")))
        audit = data.get("mode") == "audit"
        self.notify(
            f"blocked:{key}:{data.get('at', '')}",
            (self.tr("Would be blocked: %1") if audit else self.tr("blocked: %1")).replace(
                "%1", name
            ),
            why
            + "\n"
            + self.tr(
                "Not allowed by the company's WeChat policy. To get it approved: tray menu "
                "→ Blocked programs → Request approval."
            ),
            click="blocked",
            look="action",
        )
        w = self.windows.get("blocked")
        if isinstance(w, BlockedWindow):
            w.show_data(list(self.blocked.values()))
        self._render()

    def _check_done(self, summary: Any) -> None:
        """ "Check now" answered: say how it ended, even with no window open."""
        summary = summary if isinstance(summary, dict) else {}
        if summary.get("outcome") == "failed":
            title, text, look = (
                self.tr("The check failed"),
                self.tr("wxguard could not check this computer; it will try again."),
                "action",
            )
        elif int(summary.get("findings") or 0):
            n = int(summary.get("findings") or 0)
            title = self.tr("Check finished")
            text = self.tr("%n finding(s) to fix.", "", n)
            look = "action"
        else:
            title = self.tr("Check finished")
            text = self.tr("No unapproved WeChat software was found.")
            look = "compliant"
        self._show(title, text, "status", f"check:{time.monotonic()}", look)

    def _forget_resolved_findings(self) -> None:
        """A finding no longer open may come back: it is then told again."""
        open_keys = {f"finding:{f.get('key', '')}" for f in self.findings}
        for key in self.seen.entries():
            if key.startswith("finding:") and key not in open_keys:
                self.seen.discard(key)

    def _notify_unseen_findings(self) -> None:
        unseen = [f for f in self.findings if f"finding:{f.get('key', '')}" not in self.seen]
        if not unseen:
            return
        if len(unseen) == 1:
            f = unseen[0]
            self.notify(
                f"finding:{f.get('key', '')}",
                self.tr("New finding: %1").replace(
                    "%1", labels.severity(str(f.get("severity", "")))
                ),
                self.lang.pick(f.get("title_i18n"), str(f.get("title", ""))),
                click="status",
                look="action",
            )
            return
        for f in unseen:
            self.seen.add(f"finding:{f.get('key', '')}")
        self._show(
            self.tr("%n new finding(s)", "", len(unseen)),
            self.tr("Open wxguard to see what was found and how to fix it."),
            "status",
            "findings:batch",
            "action",
        )

    def _started_again(self, data: dict[str, Any]) -> None:
        """A program an open finding is about was started again (`finding-seen`: one event per
        new process): told at once, at most once a minute per finding (`AGAIN_QUIET`)."""
        key = str(data.get("key", ""))
        now = self.clock()
        for old in [k for k, at in self._told_again.items() if now - at >= AGAIN_QUIET]:
            del self._told_again[old]
        if key in self._told_again:
            return
        self._told_again[key] = now
        title = self.lang.pick(data.get("title_i18n"), str(data.get("rule_id", "")))
        name = str(data.get("name", ""))
        message = (
            self.tr("%1\nThe program %2 was started again.")
            .replace("%1", title)
            .replace("%2", name)
            if name
            else title
        )
        heading = self.tr("Started again: %1").replace(
            "%1", labels.severity(str(data.get("severity", "")))
        )
        self._show(heading, message, "status", f"finding-again:{key}", "action")

    def _reload_passwords_soon(self) -> None:
        """Another front end (`wxguard password changed`) recorded a change: read the keyring
        again. The tray's own reports come back as this event too: the controller reports
        only a state it has not reported yet, so this never loops."""
        self.passwords.reload()

    def _on_passwords(self) -> None:
        self._render()
        w = self.windows.get("password")
        if isinstance(w, PasswordDialog):
            w.refresh()

    def _on_reminder(self, account: str, status: pa.AccountStatus) -> None:
        self.notify(
            f"password:{account}:{self.clock().isoformat(timespec='minutes')}",
            self.tr("WeChat password: %1").replace("%1", labels.account(account)),
            status_words(status, None)
            + "\n"
            + self.tr("Change it in WeChat, then record the change in wxguard."),
            click="password",
        )

    # -- notifications -------------------------------------------------------------------------

    def notify(
        self, key: str, title: str, message: str, click: str = "status", look: str = ""
    ) -> bool:
        """Show a notification once: a key already seen is never shown again. `look`: the
        icon state it carries ("action" for a finding, "compliant" for good news); by
        default the tray's state."""
        if key in self.seen:
            return False
        self.seen.add(key)
        self._show(title, message, click, key, look)
        return True

    def _show(self, title: str, message: str, click: str, key: str, look: str = "") -> None:
        self._last_click = click
        look = look or self.state
        self.notifications.append((key, title, message))
        self.notification_looks.append(look)
        self.notified.emit(key, title, message)
        if self.icon.isVisible() and QSystemTrayIcon.supportsMessages():
            self.icon.showMessage(title, message, icons.icon(look), 10_000)
        elif self.no_host:
            w = self.open_status()
            w.set_notice(
                self._no_host_notice(self.tr("%1: %2").replace("%1", title).replace("%2", message))
            )
            # No icon to carry a balloon: the desktop's own notifications, where there are.
            desktop_notify.notify(
                title, message, "dialog-information" if look == "compliant" else "dialog-warning"
            )

    def _on_message_clicked(self) -> None:
        opener: dict[str, Callable[[], Any]] = {
            "status": self.open_status,
            "password": self.open_password,
            "policy": self.open_policy,
            "my-reports": self.open_my_reports,
            "blocked": self.open_blocked,
        }
        opener.get(self._last_click, self.open_status)()

    # -- rendering -----------------------------------------------------------------------------

    def compute_state(self) -> str:
        if self.agent_error is not None and self.agent_error.code == "not-running":
            return "agent-down"
        if self.pump.up is False:
            return "agent-down"
        if not self.status:
            return "starting"
        if self.action_items():
            return "action"
        if self.status.get("enrolled") and self.status.get("server_reachable") is False:
            return "offline"
        return "compliant"

    def action_items(self) -> list[str]:
        """What the employee should do, one line each, as shown in the tooltip."""
        return [text for text, _step in self.open_actions()]

    def open_actions(self) -> list[tuple[str, str]]:
        """Every open action (findings, doubts, password, policy, keyring, IT) with its next
        step, as the status window lists them."""
        items: list[tuple[str, str]] = []
        n = len(self.findings) or int(self.status.get("open_findings") or 0)
        if n:
            items.append(
                (
                    self.tr("%n finding(s) to fix", "", n),
                    self.tr("Follow the numbered steps under each finding below."),
                )
            )
        items += self._doubt_actions()
        if self.status.get("revoked"):
            items.append((self.tr("This computer was revoked by IT: contact IT"), ""))
        if self.status.get("enrolled") and self.status.get("policy_key_present") is False:
            items.append(
                (self.tr("No policy key: IT's policies cannot be verified; contact IT"), "")
            )
        if self.keyring_missing():
            items.append(
                (
                    self.tr(
                        "The system keyring is missing or locked, so the age of your WeChat "
                        "passwords cannot be checked"
                    ),
                    self.tr(
                        "Unlock your login keyring (GNOME Keyring or KWallet); if there is "
                        "none, install gnome-keyring, log out and in again, or contact IT."
                    ),
                )
            )
        for account, status in self.passwords.statuses.items():
            if status.state in ("overdue", "unknown") or status.modified:
                items.append(
                    (
                        self.tr("%1: %2")
                        .replace("%1", labels.account(account))
                        .replace("%2", status_words(status, None)),
                        self.tr(
                            "Change it in WeChat, then record the change: "
                            "menu \u201cRecord a WeChat password change\u2026\u201d."
                        )
                        if status.state == "overdue"
                        else self.tr(
                            "Record when you last changed it: menu \u201cRecord a WeChat password change\u2026\u201d."
                        ),
                    )
                )
        if self.policy and not policy_acknowledged(self.policy):
            items.append(
                (
                    self.tr("Read and confirm the new WeChat policy"),
                    self.tr("Open \u201cWeChat policy\u201d in the menu and confirm it."),
                )
            )
        return items

    def keyring_missing(self) -> bool:
        """The keyring that holds the password-age record cannot be used."""
        error = self.passwords.error
        return error is not None and error.code == "keyring-unavailable"

    def _doubt_actions(self) -> list[tuple[str, str]]:
        if not self.status:
            return []
        state = state_of_status(self.status)
        if state.state not in (State.BLIND, State.UNKNOWN):
            return []
        out = [
            (
                self.lang.pick({"zh": r.zh, "en": r.en}),
                self.lang.pick({"zh": r.step_zh, "en": r.step_en}),
            )
            for r in state.reasons
            if r.zh or r.en
        ]
        return out or [(labels.device_state(str(state.state)), "")]

    def doubts(self) -> list[str]:
        """Why the agent cannot say the computer is compliant (a failed or partial check, no
        recent check), in the agent's own words: never shown as "Compliant"."""
        if not self.status:
            return []
        state = state_of_status(self.status)
        if state.state not in (State.BLIND, State.UNKNOWN):
            return []
        return [
            self.lang.pick({"zh": r.zh, "en": r.en}) for r in state.reasons if r.zh or r.en
        ] or [labels.device_state(str(state.state))]

    def tooltip(self) -> str:
        lines = ["wxguard — " + labels.tray_state(self.state)]
        if self.state == "agent-down" and self.agent_error is not None:
            lines.append(self.tr("Retrying in the background."))
        elif self.state == "offline":
            lines.append(
                self.tr("Last contact: %1").replace(
                    "%1", labels.when(self.status.get("last_contact"))
                )
            )
        lines += self.action_items() if self.state != "agent-down" else []
        return "\n".join(lines)

    def _render(self) -> None:
        state = self.compute_state()
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)
        self.icon.setIcon(icons.icon(state))
        self.icon.setToolTip(self.tooltip())
        self.actions["check"].setEnabled(state != "agent-down")
        self.actions["blocked"].setVisible(bool(self.blocked))
        w = self.windows.get("status")
        if isinstance(w, StatusWindow):
            w.show_data(
                state,
                self.status,
                self.findings,
                self.policy,
                [
                    (a, status_words(s, self.passwords.error))
                    for a, s in self.passwords.statuses.items()
                ]
                or [
                    (a, status_words(None, self.passwords.error))
                    for a in ("enterprise", "personal")
                ],
                self.lang.error(self.agent_error) if self.agent_error else "",
                doubts=self.doubts(),
                actions=self.open_actions() if state != "agent-down" else [],
            )
            w.set_busy(self.bridge.is_busy("scan_now"))
