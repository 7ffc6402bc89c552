"""macOS and Windows file watching: watchdog on a few roots, recursively, not one per folder.

watchdog starts a thread (and an FSEvents stream or a ReadDirectoryChangesW handle) per
scheduled watch. One watch per folder the scanner read lets an employee grow the agent by a
thread per folder they create; one recursive watch per root (each home, each system folder
the probes read) costs the same whatever is created below it. Events are kept only for the
folders the scanner wants, so what reaches the service is what per-folder watches gave.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import PurePath
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

from agent.watchers import DEFAULT_MAX_WATCHES, FolderWatcher, FsChange, Sink, by_depth

log = logging.getLogger("wxguard.agent.watchers")

_EVENTS = [
    FileCreatedEvent,
    DirCreatedEvent,
    FileDeletedEvent,
    DirDeletedEvent,
    FileMovedEvent,
    DirMovedEvent,
    FileClosedEvent,
]

# Roots watched at most: each is a thread in watchdog. The roots are the homes and the system
# folders the probes read, so a few dozen cover a machine; past this, rescans take over.
MAX_ROOTS = 32


def plan_roots(wanted: set[str]) -> list[tuple[str, bool]]:
    """(folder, recursive) watches that cover `wanted`, shallowest first.

    A wanted folder with no wanted ancestor is a root. A drive or a folder directly under it
    (`C:\\`, `/Users`: nearest ancestors of paths that do not exist) is watched on its own,
    not recursively: a recursive watch there would report the whole disk."""
    roots: list[tuple[str, bool]] = []
    covered: list[str] = []
    for path in by_depth(wanted):
        if any(_below(path, root) for root in covered):
            continue
        recursive = len(PurePath(path).parts) > 2
        roots.append((path, recursive))
        if recursive:
            covered.append(path)
    return roots


def _below(path: str, root: str) -> bool:
    return path.startswith(root.rstrip("/\\") + os.sep)


class _Handler(FileSystemEventHandler):
    def __init__(self, owner: RootWatcher) -> None:
        self._owner = owner

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write", "modified"):
            return
        modified = event.event_type == "closed"
        changes = [FsChange(os.fsdecode(event.src_path), event.is_directory, modified)]
        dest = getattr(event, "dest_path", "")
        if dest:
            changes.append(FsChange(os.fsdecode(dest), event.is_directory, False))
        self._owner.deliver(changes)


class RootWatcher(FolderWatcher):
    """Recursive watchdog watches on the roots of the wanted folders (at most MAX_ROOTS and
    `max_watches` wanted folders)."""

    def __init__(
        self,
        sink: Sink,
        *,
        max_watches: int = DEFAULT_MAX_WATCHES,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(sink, max_watches=max_watches, on_lost=on_lost)
        self._observer = Observer()
        self._observer.daemon = True
        self._handler = _Handler(self)
        self._roots: dict[tuple[str, bool], Any] = {}
        self._watched: set[str] = set()  # wanted folders under a scheduled root

    def start(self) -> None:
        self._observer.start()
        self._started = True

    def stop(self) -> None:
        if self._started:
            self._started = False
            self._observer.stop()
            self._observer.join(timeout=5)

    @property
    def count(self) -> int:
        return len(self._watched)

    def deliver(self, changes: list[FsChange]) -> None:
        """Keep the changes in a wanted folder (or to one), as per-folder watches gave."""
        with self._lock:
            watched = self._watched
        kept = [c for c in changes if c.path in watched or os.path.dirname(c.path) in watched]
        self._deliver(kept)

    def update(self, wanted: set[str]) -> set[str]:
        ordered = by_depth(wanted)
        chosen = set(ordered[: self.max_watches])
        plan = plan_roots(chosen)[:MAX_ROOTS]
        with self._lock:
            for key in list(self._roots):
                if key not in plan or not os.path.isdir(key[0]):
                    with contextlib.suppress(KeyError, ValueError, OSError):
                        self._observer.unschedule(self._roots.pop(key))
            failed: dict[str, str] = {}
            for key in plan:
                if key in self._roots:
                    continue
                path, recursive = key
                try:
                    self._roots[key] = self._observer.schedule(
                        self._handler, path, recursive=recursive, event_filter=_EVENTS
                    )
                except (OSError, ValueError) as exc:
                    if os.path.isdir(path):
                        failed[path] = str(exc)
            live = [k for k in self._roots if k[0] not in failed]
            watched = {
                p
                for p in chosen
                if any(p == root or (rec and _below(p, root)) for root, rec in live)
            }
            added = watched - self._watched
            self._watched = watched
            self.failed = failed
            unwatched = len(ordered) - len(watched)
            self._set_capped(len(watched) < len(ordered) - len(failed), unwatched, len(ordered))
            self._settle_lost()
        return added
