"""The YARA engine (yara-x) behind `content` matchers: compiles the catalogue's YARA sources
once, scans a file's bytes read through FsView, and keeps each file's result while its
(size, mtime, inode, ctime) and the rules stay the same.

Why yara-x and bytes in memory: yara-x is the maintained YARA engine; scanning by path
would open the file outside FsView's read policy (links, owners, FIFOs), so the file is
opened by `FsView.open_content` and its open handle (bounded by `limit`) is handed to the
engine.

Where the engine runs is chosen once per process (`matcher()`): in the process itself
(`InProcessMatcher`: `wxguard check`, `--root` image scans, tests), or, in the long-running
agent on Linux, in a worker process started on first need and gone after an idle minute
(`checks/content/worker.py`), so that the idle agent holds neither yara-x nor compiled rules.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Protocol

from checks.fsview import FsView
from checks.integrity.filecache import Signature, signature_of

if TYPE_CHECKING:
    import yara_x

# Files larger than this are not content-matched (read whole into memory to be scanned).
# Counted, and reported as one blind spot per scan (see checks/probes/content.py).
BINARY_LIMIT = 64 * 1024 * 1024
TEXT_LIMIT = 4 * 1024 * 1024
# One file's scan may take at most this long; hostile bytes cannot stall the scan.
SCAN_TIMEOUT_S = 10


class ContentRulesError(ValueError):
    """YARA sources that do not compile; the message names the source and the error."""


class MatchFailed(Exception):
    """A file's content could not be matched (engine error, timeout, worker crash or hang,
    an answer that makes no sense): the message is the reason of its blind spot."""


class TooLarge(Exception):
    """The file holds more than the limit of its kind; content not matched."""


@dataclass(frozen=True, slots=True)
class ContentHit:
    """A YARA rule that matched a file, and what it matched (pattern ids and their text)."""

    rule: str
    detail: str


@functools.lru_cache(maxsize=8)
def compile_sources(sources: tuple[tuple[str, str], ...]) -> yara_x.Rules:
    """Compiled rules for (origin, YARA text) sources; cached, so once per catalogue.

    Raises ContentRulesError naming the source that does not compile, or ImportError when
    yara-x is not installed.
    """
    import yara_x

    compiler = yara_x.Compiler()
    compiler.enable_includes(False)  # a policy's source must not read files on the machine
    compiler.define_global("kind", "")
    for origin, text in sources:
        try:
            compiler.add_source(text, origin)
        except yara_x.CompileError as exc:
            raise ContentRulesError(f"{origin}: YARA rules do not compile: {exc}") from exc
    return compiler.build()


def rule_names(sources: tuple[tuple[str, str], ...]) -> set[str]:
    """The names of the (non-private) rules the sources define (compiled by `matcher()`).

    Raises ContentRulesError, ImportError (no yara-x) or MatchFailed (no worker)."""
    return matcher().names(sources)


def sources_digest(sources: Iterable[tuple[str, str]]) -> str:
    h = hashlib.sha256()
    for origin, text in sources:
        h.update(origin.encode("utf-8", "surrogatepass") + b"\0")
        h.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()


def _printable(data: bytes) -> str:
    text = data.replace(b"\0", b"").decode("utf-8", "replace")
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text[:80]


class Matcher(Protocol):
    """Where YARA rules run: `names` compiles sources (errors as for `compile_sources`);
    `match` scans the open regular file `fh` (read from offset 0, at most `limit` bytes,
    never reopened by path) as a file of `kind`, raising TooLarge or MatchFailed."""

    def names(self, sources: tuple[tuple[str, str], ...]) -> set[str]: ...

    def match(
        self, sources: tuple[tuple[str, str], ...], fh: BinaryIO, kind: str, limit: int
    ) -> tuple[ContentHit, ...]: ...


def read_bounded(fd: int, limit: int) -> bytes:
    """The bytes of the open file `fd` from offset 0, at most `limit` + 1 (one more tells
    that the file is over the limit). Raises OSError.

    The file's size is asked first and read in one call, so its bytes are copied once, from
    the page cache into the one buffer that is scanned (reading in chunks and joining them
    copied every byte twice and faulted in twice the memory: about as costly as the scan)."""
    want = min(os.fstat(fd).st_size, limit) + 1
    if sys.platform == "win32":
        os.lseek(fd, 0, os.SEEK_SET)  # no pread on Windows
    chunks: list[bytes] = []
    got = 0
    while got <= limit:
        if sys.platform == "win32":
            chunk = os.read(fd, want)
        else:
            chunk = os.pread(fd, want, got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
        want = min(limit + 1 - got, 1 << 20)  # the file grew or a read came short
    if len(chunks) == 1:
        return chunks[0]
    return b"".join(chunks)


def _hits(
    results: yara_x.ScanResults, read_at: Callable[[int, int], bytes]
) -> tuple[ContentHit, ...]:
    """Each matching rule with the text of its first matched patterns (`read_at(offset,
    length)` gives the file's bytes there)."""
    hits: list[ContentHit] = []
    for rule in results.matching_rules:
        shown: list[str] = []
        for pattern in rule.patterns:
            if pattern.matches and len(shown) < 6:
                m = pattern.matches[0]
                shown.append(_printable(read_at(m.offset, min(m.length, 120))))
        detail = ", ".join(dict.fromkeys(s for s in shown if s))
        hits.append(ContentHit(rule.identifier, detail))
    return tuple(hits)


def match_bytes(scanner: yara_x.Scanner, data: bytes, kind: str) -> tuple[ContentHit, ...]:
    """The rules `scanner` finds in `data` scanned as a file of `kind` ("binary", "script",
    "config"), each with the first text of its matched patterns. Raises MatchFailed."""
    import yara_x

    scanner.set_global("kind", kind)
    try:
        results = scanner.scan(data)
    except (yara_x.TimeoutError, yara_x.ScanError) as exc:
        raise MatchFailed(type(exc).__name__) from exc
    return _hits(results, lambda at, n: data[at : at + n])


def _mappable(fd: int) -> str | None:
    """A path that opens the very file `fd` is open on (Linux: /proc/self/fd/N, a link to the
    open file, not to a name), when this process may open it; else None. A worker that gave
    up root may open only files that everyone may read; the others are read through `fd`."""
    if sys.platform != "linux":
        return None
    path = f"/proc/self/fd/{fd}"
    try:
        probe = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    os.close(probe)
    return path


def match_open_file(
    scanner: yara_x.Scanner, fd: int, kind: str, limit: int, mapped: bool = False
) -> tuple[ContentHit, ...]:
    """The rules `scanner` finds in the open regular file `fd` (from offset 0, at most `limit`
    bytes) scanned as a file of `kind`. Raises TooLarge, MatchFailed or OSError (not read).

    `mapped`: let yara-x map the file (`Scanner.scan_file` of /proc/self/fd/N, memmap2) instead
    of reading it into memory: no copy at all, and the kernel reads the file ahead
    (POSIX_FADV_WILLNEED) while the scan runs, so a cold file costs about one read. Only for
    the worker process: a file truncated while mapped kills its reader (SIGBUS), which for the
    worker is a blind spot and a restart, but would end a CLI or an in-process agent."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise MatchFailed("not a regular file")
    size = st.st_size
    if size > limit:
        raise TooLarge()
    path = _mappable(fd) if mapped else None
    if path is None or sys.platform != "linux":
        data = read_bounded(fd, limit)
        if len(data) > limit:
            raise TooLarge()
        return match_bytes(scanner, data, kind)
    import yara_x

    os.posix_fadvise(fd, 0, size, os.POSIX_FADV_WILLNEED)
    scanner.set_global("kind", kind)
    try:
        results = scanner.scan_file(path)
    except (yara_x.TimeoutError, yara_x.ScanError) as exc:
        raise MatchFailed(type(exc).__name__) from exc
    if os.fstat(fd).st_size > limit:  # grew past the limit while it was scanned
        raise TooLarge()
    return _hits(results, lambda at, n: os.pread(fd, n, at))


def new_scanner(rules: yara_x.Rules) -> yara_x.Scanner:
    import yara_x

    scanner = yara_x.Scanner(rules)
    scanner.set_timeout(SCAN_TIMEOUT_S)
    scanner.max_matches_per_pattern(64)
    return scanner


class InProcessMatcher:
    """Matches in this process: yara-x imported and the rules compiled here."""

    def __init__(self) -> None:
        # yara-x scanners are bound to the thread that made them (dropping one on another
        # thread raises): one per thread and rule set, dropped with the thread.
        self._local = threading.local()

    def names(self, sources: tuple[tuple[str, str], ...]) -> set[str]:
        return {r.identifier for r in compile_sources(sources)}

    def match(
        self, sources: tuple[tuple[str, str], ...], fh: BinaryIO, kind: str, limit: int
    ) -> tuple[ContentHit, ...]:
        mine: tuple[tuple[tuple[str, str], ...], yara_x.Scanner] | None = getattr(
            self._local, "scanner", None
        )
        if mine is None or mine[0] != sources:
            mine = (sources, new_scanner(compile_sources(sources)))
            self._local.scanner = mine
        try:
            return match_open_file(mine[1], fh.fileno(), kind, limit)
        except OSError as exc:
            raise MatchFailed(f"not read: {exc.strerror or exc}") from exc


_matcher: Matcher | None = None


def matcher() -> Matcher:
    """This process's matcher: in-process unless `use_matcher` chose another (the worker)."""
    global _matcher
    if _matcher is None:
        _matcher = InProcessMatcher()
    return _matcher


def use_matcher(chosen: Matcher) -> None:
    """Match with `chosen` from now on (`checks.content.worker.use_worker` picks the worker)."""
    global _matcher
    _matcher = chosen


@dataclass(slots=True)
class ContentStats:
    files_scanned: int = 0
    bytes_scanned: int = 0
    results_reused: int = 0
    too_large: int = 0


@dataclass(slots=True)
class ContentScanner:
    """Scans files with one rule set (through `matcher()`), remembering results between scans.

    `results` maps path -> (file signature, rules digest, hits); an entry is reused while
    the file's signature and the rules are unchanged, so a warm rescan reads no bytes.
    """

    sources: tuple[tuple[str, str], ...]
    results: dict[str, tuple[Signature, str, str, tuple[ContentHit, ...]]] = field(
        default_factory=dict
    )
    stats: ContentStats = field(default_factory=ContentStats)
    _digest: str = ""

    def __post_init__(self) -> None:
        self._digest = sources_digest(self.sources)

    def use(self, sources: tuple[tuple[str, str], ...]) -> None:
        """Switch to another rule set (a new policy); cached results of the old one expire."""
        if sources != self.sources:
            self.sources = sources
            self._digest = sources_digest(sources)

    def is_cached(self, path: str, sig: Signature, kind: str) -> bool:
        item = self.results.get(path)
        return item is not None and item[:3] == (sig, self._digest, kind)

    def last_hits(self, path: str, kind: str) -> tuple[ContentHit, ...] | None:
        """What the current rules matched in `path` when it was last matched as `kind`, without
        looking at the file (None: never matched, other rules, or another kind). Only for a
        caller that knows the file has not changed since (`FsView.events_cover_files`)."""
        item = self.results.get(path)
        if item is not None and item[1] == self._digest and item[2] == kind:
            self.stats.results_reused += 1
            return item[3]
        return None

    def cached(self, path: str, sig: Signature, kind: str) -> tuple[ContentHit, ...] | None:
        item = self.results.get(path)
        if item is not None and item[0] == sig and item[1] == self._digest and item[2] == kind:
            self.stats.results_reused += 1
            return item[3]
        return None

    def scan_file(
        self, fs: FsView, path: str, kind: str, probe: str = "content"
    ) -> tuple[ContentHit, ...] | None:
        """The rules that match the file at `path` (opened through `fs`, its open handle given
        to the matcher), or None when it could not be read or matched (a blind spot noted by
        `fs`) or is larger than the limit of its kind."""
        limit = BINARY_LIMIT if kind == "binary" else TEXT_LIMIT
        st = fs.stat(path)
        if st is not None:
            hit = self.cached(path, signature_of(st), kind)
            if hit is not None:
                return hit
            if st.st_size > limit:
                self.stats.too_large += 1
                return None
        opened = fs.open_content(path, probe, limit)
        if opened is None:
            return None
        fh, st = opened
        with fh:
            try:
                hits = matcher().match(self.sources, fh, kind, limit)
            except TooLarge:
                self.stats.too_large += 1
                return None
            except MatchFailed as exc:
                fs.note(probe, path, f"content not matched: {exc}")
                return None
        self.stats.files_scanned += 1
        self.stats.bytes_scanned += min(st.st_size, limit)
        self.results[path] = (signature_of(st), self._digest, kind, hits)
        return hits

    def forget(self, keep: set[str]) -> None:
        """Drop cached results of files no longer candidates (bounded memory)."""
        for path in [p for p in self.results if p not in keep]:
            del self.results[path]
