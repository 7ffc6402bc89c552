"""The programs the agent blocked (or, in audit mode, would have) for this employee, why, and
"Request approval": a report of category `approval-request` that reaches IT like any other."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from agent.api import AgentError
from gui import labels
from gui.bridge import AgentBridge
from gui.i18n import Languages
from protocol import blocked
from protocol.limits import MAX_DESCRIPTION, MAX_SUMMARY

OP = "request_approval"  # the bridge's name for this window's call (not the incident form's)


def block_key(data: dict[str, Any]) -> str:
    """One entry per binary (digest) and place: the same tool tried twice is one line."""
    return f"{data.get('sha256', '')}:{data.get('path', '')}"


class BlockedWindow(QWidget):
    """Each blocked program (newest first) with the rule that blocked it, and a request for
    IT's approval of the selected one, with the employee's reason."""

    requested = Signal(str)  # block_key

    def __init__(self, bridge: AgentBridge, lang: Languages) -> None:
        super().__init__()
        self.bridge = bridge
        self.lang = lang
        self.items: list[dict[str, Any]] = []
        self.asked: set[str] = set()
        self.setObjectName("blocked")
        self.setWindowTitle(self.tr("Blocked programs"))
        self.resize(720, 440)
        intro = QLabel(
            self.tr(
                "wxguard stopped these programs because the company's WeChat policy does not "
                "allow them. If you need one for your work, select it, say why, and press "
                "Request approval: IT will review it and answer in My reports."
            )
        )
        intro.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(
            [self.tr("Program"), self.tr("Why"), self.tr("When"), self.tr("State")]
        )
        self.tree.setColumnWidth(0, 180)
        self.tree.setColumnWidth(1, 240)
        self.tree.setRootIsDecorated(False)
        self.tree.currentItemChanged.connect(lambda *_: self._update_button())
        self.reason = QPlainTextEdit()
        self.reason.setPlaceholderText(self.tr("Why you need this program for your work"))
        self.reason.setMaximumHeight(90)
        self.request_button = QPushButton(self.tr("Request approval"))
        self.request_button.clicked.connect(self.request)
        self.outcome = QLabel()
        self.outcome.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.tree, 1)
        layout.addWidget(QLabel(self.tr("Your reason (sent to IT):")))
        layout.addWidget(self.reason)
        layout.addWidget(self.request_button, 0, Qt.AlignmentFlag.AlignRight)
        layout.addWidget(self.outcome)
        bridge.done.connect(self._on_done)
        bridge.failed.connect(self._on_failed)
        self._sending = ""
        self._update_button()

    def show_data(self, items: list[dict[str, Any]]) -> None:
        current = self.selected()
        self.items = list(items)
        self.tree.clear()
        for data in sorted(self.items, key=lambda d: float(d.get("at") or 0), reverse=True):
            key = block_key(data)
            item = QTreeWidgetItem(
                [
                    str(data.get("name", "")),
                    self.lang.pick(data.get("title_i18n"), str(data.get("rule_id", ""))),
                    labels.when(data.get("at")),
                    self._state(data, key),
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, key)
            item.setToolTip(0, str(data.get("path", "")))
            self.tree.addTopLevelItem(item)
            if key == (current or "") or (current is None and self.tree.topLevelItemCount() == 1):
                self.tree.setCurrentItem(item)
        self._update_button()

    def _state(self, data: dict[str, Any], key: str) -> str:
        if key in self.asked:
            return self.tr("Approval requested")
        if data.get("mode") == "audit":
            return self.tr("Would be blocked (trial mode; it ran)")
        return self.tr("Blocked")

    def selected(self) -> str | None:
        item = self.tree.currentItem()
        return str(item.data(0, Qt.ItemDataRole.UserRole)) if item is not None else None

    def _update_button(self) -> None:
        key = self.selected()
        self.request_button.setEnabled(
            key is not None and key not in self.asked and not self._sending
        )

    def request(self) -> None:
        key = self.selected()
        data = next((d for d in self.items if block_key(d) == key), None)
        if key is None or data is None:
            return
        reason = self.reason.toPlainText().strip()
        description = blocked.describe(data, reason)
        if len(description) > MAX_DESCRIPTION:
            self.outcome.setText(
                self.tr("Your reason is too long: at most %1 characters.").replace(
                    "%1", str(MAX_DESCRIPTION - len(blocked.describe(data)) - 10)
                )
            )
            return
        summary = f"Approval requested: {data.get('name', '')} (rule {data.get('rule_id', '')})"
        at = data.get("at")
        occurred = (
            datetime.fromtimestamp(float(at), UTC).isoformat(timespec="minutes")
            if isinstance(at, int | float)
            else None
        )
        agent = self.bridge.agent
        self._sending = key

        def work() -> dict[str, Any]:
            return agent.submit_report(
                blocked.APPROVAL_CATEGORY,
                summary[:MAX_SUMMARY],
                description,
                occurred,
                "",
                "",
                [],
            )

        self.outcome.setText(self.tr("Sending…"))
        self._update_button()
        self.bridge.run(OP, work)

    def _on_done(self, op: str, result: Any) -> None:
        if op != OP or not self._sending:
            return
        key, self._sending = self._sending, ""
        self.asked.add(key)
        self.outcome.setText(
            self.tr(
                "Request sent. It is stored on this computer until the server has it; IT's "
                "answer will appear in My reports."
            )
        )
        self.reason.clear()
        self.show_data(self.items)
        self.requested.emit(key)

    def _on_failed(self, op: str, error: AgentError) -> None:
        if op != OP or not self._sending:
            return
        self._sending = ""
        self.outcome.setText(
            self.tr("The request was not sent: %1").replace("%1", self.lang.error(error))
        )
        self._update_button()
