"""Record a WeChat password change (policy art. 19): per account, the date of the last change
(never the password), "no expiry", the state, and concrete snooze times for reminders."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import QCoreApplication, QDate, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from agent import password_age as pa
from agent.api import ACCOUNT_TYPES, AgentError
from gui import labels
from gui.i18n import Languages
from gui.passwords import PasswordController


def status_words(status: pa.AccountStatus | None, error: AgentError | None) -> str:
    """One line for an account's state, shared by the dialog, the status window and tooltips."""

    if error is not None and status is None:
        return QCoreApplication.translate("PasswordStatus", "unavailable (keyring)")
    if status is None:
        return QCoreApplication.translate("PasswordStatus", "loading…")
    if status.modified:
        return QCoreApplication.translate(
            "PasswordStatus", "record was modified — please record your change again"
        )
    if status.state == "unknown":
        return QCoreApplication.translate("PasswordStatus", "no change recorded yet")
    if status.state == "no-expiry":
        return QCoreApplication.translate("PasswordStatus", "no expiry (no reminders)")
    days_left = status.days_left or 0
    due = status.due_on.isoformat() if status.due_on else ""
    if status.state == "overdue":
        return QCoreApplication.translate(
            "PasswordStatus", "overdue since %1 (%n day(s))", "", -days_left
        ).replace("%1", due)
    if status.state == "due-soon":
        return QCoreApplication.translate(
            "PasswordStatus", "due on %1 (in %n day(s))", "", days_left
        ).replace("%1", due)
    return QCoreApplication.translate(
        "PasswordStatus", "up to date; next change due on %1"
    ).replace("%1", due)


class PasswordDialog(QDialog):
    def __init__(self, controller: PasswordController, lang: Languages) -> None:
        super().__init__()
        self.controller = controller
        self.lang = lang
        self.setObjectName("password-dialog")
        self.setWindowTitle(self.tr("Record a WeChat password change"))
        self.resize(620, 440)
        intro = QLabel(
            self.tr(
                "Policy article 19: change your WeChat passwords regularly. After you change a "
                "password in WeChat, record the date here. wxguard stores only the date, in "
                "your system keyring, and never asks for the password."
            )
        )
        intro.setWordWrap(True)
        self.error = QLabel()
        self.error.setObjectName("error")
        self.error.setStyleSheet("color: #b00020")
        self.error.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        self.rows: dict[str, dict[str, Any]] = {}
        self._snoozed: dict[str, datetime] = {}
        for account in ACCOUNT_TYPES:
            layout.addWidget(self._account_box(account))
        layout.addWidget(self.error)
        close = QPushButton(self.tr("Close"))
        close.clicked.connect(self.accept)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
        controller.changed.connect(self.refresh)
        controller.failed.connect(self._on_failed)
        self.refresh()

    def _account_box(self, account: str) -> QGroupBox:
        box = QGroupBox(labels.account(account))
        grid = QGridLayout(box)
        state = QLabel()
        state.setWordWrap(True)
        state.setObjectName(f"state-{account}")
        date_edit = QDateEdit()
        date_edit.setCalendarPopup(True)
        date_edit.setDisplayFormat("yyyy-MM-dd")
        today = self.controller.clock().date()
        date_edit.setDate(QDate(today.year, today.month, today.day))
        record = QPushButton(self.tr("I changed it on this date"))
        record.clicked.connect(lambda: self.record(account))
        no_expiry = QCheckBox(self.tr("This password does not expire (no reminders)"))
        no_expiry.clicked.connect(lambda checked: self.controller.set_no_expiry(account, checked))
        snooze_row = QHBoxLayout()
        snooze_buttons: list[QPushButton] = []
        for choice in self.controller.snooze_choices():
            text = (
                self.tr("Remind me tomorrow at %1")
                if choice.key == "tomorrow"
                else self.tr("Remind me on Monday at %1")
            ).replace("%1", choice.at.strftime("%H:%M"))
            button = QPushButton(text)
            button.setProperty("snooze_key", choice.key)
            button.clicked.connect(lambda _=False, at=choice.at: self._snooze(account, at))
            snooze_buttons.append(button)
            snooze_row.addWidget(button)
        snooze_note = QLabel()
        snooze_note.setWordWrap(True)
        grid.addWidget(state, 0, 0, 1, 3)
        grid.addWidget(QLabel(self.tr("Changed on")), 1, 0)
        grid.addWidget(date_edit, 1, 1)
        grid.addWidget(record, 1, 2)
        grid.addWidget(no_expiry, 2, 0, 1, 3)
        grid.addLayout(snooze_row, 3, 0, 1, 3)
        grid.addWidget(snooze_note, 4, 0, 1, 3)
        self.rows[account] = {
            "state": state,
            "date": date_edit,
            "record": record,
            "no_expiry": no_expiry,
            "snooze": snooze_buttons,
            "snooze_note": snooze_note,
        }
        return box

    def _snooze(self, account: str, at: datetime) -> None:
        self._snoozed[account] = at
        self.controller.snooze(account, at)

    def record(self, account: str) -> None:
        day = self.rows[account]["date"].date().toPython()
        self.error.clear()
        self.controller.record_change(account, day, no_expiry=False)

    def refresh(self) -> None:
        ctl = self.controller
        keyring_missing = ctl.error is not None and ctl.error.code == "keyring-unavailable"
        for account, row in self.rows.items():
            status = ctl.statuses.get(account)
            row["state"].setText(status_words(status, ctl.error))
            row["no_expiry"].setChecked(bool(status and status.no_expiry))
            overdue_or_due = status is not None and status.state in (
                "due-soon",
                "overdue",
                "unknown",
            )
            allowed = ctl.deferral_allowed(account)
            for button in row["snooze"]:
                button.setVisible(overdue_or_due)
                button.setEnabled(allowed)
            note = ""
            if overdue_or_due and status is not None:
                if allowed:
                    note = self.tr("You can postpone this reminder %1 more time(s).").replace(
                        "%1", str(status.deferrals_left)
                    )
                else:
                    note = self.tr(
                        "This reminder cannot be postponed any more. Change your WeChat "
                        "password, then record the change."
                    )
            snoozed = self._snoozed.get(account)
            if snoozed is not None and status is not None and ctl.error is None:
                note = self.tr("We will remind you on %1.").replace(
                    "%1", snoozed.strftime("%Y-%m-%d %H:%M")
                )
            row["snooze_note"].setText(note)
            # Without a keyring nothing here can be saved: say what to do, and offer no
            # button that cannot work.
            usable = not keyring_missing
            for key in ("record", "no_expiry", "date"):
                row[key].setEnabled(usable)
            for button in row["snooze"]:
                button.setEnabled(usable and allowed)
        if ctl.error is not None:
            self.error.setText(self.lang.error(ctl.error))

    def _on_failed(self, error: AgentError) -> None:
        self.error.setText(self.lang.error(error))
