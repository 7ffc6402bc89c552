"""Nuitka one-file programs are recognised as packaged Python programs: the packages their
payload carries are found, whatever the payload's form. The payloads are written by Nuitka's
own payload writer (`nuitka.tools.onefile_compressor`, from the `nuitka` package), so the
fixtures are the real format; only the bootstrap executable around them is a stub (building
one needs a C compiler and Python's headers per platform)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from checks.api import image_scanner
from checks.model import ScanResult

compressor = pytest.importorskip("nuitka.tools.onefile_compressor.OnefileCompressor")

ELF_STUB = b"\x7fELF\x02\x01\x01" + b"\0" * 249 + b"bootstrap code " * 4000
PE_STUB = b"MZ\x90\0" + b"\0" * 56 + b"PE\0\0" + b"bootstrap code " * 4000


@contextmanager
def _as_windows(windows: bool) -> Iterator[None]:
    """Nuitka's writer picks UTF-16LE names and no flags byte when it runs on Windows."""
    saved = compressor.isWin32Windows, compressor.isWin32OrPosixWindows
    if windows:
        compressor.isWin32Windows = compressor.isWin32OrPosixWindows = lambda: True
    try:
        yield
    finally:
        compressor.isWin32Windows, compressor.isWin32OrPosixWindows = saved


def payload(
    work: Path,
    files: dict[str, bytes],
    *,
    compress: bool = True,
    archive: bool = False,
    checksums: bool = True,
    windows: bool = False,
) -> bytes:
    """A Nuitka one-file payload (`__payload.bin`: KA, entries, terminator, length) for a
    standalone folder holding `files`, its first one the main program."""
    dist = work / "dist"
    for name, data in files.items():
        (dist / name).parent.mkdir(parents=True, exist_ok=True)
        (dist / name).write_bytes(data)
    (dist / next(iter(files))).chmod(0o755)
    out = work / "__payload.bin"
    out.write_bytes(b"")
    with _as_windows(windows):
        compressor.attachOnefilePayload(
            dist_dir=str(dist),
            onefile_output_filename=str(out),
            start_binary=str(dist / next(iter(files))),
            include_start_binary=True,
            expect_compression=compress,
            as_archive=archive,
            use_compression_cache=False,
            file_checksums=checksums,
            win_path_sep=windows,
            low_memory=True,
            job_limit=1,
            expected_files=None,
        )
    return out.read_bytes()


BOT = {
    "wxbot.bin": b"\x7fELF compiled main program " * 50,
    "wcferry/sdk.dll": b"MZ sdk " * 30,
    "wcferry/spy.dll": b"MZ spy " * 30,
    "libpython3.11.so.1.0": b"python",
}
WIN_BOT = {
    "wxbot.exe": b"MZ compiled main program " * 50,
    "wcferry\\sdk.dll": b"MZ sdk " * 30,
    "python311.dll": b"python",
}


def _scan(root: Path, platform: str) -> ScanResult:
    return image_scanner(str(root), platform).scan()


def _packages_at(result: ScanResult, rule: str) -> list[str]:
    return [e.path for f in result.findings if f.rule_id == rule for e in f.evidence]


@pytest.mark.parametrize(
    ("form", "options"),
    [
        ("compressed, appended", {}),
        ("stored, appended", {"compress": False}),
        ("compressed, temporary-folder mode (no CRC)", {"checksums": False}),
        ("--onefile-as-archive", {"archive": True}),
        ("--onefile-as-archive, no CRC", {"archive": True, "checksums": False}),
    ],
)
def test_linux_nuitka_onefile_payload_packages_are_found(
    tmp_path: Path, form: str, options: dict[str, bool]
) -> None:
    root = tmp_path / "img"
    downloads = root / "home/alice/Downloads"
    downloads.mkdir(parents=True)
    program = downloads / "wxbot"
    program.write_bytes(ELF_STUB + payload(tmp_path / "build", BOT, **options))
    program.chmod(0o755)
    found = _packages_at(_scan(root, "linux"), "wechatferry")
    assert "home/alice/Downloads/wxbot" in found, (form, found)


def test_windows_nuitka_onefile_with_a_linked_payload_is_found(tmp_path: Path) -> None:
    """Nuitka links the payload into a Windows program as a resource: it sits inside the
    file, with sections (and a signature) after it, not at its end."""
    root = tmp_path / "img"
    desktop = root / "Users/bob/Desktop"
    desktop.mkdir(parents=True)
    blob = payload(tmp_path / "build", WIN_BOT, windows=True)
    (desktop / "WeChatHelper.exe").write_bytes(PE_STUB + blob + b"\0" * 4096 + b"signature")
    found = _packages_at(_scan(root, "windows"), "wechatferry")
    assert "Users/bob/Desktop/WeChatHelper.exe" in found, found


def test_programs_that_only_look_like_a_payload_stay_clean(tmp_path: Path) -> None:
    root = tmp_path / "img"
    downloads = root / "home/alice/Downloads"
    downloads.mkdir(parents=True)
    # "KAY" bytes in an ordinary program, and a payload of a harmless program.
    (downloads / "tool").write_bytes(ELF_STUB + b"KAY\x28\xb5\x2f\xfd garbage KAXwcferry/x\0")
    harmless = {"app.bin": b"\x7fELF main", "requests/cacert.pem": b"pem"}
    (downloads / "app").write_bytes(ELF_STUB + payload(tmp_path / "build", harmless))
    result = _scan(root, "linux")
    assert not _packages_at(result, "wechatferry")
    assert not [b for b in result.blind_spots if "Downloads" in b.what], result.blind_spots
