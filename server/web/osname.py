"""Operating-system strings as a person reads them.

Agents report `platform.platform()` (docs.python.org/3/library/platform.html#platform.platform),
e.g. "Windows-10-10.0.22631-SP0", "macOS-14.4.1-arm64-arm-64bit",
"Linux-6.1.0-18-amd64-x86_64-with-glibc2.36". Windows 11 still reports itself as "10" there;
its build number (22000 and later) tells them apart
(learn.microsoft.com/windows/release-health/windows11-release-information).
Anything else (a string an agent already made readable, e.g. "Windows 11") is shown as is.
"""

from __future__ import annotations

import re

_WINDOWS = re.compile(r"^Windows-(\d+)-(\d+)\.(\d+)\.(\d+)(?:-(.*))?$")
_MACOS = re.compile(r"^macOS-(\d+(?:\.\d+)*)-(\w+)")
_LINUX = re.compile(r"^Linux-(\d+\.\d+(?:\.\d+)?)[^-]*(?:-[^-]+)*?-(x86_64|aarch64|armv7l|i686)")


def os_display(raw: str) -> str:
    """ "Windows 11 (build 22631)", "macOS 14.4.1 (arm64)", "Linux 6.1.0 (x86_64)", or `raw`."""
    text = raw.strip()
    if match := _WINDOWS.match(text):
        release, build = match.group(1), int(match.group(4))
        if release == "10" and build >= 22000:
            release = "11"
        return f"Windows {release} (build {build})"
    if match := _MACOS.match(text):
        return f"macOS {match.group(1)} ({match.group(2)})"
    if match := _LINUX.match(text):
        return f"Linux {match.group(1)} ({match.group(2)})"
    return text
