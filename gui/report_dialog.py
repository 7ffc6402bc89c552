"""Report a security incident (policy art. 20), and the employee's own reports with the
security team's replies. The dialog validates what the agent would refuse anyway, so the
employee hears about a limit before the confirmation step, in their language."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QDateTime, QIODevice, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from agent.api import AGENT_FILED_CATEGORIES as AGENT_FILED
from agent.api import REPORT_CATEGORIES, AgentError
from gui import labels
from gui.bridge import AgentBridge
from gui.i18n import Languages
from protocol.contact import contact_problem, takes_address
from protocol.limits import (
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS,
    MAX_CONTACT_ADDRESS,
    MAX_DESCRIPTION,
    MAX_EMAIL,
    MAX_PHONE,
    MAX_PHONE_DIGITS,
    MAX_SUMMARY,
    MAX_WECHAT_ID,
    MIN_PHONE_DIGITS,
)


@dataclass
class Attachment:
    filename: str
    size: int
    path: Path | None = None  # a file on disk, read only when the report is sent
    data: bytes | None = None  # a screenshot, already in memory

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KiB"


def _limit_bytes(n: int) -> str:
    """A size limit as people write it: 10 MiB, not 10.0 MiB."""
    mib = 1024 * 1024
    return f"{n // mib} MiB" if n % mib == 0 else _mib(n)


def _count_text(n: int) -> str:
    """A limit as the form shows it: 10000 -> "10,000"."""
    return f"{n:,}"


class ReportDialog(QDialog):
    """Form → confirmation (exactly what will be sent) → queued → delivered with a case number."""

    submitted = Signal(str)  # idempotency key

    def __init__(
        self,
        bridge: AgentBridge,
        lang: Languages,
        clock: Callable[[], datetime] = lambda: datetime.now().astimezone(),
        pick_files: Callable[[QWidget], list[str]] | None = None,
    ) -> None:
        super().__init__()
        self.bridge = bridge
        self.lang = lang
        self.clock = clock
        self._pick_files = pick_files or self._ask_files
        self.attachments: list[Attachment] = []
        self.key: str | None = None
        self.setObjectName("report-dialog")
        self.setWindowTitle(self.tr("Report a security incident"))
        self.resize(640, 620)

        self.pages = QStackedWidget()
        self.pages.addWidget(self._form_page())
        self.pages.addWidget(self._confirm_page())
        self.pages.addWidget(self._result_page())
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        bridge.done.connect(self._on_done)
        bridge.failed.connect(self._on_failed)

    # -- pages ---------------------------------------------------------------------------------

    def _form_page(self) -> QWidget:
        page = QWidget()
        intro = QLabel(
            self.tr(
                "Tell the information-security department what happened (policy article 20). "
                "Do not include passwords."
            )
        )
        intro.setWordWrap(True)
        self.category = QComboBox()
        self.category.addItem(self.tr("Choose what happened…"), "")
        for key in REPORT_CATEGORIES:
            if key in AGENT_FILED:  # filed by the agent or the blocked-program window
                continue
            self.category.addItem(labels.category(key), key)
        self.occurred = QDateTimeEdit()
        self.occurred.setCalendarPopup(True)
        self.occurred.setDisplayFormat("yyyy-MM-dd HH:mm")
        now = QDateTime(self.clock().replace(tzinfo=None))
        self.occurred.setDateTime(now)
        self.occurred.setMaximumDateTime(now)
        self.summary = QLineEdit()
        # The limits are the protocol's (protocol/limits.py), never copied here.
        self.summary.setPlaceholderText(
            self.tr("One line, up to %1 characters").replace("%1", _count_text(MAX_SUMMARY))
        )
        self.summary_count = QLabel()
        self.summary.textChanged.connect(self._count)
        self.description = QPlainTextEdit()
        self.description.setPlaceholderText(
            self.tr("What you saw, when, and what you already did (up to %1 characters)").replace(
                "%1", _count_text(MAX_DESCRIPTION)
            )
        )
        self.description.textChanged.connect(self._count)
        self.description_count = QLabel()
        self.account = QComboBox()
        for key in labels.AFFECTED:
            self.account.addItem(labels.account(key), key)
        self.account_detail = QLineEdit()
        self.account_detail.setPlaceholderText(self.tr("Account name or WeChat ID (optional)"))
        self.contact = QComboBox()
        for key in labels.CONTACTS:
            self.contact.addItem(labels.contact(key), key)
        # The address or number, shown for the methods that take one. Hidden, it keeps what was
        # typed (choosing "No need to contact me" and back loses nothing); only sent if shown.
        self.contact_address = QLineEdit()
        self.contact_address.setObjectName("contact-address")
        self.contact_address.setMaxLength(MAX_CONTACT_ADDRESS)
        self.contact_address_label = QLabel()
        self.contact.currentIndexChanged.connect(self._contact_method_changed)
        self.files = QListWidget()
        self.files.setMaximumHeight(90)
        add = QPushButton(self.tr("Attach files…"))
        add.clicked.connect(self._add_files)
        self.shot_button = QPushButton(self.tr("Attach a screenshot of the screen"))
        self.shot_button.clicked.connect(self.attach_screenshot)
        remove = QPushButton(self.tr("Remove selected"))
        remove.clicked.connect(self._remove_selected)
        buttons = QHBoxLayout()
        for b in (add, self.shot_button, remove):
            buttons.addWidget(b)
        self.error = QLabel()
        self.error.setObjectName("error")
        self.error.setStyleSheet("color: #b00020")
        self.error.setWordWrap(True)
        self.next_button = QPushButton(self.tr("Review before sending…"))
        self.next_button.setDefault(True)
        self.next_button.clicked.connect(self.review)
        cancel = QPushButton(self.tr("Cancel"))
        cancel.clicked.connect(self.reject)

        form = QFormLayout()
        form.addRow(self.tr("What kind of incident"), self.category)
        form.addRow(self.tr("When it happened"), self.occurred)
        form.addRow(self.tr("Summary"), self.summary)
        form.addRow("", self.summary_count)
        form.addRow(self.tr("What happened"), self.description)
        form.addRow("", self.description_count)
        form.addRow(self.tr("Affected account"), self.account)
        form.addRow("", self.account_detail)
        form.addRow(self.tr("How to contact you"), self.contact)
        form.addRow(self.contact_address_label, self.contact_address)
        form.addRow(self.tr("Attachments"), self.files)
        form.addRow("", _wrap(buttons))
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(cancel)
        bottom.addWidget(self.next_button)
        layout = QVBoxLayout(page)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addLayout(bottom)
        self._count()
        self._contact_method_changed()
        return page

    def _confirm_page(self) -> QWidget:
        page = QWidget()
        head = QLabel(self.tr("This is exactly what will be sent to the security team:"))
        head.setWordWrap(True)
        self.preview = QPlainTextEdit()
        self.preview.setReadOnly(True)
        back = QPushButton(self.tr("Back"))
        back.clicked.connect(lambda: self.pages.setCurrentIndex(0))
        self.send_button = QPushButton(self.tr("Send report"))
        self.send_button.clicked.connect(self.send)
        self.send_error = QLabel()
        self.send_error.setStyleSheet("color: #b00020")
        self.send_error.setWordWrap(True)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(back)
        row.addWidget(self.send_button)
        layout = QVBoxLayout(page)
        layout.addWidget(head)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.send_error)
        layout.addLayout(row)
        return page

    def _result_page(self) -> QWidget:
        page = QWidget()
        self.outcome = QLabel()
        self.outcome.setObjectName("result")
        self.outcome.setWordWrap(True)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton(self.tr("Close"))
        close.clicked.connect(self.accept)
        layout = QVBoxLayout(page)
        layout.addWidget(self.outcome, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
        return page

    # -- form behaviour ------------------------------------------------------------------------

    def _count(self) -> None:
        self.summary_count.setText(
            self.tr("%1 / %2 characters")
            .replace("%1", str(len(self.summary.text())))
            .replace("%2", str(MAX_SUMMARY))
        )
        self.description_count.setText(
            self.tr("%1 / %2 characters")
            .replace("%1", str(len(self.description.toPlainText())))
            .replace("%2", str(MAX_DESCRIPTION))
        )

    def _contact_method_changed(self, _index: int = 0) -> None:
        method = str(self.contact.currentData())
        label, placeholder = {
            "email": (self.tr("Email address"), self.tr("e.g. name@example.com")),
            "phone": (
                self.tr("Phone number"),
                self.tr("Digits, e.g. +86 138 0000 0000 or 8021 (extension)"),
            ),
            "wechat": (self.tr("Enterprise WeChat ID"), self.tr("Optional")),
        }.get(method, ("", ""))
        self.contact_address_label.setText(label)
        self.contact_address.setPlaceholderText(placeholder)
        shown = takes_address(method)
        self.contact_address_label.setVisible(shown)
        self.contact_address.setVisible(shown)

    def _contact_address(self) -> str:
        """The address or number as it will be sent: only for a method that takes one."""
        method = str(self.contact.currentData())
        return self.contact_address.text().strip() if takes_address(method) else ""

    def _contact_problem(self) -> str | None:
        """What is wrong with the contact details, in the tray's language (the same check as
        the agent's and the server's: protocol.contact)."""
        code = contact_problem(str(self.contact.currentData()), self._contact_address())
        if code is None:
            return None
        words = {
            "email-missing": self.tr("You chose email: give your email address."),
            "email-invalid": self.tr(
                "That does not look like an email address (name@example.com)."
            ),
            "email-too-long": self.tr("An email address has at most %1 characters.").replace(
                "%1", str(MAX_EMAIL)
            ),
            "phone-missing": self.tr("You chose phone: give your phone number."),
            "phone-characters": self.tr(
                "A phone number has only digits, spaces and '-', with an optional leading '+'."
            ),
            "phone-digits": self.tr("A phone number has %1–%2 digits.")
            .replace("%1", str(MIN_PHONE_DIGITS))
            .replace("%2", str(MAX_PHONE_DIGITS)),
            "phone-too-long": self.tr("A phone number has at most %1 characters.").replace(
                "%1", str(MAX_PHONE)
            ),
            "wechat-invalid": self.tr(
                "An enterprise WeChat ID has at most %1 characters and no spaces."
            ).replace("%1", str(MAX_WECHAT_ID)),
        }
        return words.get(code, self.tr("The contact details cannot be sent."))

    def _ask_files(self, parent: QWidget) -> list[str]:
        names, _ = QFileDialog.getOpenFileNames(parent, self.tr("Attach files"))
        return list(names)

    def _add_files(self) -> None:
        for name in self._pick_files(self):
            self.add_file(Path(name))

    def add_file(self, path: Path) -> bool:
        try:
            size = os.stat(path).st_size
        except OSError as exc:
            self._fail(
                self.tr("Cannot read %1: %2")
                .replace("%1", str(path))
                .replace("%2", exc.strerror or str(exc))
            )
            return False
        return self._add(Attachment(path.name, size, path=path))

    def attach_screenshot(self) -> None:
        """Hide the dialog, take a picture of the screen, show the dialog again."""
        self.hide()
        QTimer.singleShot(350, self._grab)

    def _grab(self) -> None:
        screen = QGuiApplication.primaryScreen()
        pixmap = screen.grabWindow(0) if screen is not None else None
        self.show()
        if pixmap is None or pixmap.isNull():
            self._fail(self.tr("The screen could not be captured."))
            return
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        pixmap.save(buffer, "PNG")
        buffer.close()
        raw = bytes(data.data())
        name = f"screenshot-{self.clock().strftime('%Y%m%d-%H%M%S')}.png"
        self._add(Attachment(name, len(raw), data=raw))

    def _add(self, att: Attachment) -> bool:
        if len(self.attachments) >= MAX_ATTACHMENTS:
            self._fail(
                self.tr("At most %1 attachments can be sent with one report.").replace(
                    "%1", str(MAX_ATTACHMENTS)
                )
            )
            return False
        if att.size > MAX_ATTACHMENT_BYTES:
            self._fail(
                self.tr("%1 is %2; each attachment must be at most %3.")
                .replace("%1", att.filename)
                .replace("%2", _mib(att.size))
                .replace("%3", _limit_bytes(MAX_ATTACHMENT_BYTES))
            )
            return False
        self.attachments.append(att)
        self.files.addItem(f"{att.filename} ({_mib(att.size)})")
        self.error.clear()
        return True

    def _remove_selected(self) -> None:
        row = self.files.currentRow()
        if 0 <= row < len(self.attachments):
            del self.attachments[row]
            self.files.takeItem(row)

    def _fail(self, message: str) -> None:
        self.error.setText(message)

    def validate(self) -> list[str]:
        problems = []
        if not self.category.currentData():
            problems.append(self.tr("Choose what kind of incident this is."))
        summary = self.summary.text().strip()
        if not summary:
            problems.append(self.tr("Write a one-line summary."))
        elif len(summary) > MAX_SUMMARY:
            problems.append(
                self.tr("The summary has %1 characters; the limit is %2.")
                .replace("%1", str(len(summary)))
                .replace("%2", _count_text(MAX_SUMMARY))
            )
        if len(self.description.toPlainText()) > MAX_DESCRIPTION:
            problems.append(
                self.tr("The description has %1 characters; the limit is %2.")
                .replace("%1", str(len(self.description.toPlainText())))
                .replace("%2", _count_text(MAX_DESCRIPTION))
            )
        occurred = self.occurred.dateTime().toPython()
        now = self.clock().replace(tzinfo=None)
        if isinstance(occurred, datetime) and occurred > now:
            problems.append(self.tr("The time it happened cannot be in the future."))
        contact = self._contact_problem()
        if contact is not None:
            problems.append(contact)
        return problems

    def payload(self) -> dict[str, Any]:
        """The report as it will be sent, minus the attachments' bytes."""
        occurred = self.occurred.dateTime().toPython()
        assert isinstance(occurred, datetime)
        occurred_at = occurred.replace(tzinfo=self.clock().tzinfo).isoformat(timespec="minutes")
        account = str(self.account.currentData())
        detail = self.account_detail.text().strip()
        return {
            "category": str(self.category.currentData()),
            "summary": self.summary.text().strip(),
            "description": self.description.toPlainText(),
            "occurred_at": occurred_at,
            "affected_account": f"{account}: {detail}" if detail else account,
            "contact": str(self.contact.currentData()),
            "contact_address": self._contact_address(),
            "attachments": [(a.filename, a.size) for a in self.attachments],
        }

    def review(self) -> bool:
        problems = self.validate()
        if problems:
            self._fail("\n".join(problems))
            if self._contact_problem() is not None and len(problems) == 1:
                self.contact_address.setFocus()
            return False
        p = self.payload()
        # What the employee chose, in words and local time: never the wire values
        # ("2026-11-29T14:57+08:00", "enterprise").
        occurred = datetime.fromisoformat(p["occurred_at"])
        when = occurred.strftime("%Y-%m-%d %H:%M") + " " + _zone(occurred)
        account = labels.account(str(self.account.currentData()))
        detail = self.account_detail.text().strip()
        lines = [
            self.tr("Category: %1").replace("%1", labels.category(p["category"])),
            self.tr("When: %1").replace("%1", when),
            self.tr("Summary: %1").replace("%1", p["summary"]),
            self.tr("Affected account: %1").replace(
                "%1", f"{account} ({detail})" if detail else account
            ),
            self.tr("Contact: %1").replace(
                "%1", labels.with_detail(labels.contact(p["contact"]), p["contact_address"])
            ),
            self.tr("Attachments: %1").replace(
                "%1",
                ", ".join(f"{n} ({_mib(s)})" for n, s in p["attachments"]) or self.tr("none"),
            ),
            "",
            self.tr("What happened:"),
            p["description"] or self.tr("(no description)"),
            "",
            self.tr(
                "Also sent: this computer's name and your user name, so the team can reach you."
            ),
        ]
        self.preview.setPlainText("\n".join(lines))
        self.send_error.clear()
        self.pages.setCurrentIndex(1)
        return True

    def send(self) -> None:
        p = self.payload()
        attachments = list(self.attachments)
        agent = self.bridge.agent

        def work() -> dict[str, Any]:
            encoded = [
                {"name": a.filename, "content_b64": base64.b64encode(a.read()).decode("ascii")}
                for a in attachments
            ]
            return agent.submit_report(
                p["category"],
                p["summary"],
                p["description"],
                p["occurred_at"],
                p["affected_account"],
                p["contact"],
                encoded,
                p["contact_address"],
            )

        self.send_button.setEnabled(False)
        self.bridge.run("submit_report", work)

    def _on_done(self, op: str, result: Any) -> None:
        if op != "submit_report" or self.pages.currentIndex() != 1:
            return
        self.key = str((result or {}).get("idempotency_key", ""))
        self.outcome.setText(
            self.tr(
                "Queued. Your report is stored safely on this computer and will be delivered "
                "to the security team as soon as the server can be reached. The case number "
                "will appear here and in My reports."
            )
        )
        self.pages.setCurrentIndex(2)
        self.submitted.emit(self.key)

    def _on_failed(self, op: str, error: AgentError) -> None:
        if op != "submit_report" or self.pages.currentIndex() != 1:
            return
        self.send_button.setEnabled(True)
        self.send_error.setText(
            self.tr("The report was not sent: %1").replace("%1", self.lang.error(error))
        )

    def update_reports(self, reports: list[dict[str, Any]]) -> None:
        """Show the case number once the agent says the report was delivered."""
        if not self.key:
            return
        for r in reports:
            if r.get("idempotency_key") == self.key and r.get("case"):
                self.outcome.setText(
                    self.tr("Delivered. Case number: %1. Status: %2.")
                    .replace("%1", str(r["case"]))
                    .replace("%2", labels.report_state(str(r.get("state", ""))))
                )


def _wrap(layout: QHBoxLayout) -> QWidget:
    w = QWidget()
    w.setLayout(layout)
    return w


class MyReportsWindow(QWidget):
    """Each report this user filed, its status, and the security team's replies."""

    refresh = Signal()

    def __init__(self, lang: Languages) -> None:
        super().__init__()
        self.lang = lang
        self.setObjectName("my-reports")
        self.setWindowTitle(self.tr("My reports"))
        self.resize(720, 420)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(
            [self.tr("Case"), self.tr("Summary"), self.tr("Status"), self.tr("Filed")]
        )
        self.tree.setColumnWidth(1, 300)
        self.tree.setColumnWidth(0, 150)
        self.tree.currentItemChanged.connect(self._show_detail)
        self.empty = QLabel(self.tr("You have not filed any report from this computer."))
        # The whole report and its conversation: case number, status and replies uncut.
        self.detail = QTextBrowser()
        self.detail.setObjectName("report-detail")
        button = QPushButton(self.tr("Refresh"))
        button.clicked.connect(self.refresh.emit)
        layout = QVBoxLayout(self)
        layout.addWidget(self.empty)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.detail, 1)
        layout.addWidget(button, 0, Qt.AlignmentFlag.AlignRight)

    def show_data(self, reports: list[dict[str, Any]]) -> None:
        self.tree.clear()
        self.empty.setVisible(not reports)
        for r in sorted(reports, key=lambda r: str(r.get("created_at", "")), reverse=True):
            item = QTreeWidgetItem(
                [
                    str(r.get("case") or self.tr("(not yet assigned)")),
                    labels.labelled(
                        labels.category(str(r.get("category", ""))), str(r.get("summary", ""))
                    ),
                    labels.report_state(str(r.get("state", ""))),
                    labels.when(r.get("created_at")),
                ]
            )
            for reply in r.get("replies") or []:
                item.addChild(
                    QTreeWidgetItem(
                        [
                            self.tr("Reply"),
                            str(reply.get("body", "")),
                            "",
                            labels.when(reply.get("at")),
                        ]
                    )
                )
            item.setData(0, Qt.ItemDataRole.UserRole, r)
            self.tree.addTopLevelItem(item)
            item.setExpanded(True)
        first = self.tree.topLevelItem(0)
        if first is not None:
            self.tree.setCurrentItem(first)
        else:
            self.detail.clear()

    def _show_detail(self, item: QTreeWidgetItem | None, _previous: Any = None) -> None:
        while item is not None and item.parent() is not None:
            item = item.parent()  # a reply row shows its report
        r = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if not isinstance(r, dict):
            return
        case = str(r.get("case") or self.tr("(not yet assigned)"))
        heading = self.tr("Case %1").replace("%1", case)
        html = [
            f"<h3>{_html(heading)}</h3>",
            "<p>"
            + "<br>".join(
                _html(line)
                for line in (
                    self.tr("Status: %1").replace(
                        "%1", labels.report_state(str(r.get("state", "")))
                    ),
                    self.tr("Category: %1").replace(
                        "%1", labels.category(str(r.get("category", "")))
                    ),
                    self.tr("Filed: %1").replace("%1", labels.when(r.get("created_at"))),
                    self.tr("Summary: %1").replace("%1", str(r.get("summary", ""))),
                    *self._contact_lines(r),
                )
            )
            + "</p>",
        ]
        replies = r.get("replies") or []
        conversation = self.tr("Conversation with the security team")
        html.append(f"<p><b>{_html(conversation)}</b></p>")
        if not replies:
            none_yet = self.tr("No reply yet.")
            html.append(f"<p>{_html(none_yet)}</p>")
        for reply in replies:
            when = labels.when(reply.get("at"))
            body = _html(str(reply.get("body", ""))).replace("\n", "<br>")
            html.append(f"<p><i>{_html(when)}</i><br>{body}</p>")
        self.detail.setHtml("".join(html))

    def _contact_lines(self, r: dict[str, Any]) -> list[str]:
        """How the employee asked to be contacted, as they chose it on the form: "Contact: By
        phone (+86 138 0013 8000)"; nothing for reports from agents that did not keep it."""
        method = r.get("contact_method")
        if not method:
            return []
        chosen = labels.with_detail(
            labels.contact(str(method)), str(r.get("contact_address") or "")
        )
        return [self.tr("Contact: %1").replace("%1", chosen)]


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _zone(moment: datetime) -> str:
    """ "UTC+08:00" for a local time (a person in China reads it as Beijing time)."""
    offset = moment.utcoffset()
    if offset is None:
        return ""
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
