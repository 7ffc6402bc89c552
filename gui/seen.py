"""What the employee has already been told about, so a notification is never repeated.

Kept in the tray's QSettings (per user), bounded to the most recent entries.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings

MAX_SEEN = 500


class SeenStore:
    def __init__(self, settings: QSettings) -> None:
        self._settings = settings
        raw: Any = settings.value("notifications/seen", [])
        if isinstance(raw, str):
            raw = [raw]
        self._ids: list[str] = [str(x) for x in (raw or [])]

    def __contains__(self, key: str) -> bool:
        return key in self._ids

    def add(self, key: str) -> None:
        if key in self._ids:
            return
        self._ids.append(key)
        del self._ids[:-MAX_SEEN]
        self._settings.setValue("notifications/seen", self._ids)
        self._settings.sync()

    def discard(self, key: str) -> None:
        """Forget `key`, so that it is told again when it comes back (a finding that returns
        after being resolved)."""
        if key not in self._ids:
            return
        self._ids.remove(key)
        self._settings.setValue("notifications/seen", self._ids)
        self._settings.sync()

    def entries(self) -> list[str]:
        return list(self._ids)
