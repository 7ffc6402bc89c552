"""The WeChat policy (read and acknowledge each version), what wxguard collects, About."""

from __future__ import annotations

from importlib import resources
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from agent import __version__
from agent.api import AgentError
from gui.i18n import Languages, system_language

RESOURCES = resources.files("gui") / "resources"


def default_policy_text() -> dict[str, str]:
    """The policy shipped with the tray, shown when the agent has none to give."""
    return {
        "zh": (RESOURCES / "policy-default.zh.txt").read_text(encoding="utf-8"),
        "en": (RESOURCES / "policy-default.en.txt").read_text(encoding="utf-8"),
    }


def policy_acknowledged(policy: dict[str, Any]) -> bool:
    """Whether this user acknowledged the current text (the agent's flag, or the versions)."""
    version = str(policy.get("text_version") or "")
    if not version:
        return True  # nothing to acknowledge
    if isinstance(policy.get("acknowledged"), bool):
        return bool(policy["acknowledged"])
    return str(policy.get("acknowledged_version") or "") == version


class PolicyWindow(QWidget):
    acknowledge = Signal(str)  # text_version

    def __init__(self, lang: Languages) -> None:
        super().__init__()
        self.lang = lang
        self.setObjectName("policy-window")
        self.setWindowTitle(self.tr("WeChat policy"))
        self.resize(720, 640)
        self.version = QLabel()
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setObjectName("notice")
        self.text = QTextBrowser()
        self.ack_button = QPushButton()
        self.ack_button.clicked.connect(self._ack)
        self.ack_error = QLabel()
        self.ack_error.setStyleSheet("color: #b00020")
        self.ack_error.setWordWrap(True)
        self._text_version = ""
        layout = QVBoxLayout(self)
        layout.addWidget(self.version)
        layout.addWidget(self.notice)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.ack_error)
        layout.addWidget(self.ack_button, 0, Qt.AlignmentFlag.AlignRight)

    def show_policy(self, policy: dict[str, Any], error: AgentError | None = None) -> None:
        texts = policy.get("text") if isinstance(policy.get("text"), dict) else None
        self._text_version = str(policy.get("text_version") or "")
        if not texts or not any(texts.values()):
            texts = default_policy_text()
            self._text_version = ""
            self.notice.setText(
                self.tr("The agent has not provided the policy yet; this is the default text.")
                + (" " + self.lang.error(error) if error is not None else "")
            )
        else:
            self.notice.setText("")
        # Chinese is the binding text; in English show the summary first, then the original.
        zh = str(texts.get("zh") or "")
        en = str(texts.get("en") or "")
        body = zh if self.lang.short == "zh" or not en else f"{en}\n\n————\n\n{zh}"
        self.text.setPlainText(body)
        self.version.setText(
            # The policy's one label (protocol.policy.policy_label), as `wxguard status` and
            # the dashboard show it; older agents send only the text version.
            self.tr("Policy text version: %1").replace(
                "%1", str(policy.get("label") or self._text_version or "—")
            )
        )
        if not self._text_version:
            self.ack_button.setText(self.tr("I have read the policy"))
            self.ack_button.setEnabled(False)
        elif policy_acknowledged(policy):
            self.ack_button.setText(
                self.tr("You acknowledged version %1").replace("%1", self._text_version)
            )
            self.ack_button.setEnabled(False)
        else:
            self.ack_button.setText(
                self.tr("I have read and will follow version %1").replace("%1", self._text_version)
            )
            self.ack_button.setEnabled(True)
            self.notice.setText(
                self.tr(
                    "A new version of the WeChat policy is in force. Please read it and confirm."
                )
            )

    def needs_acknowledgement(self) -> bool:
        return self.ack_button.isEnabled()

    def _ack(self) -> None:
        if self._text_version:
            self.ack_button.setEnabled(False)
            self.ack_error.clear()
            self.acknowledge.emit(self._text_version)

    def ack_failed(self, error: AgentError) -> None:
        self.ack_button.setEnabled(True)
        self.ack_error.setText(self.lang.error(error))


def builtin_collected() -> list[str]:
    return [
        QCoreApplication.translate(
            "Collects", "This computer's name, operating system and wxguard version"
        ),
        QCoreApplication.translate(
            "Collects", "The user names that were logged in when a check ran"
        ),
        QCoreApplication.translate(
            "Collects",
            "Findings: which rule matched, with its evidence — file paths, process names and "
            "ids, package names",
        ),
        QCoreApplication.translate(
            "Collects", "Password-age dates and states per WeChat account (never a password)"
        ),
        QCoreApplication.translate("Collects", "Which policy version you acknowledged, and when"),
        QCoreApplication.translate(
            "Collects", "The incident reports you file, with their attachments"
        ),
    ]


class CollectsWindow(QWidget):
    def __init__(self, lang: Languages) -> None:
        super().__init__()
        self.lang = lang
        self.setObjectName("collects-window")
        self.setWindowTitle(self.tr("What wxguard collects"))
        self.resize(620, 460)
        self.text = QTextBrowser()
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)

    def show_policy(self, policy: dict[str, Any]) -> None:
        collected = policy.get("collected")
        if isinstance(collected, list) and collected:
            items = [self.lang.pick(c) for c in collected]
            source = self.tr("As configured by your company's policy:")
        else:
            items = builtin_collected()
            source = self.tr("wxguard sends the following to your company's wxguard server:")
        html = [f"<p>{_esc(source)}</p><ul>"]
        html += [f"<li>{_esc(i)}</li>" for i in items if i]
        html.append("</ul>")
        never = self.tr(
            "wxguard never reads chat content, message databases or contact lists. It "
            "looks at which programs are installed and running, and at files that tools "
            "leave behind."
        )
        from_agent = self.lang.pick(policy.get("never_collected"))
        if from_agent and from_agent not in never:
            never = f"{from_agent} {never}"
        html.append("<p><b>" + _esc(never) + "</b></p>")
        html.append(
            "<p>"
            + _esc(
                self.tr(
                    "The date of each password change stays in your system keyring; only the "
                    "dates and states listed above are sent."
                )
            )
            + "</p>"
        )
        self.text.setHtml("".join(html))


class AboutDialog(QDialog):
    def __init__(self, lang: Languages) -> None:
        super().__init__()
        self.setObjectName("about")
        self.setWindowTitle(self.tr("About wxguard"))
        self.label = QLabel()
        self.label.setWordWrap(True)
        close = QPushButton(self.tr("Close"))
        close.clicked.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
        self.show_info({}, {})

    def show_info(self, status: dict[str, Any], policy: dict[str, Any]) -> None:
        lines = [
            self.tr("wxguard keeps this computer in line with the company's WeChat policy."),
            self.tr("Tray version: %1").replace("%1", __version__),
            self.tr("Agent version: %1").replace(
                "%1", str(status.get("agent_version") or self.tr("not connected"))
            ),
            self.tr("Policy version: %1").replace(
                "%1", str(policy.get("version") or status.get("policy_version") or "—")
            ),
            self.tr("Questions: contact your IT department."),
        ]
        self.label.setText("\n".join(lines))


class SettingsDialog(QDialog):
    language_chosen = Signal(str)  # "system", "zh_CN", "en"

    def __init__(self, lang: Languages, current_choice: str) -> None:
        super().__init__()
        self.setObjectName("settings")
        self.setWindowTitle(self.tr("wxguard settings"))
        self.language = QComboBox()
        self.language.addItem(
            self.tr("Follow the system (%1)").replace("%1", system_language()), "system"
        )
        self.language.addItem("中文（简体）", "zh_CN")
        self.language.addItem("English", "en")
        index = self.language.findData(current_choice)
        self.language.setCurrentIndex(max(0, index))
        ok = QPushButton(self.tr("Apply"))
        ok.clicked.connect(self._apply)
        form = QFormLayout(self)
        form.addRow(self.tr("Language"), self.language)
        form.addRow("", ok)

    def _apply(self) -> None:
        self.language_chosen.emit(str(self.language.currentData()))
        self.accept()


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
