"""Which report attachments the server accepts, by their bytes: the agent checks the same
before it says "queued", the server before it stores."""

from __future__ import annotations

# Types an employee plausibly attaches: screenshots, photos, PDFs and plain text (logs).
_MAGIC: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
]
ACCEPTED = "PNG, JPEG, GIF, WebP, PDF, UTF-8 text"


def sniff(data: bytes) -> str | None:
    """The content type the bytes really are, or None when the server does not accept them."""
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
