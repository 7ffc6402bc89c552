"""Content candidates (executables, libraries, scripts, configurations in user-writable places
and tool environments) matched against the catalogue's YARA rules.

Candidates come from what the other probes found (files at rule paths, the files of packages
installed under a home, the executables of running processes outside system folders) and
from a bounded walk of the few folders where people keep programs they fetched themselves
(Downloads, Desktop, Documents, ~/.local/bin, ~/bin). A file is a candidate by its extension
(scripts and configurations) or by its first bytes (PE `MZ`, ELF, Mach-O, `#!`): a file whose
name says it is a document, an image or an archive is not opened at all, so the walk costs
a directory listing plus, for each candidate, one read of its bytes, and nothing on a warm
rescan of unchanged files (results are kept on path, size, mtime, inode and ctime).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from checks.content.yara import BINARY_LIMIT, ContentScanner
from checks.fsview import IS_DIR, IS_LINK, METADATA_LIMIT, FsView
from checks.identity import ClientIndex
from checks.integrity.filecache import Signature, signature_of
from checks.model import BlindSpot, ContentFact, Platform
from checks.probes.base import ProbeContext
from checks.probes.metadata import text_of

SCRIPT_EXT = frozenset(
    {".py", ".pyw", ".js", ".mjs", ".cjs", ".ps1", ".psm1", ".bat", ".cmd", ".sh", ".vbs", ".ahk"}
)
CONFIG_EXT = frozenset({".json", ".toml", ".yaml", ".yml", ".ini", ".cfg", ".conf", ".env", ".log"})
# Extensions whose files are checked for an executable header (no extension too).
BINARY_EXT = frozenset({".exe", ".dll", ".so", ".dylib", ".pyd", ".node", ".bin", ".elf", ""})
_MAGIC = (
    b"MZ",
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
)

# Where people keep programs they fetched themselves (relative to each home), per platform.
PLACES: dict[Platform, tuple[str, ...]] = {
    Platform.LINUX: ("{downloads}", "{desktop}", "{documents}", "{home}/.local/bin", "{home}/bin"),
    Platform.MACOS: ("{downloads}", "{desktop}", "{documents}", "{home}/bin"),
    Platform.WINDOWS: ("{downloads}", "{desktop}", "{documents}"),
}
MAX_PLACE_DEPTH = 4
MAX_PLACE_ENTRIES = 20_000
MAX_PACKAGE_ENTRIES = 3_000
# Bytes of new (not yet matched) content read per user and scan. A home stuffed with
# thousands of large programs costs each scan at most this; the files left over are
# matched by the next scans (results are kept), and the scan says so meanwhile.
BYTES_PER_USER_PER_SCAN = 2 * 1024 * 1024 * 1024
# Never walked: environments (their packages are walked as packages), caches, version
# control, and WeChat's own data folders (the agent never reads chat data).
_PRUNE = frozenset(
    {
        "node_modules",
        "site-packages",
        "dist-packages",
        ".git",
        "__pycache__",
        ".cache",
        "xwechat_files",
        "wechat files",
        "wxwork",
        "tencent files",
        "db_storage",
    }
)
_SYSTEM_EXE = (
    "/usr/bin/",
    "/usr/sbin/",
    "/bin/",
    "/sbin/",
    "/usr/lib/",
    "/usr/libexec/",
    "c:/windows/",
    "/system/",
)


def file_kind(name: str) -> str | None:
    """ "script", "config", "maybe-binary" (look at the header) or None (never a candidate)."""
    # The extension as `os.path.splitext` takes it (leading dots are not one), each
    # extension's kind computed once: this runs for every file of the program places.
    dot = name.rfind(".")
    ext = name[dot:] if dot > 0 and name[:dot].lstrip(".") else ""
    kind = _KIND_OF_EXT.get(ext, "")
    if kind == "":
        kind = _ext_kind(ext.lower())
        if len(_KIND_OF_EXT) < 4096:
            _KIND_OF_EXT[ext] = kind
    return kind


def _ext_kind(ext: str) -> str | None:
    if ext in SCRIPT_EXT:
        return "script"
    if ext in CONFIG_EXT:
        return "config"
    if ext in BINARY_EXT or (ext and not ext[1:].isalpha()):
        return "maybe-binary"  # no extension, a binary one, or a version-like suffix
    return None


_KIND_OF_EXT: dict[str, str | None] = {}


def header_kind(head: bytes) -> str | None:
    if head.startswith(_MAGIC):
        return "binary"
    if head.startswith(b"#!"):
        return "script"
    return None


@dataclass(slots=True)
class ContentState:
    """What content matching keeps between scans: the engine with its per-file results and
    the header verdicts of files whose kind is told by their first bytes."""

    scanner: ContentScanner
    headers: dict[str, tuple[Signature, str | None]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)  # header lookups of this scan
    budget: int = BYTES_PER_USER_PER_SCAN
    # Candidates that came from files (not from running processes) in the last full scan,
    # with their kind and user: a scan that reuses the file facts re-checks these (a stat
    # each; bytes only for a file that changed in place, which no listing shows).
    from_files: dict[str, tuple[str, str]] = field(default_factory=dict)

    def header(self, fs: FsView, path: str) -> str | None:
        self.seen.add(path)
        st = fs.stat(path)
        if st is None:
            return None
        sig = signature_of(st)
        cached = self.headers.get(path)
        if cached is not None and cached[0] == sig:
            return cached[1]
        kind: str | None = None
        if 0 < st.st_size <= BINARY_LIMIT:
            opened = fs.open_content(path, "content", BINARY_LIMIT)
            if opened is None:
                return None
            fh, st = opened
            with fh:
                kind = header_kind(fh.read(8))
            sig = signature_of(st)
        self.headers[path] = (sig, kind)
        return kind


@dataclass(slots=True)
class _Candidates:
    items: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (kind, user)

    def add(self, path: str, kind: str, user: str) -> None:
        self.items.setdefault(path, (kind, user))


def collect(
    ctx: ProbeContext,
    state: ContentState,
    clients: ClientIndex,
    exes: Iterable[str] = (),
    places: bool = True,
    files: bool = True,
) -> None:
    """Match every candidate's content; ContentFacts into ctx.facts, blind spots into fs.

    `places` and `files` False: only the executables `exes` (a scan that reuses the file
    facts of the previous one, with nothing changed on disk)."""
    fs = ctx.fs
    found = _Candidates()
    if not files:
        found.items.update(state.from_files)
    for f in ctx.facts.files if files else ():
        if not f.is_dir:
            name = os.path.basename(f.path)
            _consider(state, fs, f.path[: len(f.path) - len(name)], name, f.user, found)
    for pkg in ctx.facts.packages if files else ():
        if not pkg.user:
            continue  # system-wide environments are not user-writable
        with fs.item("content", pkg.path):
            for prefix, name in _package_files(fs, pkg.ecosystem, pkg.path):
                _consider(state, fs, prefix, name, pkg.user, found)
    if places:
        for template in PLACES[ctx.layout.platform]:
            for folder, user in ctx.places(template):
                with fs.item("content", folder):
                    for prefix, name in _walk(fs, folder, MAX_PLACE_DEPTH, MAX_PLACE_ENTRIES):
                        _consider(state, fs, prefix, name, user, found)
    if files:
        state.from_files = dict(found.items)
        # Header verdicts of files no longer looked at are dropped (bounded memory).
        state.headers = {p: v for p, v in state.headers.items() if p in state.seen}
        state.seen = set()
    for exe in exes:
        low = exe.replace("\\", "/").casefold()
        if exe and not low.startswith(_SYSTEM_EXE):
            name = os.path.basename(exe.replace("\\", "/"))
            _consider(state, fs, exe[: len(exe) - len(name)], name, "", found)
    if files:
        fs.note_content_paths(found.items)
    # A scan reusing the last one's file facts, with events that would have named any file
    # changed since, takes the last verdicts of the files it found then without a stat each
    # (a scan for a new process: its latency is the goal); only the programs are new.
    unchanged = set(state.from_files) if not files and fs.events_cover_files else set()
    too_large_before = state.scanner.stats.too_large
    spent: dict[str, int] = {}
    deferred: dict[str, int] = {}
    for path, (kind, user) in sorted(found.items.items()):
        if clients.install_root_of(path) is not None:
            continue  # the approved client's own files are judged by the integrity checks
        if path in unchanged:
            last = state.scanner.last_hits(path, kind)
            if last is not None:
                for hit in last:
                    ctx.facts.content.append(ContentFact(path, hit.rule, kind, hit.detail, user))
                continue
        st = fs.stat(path)
        if st is not None and not state.scanner.is_cached(path, signature_of(st), kind):
            if spent.get(user, 0) + st.st_size > state.budget:
                deferred[user] = deferred.get(user, 0) + 1
                continue
            spent[user] = spent.get(user, 0) + st.st_size
        with fs.item("content", path):
            hits = state.scanner.scan_file(fs, path, kind)
            for hit in hits or ():
                ctx.facts.content.append(ContentFact(path, hit.rule, kind, hit.detail, user))
    for user, count in sorted(deferred.items()):
        ctx.facts.blind_spots.append(
            BlindSpot(
                "content",
                f"{count} candidate file(s) of {user or 'the system'}",
                f"over this scan's content budget ({state.budget // (1024 * 1024)} MiB per "
                "user); matched by the next scans",
            )
        )
    large = state.scanner.stats.too_large - too_large_before
    if large:
        ctx.facts.blind_spots.append(
            BlindSpot(
                "content",
                f"{large} candidate file(s)",
                f"larger than the content-matching limit ({BINARY_LIMIT // (1024 * 1024)} MiB "
                "for programs, 4 MiB for scripts and configurations); content not matched",
            )
        )
    if files:
        state.scanner.forget(set(found.items))


def _consider(
    state: ContentState, fs: FsView, prefix: str, name: str, user: str, found: _Candidates
) -> None:
    """The file `prefix + name` is a candidate if its name or header says so."""
    kind = file_kind(name)
    if kind is None:
        return  # told by the name alone: its path is never built
    path = prefix + name
    if path in found.items:
        return
    if kind == "maybe-binary":
        kind = state.header(fs, path)
    if kind is not None:
        found.add(path, kind, user)


def _package_files(fs: FsView, ecosystem: str, path: str) -> Iterator[tuple[str, str]]:
    """The files a package installed: its own folder (npm) or its top-level modules (pypi)."""
    if ecosystem == "npm":
        yield from _walk(fs, path, 8, MAX_PACKAGE_ENTRIES)
        return
    site = os.path.dirname(path)
    names = _top_level(fs, path)
    for entry in fs.listdir(site, "content"):
        stem = entry.name.split(".", 1)[0]
        if stem.casefold() not in names:
            continue
        if entry.is_dir and not entry.is_symlink:
            yield from _walk(fs, entry.path, 8, MAX_PACKAGE_ENTRIES)
        elif not entry.is_dir:
            yield entry.path[: len(entry.path) - len(entry.name)], entry.name


def _top_level(fs: FsView, dist_info: str) -> set[str]:
    """Module names a distribution installs: top_level.txt, else RECORD's first components,
    else its own name."""
    names: set[str] = set()
    text = fs.parsed(dist_info + "/top_level.txt", text_of, "content", METADATA_LIMIT)
    if text:
        names |= {line.strip().casefold() for line in text.splitlines() if line.strip()}
    if not names:
        record = fs.parsed(dist_info + "/RECORD", _record_heads, "content", METADATA_LIMIT)
        names |= record or set()
    if not names:
        base = os.path.basename(dist_info).split("-", 1)[0]
        names.add(base.casefold())
    names.discard("__pycache__")
    return names


def _record_heads(data: bytes) -> set[str]:
    """Top-level module names from a RECORD file's paths."""
    names: set[str] = set()
    for line in data.decode("utf-8", "replace").splitlines():
        head = line.split(",", 1)[0].split("/", 1)[0]
        if head and not head.endswith((".dist-info", ".egg-info", ".data")) and head != "..":
            names.add(head.split(".", 1)[0].casefold())
    return names


def _walk(fs: FsView, top: str, max_depth: int, max_entries: int) -> Iterator[tuple[str, str]]:
    """(folder path + "/", name) of the files under `top`, breadth first, never through
    links, pruned folders or loops; at most `max_entries` entries looked at (a blind spot
    says so when there are more). Names, not entries: most files of a program place are
    never candidates (`file_kind`), and their paths are never built."""
    queue: list[tuple[str, int]] = [(top, 0)]
    seen: set[int] = set()
    count = 0
    while queue:
        folder, depth = queue.pop(0)
        listing = fs.listing(folder, "content")
        prefix = folder if folder.endswith("/") else folder + "/"
        for name, flags, ino in zip(listing.names, listing.flags, listing.inos, strict=True):
            count += 1
            if count > max_entries:
                fs.note("content", top, f"more than {max_entries} entries; the rest not examined")
                return
            if flags & IS_LINK:
                continue
            if flags & IS_DIR:
                if depth + 1 >= max_depth or name.casefold() in _PRUNE:
                    continue
                if ino and ino in seen:
                    continue
                seen.add(ino)
                queue.append((prefix + name, depth + 1))
            else:
                yield prefix, name
