"""Windows registry hive fixtures, built for real with hivex's `hivexregedit --merge` (Debian
package libwin-hivex-perl / libhivex-bin) into an empty hive made here: hivex can edit a
hive but not create one, and an empty hive is 8 KiB of well-known structure (a base block,
one hive bin holding the root key and its security descriptor)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

needs_hivex = pytest.mark.skipif(
    shutil.which("hivexregedit") is None, reason="hivexregedit (libwin-hivex-perl) is missing"
)


def empty_hive(root_name: str = "ROOT") -> bytes:
    """A valid empty hive: base block ("regf", version 1.3, checksum) and one 4 KiB bin with
    the root key (nk) and a minimal self-relative security descriptor (sk) it points to."""
    name = root_name.encode("ascii")
    nk_off = 0x20
    nk_len = 4 + 76 + len(name)
    sk_off = nk_off + nk_len + (-nk_len % 8)
    fields = [0x2C, 0, 0, 0xFFFFFFFF, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF, 0, 0xFFFFFFFF]
    fields += [sk_off, 0xFFFFFFFF, 0, 0, 0, 0, 0, len(name), 0]
    nk = b"nk" + struct.pack("<HQ" + "I" * 15 + "HH", *fields) + name
    nk_cell = nk + b"\0" * (-(len(nk) + 4) % 8)
    nk_cell = struct.pack("<i", -(len(nk_cell) + 4)) + nk_cell
    descriptor = struct.pack("<BBHIIII", 1, 0, 0x8004, 0, 0, 0, 0)
    sk = b"sk" + struct.pack("<HIIII", 0, sk_off, sk_off, 1, len(descriptor)) + descriptor
    sk_cell = sk + b"\0" * (-(len(sk) + 4) % 8)
    sk_cell = struct.pack("<i", -(len(sk_cell) + 4)) + sk_cell
    free = 4096 - 0x20 - len(nk_cell) - len(sk_cell)
    hbin = b"hbin" + struct.pack("<III", 0, 4096, 0) + b"\0" * 16 + nk_cell + sk_cell
    hbin += struct.pack("<i", free) + b"\0" * (free - 4)
    base = bytearray(4096)
    struct.pack_into("<4sIIQIIIIIII", base, 0, b"regf", 1, 1, 0, 1, 3, 0, 1, nk_off, 4096, 1)
    checksum = 0
    for (word,) in struct.iter_unpack("<I", bytes(base[:508])):
        checksum ^= word
    struct.pack_into("<I", base, 508, checksum)
    return bytes(base) + hbin


def _reg_string(text: str) -> str:
    """A REG_SZ as hex(1): UTF-16LE with its terminator (hivexregedit reads bytes, so
    non-ASCII text goes in this way)."""
    data = (text + "\0").encode("utf-16-le")
    return "hex(1):" + ",".join(f"{b:02x}" for b in data)


def write_hive(path: Path, keys: dict[str, dict[str, str]]) -> Path:
    """A hive at `path` holding `keys` (paths relative to the hive's root, `\\` separated)
    with string values, merged in by hivexregedit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(empty_hive())
    lines = ["Windows Registry Editor Version 5.00", ""]
    seen: set[str] = set()
    for key, values in keys.items():
        parts = key.split("\\")
        for depth in range(1, len(parts)):
            parent = "\\".join(parts[:depth])
            if parent not in seen:
                seen.add(parent)
                lines += [f"[\\{parent}]", ""]
        seen.add(key)
        lines.append(f"[\\{key}]")
        lines += [f'"{name}"={_reg_string(value)}' for name, value in values.items()]
        lines.append("")
    reg = path.with_suffix(".reg")
    reg.write_text("\r\n".join(lines) + "\r\n", encoding="ascii")
    subprocess.run(
        ["hivexregedit", "--merge", str(path), str(reg), "--encoding", "UTF-16LE"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    reg.unlink()
    return path
