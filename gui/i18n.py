"""Which language the tray speaks: the OS locale unless the employee chose one; Qt translators.

English is the source language of every string; Chinese comes from
`gui/translations/wxguard_zh_CN.qm` (built from the `.ts` with pyside6-lrelease). English has a
small file too, `wxguard_en.qm`, with only the plural forms of the `%n` strings ("1 finding",
"2 findings", not "1 finding(s)"): Qt takes plurals from a translation even in the source
language (https://doc.qt.io/qt-6/i18n-plural-rules.html; made with `pyside6-lupdate -pluralonly`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QLocale, QTranslator

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
LANGUAGES = ("zh_CN", "en")


def system_language(locale: QLocale | None = None) -> str:
    """zh_CN for any Chinese locale (zh_CN, zh_TW, zh_HK …), English otherwise."""
    chosen = locale if locale is not None else QLocale.system()
    return "zh_CN" if chosen.language() == QLocale.Language.Chinese else "en"


class Languages:
    """Installs the translator for one language at a time on the running application."""

    def __init__(self) -> None:
        self.current = "en"
        self._translator: QTranslator | None = None

    @property
    def short(self) -> str:
        """ "zh" or "en": which half of the agent's bilingual texts to show."""
        return "zh" if self.current.startswith("zh") else "en"

    def install(self, language: str) -> bool:
        app = QCoreApplication.instance()
        if self._translator is not None and app is not None:
            QCoreApplication.removeTranslator(self._translator)
            self._translator = None
        self.current = language if language in LANGUAGES else "en"
        translator = QTranslator()
        if not translator.load(str(TRANSLATIONS / f"wxguard_{self.current}.qm")):
            if self.current == "en":
                return True  # the source strings, with "(s)" plurals
            self.install("en")
            return False
        QCoreApplication.installTranslator(translator)
        self._translator = translator
        return True

    def pick(self, texts: Any, fallback: str = "") -> str:
        """The right half of a {zh, en} pair from the agent (or the other half if missing)."""
        if isinstance(texts, dict):
            other = "en" if self.short == "zh" else "zh"
            value = texts.get(self.short) or texts.get(other)
            return str(value) if value else fallback
        return str(texts) if texts else fallback

    def error(self, exc: Any) -> str:
        """An AgentError's message in the current language."""
        zh = getattr(exc, "zh", "")
        en = getattr(exc, "en", "")
        if zh or en:
            return str(zh or en) if self.short == "zh" else str(en or zh)
        return str(exc)
