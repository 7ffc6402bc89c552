"""The YARA engine (yara-x) behind `content` matchers: compiles the catalogue's YARA sources
once, scans a file's bytes read through FsView, and keeps each file's result while its
(size, mtime, inode, ctime) and the rules stay the same.

Why yara-x and bytes in memory: yara-x is the maintained YARA engine; scanning by path
would open the file outside FsView's read policy (links, owners, FIFOs), so the file is
opened by `FsView.open_content` and its bytes (bounded by `limit`) are handed to the engine.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
    """The names of the (non-private) rules the sources define."""
    return {r.identifier for r in compile_sources(sources)}


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


@dataclass(slots=True)
class ContentStats:
    files_scanned: int = 0
    bytes_scanned: int = 0
    results_reused: int = 0
    too_large: int = 0


@dataclass(slots=True)
class ContentScanner:
    """Scans files with one compiled rule set, remembering results between scans.

    `results` maps path -> (file signature, rules digest, hits); an entry is reused while
    the file's signature and the rules are unchanged, so a warm rescan reads no bytes.
    """

    sources: tuple[tuple[str, str], ...]
    results: dict[str, tuple[Signature, str, str, tuple[ContentHit, ...]]] = field(
        default_factory=dict
    )
    stats: ContentStats = field(default_factory=ContentStats)
    _digest: str = ""
    _rules: yara_x.Rules | None = None
    # yara-x scanners are bound to the thread that made them (dropping one on another thread
    # raises): one per thread, dropped with it. The compiled rules are shared.
    _local: threading.local = field(default_factory=threading.local)

    def __post_init__(self) -> None:
        self._digest = sources_digest(self.sources)

    def use(self, sources: tuple[tuple[str, str], ...]) -> None:
        """Switch to another rule set (a new policy); cached results of the old one expire."""
        if sources != self.sources:
            self.sources = sources
            self._digest = sources_digest(sources)
            self._rules = None
            self._local = threading.local()

    def _yara(self) -> yara_x.Scanner:
        scanner: yara_x.Scanner | None = getattr(self._local, "scanner", None)
        if scanner is None:
            import yara_x

            if self._rules is None:
                self._rules = compile_sources(self.sources)
            scanner = yara_x.Scanner(self._rules)
            scanner.set_timeout(SCAN_TIMEOUT_S)
            scanner.max_matches_per_pattern(64)
            self._local.scanner = scanner
        return scanner

    def is_cached(self, path: str, sig: Signature, kind: str) -> bool:
        item = self.results.get(path)
        return item is not None and item[:3] == (sig, self._digest, kind)

    def cached(self, path: str, sig: Signature, kind: str) -> tuple[ContentHit, ...] | None:
        item = self.results.get(path)
        if item is not None and item[0] == sig and item[1] == self._digest and item[2] == kind:
            self.stats.results_reused += 1
            return item[3]
        return None

    def scan_file(
        self, fs: FsView, path: str, kind: str, probe: str = "content"
    ) -> tuple[ContentHit, ...] | None:
        """The rules that match the file at `path` (read through `fs`), or None when it could
        not be read (a blind spot noted by `fs`) or is larger than the limit of its kind."""
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
        try:
            with fh:
                data = fh.read(limit + 1)
        except OSError as exc:
            fs.note(probe, path, exc)
            return None
        if len(data) > limit:
            self.stats.too_large += 1
            return None
        sig = signature_of(st)
        hits = self.scan_bytes(data, kind, path, fs, probe)
        if hits is None:
            return None
        self.stats.files_scanned += 1
        self.stats.bytes_scanned += len(data)
        self.results[path] = (sig, self._digest, kind, hits)
        return hits

    def scan_bytes(
        self, data: bytes, kind: str, what: str = "", fs: FsView | None = None, probe: str = ""
    ) -> tuple[ContentHit, ...] | None:
        """The rules matching `data` scanned as a file of `kind` ("binary", "script", "config")."""
        import yara_x

        scanner = self._yara()
        scanner.set_global("kind", kind)
        try:
            results = scanner.scan(data)
        except (yara_x.TimeoutError, yara_x.ScanError) as exc:
            if fs is not None:
                fs.note(probe, what, f"content not matched: {type(exc).__name__}")
            return None
        hits: list[ContentHit] = []
        for rule in results.matching_rules:
            shown: list[str] = []
            for pattern in rule.patterns:
                if pattern.matches and len(shown) < 6:
                    m = pattern.matches[0]
                    shown.append(_printable(data[m.offset : m.offset + min(m.length, 120)]))
            detail = ", ".join(dict.fromkeys(s for s in shown if s))
            hits.append(ContentHit(rule.identifier, detail))
        return tuple(hits)

    def forget(self, keep: set[str]) -> None:
        """Drop cached results of files no longer candidates (bounded memory)."""
        for path in [p for p in self.results if p not in keep]:
            del self.results[path]
