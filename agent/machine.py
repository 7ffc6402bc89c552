"""This machine's stable id, hashed: sent at enrollment so the server links a machine IT enrolls
again to its earlier record (docs/protocol.md, `EnrollRequest.machine_id`).

Where each platform keeps one:

- Linux: systemd's `/etc/machine-id` (D-Bus's `/var/lib/dbus/machine-id` on older systems),
  https://www.freedesktop.org/software/systemd/man/latest/machine-id.html
- macOS: the `IOPlatformUUID` property of the `IOPlatformExpertDevice` registry entry (the
  "Hardware UUID" of System Information), read with `ioreg -rd1 -c IOPlatformExpertDevice`
  (https://developer.apple.com/documentation/iokit/kioplatformuuidkey; ioreg(8):
  https://keith.github.io/xcode-man-pages/ioreg.8.html).
- Windows: the `MachineGuid` string value of `HKLM\\SOFTWARE\\Microsoft\\Cryptography`, written
  at installation, read from the 64-bit registry view so that a 32-bit interpreter is not
  redirected to `WOW6432Node`, where it does not exist
  (https://learn.microsoft.com/en-us/windows/win32/winprog64/accessing-an-alternate-registry-view;
  winreg: https://docs.python.org/3/library/winreg.html).

The raw id never leaves the machine: `machine_id()` sends a SHA-256 of it with a wxguard prefix.
The macOS and Windows readers are tested on recorded or faked inputs only
(tests/agent/test_machine_id.py).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

LINUX_PATHS = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
IOREG = ("/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice")
CRYPTOGRAPHY_KEY = r"SOFTWARE\Microsoft\Cryptography"
_UUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
_IOREG_LINE = re.compile(r'^\s*"IOPlatformUUID"\s*=\s*"([^"]*)"\s*$', re.MULTILINE)
REG_SZ = 1  # winreg.REG_SZ, the same on every Windows

# (value, registry type) of MachineGuid, or None when the key or value is missing.
RegistryReader = Callable[[], tuple[object, int] | None]


def hashed(raw: str) -> str:
    """The id as the server sees it: SHA-256 (hex) of a wxguard prefix and the raw id."""
    return hashlib.sha256(b"wxguard-machine\0" + raw.encode()).hexdigest()


def linux_id(paths: Sequence[Path] = LINUX_PATHS) -> str:
    """The first non-empty machine-id file's text, "" when none can be read."""
    for path in paths:
        try:
            raw = path.read_text("ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if raw:
            return raw
    return ""


def parse_ioreg(output: str) -> str:
    """The `IOPlatformUUID` in `ioreg -rd1 -c IOPlatformExpertDevice` output (upper case), ""
    when there is none or it is not a UUID (a virtual machine may report zeros: not an id)."""
    for match in _IOREG_LINE.finditer(output):
        value = match.group(1).strip()
        if _UUID.match(value) and set(value) - {"0", "-"}:
            return value.upper()
    return ""


def _run_ioreg() -> str:
    done = subprocess.run(list(IOREG), capture_output=True, text=True, timeout=10, check=False)
    return done.stdout if done.returncode == 0 else ""


def macos_id(run: Callable[[], str] = _run_ioreg) -> str:
    """The Mac's IOPlatformUUID, "" when ioreg cannot be run or says nothing usable."""
    try:
        return parse_ioreg(run())
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
        return ""


def _read_machine_guid() -> tuple[object, int] | None:
    if sys.platform != "win32":
        return None
    import winreg

    try:
        with winreg.OpenKey(
            winreg.HKEY_LOCAL_MACHINE,
            CRYPTOGRAPHY_KEY,
            0,
            winreg.KEY_READ | winreg.KEY_WOW64_64KEY,
        ) as key:
            value, kind = winreg.QueryValueEx(key, "MachineGuid")
    except OSError:
        return None
    return value, kind


def windows_id(read: RegistryReader = _read_machine_guid) -> str:
    """MachineGuid (lower case), "" when it is missing, not a string value or not a GUID."""
    try:
        found = read()
    except OSError:
        return ""
    if found is None:
        return ""
    value, kind = found
    if kind != REG_SZ or not isinstance(value, str):
        return ""
    value = value.strip().strip("{}")
    return value.lower() if _UUID.match(value) else ""


def machine_id(
    platform: str = sys.platform,
    *,
    linux_paths: Sequence[Path] = LINUX_PATHS,
    ioreg: Callable[[], str] = _run_ioreg,
    registry: RegistryReader = _read_machine_guid,
) -> str:
    """A hash of this machine's stable id (see the module's docstring), "" when there is none
    to read (the server then creates a new record, as before)."""
    if platform == "darwin":
        raw = macos_id(ioreg)
    elif platform == "win32":
        raw = windows_id(registry)
    else:
        raw = linux_id(linux_paths)
    return hashed(raw) if raw else ""
