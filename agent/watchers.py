"""File system watching: the folders the scanner read, re-armed after every scan.

Non-recursive watches on exactly the folders the probes listed (and, for paths that do not
exist yet, their nearest existing ancestor): a plugin dropped in any of them, or a folder
deleted and re-created, is an event; nothing else on the disk costs anything.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

log = logging.getLogger("wxguard.agent.watchers")

# Entries appearing, vanishing or moving, and a file closed after writing: one event per
# change of a file a probe reads, not one per write() (watched homes hold busy files).
_EVENTS = [
    FileCreatedEvent,
    DirCreatedEvent,
    FileDeletedEvent,
    DirDeletedEvent,
    FileMovedEvent,
    DirMovedEvent,
    FileClosedEvent,
]

# Churning folders that the probes list but whose changes never matter (browser caches
# would otherwise wake the agent constantly).
_IGNORED_SUFFIXES = (".tmp", ".swp", "-journal", ".lock", "~")


@dataclass(frozen=True, slots=True)
class FsChange:
    path: str
    is_dir: bool
    modified_only: bool  # content changed; the folder's entries did not


class _Handler(FileSystemEventHandler):
    def __init__(self, sink: Callable[[list[FsChange]], None]) -> None:
        self._sink = sink

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        modified = event.event_type in ("modified", "closed")
        changes = [FsChange(_text(event.src_path), event.is_directory, modified)]
        dest = getattr(event, "dest_path", "")
        if dest:
            changes.append(FsChange(_text(dest), event.is_directory, False))
        changes = [c for c in changes if not c.path.endswith(_IGNORED_SUFFIXES)]
        if changes:
            self._sink(changes)


def _text(path: Any) -> str:
    return os.fsdecode(path)


class FolderWatcher:
    """Keeps one non-recursive watch per folder in the set it is given."""

    def __init__(self, sink: Callable[[list[FsChange]], None]) -> None:
        self._observer = Observer()
        self._observer.daemon = True
        self._handler = _Handler(sink)
        self._watches: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.failed: dict[str, str] = {}
        self._started = False

    def start(self) -> None:
        self._observer.start()
        self._started = True

    def stop(self) -> None:
        if self._started:
            self._observer.stop()
            self._observer.join(timeout=5)

    @property
    def healthy(self) -> bool:
        """All wanted folders are watched: only then may the scanner trust its caches."""
        return self._started and not self.failed

    @property
    def count(self) -> int:
        return len(self._watches)

    def update(self, wanted: set[str]) -> set[str]:
        """Watch exactly `wanted`; returns the folders newly watched."""
        added: set[str] = set()
        with self._lock:
            for path in list(self._watches):
                if path not in wanted or not os.path.isdir(path):
                    with contextlib.suppress(KeyError, ValueError, OSError):
                        self._observer.unschedule(self._watches.pop(path))
            self.failed = {}
            for path in sorted(wanted - set(self._watches)):
                try:
                    self._watches[path] = self._observer.schedule(
                        self._handler, path, recursive=False, event_filter=_EVENTS
                    )
                    added.add(path)
                except (OSError, ValueError) as exc:
                    if os.path.isdir(path):
                        self.failed[path] = str(exc)
            if self.failed:
                log.warning(
                    "cannot watch %d folder(s) (e.g. %s: %s); rescans will re-read the disk",
                    len(self.failed),
                    next(iter(self.failed)),
                    next(iter(self.failed.values())),
                )
        return added
