"""A cached, fault-tolerant view of the file system that every file-reading probe goes through.

Why a cache: a warm rescan must not re-walk unchanged folders or re-hash unchanged files.
A folder's listing is kept with the folder's (mtime, inode) and reused while they match;
a file's content digest is kept with (size, mtime, inode). When the caller knows from file
system events which folders changed (the agent's watchers), `trust_listings` skips even the
validating `stat` of folders nobody touched.

Why fault-tolerant: a scan meets permission errors, vanished files, broken links, loops,
undecodable names and huge folders. None of them may crash it; each becomes a blind spot.
"""

from __future__ import annotations

import hashlib
import os
import stat as stat_mod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TypeVar

from checks.model import BlindSpot

T = TypeVar("T")

MAX_GLOBSTAR_DEPTH = 4
MAX_SMALL_READ = 4 * 1024 * 1024
# Folders a `**` never descends into: large, machine-generated, and never where tools hide.
_GLOBSTAR_PRUNE = {
    "node_modules",
    ".git",
    ".cache",
    "__pycache__",
    "library",
    "appdata",
    "site-packages",
    "dist-packages",
    ".local",
    ".npm",
    ".cargo",
    ".rustup",
    ".m2",
    ".gradle",
    "proc",
    "sys",
}


@dataclass(frozen=True, slots=True)
class Entry:
    """A directory entry; `size` is -1 and `mtime_ns` 0 when taken from a listing."""

    name: str
    path: str
    is_dir: bool
    is_symlink: bool
    size: int
    mtime_ns: int
    ino: int


@dataclass(slots=True)
class _Listing:
    mtime_ns: int
    ino: int
    entries: list[Entry]


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
    _listings: dict[str, _Listing] = field(default_factory=dict)
    _hashes: dict[str, tuple[tuple[int, int, int], str]] = field(default_factory=dict)
    _parsed: dict[tuple[str, str], tuple[tuple[int, int, int], object]] = field(
        default_factory=dict
    )
    _dirty: set[str] = field(default_factory=set)
    _missing: set[str] = field(default_factory=set)
    # watched folder → the missing paths it was chosen to watch for (see `watch_dirs`)
    _awaiting: dict[str, set[str]] = field(default_factory=dict)
    # Per listed folder, which entry names the scan cared about: (pattern, folders only).
    _filters: dict[str, set[tuple[str, bool]]] = field(default_factory=dict)
    stats: FsStats = field(default_factory=FsStats)
    blind_spots: dict[tuple[str, str], BlindSpot] = field(default_factory=dict)

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

    def end_scan(self) -> None:
        self._dirty.clear()

    @property
    def has_changes(self) -> bool:
        """Whether file system events were reported since the last scan ended."""
        return bool(self._dirty)

    def observed_dirs(self) -> list[str]:
        """Folders the probes listed: what an event watcher must watch for `trust_listings`."""
        return sorted(self._listings)

    def stale(self, paths: Iterable[str]) -> list[str]:
        """Watched folders that changed since the scan read them: a watch set up after a read
        would miss what happened in between, so the caller rescans these. A folder changed if
        its listing is out of date, or if it was watched as the nearest existing ancestor of
        a path the scan looked for, and the next folder towards that path has appeared."""
        out: list[str] = []
        for path in paths:
            cached = self._listings.get(path)
            try:
                st = os.stat(path)
            except OSError:
                if cached is not None:
                    out.append(path)
                continue
            if cached is None:
                if path in self._missing or self._awaited_appeared(path):
                    out.append(path)  # appeared since we looked for it
                continue
            if (cached.mtime_ns, cached.ino) != (st.st_mtime_ns, st.st_ino):
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
            # Content changes matter only for files we read or hashed.
            return any(key[0] == path for key in self._parsed) or path in self._hashes
        if path in self._missing or path in self._listings:
            return True
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
        dirs = set(self._listings)
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
            self.blind_spots[key] = BlindSpot(probe=probe, what=safe_text(what), reason=reason)

    def listdir(
        self, path: str, probe: str = "files", wanted: tuple[str, bool] = ("*", False)
    ) -> list[Entry]:
        """Entries of a folder; [] when it is missing, a blind spot when it is unreadable.

        `wanted` says which entries the caller cares about (a name pattern, and whether only
        folders matter): it lets `relevant` ignore file events nobody would look at.
        """
        self._filters.setdefault(path, set()).add(wanted)
        cached = self._listings.get(path)
        if cached is not None and self.trust_listings and path not in self._dirty:
            self.stats.dirs_reused += 1
            return cached.entries
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._listings.pop(path, None)
            self._missing.add(path)
            return []
        except NotADirectoryError:
            return []
        except OSError as exc:
            self.note(probe, path, exc)
            return []
        self._missing.discard(path)
        if not stat_mod.S_ISDIR(st.st_mode):
            return []
        if cached is not None and cached.mtime_ns == st.st_mtime_ns and cached.ino == st.st_ino:
            self.stats.dirs_reused += 1
            return cached.entries
        entries: list[Entry] = []
        try:
            with os.scandir(path) as it:
                for item in it:
                    entries.append(_entry(item))
        except FileNotFoundError:
            return []
        except OSError as exc:
            self.note(probe, path, exc)
            return []
        entries.sort(key=lambda e: e.name)
        self.stats.dirs_listed += 1
        self._listings[path] = _Listing(st.st_mtime_ns, st.st_ino, entries)
        return entries

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
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                if not stat_mod.S_ISREG(st.st_mode):
                    return None
                if st.st_size > limit:
                    self.note(probe, path, f"larger than {limit} bytes; not read")
                    return None
                data = fh.read(limit + 1)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            self.note(probe, path, exc)
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

        A parser that raises ValueError marks the file as unparseable (a blind spot).
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
        data = self.read(path, probe, limit)
        if data is None:
            return None
        try:
            value = parser(data)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            self.note(probe, path, f"could not be parsed: {type(exc).__name__}")
            return None
        self._parsed[key] = (sig, value)
        return value

    def _read_fail(self, path: str, probe: str) -> None:
        try:
            os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as exc:
            self.note(probe, path, exc)

    def sha256(self, path: str, probe: str = "hashes") -> str | None:
        """SHA-256 of a file, cached on (path, size, mtime, inode)."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.note(probe, path, exc)
            return None
        if not stat_mod.S_ISREG(st.st_mode):
            return None
        sig = (st.st_size, st.st_mtime_ns, st.st_ino)
        cached = self._hashes.get(path)
        if cached is not None and cached[0] == sig:
            self.stats.hashes_reused += 1
            return cached[1]
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.note(probe, path, exc)
            return None
        self.stats.files_hashed += 1
        self.stats.bytes_hashed += st.st_size
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
        yield from self._glob(base, rest, probe, seen)
        if depth >= MAX_GLOBSTAR_DEPTH:
            return
        for entry in self.listdir(base, probe, ("*", True)):
            if not entry.is_dir or entry.is_symlink or entry.name.lower() in _GLOBSTAR_PRUNE:
                continue
            key = (entry.ino, entry.mtime_ns)
            if entry.ino and key in seen:
                continue  # a bind mount or hard-linked loop
            seen.add(key)
            yield from self._globstar(entry.path, rest, probe, depth + 1, seen)

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


def _entry(item: os.DirEntry[str]) -> Entry:
    """An entry from the directory listing itself (d_type, inode): no stat per entry, which is
    what made walking a large home cost a syscall per file. Size and mtime are not known
    (-1, 0); the few callers that need a size stat that one path."""
    try:
        is_link = item.is_symlink()
        is_dir = item.is_dir()  # follows a link (a stat only for links and unknown d_type)
        ino = item.inode()
    except OSError:
        # A file that vanished between listing and looking.
        return Entry(item.name, item.path, False, False, -1, 0, 0)
    return Entry(item.name, item.path, is_dir, is_link, -1, 0, ino)


def _has_magic(segment: str) -> bool:
    return "*" in segment or "?" in segment


def _escape_brackets(pattern: str) -> str:
    return pattern.replace("[", "[[]")


def _join(base: str, name: str) -> str:
    if base.endswith("/"):
        return base + name
    return base + "/" + name


def _describe(exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__


def safe_text(text: str) -> str:
    """Undecodable file names (surrogate escapes) made printable and JSON-safe."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
