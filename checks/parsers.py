"""Parsers for the formats probes read from users' files: JSON, plists, .desktop entries, dpkg status.

Every parser here meets hostile bytes: its input is already bounded in size by `FsView`
(by kind of file), each runs in time linear in that size, nesting is bounded before a
recursive parser sees it, and every failure is an exception that `FsView.parsed` turns into
a blind spot for that one file.
"""

from __future__ import annotations

import json
import plistlib
import re
from array import array
from itertools import accumulate
from typing import Any

# Deeper than any real package.json, manifest or browser profile (they nest ~15 levels);
# far below where a recursive parser would exhaust the stack.
MAX_JSON_DEPTH = 128
# A string, or an unterminated one running to the end of the text. Possessive, and an
# unterminated string swallows the rest: matching it again from each later quote (`"\"\"…`)
# made the old pattern quadratic, an hour of CPU for one 1 MiB package.json.
_JSON_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.S)
# JSON elements (openings, commas, colons outside strings) a user's file may hold. Each costs
# ~50-100 bytes parsed: 32 MiB of `[{},{},…]` (a browser profile's limit) was 1 GB in the root
# agent; this keeps a file under ~200 MB, above the largest real browser profile.
MAX_JSON_TOKENS = 2_000_000
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 / -1 as signed bytes


def json_depth_ok(data: bytes, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text `data` nests at most `max_depth` deep (or is not JSON at all).

    Strings are removed (they may hold brackets), then the running count of opening minus
    closing brackets is followed once, in C (`accumulate` over signed bytes): linear in the
    size, about 0.02 s per MiB. Mismatched or unbalanced brackets are left to the JSON
    parser, which rejects them in linear time too.
    """
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= max_depth:
        return True
    return max(accumulate(array("b", brackets.translate(_STEPS)))) <= max_depth


def load_json(data: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON from a user's file, nesting and element count bounded (ValueError when deeper than
    `max_depth` or holding more than `MAX_JSON_TOKENS` elements)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not json_depth_ok(data, max_depth):
        raise ValueError(f"nested deeper than {max_depth} levels (or unbalanced)")
    skeleton = _JSON_STRING.sub(b"", data)
    if sum(skeleton.count(c) for c in b"[{,:") > MAX_JSON_TOKENS:
        raise ValueError(f"more than {MAX_JSON_TOKENS} JSON elements")
    return json.loads(data.decode("utf-8", "replace"))


def load_json_object(data: bytes) -> dict[str, Any]:
    """A JSON object from a user's file (ValueError when it is anything else)."""
    value = load_json(data)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def load_plist(data: bytes) -> dict[str, Any]:
    """A property list whose top is a dictionary (ValueError for anything else).

    Size is bounded by the caller's read limit; a binary plist's references may nest or
    loop, which raises RecursionError and is a blind spot like any other failure.
    """
    try:
        value = plistlib.loads(data)
    except Exception as exc:  # expat, binascii, struct … errors all mean "not a plist"
        raise ValueError(f"not a property list ({type(exc).__name__})") from exc
    if not isinstance(value, dict):
        raise ValueError("not a dictionary")
    return value


def parse_desktop_entry(data: bytes) -> dict[str, str]:
    """The [Desktop Entry] group's keys (unlocalised). Lenient: desktop files in the wild are."""
    out: dict[str, str] = {}
    in_group = False
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            in_group = line == "[Desktop Entry]"
            continue
        if in_group and "=" in line:
            key, _, value = line.partition("=")
            key = key.strip()
            if "[" not in key and key not in out:
                out[key] = value.strip()
    if not out:
        raise ValueError("no [Desktop Entry] group")
    return out


def parse_dpkg_status(data: bytes) -> dict[str, str]:
    """Installed packages (name -> version) from /var/lib/dpkg/status."""
    out: dict[str, str] = {}
    for stanza in data.decode("utf-8", "replace").split("\n\n"):
        name = version = status = ""
        for line in stanza.splitlines():
            if line.startswith("Package:"):
                name = line[8:].strip()
            elif line.startswith("Version:"):
                version = line[8:].strip()
            elif line.startswith("Status:"):
                status = line[7:].strip()
        if name and status.endswith(" installed"):
            out[name] = version
    return out


def parse_desktop_exec(exec_line: str) -> str:
    """The program a desktop entry's Exec= runs (first word, quotes and field codes removed)."""
    text = exec_line.strip()
    if text.startswith('"'):
        end = text.find('"', 1)
        return text[1:end] if end > 0 else text[1:]
    return text.split(" ", 1)[0] if text else ""
