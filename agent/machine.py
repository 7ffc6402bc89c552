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

The hardware serial number (`serial_number()`), sent as it is so IT can match it with the
sticker on the machine and tell same-named devices apart:

- Linux: the SMBIOS system serial the kernel exposes in `/sys/class/dmi/id/product_serial`
  (readable by root only; the agent runs as root),
  https://www.kernel.org/doc/Documentation/ABI/testing/sysfs-firmware-dmi-tables
- macOS: the `IOPlatformSerialNumber` property of the same `IOPlatformExpertDevice` entry
  (kIOPlatformSerialNumberKey,
  https://developer.apple.com/documentation/iokit/kioplatformserialnumberkey).
- Windows: not read yet ("" is sent). `HKLM\\HARDWARE\\DESCRIPTION\\System\\BIOS` has no serial;
  the wmic-free source is the raw SMBIOS table from `GetSystemFirmwareTable('RSMB')` (type 1,
  System Information, its Serial Number string),
  https://learn.microsoft.com/en-us/windows/win32/api/sysinfoapi/nf-sysinfoapi-getsystemfirmwaretable
Firmware placeholders ("To Be Filled By O.E.M.", "Default string", zeros) are not serials and
are dropped.
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


LINUX_SERIAL_PATHS = (Path("/sys/class/dmi/id/product_serial"),)
_IOREG_SERIAL = re.compile(r'^\s*"IOPlatformSerialNumber"\s*=\s*"([^"]*)"\s*$', re.MULTILINE)
# What firmware writes when the maker filled in nothing (lower case, compared without spaces).
_PLACEHOLDERS = frozenset(
    {
        "tobefilledbyo.e.m.",
        "defaultstring",
        "systemserialnumber",
        "notspecified",
        "notapplicable",
        "none",
        "n/a",
        "na",
        "0123456789",
        "chassisserialnumber",
        "serialnumber",
        "invalid",
        "oem",
        "unknown",
    }
)
MAX_SERIAL = 64  # protocol.limits.MAX_SERIAL_NUMBER (the agent's lean import set has no pydantic)


def usable_serial(raw: str) -> str:
    """`raw` stripped, or "" when it is a firmware placeholder, all zeros, has control
    characters or is longer than MAX_SERIAL (not a serial anyone can read off a sticker)."""
    value = raw.strip()
    squeezed = "".join(value.split()).lower()
    if (
        not squeezed
        or squeezed in _PLACEHOLDERS
        or not set(squeezed) - {"0", "-", "."}
        or len(value) > MAX_SERIAL
        or not value.isprintable()
    ):
        return ""
    return value


def linux_serial(paths: Sequence[Path] = LINUX_SERIAL_PATHS) -> str:
    """The SMBIOS system serial the kernel exposes, "" when unreadable or a placeholder."""
    for path in paths:
        try:
            raw = path.read_text("ascii")
        except (OSError, UnicodeDecodeError):
            continue
        if usable_serial(raw):
            return usable_serial(raw)
    return ""


def parse_ioreg_serial(output: str) -> str:
    """The `IOPlatformSerialNumber` in `ioreg -rd1 -c IOPlatformExpertDevice` output, ""
    when there is none usable."""
    for match in _IOREG_SERIAL.finditer(output):
        value = usable_serial(match.group(1))
        if value:
            return value
    return ""


def serial_number(
    platform: str = sys.platform,
    *,
    linux_paths: Sequence[Path] = LINUX_SERIAL_PATHS,
    ioreg: Callable[[], str] = _run_ioreg,
) -> str:
    """This machine's hardware serial number as printed on it (see the module's docstring);
    "" when the platform gives none (Windows, for now; virtual machines often)."""
    if platform == "darwin":
        try:
            return parse_ioreg_serial(ioreg())
        except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
            return ""
    if platform == "win32":
        return ""
    return linux_serial(linux_paths)


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
