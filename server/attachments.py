"""Report attachments on disk: content-type detection by magic bytes, random names, safe reads,
and the write protocol that leaves no orphan after a crash.

A file is written under a temporary name (`<name>.tmp`), the report row that names it is
committed, and only then is the file renamed to its final name (`commit`). A crash before the
commit leaves a `.tmp` no row refers to; a crash between commit and rename leaves a `.tmp` whose
row exists. `sweep`, run when the server starts, removes the first kind, finishes the second,
and removes final-named files no row refers to (left by older versions), each only once older
than a grace period so that it never races an upload in flight in another worker process.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from protocol.attachments import sniff

__all__ = ["sniff"]

log = logging.getLogger("wxguard.server.attachments")

TMP_SUFFIX = ".tmp"
# An upload is written, committed and renamed within one request; an hour is far longer.
SWEEP_GRACE_S = 3600.0


class AttachmentRejected(ValueError):
    """The file is of a type we do not accept or too large; the message says which."""


@dataclass(frozen=True)
class StoredAttachment:
    stored_name: str
    filename: str
    content_type: str
    size: int
    sha256: str


def clean_filename(name: str) -> str:
    """A display name only (files are stored under random names): no paths, no control chars."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().strip(".") or "attachment"
    return name[:200]


def store(folder: Path, filename: str, data: bytes, max_bytes: int) -> StoredAttachment:
    if len(data) > max_bytes:
        raise AttachmentRejected(f"{filename}: larger than {max_bytes} bytes")
    if not data:
        raise AttachmentRejected(f"{filename}: empty file")
    kind = sniff(data)
    if kind is None:
        raise AttachmentRejected(
            f"{filename}: only PNG, JPEG, GIF, WebP, PDF and UTF-8 text files are accepted"
        )
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stored_name = secrets.token_hex(16)
    fd = os.open(_tmp(folder, stored_name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return StoredAttachment(
        stored_name=stored_name,
        filename=clean_filename(filename),
        content_type=kind,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def commit(folder: Path, stored: Iterable[StoredAttachment]) -> None:
    """Give files written by `store` their final names; call only after the rows naming them
    are committed. A file already renamed (by a concurrent `sweep`) is left as it is."""
    items = list(stored)
    for item in items:
        try:
            os.replace(_tmp(folder, item.stored_name), folder / item.stored_name)
        except FileNotFoundError:
            if not (folder / item.stored_name).exists():
                raise
    if items:
        _fsync_dir(folder)


def remove(folder: Path, stored_name: str) -> None:
    """Remove an attachment's file, whether or not it was committed yet."""
    _tmp(folder, stored_name).unlink(missing_ok=True)
    (folder / stored_name).unlink(missing_ok=True)


@dataclass(frozen=True)
class SweepResult:
    removed: tuple[str, ...]  # file names deleted: unfinished uploads and orphans
    completed: tuple[str, ...]  # stored names whose rename a crash interrupted, now done


def sweep(
    folder: Path,
    referenced: Callable[[set[str]], set[str]],
    *,
    grace_s: float = SWEEP_GRACE_S,
    now: float | None = None,
) -> SweepResult:
    """Clean up after crashed uploads: see the module docstring.

    `referenced(names)` answers which of the given stored names a row refers to. Files
    modified less than `grace_s` seconds before `now` (wall-clock seconds, like file times;
    default the current time) are left alone. Names that are not ours (not hex) are never
    touched. Returns what was removed and completed.
    """
    if not folder.is_dir():
        return SweepResult((), ())
    now = time.time() if now is None else now
    candidates: dict[str, Path] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            stored_name = entry.name.removesuffix(TMP_SUFFIX)
            if not _is_ours(stored_name) or not entry.is_file(follow_symlinks=False):
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime < grace_s:
                continue
            candidates[entry.name] = Path(entry.path)
    known = referenced({name.removesuffix(TMP_SUFFIX) for name in candidates})
    removed: list[str] = []
    completed: list[str] = []
    for name, path in sorted(candidates.items()):
        stored_name = name.removesuffix(TMP_SUFFIX)
        if stored_name in known and name.endswith(TMP_SUFFIX):
            os.replace(path, folder / stored_name)
            completed.append(stored_name)
        elif stored_name not in known:
            path.unlink(missing_ok=True)
            removed.append(name)
    if removed or completed:
        _fsync_dir(folder)
        log.warning(
            "attachments: removed %d file(s) no report refers to, finished %d interrupted "
            "upload(s)",
            len(removed),
            len(completed),
        )
    return SweepResult(tuple(removed), tuple(completed))


def _is_ours(stored_name: str) -> bool:
    return len(stored_name) == 32 and all(c in "0123456789abcdef" for c in stored_name)


def _tmp(folder: Path, stored_name: str) -> Path:
    return folder / (stored_name + TMP_SUFFIX)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":  # Windows cannot open a folder for fsync; NTFS journals renames
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def path_of(folder: Path, stored_name: str) -> Path:
    if not stored_name.isalnum():  # names are ours (hex) but never trust a DB value as a path
        raise AttachmentRejected("bad stored name")
    return folder / stored_name
