"""A Windows program's version resource (VS_VERSIONINFO): `OriginalFilename`, `CompanyName`, ….

Read with pefile (github.com/erocarrera/pefile), only the headers and the resource directory,
from a read-only map of the file (a 300 MB program is not copied into memory). The strings
are supporting facts: they are what the file says of itself, and anyone can write them; they
identify a program only together with a signature whose chain verifies (Microsoft's
VERSIONINFO resource: https://learn.microsoft.com/en-us/windows/win32/menurc/versioninfo-resource).
"""

from __future__ import annotations

import mmap
from typing import Any, BinaryIO

MAX_STRINGS = 64
MAX_VALUE = 512


def version_strings(fh: BinaryIO, size: int) -> dict[str, str]:
    """The version resource's strings of every language (first one wins), e.g.
    {"OriginalFilename": "WeChat.exe", "CompanyName": "Tencent", …}; {} without one.
    Raises pefile.PEFormatError (a ValueError's sibling the caller turns into a blind spot)
    for a file that is not a PE image."""
    import pefile

    if size < 64:
        return {}
    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        image: Any = pefile.PE(data=data, fast_load=True)
        try:
            resource = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]
            image.parse_data_directories(directories=[resource])
            out: dict[str, str] = {}
            for info in getattr(image, "FileInfo", None) or []:
                for block in info if isinstance(info, list) else [info]:
                    for table in getattr(block, "StringTable", []):
                        for key, value in table.entries.items():
                            name = _text(key)
                            if name and name not in out and len(out) < MAX_STRINGS:
                                out[name] = _text(value)[:MAX_VALUE]
            return out
        finally:
            image.close()


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip("\0 ")
    return str(value).strip("\0 ")
