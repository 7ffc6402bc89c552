"""The language the command line speaks: `--lang` if given, else the locale's.

One function for every `wxguard` subcommand (scan, agent commands, passwords), so they agree.
"""

from __future__ import annotations

import locale
import os

from checks.model import Lang


def default_lang() -> Lang:
    """The locale's language: Chinese for zh_*, English otherwise (LC_ALL, LC_MESSAGES, LANG,
    LANGUAGE in that order, as POSIX gives them precedence; then Python's locale)."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(var, "")
        if value:
            return Lang.ZH if value.lower().startswith("zh") else Lang.EN
    loc = locale.getlocale()[0] or ""
    return Lang.ZH if loc.lower().startswith("zh") else Lang.EN


def chosen_lang(requested: str | None) -> Lang:
    """`requested` ("zh" or "en", from `--lang`) when given, else `default_lang()`."""
    return Lang(requested) if requested else default_lang()
