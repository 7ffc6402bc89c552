"""Parsers for the small text formats probes read: .desktop entries and dpkg status."""

from __future__ import annotations


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
