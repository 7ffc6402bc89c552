"""Nuitka one-file programs: the file names of the payload a Nuitka one-file executable carries.

Facts from Nuitka's own writer and loader (github.com/Nuitka/Nuitka,
`nuitka/tools/onefile_compressor/OnefileCompressor.py`, `nuitka/build/static_src/
OnefileBootstrap.c`, Nuitka 4.x; the layout has been stable since 0.6.x):

- the payload is `KA` + one byte, `Y` (zstd-compressed) or `X` (stored), then one entry per
  file of the standalone folder, then an empty name, then (little-endian) an 8-byte length
  of all that;
- an entry is the file's relative path, NUL-terminated (UTF-8 with `/` on Linux and macOS,
  UTF-16LE with `\\` on Windows); on Linux and macOS a flags byte follows (1 executable,
  2 symbolic link: the link's target follows as a second name and nothing else); then the
  size (8 bytes), a CRC-32 of the content (4 bytes, never 0) unless the program unpacks to
  a fresh temporary folder each run, and the content;
- `Y` compresses the whole list as one zstd stream, except with `--onefile-as-archive`,
  where each content alone is a zstd frame preceded by its compressed size (4 bytes);
- the payload is appended to the bootstrap executable (older releases, and the `X` form),
  or linked into it: a Windows resource (RCDATA 27), a Mach-O section, an ELF data blob. The
  bootstrap is small (well under a MiB), so a linked payload starts near the file's head.

Python modules are compiled into the main program and leave no name; the packages show by
their extension modules and data files (`wcferry/sdk.dll`), as in a PyInstaller archive.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Callable
from typing import BinaryIO

MAGIC = re.compile(rb"KA[XY]")
_ZSTD_FRAME = b"\x28\xb5\x2f\xfd"
HEAD_SCAN = 8 * 1024 * 1024  # where a linked payload is looked for
MAX_CANDIDATES = 64  # "KA?" byte triples tried in that head
MAX_ENTRIES = 100_000
MAX_NAME = 4096  # bytes of one entry's name
MAX_STREAM = 512 * 1024 * 1024  # decompressed bytes read through, at most
_CHUNK = 1024 * 1024


class _End(Exception):
    """The payload ended early or broke its format: not (or no longer) a Nuitka payload."""


class _Reader:
    """Sequential reads over the payload with push-back; `skip` seeks where it can."""

    def __init__(self, read: Callable[[int], bytes], seek: Callable[[int], object] | None) -> None:
        self._read = read
        self._seek = seek
        self._back = b""
        self.consumed = 0

    def read(self, n: int) -> bytes:
        out = self._back[:n]
        self._back = self._back[n:]
        while len(out) < n:
            data = self._read(min(n - len(out), _CHUNK))
            if not data:
                raise _End
            out += data
        self.consumed += n
        if self.consumed > MAX_STREAM:
            raise _End
        return out

    def unread(self, data: bytes) -> None:
        self._back = data + self._back
        self.consumed -= len(data)

    def skip(self, n: int, crc: int | None = None) -> tuple[int, bytes]:
        """Pass `n` bytes; returns their CRC-32 (when asked, reading them) and last 4 bytes."""
        if crc is None and self._seek is not None and not self._back:
            self._seek(n)
            self.consumed += n
            return 0, b""
        tail = b""
        value = 0
        while n > 0:
            data = self.read(min(n, _CHUNK))
            n -= len(data)
            if crc is not None:
                value = zlib.crc32(data, value)
            tail = (tail + data)[-4:]
        return value, tail


def payload_names(fh: BinaryIO, st: os.stat_result) -> list[str] | None:
    """The file names in a Nuitka one-file payload, or None when the file carries none."""
    size = st.st_size
    if size < 16:
        return None
    starts: list[int] = []
    fh.seek(size - 8)
    (length,) = struct.unpack("<Q", fh.read(8))
    if 3 <= length <= size - 8:
        starts.append(size - 8 - length)  # appended
    fh.seek(0)
    head = fh.read(min(size, HEAD_SCAN))
    for match in MAGIC.finditer(head):
        if len(starts) > MAX_CANDIDATES:
            break
        if match.start() not in starts:
            starts.append(match.start())
    for start in starts:
        names = _try(fh, start)
        if names:
            return names
    return None


def _try(fh: BinaryIO, start: int) -> list[str] | None:
    fh.seek(start)
    header = fh.read(3 + len(_ZSTD_FRAME))
    if header[:2] != b"KA" or header[2:3] not in (b"X", b"Y"):
        return None
    try:
        if header[2:3] == b"Y" and header[3:] == _ZSTD_FRAME:
            import zstandard

            fh.seek(start + 3)
            stream = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=False)
            return _entries(_Reader(stream.read, None), archive=False)
        fh.seek(start + 3)
        return _entries(
            _Reader(fh.read, lambda n: fh.seek(n, os.SEEK_CUR)),
            archive=header[2:3] == b"Y",
        )
    except (_End, UnicodeDecodeError, ValueError, OSError):
        return None
    except Exception as exc:  # zstandard.ZstdError: not a payload after all
        if type(exc).__module__.startswith("zstandard"):
            return None
        raise


def _name(reader: _Reader, wide: bool) -> str:
    unit = 2 if wide else 1
    raw = b""
    while True:
        ch = reader.read(unit)
        if ch == b"\0" * unit:
            break
        raw += ch
        if len(raw) > MAX_NAME:
            raise _End
    text = raw.decode("utf-16-le" if wide else "utf-8")
    if any(c < " " for c in text):
        raise _End
    return text


def _entries(reader: _Reader, archive: bool) -> list[str] | None:
    first = reader.read(2)
    reader.unread(first)
    wide = first[1:2] == b"\0" and first[:1] != b"\0"  # Windows: UTF-16LE names, no flags
    names: list[str] = []
    crc: bool | None = None  # whether entries carry a CRC-32, learnt from the first file
    while len(names) < MAX_ENTRIES:
        name = _name(reader, wide)
        if not name:
            return names or None
        if not wide:
            (flags,) = reader.read(1)
            if flags > 3:
                raise _End
            if flags & 2:
                names.append(name)
                _name(reader, wide)  # the link's target
                continue
        (size,) = struct.unpack("<Q", reader.read(8))
        names.append(name)
        crc = _archive_entry(reader, crc) if archive else _stored_entry(reader, size, crc)
    return names


def _stored_entry(reader: _Reader, size: int, crc: bool | None) -> bool:
    """Pass one entry's (CRC and) content; the first one tells whether a CRC is there: the
    4 bytes after the size are it exactly when they equal the CRC-32 of the next `size`."""
    if crc is not None:
        if crc:
            reader.read(4)
        reader.skip(size)
        return crc
    stored = reader.read(4)
    value, tail = reader.skip(size, crc=0)
    expected = int.from_bytes(stored, "little")
    if expected in (value, 1 if value == 0 else -1):
        return True
    # No CRC: the content began at those 4 bytes, so its last 4 were read past it.
    if size < 4:
        raise _End  # too short to tell; a real payload's first file is the program
    reader.unread(tail)
    return False


def _archive_entry(reader: _Reader, crc: bool | None) -> bool:
    """Pass one `--onefile-as-archive` entry: [CRC-32] compressed size, zstd frame. The
    first one tells whether a CRC is there: only one reading puts a zstd frame after it."""
    head = reader.read(12)
    for with_crc in [crc] if crc is not None else [True, False]:
        at = 4 if with_crc else 0
        csize = int.from_bytes(head[at : at + 4], "little")
        if head[at + 4 : at + 8] == _ZSTD_FRAME and csize >= 12 - at - 4:
            reader.skip(csize - (12 - at - 4))
            return bool(with_crc)
    raise _End
