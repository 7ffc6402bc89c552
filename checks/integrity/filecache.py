"""Results computed from a file's bytes, kept while the file's (size, mtime, inode) match.

The integrity checks parse and hash large binaries (a WeChat executable is hundreds of MB).
`FsView.sha256` caches whole-file digests, but a code-signature verification or a PE
signer lookup is a different result of the same bytes; this cache keeps those, so a warm
rescan of an unchanged install re-reads nothing. The value must be a pure function of the
file's bytes (never of the client it is judged against), so it is safe to share between
scans and scanners. Bounded: the oldest entries go first.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import BinaryIO, TypeVar

from checks.fsview import MAX_STREAM, FsView

T = TypeVar("T")
Signature = tuple[int, int, int, int]


class FileResultCache:
    """(path, kind) -> (file signature, value); thread-safe, bounded."""

    def __init__(self, max_entries: int = 8192) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[tuple[str, str], tuple[Signature, object]] = OrderedDict()
        self._lock = threading.Lock()
        self.generation = 0  # bumped by every put: tells a saver whether anything is new

    def get(self, path: str, kind: str, sig: Signature) -> object | None:
        with self._lock:
            item = self._items.get((path, kind))
            if item is None or item[0] != sig:
                return None
            self._items.move_to_end((path, kind))
            return item[1]

    def put(self, path: str, kind: str, sig: Signature, value: object) -> None:
        with self._lock:
            self._items[(path, kind)] = (sig, value)
            self._items.move_to_end((path, kind))
            self.generation += 1
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def entries(self, kinds: Collection[str]) -> list[tuple[str, str, Signature, object]]:
        """(path, kind, signature, value) of the given kinds, oldest first."""
        with self._lock:
            return [(p, k, sig, v) for (p, k), (sig, v) in self._items.items() if k in kinds]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


# One per process: values depend only on file bytes, so sharing them cannot leak a verdict.
RESULTS = FileResultCache()


def signature_of(st: os.stat_result) -> Signature:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def computed(
    fs: FsView,
    path: str,
    kind: str,
    compute: Callable[[BinaryIO, int], T],
    probe: str = "integrity",
    cache: FileResultCache = RESULTS,
    reads_whole: bool = True,
) -> T | None:
    """`compute(open file, size)` for a regular file, cached on its signature.

    None when the file is missing or unreadable (unreadable is a blind spot). Whatever
    `compute` raises for bytes it cannot make sense of is a blind spot too, and the
    verdict "could not be parsed" is not cached so a fixed file is looked at again.
    Counted in the scan's hashing statistics so a warm rescan shows it re-read nothing
    (`reads_whole=False` for a computation that reads only headers: no bytes are counted).
    """
    # Under the read policy (no links out of a user's place, regular files of the right
    # owner only, non-blocking); the bound keeps a sparse terabyte from being streamed.
    opened = fs.open_content(path, probe, MAX_STREAM)
    if opened is None:
        return None
    fh, st = opened
    with fh:
        sig = signature_of(st)
        cached = cache.get(path, kind, sig)
        if cached is not None:
            fs.stats.hashes_reused += 1
            return cached  # type: ignore[return-value]
        try:
            value = compute(fh, st.st_size)
        except OSError as exc:
            fs.note(probe, path, exc)
            return None
        except Exception as exc:  # hostile bytes may break any parser
            fs.note(probe, path, f"could not be parsed: {exc or type(exc).__name__}")
            return None
    fs.stats.files_hashed += 1
    if reads_whole:
        fs.stats.bytes_hashed += st.st_size
    cache.put(path, kind, sig, value)
    return value


def digest_file(fs: FsView, path: str, algorithm: str, probe: str = "integrity") -> bytes | None:
    """A whole-file digest other than SHA-256 (legacy SHA-1 seals), cached like `computed`."""

    def run(fh: BinaryIO, _size: int) -> bytes:
        h = hashlib.new(algorithm)
        while chunk := fh.read(1 << 20):
            h.update(chunk)
        return h.digest()

    return computed(fs, path, f"digest:{algorithm}", run, probe)
