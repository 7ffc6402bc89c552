"""File system watching: the folders the scanner read, re-armed after every scan, at a bounded cost.

The scanner hands over every folder it listed (and, for paths that do not exist yet, their
nearest existing ancestor): a plugin dropped in any of them, or a folder deleted and re-created,
is an event. An employee controls how many folders there are, so the cost must not follow
them: on Linux one inotify instance and one reader thread serve every folder
(`agent.watch_inotify`); on macOS and Windows watchdog watches a few roots recursively
(`agent.watch_roots`). Either way at most `max_watches` folders are watched; past the cap the
watcher says so (`capped`, `unwatched`), is not `healthy`, and the scanner stops trusting its
listings, so periodic rescans read the disk again. The implementation is chosen once, here,
by platform (`open_watcher`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger("wxguard.agent.watchers")

# Folders watched at most, whatever an employee creates (a setting: `max_watches`).
DEFAULT_MAX_WATCHES = 65536

# Churning files that the probes list but whose changes never matter (browser caches
# would otherwise wake the agent constantly).
_IGNORED_SUFFIXES = (".tmp", ".swp", "-journal", ".lock", "~")


@dataclass(frozen=True, slots=True)
class FsChange:
    """One change in a watched folder. `path` is text; undecodable bytes of a name are
    carried as surrogate escapes (`os.fsdecode`), so the path round-trips to the disk."""

    path: str
    is_dir: bool
    modified_only: bool  # content changed; the folder's entries did not


Sink = Callable[[list[FsChange]], None]


def deliverable(changes: Iterable[FsChange]) -> list[FsChange]:
    """The changes worth passing on: not a temporary or lock file's."""
    return [c for c in changes if not c.path.endswith(_IGNORED_SUFFIXES)]


def by_depth(paths: Iterable[str]) -> list[str]:
    """Shallow folders first: under a cap, the homes and the folders near them stay watched
    and the employee's deepest folders are the ones left to periodic rescans."""
    return sorted(paths, key=lambda p: (p.count(os.sep), p))


class FolderWatcher(ABC):
    """Watches the folders it is given, within a cap, and says whether it watches them all.

    `sink` receives every batch of changes (on the watcher's own thread). `on_lost` is called
    when events were lost (the kernel's queue overflowed): the caller should rescan without
    trusting any listing; `healthy` stays false until the next `update` after such a scan.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        max_watches: int = DEFAULT_MAX_WATCHES,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self._sink = sink
        self._on_lost = on_lost
        self.max_watches = max_watches
        self._lock = threading.Lock()
        self.failed: dict[str, str] = {}  # folder -> why it could not be watched
        self._started = False
        self._unwatched = 0  # wanted folders not watched: beyond the cap, or failed
        self._capped = False
        self._lost_pending = False  # events were lost since the last trusted update
        self._lost_seen = False  # ... and a scan has since been told not to trust listings

    # -- the interface the service uses --------------------------------------------------

    @abstractmethod
    def start(self) -> None:
        """Start watching; raises OSError when the system refuses (e.g. no inotify instance)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop watching and release the thread and the kernel objects; idempotent."""

    @abstractmethod
    def update(self, wanted: set[str]) -> set[str]:
        """Watch `wanted` (within the cap); returns the folders newly watched, whose changes
        since the scan read them the caller must check (`FsView.stale`)."""

    @property
    @abstractmethod
    def count(self) -> int:
        """Folders watched now."""

    @property
    def healthy(self) -> bool:
        """Every wanted folder is watched and no event was lost: only then may the scanner
        trust its caches."""
        with self._lock:
            if self._lost_pending:
                self._lost_seen = True
                return False
            return self._started and not self.failed and not self._capped

    @property
    def capped(self) -> bool:
        """More folders are wanted than the cap allows (or the system's watch limit is near)."""
        return self._capped

    @property
    def unwatched(self) -> int:
        """Wanted folders not watched (beyond the cap, or failed): rescans read them."""
        return self._unwatched

    def status(self) -> dict[str, object]:
        """The fields `wxguard status` shows about watching."""
        return {
            "watching": self.count,
            "watching_healthy": self.healthy,
            "watching_capped": self.capped,
            "watching_limit": self.max_watches,
            "unwatched_folders": self.unwatched,
        }

    # -- helpers for the implementations -------------------------------------------------

    def _deliver(self, changes: list[FsChange]) -> None:
        changes = deliverable(changes)
        if changes:
            self._sink(changes)

    def _lost(self, why: str) -> None:
        """Events were lost: no listing may be trusted until a full rescan has run."""
        log.warning("file events lost (%s); rescanning without trusting cached listings", why)
        with self._lock:
            self._lost_pending = True
            self._lost_seen = False
        if self._on_lost is not None:
            self._on_lost()

    def _settle_lost(self) -> None:
        """After a scan that did not trust listings, lost events are accounted for (lock held)."""
        if self._lost_seen:
            self._lost_pending = self._lost_seen = False

    def _set_capped(self, capped: bool, unwatched: int, wanted: int) -> None:
        """Record the cap state (lock held); log when it changes, so the log says when
        watching fell back to periodic rescans and when it recovered."""
        if capped and not self._capped:
            log.warning(
                "watching capped at %d folders; %d of %d wanted folders are left to periodic "
                "rescans (setting max_watches)",
                self.max_watches,
                unwatched,
                wanted,
            )
        elif self._capped and not capped:
            log.info("watching every wanted folder again (%d)", wanted)
        self._capped = capped
        self._unwatched = unwatched


def open_watcher(
    sink: Sink,
    *,
    max_watches: int = DEFAULT_MAX_WATCHES,
    on_lost: Callable[[], None] | None = None,
) -> FolderWatcher:
    """The watcher for this platform: one inotify instance on Linux, watchdog on roots
    elsewhere."""
    if sys.platform == "linux":
        from agent.watch_inotify import InotifyWatcher

        return InotifyWatcher(sink, max_watches=max_watches, on_lost=on_lost)
    from agent.watch_roots import RootWatcher

    return RootWatcher(sink, max_watches=max_watches, on_lost=on_lost)
