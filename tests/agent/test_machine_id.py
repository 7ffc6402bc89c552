"""The machine id the agent sends at enrollment, on each platform (agent/machine.py).

The macOS and Windows readers never ran on those systems here: macOS is tested on ioreg output
in the format ioreg(8) prints (tests/fixtures/machine/), Windows with a fake registry reader.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent import machine
from agent.sync import machine_id as sync_machine_id

IOREG = (
    Path(__file__).resolve().parents[1] / "fixtures" / "machine" / "ioreg-platform-expert.txt"
).read_text("utf-8")
REG_SZ, REG_BINARY = 1, 3
GUID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


def test_the_macos_id_is_the_platform_uuid_in_ioreg_output() -> None:
    assert machine.parse_ioreg(IOREG) == "6C2D1E1A-3B4F-5A6B-8C9D-0E1F2A3B4C5D"
    # the serial number next to it is never taken for the id
    assert "C02XXXXXXX" not in machine.parse_ioreg(IOREG)


@pytest.mark.parametrize(
    "output",
    [
        "",
        '    "IOPlatformSerialNumber" = "C02XXXXXXX"\n',
        '      "IOPlatformUUID" = "not-a-uuid"\n',
        '      "IOPlatformUUID" = "00000000-0000-0000-0000-000000000000"\n',
    ],
)
def test_ioreg_output_without_a_usable_uuid_gives_no_id(output: str) -> None:
    assert machine.parse_ioreg(output) == ""


def test_macos_machine_id_hashes_the_uuid_and_survives_a_failing_ioreg() -> None:
    got = machine.machine_id("darwin", ioreg=lambda: IOREG)
    assert got == machine.hashed("6C2D1E1A-3B4F-5A6B-8C9D-0E1F2A3B4C5D")
    assert "6C2D1E1A" not in got  # the raw id never leaves the machine

    def broken() -> str:
        raise subprocess.TimeoutExpired("ioreg", 10)

    assert machine.machine_id("darwin", ioreg=broken) == ""
    assert machine.machine_id("darwin", ioreg=lambda: "") == ""


def test_the_windows_id_is_machineguid_as_a_string_value() -> None:
    assert machine.windows_id(lambda: (GUID.upper(), REG_SZ)) == GUID
    assert machine.windows_id(lambda: ("{" + GUID + "}", REG_SZ)) == GUID
    got = machine.machine_id("win32", registry=lambda: (GUID, REG_SZ))
    assert got == machine.hashed(GUID)


@pytest.mark.parametrize(
    "found",
    [None, (GUID.encode(), REG_BINARY), (GUID, REG_BINARY), ("", REG_SZ), ("garbage", REG_SZ)],
)
def test_a_missing_or_malformed_machineguid_gives_no_id(found: tuple[object, int] | None) -> None:
    assert machine.windows_id(lambda: found) == ""


def test_a_registry_error_gives_no_id() -> None:
    def denied() -> tuple[object, int] | None:
        raise PermissionError("access denied")

    assert machine.windows_id(denied) == ""


def test_the_real_registry_reader_is_only_used_on_windows() -> None:
    # Off Windows it reads nothing (and imports no winreg).
    assert machine._read_machine_guid() is None


def test_linux_reads_machine_id_files_in_order(tmp_path: Path) -> None:
    first, second = tmp_path / "machine-id", tmp_path / "dbus-machine-id"
    second.write_text("abc123\n")
    assert sync_machine_id([first, second]) == machine.hashed("abc123")
    first.write_text("\n")
    assert sync_machine_id([first, second]) == machine.hashed("abc123")
    assert sync_machine_id([tmp_path / "none"]) == ""
    assert machine.machine_id("linux", linux_paths=[second]) == machine.hashed("abc123")


def test_the_same_raw_id_hashes_as_before() -> None:
    """A machine enrolled by an earlier agent keeps its id (the Linux hash is unchanged)."""
    import hashlib

    assert machine.hashed("abc") == hashlib.sha256(b"wxguard-machine\0abc").hexdigest()


def test_the_macos_serial_is_the_platform_serial_number_in_ioreg_output() -> None:
    assert machine.parse_ioreg_serial(IOREG) == "C02XXXXXXX"
    assert machine.serial_number("darwin", ioreg=lambda: IOREG) == "C02XXXXXXX"
    assert machine.serial_number("darwin", ioreg=lambda: "") == ""


def test_the_linux_serial_is_the_smbios_product_serial(tmp_path: Path) -> None:
    serial = tmp_path / "product_serial"
    serial.write_text("PF3ABCDE\n", "ascii")
    assert machine.serial_number("linux", linux_paths=(tmp_path / "missing", serial)) == "PF3ABCDE"
    assert machine.serial_number("linux", linux_paths=(tmp_path / "missing",)) == ""


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "To Be Filled By O.E.M.", "Default string", "System Serial Number", "0",
     "00000000", "Not Specified", "N/A", "x" * 65, "bad\x07serial"],
)  # fmt: skip
def test_firmware_placeholders_are_not_serials(tmp_path: Path, raw: str) -> None:
    serial = tmp_path / "product_serial"
    serial.write_text(raw, "ascii")
    assert machine.serial_number("linux", linux_paths=(serial,)) == ""
    assert machine.parse_ioreg_serial(f'    "IOPlatformSerialNumber" = "{raw}"\n') == ""


def test_windows_gives_no_serial_yet() -> None:
    assert machine.serial_number("win32") == ""
