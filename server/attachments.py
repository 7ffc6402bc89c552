"""Report attachments on disk: content-type detection by magic bytes, random names, safe reads."""

from __future__ import annotations

import hashlib
import os
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

# Types an employee plausibly attaches: screenshots, photos, PDFs and plain text (logs).
_MAGIC: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
]


class AttachmentRejected(ValueError):
    """The file is of a type we do not accept or too large; the message says which."""


@dataclass(frozen=True)
class StoredAttachment:
    stored_name: str
    filename: str
    content_type: str
    size: int
    sha256: str


def sniff(data: bytes) -> str | None:
    """The content type the bytes really are, or None when we do not accept them."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if b"\x00" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return "text/plain"
    return None


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
    folder.mkdir(parents=True, exist_ok=True)
    stored_name = secrets.token_hex(16)
    fd = os.open(folder / stored_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return StoredAttachment(
        stored_name=stored_name,
        filename=clean_filename(filename),
        content_type=kind,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def remove(folder: Path, stored_name: str) -> None:
    (folder / stored_name).unlink(missing_ok=True)


def path_of(folder: Path, stored_name: str) -> Path:
    if not stored_name.isalnum():  # names are ours (hex) but never trust a DB value as a path
        raise AttachmentRejected("bad stored name")
    return folder / stored_name
