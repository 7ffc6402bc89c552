"""Linux file watching with one inotify instance and one reader thread for every folder.

watchdog starts a thread and an inotify instance per watched folder, so an employee who
creates 15,000 folders grew the root agent to 15,000 threads and took every inotify instance
root may have (fs.inotify.max_user_instances, often 128). Here each folder costs one watch
descriptor in a single instance, up to a cap that also stays clear of the system-wide limit
on root's watches (fs.inotify.max_user_watches).
"""

from __future__ import annotations

import sys

assert sys.platform == "linux"

import contextlib
import errno
import logging
import os
import select
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from inotify_simple import INotify, flags

from agent.watchers import DEFAULT_MAX_WATCHES, FolderWatcher, FsChange, Sink, by_depth

log = logging.getLogger("wxguard.agent.watchers")

# Entries appearing, vanishing or moving, and a file closed after writing (one event per
# change of a file a probe reads, not one per write()); the folder itself deleted or moved.
# ONLYDIR and DONT_FOLLOW: a folder swapped for a file or a symlink between the scan and the
# watch is refused, never followed; EXCL_UNLINK: no events for files already deleted.
_MASK = (
    flags.CREATE
    | flags.DELETE
    | flags.MOVED_FROM
    | flags.MOVED_TO
    | flags.CLOSE_WRITE
    | flags.DELETE_SELF
    | flags.MOVE_SELF
    | flags.ONLYDIR
    | flags.DONT_FOLLOW
    | flags.EXCL_UNLINK
)
_APPEARED = flags.CREATE | flags.MOVED_TO
_SELF_GONE = flags.DELETE_SELF | flags.MOVE_SELF

_MAX_USER_WATCHES = Path("/proc/sys/fs/inotify/max_user_watches")


def watch_budget(configured: int, limits: Path = _MAX_USER_WATCHES) -> int:
    """The cap on watches: the setting, but never closer than a margin (a tenth, at least
    1,024) to root's system-wide limit, which every other root service shares."""
    try:
        limit = int(limits.read_text())
    except (OSError, ValueError):
        return configured
    return max(0, min(configured, limit - max(1024, limit // 10)))


def _is_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


class InotifyWatcher(FolderWatcher):
    """One inotify instance, one reader thread, one watch descriptor per folder (capped)."""

    def __init__(
        self,
        sink: Sink,
        *,
        max_watches: int = DEFAULT_MAX_WATCHES,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(sink, max_watches=watch_budget(max_watches), on_lost=on_lost)
        self._inotify: INotify | None = None
        self._wds: dict[str, int] = {}  # folder -> watch descriptor
        self._paths: dict[int, set[str]] = {}  # descriptor -> folders (a bind mount: several)
        self._chosen: set[str] = set()  # folders the last update decided to watch
        self._rearmed: set[str] = set()  # re-created folders the reader watched again
        self._thread: threading.Thread | None = None
        self._wake: tuple[int, int] | None = None
        self._stopping = threading.Event()

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._inotify = INotify()  # OSError EMFILE when root's instances are exhausted
        self._wake = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._thread = threading.Thread(target=self._read_loop, name="wxguard-watch", daemon=True)
        self._thread.start()
        self._started = True

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self._stopping.set()
        assert self._wake is not None and self._thread is not None
        with contextlib.suppress(OSError):
            os.write(self._wake[1], b"x")
        self._thread.join(timeout=5)
        with self._lock:
            for fd in self._wake:
                os.close(fd)
            if self._inotify is not None:
                self._inotify.close()  # drops every watch with it
                self._inotify = None
            self._wds.clear()
            self._paths.clear()

    @property
    def count(self) -> int:
        return len(self._wds)

    # -- which folders ---------------------------------------------------------------------

    def update(self, wanted: set[str]) -> set[str]:
        if self._inotify is None:  # never started (no inotify instance left): none watched
            self._unwatched = len(wanted)
            return set()
        with self._lock:
            ordered = by_depth(wanted)
            chosen = set(ordered[: self.max_watches])
            for path in list(self._wds):
                if path not in chosen or not _is_dir(path):
                    self._unwatch(path)
            added = self._rearmed & chosen
            self._rearmed = set()
            failed: dict[str, str] = {}
            exhausted = 0
            for path in ordered[: self.max_watches]:
                if path in self._wds:
                    continue
                if exhausted:
                    exhausted += 1
                    continue
                try:
                    self._watch(path)
                    added.add(path)
                except OSError as exc:
                    if exc.errno == errno.ENOSPC:  # root's watches are used up system-wide
                        log.warning("no inotify watch left for root (%s)", path)
                        exhausted = 1
                    elif _is_dir(path):
                        failed[path] = exc.strerror or str(exc)
            self._chosen = chosen - set(failed)
            self.failed = failed
            beyond = max(0, len(ordered) - self.max_watches) + exhausted
            self._set_capped(beyond > 0, beyond + len(failed), len(ordered))
            if failed:
                log.warning(
                    "cannot watch %d folder(s) (e.g. %s: %s); rescans will re-read the disk",
                    len(failed),
                    next(iter(failed)),
                    next(iter(failed.values())),
                )
            self._settle_lost()
        return added

    def _watch(self, path: str) -> None:
        """Add a watch (lock held). A symlink the scanner listed through is watched at its
        target only when the link's owner also owns the target (a linked `node_modules`);
        a link to anybody else's folder is refused. DONT_FOLLOW holds for the target."""
        assert self._inotify is not None
        target = path
        if os.path.islink(path):
            target = os.path.realpath(path)
            if os.stat(target).st_uid != os.lstat(path).st_uid:
                raise OSError(errno.EPERM, "symbolic link to another owner's folder, not followed")
        wd: int = self._inotify.add_watch(target, _MASK)
        self._wds[path] = wd
        self._paths.setdefault(wd, set()).add(path)

    def _unwatch(self, path: str) -> None:
        """Drop a folder's watch (lock held); the descriptor goes when no folder uses it."""
        wd = self._wds.pop(path)
        paths = self._paths.get(wd)
        if paths is not None:
            paths.discard(path)
            if paths:
                return
            del self._paths[wd]
        assert self._inotify is not None
        with contextlib.suppress(OSError):  # EINVAL: the kernel dropped it already
            self._inotify.rm_watch(wd)

    def _forget_below(self, folder: str) -> None:
        """A folder moved away: its watch and those of its subfolders follow the inodes to
        wherever it went, so their paths are wrong now; drop them (the next scan re-arms)."""
        prefix = folder.rstrip(os.sep) + os.sep
        for path in [p for p in self._wds if p == folder or p.startswith(prefix)]:
            self._unwatch(path)

    # -- the reader thread -----------------------------------------------------------------

    def _read_loop(self) -> None:
        assert self._inotify is not None and self._wake is not None
        poller = select.poll()
        poller.register(self._inotify.fileno(), select.POLLIN)
        poller.register(self._wake[0], select.POLLIN)
        while not self._stopping.is_set():
            try:
                poller.poll()
                if self._stopping.is_set():
                    return
                events = self._inotify.read(timeout=0)
                self._dispatch(events)
            except Exception:  # one bad batch must not end watching for good
                log.exception("file watcher: cannot handle events")

    def _dispatch(self, events: list[tuple[int, int, int, str]]) -> None:
        changes: list[FsChange] = []
        lost = False
        with self._lock:
            for wd, mask, _cookie, name in events:
                if mask & flags.Q_OVERFLOW:
                    lost = True
                    continue
                paths = self._paths.get(wd)
                if mask & flags.IGNORED:
                    # The kernel dropped the watch (folder deleted, file system unmounted):
                    # forget it, so that the next update watches the folder again if it is back.
                    for path in self._paths.pop(wd, set()):
                        if self._wds.get(path) == wd:
                            del self._wds[path]
                    continue
                if not paths:
                    continue
                if mask & _SELF_GONE:
                    changes.extend(FsChange(p, True, False) for p in paths)
                    if mask & flags.MOVE_SELF:
                        for path in list(paths):
                            self._forget_below(path)
                    continue
                is_dir = bool(mask & flags.ISDIR)
                modified = bool(mask & flags.CLOSE_WRITE)
                for folder in list(paths):
                    path = os.path.join(folder, name)
                    changes.append(FsChange(path, is_dir, modified))
                    if is_dir and mask & flags.MOVED_FROM:
                        self._forget_below(path)
                    if is_dir and mask & _APPEARED and path in self._chosen:
                        self._rearm(path)
        if lost:
            self._lost("inotify queue overflow")
        self._deliver(changes)

    def _rearm(self, path: str) -> None:
        """A wanted folder was re-created: watch it at once (lock held), so what is dropped
        into it before the next scan is an event too."""
        if path in self._wds:
            return
        try:
            self._watch(path)
        except OSError:
            return  # the next update retries and reports a failure
        self._rearmed.add(path)
