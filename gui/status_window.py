"""The status window: overall state, findings by severity with evidence and the steps to fix
them, the last scan, Check now, the server connection, the policy version, managed settings."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui import icons, labels
from gui.i18n import Languages
from protocol.finding_text import evidence_lines, fix_of


class StatusWindow(QWidget):
    check_now = Signal()

    def __init__(self, lang: Languages) -> None:
        super().__init__()
        self.lang = lang
        self.setObjectName("status-window")
        self.setWindowTitle(self.tr("wxguard — status"))
        self.resize(760, 560)

        self.state_icon = QLabel()
        self.state_label = QLabel()
        self.state_label.setObjectName("state")
        font = self.state_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.state_label.setFont(font)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        head = QHBoxLayout()
        head.addWidget(self.state_icon)
        text = QVBoxLayout()
        text.addWidget(self.state_label)
        text.addWidget(self.summary)
        head.addLayout(text, 1)

        self.check_button = QPushButton(self.tr("Check now"))
        self.check_button.clicked.connect(self.check_now.emit)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # a scan reports no percentage: show activity
        self.progress.setVisible(False)
        self.progress.setFormat(self.tr("Checking this computer…"))
        self.progress.setTextVisible(True)
        head.addWidget(self.progress)
        head.addWidget(self.check_button)

        info = QGroupBox(self.tr("This computer"))
        grid = QVBoxLayout(info)
        self.last_scan = QLabel()
        self.server = QLabel()
        self.server.setWordWrap(True)
        self.policy_label = QLabel()
        self.passwords = QLabel()
        self.passwords.setWordWrap(True)
        self.managed = QLabel()
        self.managed.setWordWrap(True)
        self.blind = QLabel()
        self.blind.setWordWrap(True)
        for w in (self.last_scan, self.server, self.policy_label, self.passwords, self.managed):
            grid.addWidget(w)
        grid.addWidget(self.blind)

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels([self.tr("Finding"), self.tr("Rule")])
        self.tree.setColumnWidth(0, 430)
        self.tree.currentItemChanged.connect(self._show_detail)
        self.detail = QTextBrowser()
        self.detail.setOpenExternalLinks(False)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.tree)
        split.addWidget(self.detail)

        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.setVisible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.notice)
        layout.addLayout(head)
        layout.addWidget(info)
        layout.addWidget(split, 1)
        self._findings: list[dict[str, Any]] = []
        self._actions: list[tuple[str, str]] = []

    def set_notice(self, text: str) -> None:
        """A line above everything else (no tray host; the latest news)."""
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    def set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.check_button.setEnabled(not busy)

    def show_data(
        self,
        state: str,
        status: dict[str, Any],
        findings: list[dict[str, Any]],
        policy: dict[str, Any],
        passwords: list[tuple[str, str]],
        agent_error: str = "",
        doubts: list[str] | None = None,
        actions: list[tuple[str, str]] | None = None,
    ) -> None:
        """`doubts`: why the check cannot vouch for this computer (failed, partial, none yet);
        `actions`: every open action with its next step (findings, password, policy …)."""
        self._actions = list(actions or [])
        self.state_icon.setPixmap(icons.pixmap(state, 48))
        self.state_label.setText(labels.tray_state(state))
        if state == "agent-down":
            self.summary.setText(
                agent_error
                + "\n"
                + self.tr("wxguard keeps trying to reach the agent in the background.")
            )
        elif findings and len(self._actions) > 1:
            # Findings and more (password, policy, keyring): count them all; "What to do"
            # at the top of the list names each one.
            self.summary.setText(
                self.tr("%n thing(s) need your attention.", "", len(self._actions))
            )
        elif findings:
            self.summary.setText(self.tr("%n finding(s) need your attention.", "", len(findings)))
        elif doubts:
            self.summary.setText("\n".join(doubts))
        elif self._actions:
            self.summary.setText(
                self.tr("%n thing(s) need your attention.", "", len(self._actions))
            )
        elif status:
            self.summary.setText(self.tr("No unapproved WeChat software was found."))
        else:
            self.summary.setText("")
        last = status.get("last_scan") or {}
        self.last_scan.setText(
            self.tr("Last check: %1").replace("%1", labels.when(last.get("started_at")))
        )
        self._render_server(status)
        version = policy.get("version") or status.get("policy_version")
        self.policy_label.setText(
            self.tr("Policy version: %1").replace(
                "%1", str(version) if version is not None else self.tr("none yet")
            )
        )
        self.passwords.setText(
            "\n".join(
                self.tr("%1: %2").replace("%1", labels.account(a)).replace("%2", words)
                for a, words in passwords
            )
        )
        managed = status.get("managed_keys") or []
        self.managed.setVisible(bool(managed))
        self.managed.setText(
            self.tr("Managed by IT (cannot be changed here): %1").replace("%1", ", ".join(managed))
        )
        blind = status.get("blind_spots") or []
        self.blind.setVisible(bool(blind))
        self.blind.setText(
            self.tr("Not examined: %1").replace(
                "%1", "; ".join(f"{b.get('what', '')} ({b.get('reason', '')})" for b in blind)
            )
        )
        self._render_findings(findings)

    def _render_server(self, status: dict[str, Any]) -> None:
        if status.get("revoked"):
            self.server.setText(
                self.tr(
                    "Server: this computer was revoked by IT. It no longer reports until IT "
                    "enrolls it again; contact IT."
                )
            )
            return
        if not status.get("enrolled"):
            self.server.setText(self.tr("Server: not enrolled (checks run on this computer only)"))
            return
        if status.get("server_reachable"):
            self.server.setText(
                self.tr("Server: connected (last contact %1)").replace(
                    "%1", labels.when(status.get("last_contact"))
                )
            )
        else:
            self.server.setText(
                self.tr("Server: unreachable since %1. Reports wait on this computer (%2 queued).")
                .replace("%1", labels.when(status.get("last_contact")))
                .replace("%2", str(status.get("outbox_depth", 0)))
            )

    def _render_findings(self, findings: list[dict[str, Any]]) -> None:
        self._findings = findings
        self.tree.clear()
        groups: dict[str, list[dict[str, Any]]] = {}
        for f in findings:
            groups.setdefault(str(f.get("severity", "info")), []).append(f)
        order = [s for s in labels.SEVERITIES if s in groups] + sorted(
            s for s in groups if s not in labels.SEVERITIES
        )
        if findings and len(self._actions) > 1:
            todo = QTreeWidgetItem([f"{self.tr('What to do')} ({len(self._actions)})", ""])
            todo.setData(0, Qt.ItemDataRole.UserRole, _ACTIONS)
            self.tree.addTopLevelItem(todo)
        for sev in order:
            top = QTreeWidgetItem([f"{labels.severity(sev)} ({len(groups[sev])})", ""])
            top.setData(0, Qt.ItemDataRole.UserRole, None)
            self.tree.addTopLevelItem(top)
            for f in groups[sev]:
                title = self.lang.pick(f.get("title_i18n"), str(f.get("title", "")))
                child = QTreeWidgetItem([title, str(f.get("rule_id", ""))])
                child.setData(0, Qt.ItemDataRole.UserRole, f)
                top.addChild(child)
            top.setExpanded(True)
        if not findings and self._actions:
            self._show_actions()
        elif not findings:
            self.detail.setPlainText(self.tr("Nothing to fix."))
        else:
            # The first finding, under "What to do" when that row is there.
            first = self.tree.topLevelItem(1 if len(self._actions) > 1 else 0)
            selected = first.child(0) if first is not None else None
            if selected is not None:
                self.tree.setCurrentItem(selected)

    def _show_actions(self) -> None:
        """No finding, but something to do: each open action with its next step, never
        "Nothing to fix" under "Action needed"."""
        heading = self.tr("What to do")
        html = [f"<h3>{_esc(heading)}</h3><ol>"]
        for text, step in self._actions:
            html.append(f"<li><b>{_esc(text)}</b>")
            if step:
                html.append("<br>" + _esc(self.tr("Next step: %1").replace("%1", step)))
            html.append("</li>")
        html.append("</ol>")
        self.detail.setHtml("".join(html))

    def _show_detail(self, item: QTreeWidgetItem | None, _previous: Any = None) -> None:
        f = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if f == _ACTIONS:
            self._show_actions()
            return
        if not isinstance(f, dict):
            return
        title = self.lang.pick(f.get("title_i18n"), str(f.get("title", "")))
        intro, steps = fix_of(f, self.lang.short)
        html = [f"<h3>{_esc(title)}</h3>"]
        found = self.tr("What was found")
        html.append(f"<p><b>{_esc(found)}</b></p><ul>")
        html.extend(f"<li>{_esc(line)}</li>" for line in evidence_lines(f, self.lang.short))
        html.append("</ul>")
        fix = self.tr("How to fix it")
        html.append(f"<p><b>{_esc(fix)}</b></p>")
        if intro:
            html.append(f"<p>{_esc(intro)}</p>")
        if steps:
            html.append("<ol>")
            html.extend(f"<li>{_esc(step)}</li>" for step in steps)
            html.append("</ol>")
        html.append(
            "<p>"
            + _esc(
                self.tr("First seen %1, last seen %2.")
                .replace("%1", labels.when(f.get("first_seen")))
                .replace("%2", labels.when(f.get("last_seen")))
            )
            + "</p>"
        )
        self.detail.setHtml("".join(html))


_ACTIONS = "open-actions"  # the tree row that lists every open action


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
