"""A cached, fault-tolerant view of the file system that every file-reading probe goes through.

Why a cache: a warm rescan must not re-walk unchanged folders or re-hash unchanged files.
A folder's listing is kept with the folder's (mtime, inode) and reused while they match;
a file's content digest is kept with (size, mtime, inode). When the caller knows from file
system events which folders changed (the agent's watchers), `trust_listings` skips even the
validating `stat` of folders nobody touched.

Why fault-tolerant: a scan meets permission errors, vanished files, broken links, loops,
undecodable names and huge folders. None of them may crash it; each becomes a blind spot.

Why a read policy: the agent runs as root and every home folder is written by its user, so
every name, type, link and byte there is hostile. Every open goes through `FsView._open`:
non-blocking (a FIFO or device never blocks a read), a regular-file check before reading,
size limits by kind, and for a live scan by root (`ReadPolicy.enforce`) no symbolic link is
followed in any component of a path unless its target belongs to whoever owns that place,
and no content is read from a file owned by someone else (see `ReadPolicy`).
"""

from __future__ import annotations

import errno
import gc
import hashlib
import os
import stat as stat_mod
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import BinaryIO, NamedTuple, TypeVar

from checks.model import BlindSpot
from checks.model import safe_text as safe_text  # re-exported: the one escaping function

T = TypeVar("T")

# A walk (`**`, the discovery walk of a home) is bounded by what it costs, not by a depth: it
# stops after this many directory entries under one base and says so (a blind spot). A home
# of a million files is walked whole; a billion-file trap is not.
MAX_WALK_ENTRIES = 5_000_000
# Read limits by kind of file, in bytes. Metadata (package.json, .desktop, manifest.json,
# plists, unit files) is small; browser profiles' Preferences/extensions.json are larger;
# binaries are never read whole into memory but streamed (hashes, signatures) up to a bound.
METADATA_LIMIT = 1024 * 1024
PROFILE_LIMIT = 32 * 1024 * 1024
MAX_SMALL_READ = 4 * 1024 * 1024
MAX_STREAM = 1024 * 1024 * 1024
# Source bytes whose parsed values `FsView.parsed` keeps between scans. A parsed value costs
# up to ~12 times its source (1 MiB of `{"k":{},…}` is 12 MB of dicts), and a user can make
# thousands of parsed paths from one file (hard links, links to their own file): unbounded,
# the cache was an OOM of the root agent. Beyond the budget the cache starts over.
PARSE_CACHE_BUDGET = 16 * 1024 * 1024
# A path may pass through at most this many (allowed) symbolic links.
_MAX_LINK_HOPS = 8
# A walk keeps the descriptors of the folders above the one it lists open (to open each
# folder relative to its parent), at most this many; deeper folders are opened from `/`.
_MAX_OPEN_ANCESTORS = 48

# POSIX-only flags are 0 where they do not exist (Windows), so one code path serves both.
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_NOCTTY = getattr(os, "O_NOCTTY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
_READ = os.O_RDONLY | _O_CLOEXEC | _O_NONBLOCK | _O_NOCTTY | _O_BINARY
_DIR = os.O_RDONLY | _O_CLOEXEC | _O_DIRECTORY
# Whether this OS can open a path one component at a time without following links.
NOFOLLOW_SUPPORTED = bool(_O_NOFOLLOW and _O_DIRECTORY) and os.open in os.supports_dir_fd
# Folders a walk never descends into, as trailing path components (case-insensitive). Only
# places whose contents provably cannot hold a tool are here; everything else is walked,
# however deep (a tool hidden at ~/a/b/c/d/e/ or under ~/.cache/ is found):
_PRUNE_TAILS: tuple[tuple[tuple[str, ...], str], ...] = (
    # Bytecode Python writes beside the sources it compiled; the sources are walked.
    (("__pycache__",), "compiled copies of the Python sources beside them"),
    # Version-control stores: objects named by their hashes, compressed; a checkout's files
    # are in the working tree beside `.git`, which is walked.
    ((".git", "objects"), "git's content-addressed object store"),
    ((".git", "lfs"), "git-lfs's content-addressed object store"),
    ((".hg", "store"), "Mercurial's revlog store"),
    ((".svn", "pristine"), "Subversion's content-addressed pristine copies"),
    # Package managers' download caches: content-addressed blobs, never installed from there
    # (an install is a site-packages / node_modules / store-linked folder, which is walked).
    ((".npm", "_cacache"), "npm's content-addressed download cache"),
    (("pip", "http"), "pip's HTTP cache (responses named by hashes)"),
    (("pip", "http-v2"), "pip's HTTP cache (responses named by hashes)"),
    (("pnpm", "store"), "pnpm's content-addressed store (hash-named files; installs link out)"),
    # Browsers' HTTP caches: hash-named entries.
    (("cache2", "entries"), "Firefox's HTTP cache entries (hash-named)"),
    (("cache", "cache_data"), "Chromium's HTTP cache (hash-named)"),
    (("code cache", "js"), "Chromium's compiled-script cache (hash-named)"),
    (("code cache", "wasm"), "Chromium's compiled-script cache (hash-named)"),
)
_PRUNE_LAST = {tail[-1] for tail, _ in _PRUNE_TAILS}


def pruned(path: str) -> bool:
    """Whether a walk skips the folder at `path` (see `_PRUNE_TAILS` for each reason)."""
    parts = path.replace("\\", "/").rstrip("/").casefold().split("/")
    if parts[-1] not in _PRUNE_LAST:
        return False
    return any(tuple(parts[-len(tail) :]) == tail for tail, _ in _PRUNE_TAILS)


@dataclass(frozen=True, slots=True)
class ReadPolicy:
    """Whose files a scan may read through, decided once for every probe.

    With `enforce` (a live scan by root on a POSIX system) a path is opened one component at
    a time with `O_NOFOLLOW`; a symbolic link is followed only when its resolved target is
    owned by the owner of the place the link is in (a venv's `lib64 -> lib`, pnpm's linked
    `node_modules`), and a file's content is read only when the file is owned by that owner:
    the home's owner under a user's home, root anywhere else. Without `enforce` (images,
    whose files belong to whoever made them; scans without root, which the kernel already
    limits) links are followed as the OS does, but reads stay non-blocking and bounded.

    `homes` is (folder, owner uid) for every user's home, with each home's resolved path too.
    """

    enforce: bool = False
    homes: tuple[tuple[str, int], ...] = ()

    @classmethod
    def build(cls, enforce: bool, homes: Iterable[tuple[str, int]]) -> ReadPolicy:
        """A policy for these homes (folder, owner uid); their resolved paths are added."""
        found: dict[str, int] = {}
        for folder, uid in homes:
            for path in (os.path.normpath(folder), os.path.realpath(folder)):
                if path not in ("/", "") and path not in found:
                    found[path] = uid
        ordered = sorted(found.items(), key=lambda item: len(item[0]), reverse=True)
        return cls(enforce and NOFOLLOW_SUPPORTED, tuple(ordered))

    def owner(self, path: str) -> int:
        """The uid that may own `path`: its home's owner under a home, else root (0)."""
        for home, uid in self.homes:
            if path == home or path.startswith(home + "/"):
                return uid
        return 0


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a walk fills the listing cache.

    A walk allocates a tuple per file and keeps them all (the cache); the collector then
    traverses the young objects again after every allocation burst, which measured a third
    to a half of a cold walk (bench/discovery.py). Nothing a walk makes is cyclic (reference
    counting frees it). Pauses nest and may come from several threads: the collector is
    restored as it was when the last pause ends, whatever happens."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


class Refused(Exception):
    """The read policy does not let the scan read this path; the message says why."""


class Entry(NamedTuple):
    """A directory entry; `size` is -1 and `mtime_ns` 0 when taken from a listing.

    A named tuple, not a dataclass: a walk of a large home makes one per file, and a tuple
    is built several times faster than a frozen dataclass (which sets each field in turn)."""

    name: str
    path: str
    is_dir: bool
    is_symlink: bool
    size: int
    mtime_ns: int
    ino: int


@dataclass(slots=True)
class Listing:
    """A folder's listing as kept between scans: its names (sorted, interned), one byte of
    flags per name (`IS_DIR`: a folder, following a link; `IS_LINK`: a symbolic link) and
    the inodes, not an `Entry` per name (an `Entry` with its path cost ~340 bytes, a name
    here ~70). The `Entry` list `FsView.listdir` returns is built when a scan first asks
    for it and dropped when the scan ends (`FsView.end_scan`)."""

    mtime_ns: int
    ino: int
    dev: int
    names: tuple[str, ...]
    flags: bytes
    inos: array[int]
    entries: list[Entry] | None = None

    def expand(self, folder: str) -> list[Entry]:
        """The entries, with their paths joined to `folder`."""
        prefix = folder if folder.endswith("/") else folder + "/"
        new = tuple.__new__
        return [
            new(Entry, (n, prefix + n, bool(f & IS_DIR), bool(f & IS_LINK), -1, 0, i))
            for n, f, i in zip(self.names, self.flags, self.inos, strict=True)
        ]


_EMPTY = Listing(0, 0, 0, (), b"", array("Q"))
IS_DIR = 1
IS_LINK = 2


# A folder's mtime comes from the kernel's coarse clock (a tick of 1-10 ms): an entry added in
# the same tick as the one a listing saw leaves the mtime unchanged. A listing read that soon
# after its folder changed ("racily clean", as git calls it) is not trusted to stay whole.
_RACY_NS = 50_000_000


def _settled_mtime(st: os.stat_result) -> int:
    """The folder's mtime to remember, or -1 (never equal: read again, and `stale` next time)
    when it changed too recently for a listing to be known whole."""
    return -1 if time.time_ns() - st.st_mtime_ns < _RACY_NS else st.st_mtime_ns


@dataclass(slots=True)
class _Walked:
    """What a walk keeps of a folder it went through: what tells it unchanged (mtime, inode),
    how to go on below it (its subfolders' names, pruned ones left out), how many entries it
    holds (the walk's budget) and what the walk's caller derived from its entries, under the
    caller's `key`. Not the entries: a home's plain files are its bulk, and a walk looks at
    each of them once, when its folder changes."""

    mtime_ns: int
    ino: int
    dev: int
    count: int
    subdirs: tuple[str, ...]
    key: object
    value: object


@dataclass(slots=True)
class FsStats:
    dirs_listed: int = 0
    dirs_reused: int = 0
    files_read: int = 0
    reads_reused: int = 0
    files_hashed: int = 0
    hashes_reused: int = 0
    bytes_hashed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True)
class FsView:
    """Reads the disk for probes, remembering what it saw between scans."""

    case_insensitive: bool = False
    trust_listings: bool = False
    # Set by a caller whose watcher reports every change (entries made, removed, renamed, and
    # files closed after writing) in every folder a scan read: a file it saw before and no
    # event named since is as it was, so it need not even be stat'ed again (see `relevant`).
    events_cover_files: bool = False
    _listings: dict[str, Listing] = field(default_factory=dict)
    # Listings whose `Entry` list this scan built: compacted (new) or dropped at `end_scan`.
    _expanded: list[str] = field(default_factory=list)
    _hashes: dict[str, tuple[tuple[int, int, int], str]] = field(default_factory=dict)
    # (path, parser) -> (signature, value, source bytes); `_parsed_bytes` sums the latter
    _parsed: dict[tuple[str, str], tuple[tuple[int, int, int], object, int]] = field(
        default_factory=dict
    )
    _parsed_bytes: int = 0
    _parsed_paths: set[str] = field(default_factory=set)  # every path `parsed` read
    # Files whose content was matched, by the `hash` of their path: tens of thousands of
    # paths cost megabytes kept, a hash 32 bytes; a collision only makes an event relevant.
    _content_paths: set[int] = field(default_factory=set)
    _dirty: set[str] = field(default_factory=set)
    _missing: set[str] = field(default_factory=set)
    # watched folder → the missing paths it was chosen to watch for (see `watch_dirs`)
    _awaiting: dict[str, set[str]] = field(default_factory=dict)
    # Per listed folder, which entry names the scan cared about: (pattern, folders only).
    _filters: dict[str, set[tuple[str, bool]]] = field(default_factory=dict)
    # Folders `walk_derived` went through (see `_Walked`).
    _walked: dict[str, _Walked] = field(default_factory=dict)
    stats: FsStats = field(default_factory=FsStats)
    blind_spots: dict[tuple[str, str], BlindSpot] = field(default_factory=dict)
    policy: ReadPolicy = field(default_factory=ReadPolicy)

    # -- scan bracketing -----------------------------------------------------------------

    def begin_scan(self) -> None:
        self.stats = FsStats()
        self.blind_spots = {}

    def invalidate(self, paths: Iterable[str]) -> None:
        """Forget what is known about these paths and their parents (file system events)."""
        for path in paths:
            path = os.path.normpath(path)
            self._dirty.add(path)
            self._dirty.add(os.path.dirname(path))
            self._listings.pop(path, None)
            self._listings.pop(os.path.dirname(path), None)
            self._walked.pop(path, None)
            self._walked.pop(os.path.dirname(path), None)

    def end_scan(self) -> None:
        self._dirty.clear()
        self.compact_listings()

    def compact_listings(self) -> None:
        """Drop the `Entry` lists built since the last call: between scans a listing is kept
        compact (see `Listing`)."""
        expanded, self._expanded = self._expanded, []
        for path in expanded:
            listing = self._listings.get(path)
            if listing is not None:
                listing.entries = None

    @property
    def has_changes(self) -> bool:
        """Whether file system events were reported since the last scan ended."""
        return bool(self._dirty)

    def observed_dirs(self) -> list[str]:
        """Folders the probes listed: what an event watcher must watch for `trust_listings`."""
        return sorted(self._listings.keys() | self._walked.keys())

    def stale(self, paths: Iterable[str]) -> list[str]:
        """Watched folders that changed since the scan read them: a watch set up after a read
        would miss what happened in between, so the caller rescans these. A folder changed if
        its listing is out of date, or if it was watched as the nearest existing ancestor of
        a path the scan looked for, and the next folder towards that path has appeared."""
        out: list[str] = []
        for path in paths:
            # A folder may be both listed (a probe) and walked (discovery), at different
            # moments of the scan: it is stale if either read is out of date.
            cached: list[Listing | _Walked] = [
                c for c in (self._listings.get(path), self._walked.get(path)) if c is not None
            ]
            try:
                st = os.stat(path)
            except OSError:
                if cached:
                    out.append(path)
                continue
            if not cached:
                if path in self._missing or self._awaited_appeared(path):
                    out.append(path)  # appeared since we looked for it
                continue
            if any((c.mtime_ns, c.ino) != (st.st_mtime_ns, st.st_ino) for c in cached):
                out.append(path)
        return out

    def _awaited_appeared(self, folder: str) -> bool:
        for missing in self._awaiting.get(folder, ()):
            below = os.path.join(folder, os.path.relpath(missing, folder).split(os.sep)[0])
            # The path itself, or a folder on the way to it (a file there leads nowhere).
            if os.path.lexists(below) if below == missing else os.path.isdir(below):
                return True
        return False

    def relevant(self, path: str, is_dir: bool, modified_only: bool) -> bool:
        """Whether a file system event at `path` could change what a scan sees."""
        try:
            return self._relevant(os.path.normpath(path), is_dir, modified_only)
        except RuntimeError:  # a scan changed the caches under us (watcher thread): assume yes
            return True

    def _relevant(self, path: str, is_dir: bool, modified_only: bool) -> bool:
        if modified_only:
            # Content changes matter only for files we read, hashed or matched.
            return (
                path in self._parsed_paths
                or path in self._hashes
                or hash(path) in self._content_paths
            )
        if path in self._missing or path in self._listings or path in self._walked:
            return True
        if os.path.dirname(path) in self._walked:
            return True  # any entry of a walked folder may be a marker or lead to one
        prefix = path + os.sep
        if any(m.startswith(prefix) for m in self._missing):
            return True  # an ancestor of a path we looked for appeared or went away
        filters = self._filters.get(os.path.dirname(path))
        if not filters:
            return False
        name = os.path.basename(path)
        return any(
            (is_dir or not dirs_only) and self._match(name, pattern)
            for pattern, dirs_only in filters
        )

    def watch_dirs(self) -> set[str]:
        """Every folder whose change could change a scan: the folders listed, and for each
        path probed but missing, its nearest existing ancestor (where it would appear)."""
        dirs = set(self._listings) | set(self._walked)
        self._awaiting = {}
        for path in self._missing:
            parent = os.path.dirname(path)
            while parent:
                if parent in dirs or os.path.isdir(parent):
                    dirs.add(parent)
                    self._awaiting.setdefault(parent, set()).add(path)
                    break
                if os.path.dirname(parent) == parent:
                    break
                parent = os.path.dirname(parent)
        return dirs

    # -- primitive reads -----------------------------------------------------------------

    def note(self, probe: str, what: str, exc: BaseException | str) -> None:
        reason = exc if isinstance(exc, str) else _describe(exc)
        key = (probe, what)
        if key not in self.blind_spots:
            self.blind_spots[key] = BlindSpot(probe=probe, what=what, reason=reason)

    @contextmanager
    def item(self, probe: str, what: str) -> Iterator[None]:
        """One item of a probe's loop: whatever it raises is a blind spot for that item
        (`what`), and the loop goes on with the next one."""
        try:
            yield
        except Exception as exc:  # hostile input may break any parser or lookup
            self.note(probe, what, f"could not be examined: {type(exc).__name__}")

    # -- opening under the read policy ----------------------------------------------------

    def _open(self, path: str, flags: int) -> int:
        """A descriptor for `path` opened with `flags`, under the read policy.

        Raises OSError (missing, denied …) or `Refused` (a link the policy does not follow).
        """
        if not self.policy.enforce:
            return os.open(path, flags)
        return _open_nofollow(path, flags, self.policy)

    def open_content(
        self, path: str, probe: str, limit: int = MAX_STREAM
    ) -> tuple[BinaryIO, os.stat_result] | None:
        """An open regular file whose content the scan may read, with its `fstat`, or None.

        None, silently, when the file is missing or is a folder; None with a blind spot when
        it is unreadable, not a regular file (a FIFO, socket or device), larger than `limit`,
        behind a link the policy does not follow, or owned by someone whose files the scan
        may not read. The caller closes the file.
        """
        opened = self._open_checked(path, probe, limit)
        if opened is None:
            return None
        fd, st = opened
        return os.fdopen(fd, "rb"), st

    def _open_checked(self, path: str, probe: str, limit: int) -> tuple[int, os.stat_result] | None:
        """`open_content` as a descriptor (the caller closes it)."""
        try:
            fd = self._open(path, _READ)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, Refused) as exc:
            self.note(probe, path, exc)
            return None
        try:
            st = os.fstat(fd)
            problem = self._content_problem(path, st, limit)
        except OSError as exc:
            os.close(fd)
            self.note(probe, path, exc)
            return None
        if problem is not None:
            os.close(fd)
            if problem:
                self.note(probe, path, problem)
            return None
        return fd, st

    def _content_problem(self, path: str, st: os.stat_result, limit: int) -> str | None:
        """None when the content may be read; "" to skip silently; else the blind spot."""
        if stat_mod.S_ISDIR(st.st_mode):
            return ""
        if not stat_mod.S_ISREG(st.st_mode):
            return "not a regular file (a FIFO, socket or device); not read"
        if self.policy.enforce:
            owner = self.policy.owner(path)
            if st.st_uid != owner:
                return (
                    f"owned by uid {st.st_uid}, not by {'root' if owner == 0 else f'uid {owner}'}"
                    " who owns this place; content not read"
                )
        if st.st_size > limit:
            return f"larger than {limit} bytes; not read"
        return None

    def listdir(
        self, path: str, probe: str = "files", wanted: tuple[str, bool] = ("*", False)
    ) -> list[Entry]:
        """Entries of a folder, by name; [] when it is missing, a blind spot when it is
        unreadable.

        `wanted` says which entries the caller cares about (a name pattern, and whether only
        folders matter): it lets `relevant` ignore file events nobody would look at.
        """
        listing = self.listing(path, probe, wanted)
        if listing.entries is None:
            if not listing.names:
                return []
            listing.entries = listing.expand(path)
            self._expanded.append(path)
        return listing.entries

    def listing(
        self, path: str, probe: str = "files", wanted: tuple[str, bool] = ("*", False)
    ) -> Listing:
        """`listdir` in its compact form (names, flags, inodes; see `Listing`): for a caller
        that looks at many names and needs a path for few of them. An empty listing when the
        folder is missing or unreadable (a blind spot then)."""
        self._filters.setdefault(path, set()).add(wanted)
        cached = self._listings.get(path)
        if cached is not None and self.trust_listings and path not in self._dirty:
            self.stats.dirs_reused += 1
            return cached
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._listings.pop(path, None)
            self._missing.add(path)
            return _EMPTY
        except NotADirectoryError:
            return _EMPTY
        except OSError as exc:
            self.note(probe, path, exc)
            return _EMPTY
        self._missing.discard(path)
        if not stat_mod.S_ISDIR(st.st_mode):
            return _EMPTY
        if cached is not None and cached.mtime_ns == st.st_mtime_ns and cached.ino == st.st_ino:
            self.stats.dirs_reused += 1
            return cached
        try:
            if self.policy.enforce:
                fd = self._open(path, _DIR | _O_NONBLOCK)
                try:
                    with os.scandir(fd) as it:
                        items = sorted(it, key=_name_of)
                finally:
                    os.close(fd)
            else:
                with os.scandir(path) as it:
                    items = sorted(it, key=_name_of)  # names in a folder are unique
            listing = _compact(items, st)
        except (FileNotFoundError, NotADirectoryError):
            return _EMPTY
        except (OSError, Refused) as exc:
            self.note(probe, path, exc)
            return _EMPTY
        self.stats.dirs_listed += 1
        self._listings[path] = listing
        return listing

    def note_content_paths(self, paths: Iterable[str]) -> None:
        """The files whose content the scan matches (replacing the last scan's set): a file
        closed after writing is then a relevant event (`relevant`)."""
        self._content_paths = {hash(os.path.normpath(p)) for p in paths}

    def stat(self, path: str) -> os.stat_result | None:
        try:
            return os.stat(path)
        except OSError:
            return None

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def is_dir(self, path: str) -> bool:
        st = self.stat(path)
        return st is not None and stat_mod.S_ISDIR(st.st_mode)

    def read(self, path: str, probe: str = "files", limit: int = MAX_SMALL_READ) -> bytes | None:
        """A small file's bytes (None if missing, unreadable or larger than `limit`).

        Not cached: callers that read the same file every scan use `parsed`, which keeps
        the (small) parsed value instead of the bytes.
        """
        opened = self._open_checked(path, probe, limit)
        if opened is None:
            return None
        fd, st = opened
        try:
            data = _read_fd(fd, st.st_size, limit + 1)
        except OSError as exc:
            self.note(probe, path, exc)
            return None
        finally:
            os.close(fd)
        if len(data) > limit:  # grew since fstat
            self.note(probe, path, f"larger than {limit} bytes; not read")
            return None
        self.stats.files_read += 1
        return data

    def read_text(self, path: str, probe: str = "files", limit: int = MAX_SMALL_READ) -> str | None:
        data = self.read(path, probe, limit)
        if data is None:
            return None
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16", errors="replace")
        return data.decode("utf-8", errors="replace")

    def parsed(
        self,
        path: str,
        parser: Callable[[bytes], T],
        probe: str = "files",
        limit: int = MAX_SMALL_READ,
    ) -> T | None:
        """A small file parsed by `parser`, re-parsed only when the file changed.

        Whatever the parser raises (ValueError, RecursionError, MemoryError …) makes the file
        a blind spot for this file alone: hostile content never stops the probe.
        """
        try:
            st = os.stat(path)
        except OSError:
            self._read_fail(path, probe)
            return None
        sig = (st.st_size, st.st_mtime_ns, st.st_ino)
        key = (path, getattr(parser, "__qualname__", repr(parser)))
        cached = self._parsed.get(key)
        if cached is not None and cached[0] == sig:
            self.stats.reads_reused += 1
            return cached[1]  # type: ignore[return-value]
        self._parsed_paths.add(path)
        data = self.read(path, probe, limit)
        if data is None:
            return None
        try:
            value = parser(data)
        except Exception as exc:  # hostile content may break any parser
            self.note(probe, path, f"could not be parsed: {type(exc).__name__}")
            return None
        old = self._parsed.pop(key, None)
        self._parsed_bytes -= old[2] if old is not None else 0
        if len(data) <= PARSE_CACHE_BUDGET:
            if self._parsed_bytes + len(data) > PARSE_CACHE_BUDGET:
                self._parsed.clear()
                self._parsed_bytes = 0
            self._parsed[key] = (sig, value, len(data))
            self._parsed_bytes += len(data)
        return value

    def examined(
        self,
        path: str,
        examine: Callable[[BinaryIO, os.stat_result], T],
        probe: str = "files",
        limit: int = MAX_STREAM,
    ) -> T | None:
        """What `examine(open file, its fstat)` says about a file, asked again only when the
        file changed (size, mtime, inode): for readers that seek in a large file (an archive's
        index, an executable's tail) rather than read it whole. The file is opened under the
        read policy (`open_content`); whatever `examine` raises makes it a blind spot."""
        try:
            st = os.stat(path)
        except OSError:
            self._read_fail(path, probe)
            return None
        sig = (st.st_size, st.st_mtime_ns, st.st_ino)
        key = (path, getattr(examine, "__qualname__", repr(examine)))
        cached = self._parsed.get(key)
        if cached is not None and cached[0] == sig:
            self.stats.reads_reused += 1
            return cached[1]  # type: ignore[return-value]
        opened = self.open_content(path, probe, limit)
        if opened is None:
            return None
        fh, st = opened
        try:
            with fh:
                value = examine(fh, st)
        except Exception as exc:  # hostile content may break any reader
            self.note(probe, path, f"could not be examined: {type(exc).__name__}")
            return None
        self.stats.files_read += 1
        # What `examine` keeps is small (names from an index, a cookie): it costs the budget
        # nothing, but the path is watched for changes like any parsed file.
        self._parsed[key] = ((st.st_size, st.st_mtime_ns, st.st_ino), value, 0)
        self._parsed_paths.add(path)
        return value

    def _read_fail(self, path: str, probe: str) -> None:
        try:
            os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as exc:
            self.note(probe, path, exc)

    def sha256(self, path: str, probe: str = "hashes", limit: int = MAX_STREAM) -> str | None:
        """SHA-256 of a file (streamed, up to `limit` bytes), cached on (path, size, mtime,
        inode); read under the read policy like every other content."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.note(probe, path, exc)
            return None
        sig = (st.st_size, st.st_mtime_ns, st.st_ino)
        cached = self._hashes.get(path)
        if cached is not None and cached[0] == sig:
            self.stats.hashes_reused += 1
            return cached[1]
        opened = self.open_content(path, probe, limit)
        if opened is None:
            return None
        fh, st = opened
        sig = (st.st_size, st.st_mtime_ns, st.st_ino)
        digest = hashlib.sha256()
        read = 0
        try:
            with fh:
                while read <= limit and (chunk := fh.read(1 << 20)):
                    digest.update(chunk)
                    read += len(chunk)
        except OSError as exc:
            self.note(probe, path, exc)
            return None
        if read > limit:
            self.note(probe, path, f"larger than {limit} bytes; not hashed")
            return None
        self.stats.files_hashed += 1
        self.stats.bytes_hashed += read
        value = digest.hexdigest()
        self._hashes[path] = (sig, value)
        return value

    # -- globbing ------------------------------------------------------------------------

    def glob(self, base: str, pattern: str, probe: str = "files") -> Iterator[Entry]:
        """Entries under the folder `base` matching a `/`-separated relative pattern.

        `*`, `?` and `**` are wildcards; `[` is literal because real install folders are
        named `[3.9.12.51]`. On case-insensitive platforms every segment of the pattern
        matches regardless of case; `base` is taken as it is.
        """
        segments = [p for p in pattern.replace("\\", "/").split("/") if p not in ("", ".")]
        if not segments:
            entry = self._entry_at(base)
            if entry is not None:
                yield entry
            return
        yield from self._glob(base, segments, probe, set())

    def _glob(
        self, base: str, segments: list[str], probe: str, seen: set[tuple[int, int]]
    ) -> Iterator[Entry]:
        if not segments:
            return
        head, rest = segments[0], segments[1:]
        if head == "**":
            yield from self._globstar(base, rest, probe, 0, seen)
            return
        # A literal segment: one stat instead of listing the parent (huge parents stay cheap),
        # except on case-insensitive platforms, where the name may differ in case on disk.
        if not _has_magic(head) and not self.case_insensitive:
            path = _join(base, head)
            entry = self._entry_at(path)
            if entry is None:
                return
            if rest:
                if entry.is_dir:
                    yield from self._glob(path, rest, probe, seen)
            else:
                yield entry
            return
        for entry in self.listdir(base, probe, (head, bool(rest))):
            if not self._match(entry.name, head):
                continue
            if rest:
                if entry.is_dir:
                    yield from self._glob(entry.path, rest, probe, seen)
            else:
                yield entry

    def _globstar(
        self, base: str, rest: list[str], probe: str, depth: int, seen: set[tuple[int, int]]
    ) -> Iterator[Entry]:
        for folder, _ in self.walk(base, probe):
            yield from self._glob(folder, rest, probe, seen)

    def walk(
        self, base: str, probe: str = "files", max_entries: int = MAX_WALK_ENTRIES
    ) -> Iterator[tuple[str, list[Entry]]]:
        """(folder, its entries) for `base` and every folder below it, at any depth, parents
        before children, each listed once through the listing cache (a warm walk of an
        unchanged tree re-reads no folder: one `stat` each, none with `trust_listings`).

        Never through a symbolic link, into a folder already seen (a bind mount or loop), or
        into a `pruned` folder; after `max_entries` entries the rest is a blind spot.
        """
        with collector_paused():
            yield from self._walk(base, probe, max_entries)

    def _walk(self, base: str, probe: str, max_entries: int) -> Iterator[tuple[str, list[Entry]]]:
        stack = [base]
        # Folders seen, by (device, inode) of the folder itself, so that a bind mount or a
        # file system that shows a folder inside itself is walked once; a device is part of
        # the key so that a user's FUSE mount cannot hide a real folder by reusing its inode.
        seen: set[tuple[int, int]] = set()
        count = 0
        while stack:
            folder = stack.pop()
            entries = self.listdir(folder, probe)
            listing = self._listings.get(folder)
            if listing is not None:
                key = (listing.dev, listing.ino)
                if key in seen:
                    continue
                seen.add(key)
            count += len(entries)
            if count > max_entries:
                self.note(probe, base, f"more than {max_entries} entries; the rest not examined")
                return
            yield folder, entries
            for entry in reversed(entries):
                if entry.is_dir and not entry.is_symlink and not pruned(entry.path):
                    stack.append(entry.path)

    def walk_derived(
        self,
        base: str,
        derive: Callable[[str, list[os.DirEntry[str]]], T],
        key: object,
        probe: str = "files",
        max_entries: int = MAX_WALK_ENTRIES,
    ) -> Iterator[tuple[str, T]]:
        """(folder, `derive(folder, its entries)`) for `base` and every folder below it, at
        any depth, parents before children, subfolders in name order: `walk` for a caller that
        needs only a little of each folder (a home's markers, not its every file).

        The walk keeps, per folder, its (mtime, inode), its subfolders' names and the derived
        value, not the entries: a warm walk of an unchanged folder re-reads nothing and calls
        `derive` again only for folders that changed (or were derived under another `key`).
        `derive` receives the `os.DirEntry` items unsorted, while the folder is open (their
        `is_dir()`, `inode()` … answer relative to it); `entry_of` makes an `Entry` of one.

        Same bounds as `walk`: never through a symbolic link, into a folder already seen, or
        into a `pruned` folder; after `max_entries` entries the rest is a blind spot. Under an
        enforced read policy each folder is opened relative to its parent's descriptor with
        `O_NOFOLLOW` (the parent having been opened so too), not again from `/`.
        """
        with collector_paused():
            yield from self._walk_derived(base, derive, key, probe, max_entries)

    def _walk_derived(
        self,
        base: str,
        derive: Callable[[str, list[os.DirEntry[str]]], T],
        key: object,
        probe: str,
        max_entries: int,
    ) -> Iterator[tuple[str, T]]:
        stack = [base]
        seen: set[tuple[int, int]] = set()  # (device, inode) of folders walked: see `_walk`
        # (folder, descriptor) of the open folders on the way down to the one being listed
        ancestors: list[tuple[str, int]] = []
        count = 0
        try:
            while stack:
                folder = stack.pop()
                node = self._walked_node(folder, derive, key, probe, ancestors)
                if node is None:
                    continue
                ident = (node.dev, node.ino)
                if ident in seen:
                    continue
                seen.add(ident)
                count += node.count
                if count > max_entries:
                    self.note(
                        probe, base, f"more than {max_entries} entries; the rest not examined"
                    )
                    return
                yield folder, node.value  # type: ignore[misc]
                prefix = folder if folder.endswith("/") else folder + "/"
                stack.extend(prefix + name for name in reversed(node.subdirs))
        finally:
            for _, fd in ancestors:
                os.close(fd)

    def _walked_node(
        self,
        folder: str,
        derive: Callable[[str, list[os.DirEntry[str]]], object],
        key: object,
        probe: str,
        ancestors: list[tuple[str, int]],
    ) -> _Walked | None:
        cached = self._walked.get(folder)
        if cached is not None and cached.key == key:
            if self.trust_listings and folder not in self._dirty:
                self.stats.dirs_reused += 1
                return cached
            try:
                st = os.stat(folder)
            except (FileNotFoundError, NotADirectoryError):
                self._walked.pop(folder, None)
                self._missing.add(folder)
                return None
            except OSError as exc:
                self.note(probe, folder, exc)
                return None
            if cached.mtime_ns == st.st_mtime_ns and cached.ino == st.st_ino:
                self.stats.dirs_reused += 1
                return cached
        self._walked.pop(folder, None)
        try:
            node = self._list_walked(folder, derive, key, ancestors)
        except (FileNotFoundError, NotADirectoryError):
            self._missing.add(folder)
            return None
        except OSError as exc:
            if exc.errno != errno.ELOOP:  # replaced by a link since its parent was listed
                self.note(probe, folder, exc)
            return None
        except Refused as exc:
            self.note(probe, folder, exc)
            return None
        self._missing.discard(folder)
        if node is not None:
            self.stats.dirs_listed += 1
            self._walked[folder] = node
        return node

    def _list_walked(
        self,
        folder: str,
        derive: Callable[[str, list[os.DirEntry[str]]], object],
        key: object,
        ancestors: list[tuple[str, int]],
    ) -> _Walked | None:
        """List a folder for `walk_derived`: opened (under the read policy) and `fstat`ed
        before it is read, so that a change while it is read shows in its next mtime."""
        if not self.policy.enforce:
            st = os.stat(folder)
            if not stat_mod.S_ISDIR(st.st_mode):
                return None
            with os.scandir(folder) as it:
                items = list(it)
            return self._walked_from(folder, st, items, derive, key)
        # Close the descriptors of folders the walk has left (not above this one).
        while ancestors and not folder.startswith(ancestors[-1][0] + "/"):
            os.close(ancestors.pop()[1])
        parent, _, name = folder.rpartition("/")
        if ancestors and ancestors[-1][0] == parent:
            fd = os.open(name, _DIR | _O_NONBLOCK | _O_NOFOLLOW, dir_fd=ancestors[-1][1])
        else:
            fd = _open_nofollow(folder, _DIR | _O_NONBLOCK, self.policy)
        keep = False
        try:
            st = os.fstat(fd)
            with os.scandir(fd) as it:
                items = list(it)
            node = self._walked_from(folder, st, items, derive, key)
            keep = bool(node.subdirs) and len(ancestors) < _MAX_OPEN_ANCESTORS
            if keep:
                ancestors.append((folder.rstrip("/"), fd))
            return node
        finally:
            if not keep:
                os.close(fd)

    def _walked_from(
        self,
        folder: str,
        st: os.stat_result,
        items: list[os.DirEntry[str]],
        derive: Callable[[str, list[os.DirEntry[str]]], object],
        key: object,
    ) -> _Walked:
        try:
            subdirs = [item.name for item in items if item.is_dir(follow_symlinks=False)]
        except OSError:  # an entry without a type in the listing vanished meanwhile
            subdirs = [item.name for item in items if _real_dir(item)]
        if subdirs:
            prefix = folder if folder.endswith("/") else folder + "/"
            subdirs = sorted(
                sys.intern(n)  # kept between scans: one copy of `src`, `lib`, `.git` …
                for n in subdirs
                if n.casefold() not in _PRUNE_LAST or not pruned(prefix + n)
            )
        value = derive(folder, items)
        return _Walked(
            _settled_mtime(st), st.st_ino, st.st_dev, len(items), tuple(subdirs), key, value
        )

    @staticmethod
    def entry_of(folder: str, item: os.DirEntry[str]) -> Entry:
        """The `Entry` of one item `walk_derived` passed to its `derive`, in `folder`."""
        return _entry(item, _join(folder, item.name))

    def _entry_at(self, path: str) -> Entry | None:
        try:
            lst = os.lstat(path)
        except OSError:
            self._missing.add(path)
            return None
        self._missing.discard(path)  # it was looked for and is here now
        is_link = stat_mod.S_ISLNK(lst.st_mode)
        st = lst
        if is_link:
            try:
                st = os.stat(path)
            except OSError:
                return Entry(os.path.basename(path), path, False, True, 0, lst.st_mtime_ns, 0)
        return Entry(
            os.path.basename(path),
            path,
            stat_mod.S_ISDIR(st.st_mode),
            is_link,
            st.st_size,
            st.st_mtime_ns,
            st.st_ino,
        )

    def _match(self, name: str, pattern: str) -> bool:
        if self.case_insensitive:
            name, pattern = name.casefold(), pattern.casefold()
        if not _has_magic(pattern):
            return name == pattern
        return fnmatchcase(name, _escape_brackets(pattern))

    def walk_files(
        self, top: str, probe: str = "files", max_files: int = 200_000
    ) -> Iterator[Entry]:
        """Every file under `top` (no symlinked folders), bounded so a huge tree cannot stall us."""
        stack = [top]
        seen: set[int] = set()
        count = 0
        while stack:
            folder = stack.pop()
            for entry in self.listdir(folder, probe):
                if entry.is_dir:
                    if entry.is_symlink or entry.ino in seen:
                        continue
                    seen.add(entry.ino)
                    stack.append(entry.path)
                else:
                    count += 1
                    if count > max_files:
                        self.note(probe, top, f"more than {max_files} files; the rest not examined")
                        return
                    yield entry


def _name_of(item: os.DirEntry[str]) -> str:
    return item.name


def _compact(items: list[os.DirEntry[str]], st: os.stat_result) -> Listing:
    """The `Listing` of a folder's items, from the directory listing itself (d_type, inode):
    no stat per entry, which is what made walking a large home cost a syscall per file. An
    entry that fails to answer (it vanished meanwhile) is a plain file without an inode."""
    names = tuple([sys.intern(i.name) for i in items])
    try:
        flags = bytes([i.is_dir() | (i.is_symlink() << 1) for i in items])
        inos = array("Q", [i.inode() for i in items])
    except OSError:
        entries = [_entry(i, i.name) for i in items]
        flags = bytes([e.is_dir | (e.is_symlink << 1) for e in entries])
        inos = array("Q", [e.ino for e in entries])
    return Listing(_settled_mtime(st), st.st_ino, st.st_dev, names, flags, inos)


def _entry(item: os.DirEntry[str], path: str) -> Entry:
    """An entry from the directory listing itself (d_type, inode): no stat per entry, which is
    what made walking a large home cost a syscall per file. Size and mtime are not known
    (-1, 0); the few callers that need a size stat that one path."""
    try:
        is_link = item.is_symlink()
        is_dir = item.is_dir()  # follows a link (a stat only for links and unknown d_type)
        ino = item.inode()
    except OSError:
        # A file that vanished between listing and looking.
        return Entry(item.name, path, False, False, -1, 0, 0)
    return Entry(item.name, path, is_dir, is_link, -1, 0, ino)


def _real_dir(item: os.DirEntry[str]) -> bool:
    """Whether an entry is a folder (not a link to one); False if it cannot tell."""
    try:
        return item.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _read_fd(fd: int, size: int, most: int) -> bytes:
    """Up to `most` bytes of an open file whose `fstat` said `size`: one `read` of size + 1
    when the file did not grow (not a buffer of `most` bytes per file, which cost a small
    metadata file's read a megabyte's allocation), more reads while it did."""
    chunks: list[bytes] = []
    got = 0
    want = min(size + 1, most)
    while got < most:
        chunk = os.read(fd, max(1, min(want - got, most - got)))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
        want = max(want, got + (1 << 16))
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _has_magic(segment: str) -> bool:
    return "*" in segment or "?" in segment


def _escape_brackets(pattern: str) -> str:
    return pattern.replace("[", "[[]")


def _join(base: str, name: str) -> str:
    if base.endswith("/"):
        return base + name
    return base + "/" + name


def _open_nofollow(path: str, flags: int, policy: ReadPolicy) -> int:
    """Open `path` one component at a time from `/`, following no symbolic link except one
    whose resolved target is owned by `policy.owner` of the link's place (then the walk
    starts again along the target). Raises OSError, or `Refused` for a link not followed."""
    parts = [p for p in os.path.abspath(path).split("/") if p]
    hops = 0
    fd = os.open("/", _DIR)
    i = 0
    try:
        while i < len(parts):
            last = i == len(parts) - 1
            try:
                nfd = os.open(parts[i], (flags if last else _DIR) | _O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise
                try:
                    lst = os.stat(parts[i], dir_fd=fd, follow_symlinks=False)
                except OSError:
                    raise exc from None
                if not stat_mod.S_ISLNK(lst.st_mode):
                    raise
                parts = _follow("/" + "/".join(parts[: i + 1]), policy, hops) + parts[i + 1 :]
                hops += 1
                os.close(fd)
                fd = os.open("/", _DIR)
                i = 0
                continue
            os.close(fd)
            fd = nfd
            i += 1
        opened, fd = fd, -1
        return opened
    finally:
        if fd >= 0:
            os.close(fd)


def _follow(link: str, policy: ReadPolicy, hops: int) -> list[str]:
    """The components of a link's resolved target, if the policy lets the scan follow it."""
    if hops >= _MAX_LINK_HOPS:
        raise Refused(f"more than {_MAX_LINK_HOPS} symbolic links on the way; not followed")
    target = os.path.realpath(link)
    try:
        st = os.stat(target)
    except OSError:
        raise FileNotFoundError(errno.ENOENT, "a dangling symbolic link", link) from None
    owner = policy.owner(link)
    if st.st_uid != owner:
        who = "root" if owner == 0 else f"uid {owner}"
        raise Refused(
            f"a symbolic link to something owned by uid {st.st_uid}, not by {who} who owns "
            "this place; not followed"
        )
    return [p for p in target.split("/") if p]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, Refused):
        return str(exc)
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__
