"""Linux approval by what the package database and the image itself say: field case 1
(Tencent's AppImage in ~/Downloads: at most an "unverified" note), the UOS/deepin app-store
layout, and the look-alikes that must stay findings."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from checks.api import scan_image
from checks.catalogue import load_builtin
from checks.model import ScanResult

OFFICIAL_DESKTOP = (
    "[Desktop Entry]\nName=WeChat\nName[zh_CN]=微信\nExec=AppRun %U\nType=Application\n"
    "Icon=wechat\n"
)


def runtime() -> bytes:
    """An AppImage type-2 runtime stand-in: an ELF64 header with the AI\\x02 magic whose
    section headers end where the SquashFS begins (byte 128)."""
    head = bytearray(128)
    head[:4] = b"\x7fELF"
    head[4], head[5], head[6] = 2, 1, 1
    head[8:11] = b"AI\x02"
    struct.pack_into("<Q", head, 0x28, 64)  # e_shoff
    struct.pack_into("<HH", head, 0x3A, 64, 1)  # e_shentsize, e_shnum
    return bytes(head)


def appimage(tmp: Path, files: dict[str, bytes]) -> bytes:
    tree = tmp / "squashfs-root"
    for rel, data in files.items():
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    out = tmp / "image.squashfs"
    subprocess.run(
        ["mksquashfs", str(tree), str(out), "-noappend", "-quiet", "-comp", "gzip"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return runtime() + out.read_bytes()


def official_files() -> dict[str, bytes]:
    return {
        "wechat.desktop": OFFICIAL_DESKTOP.encode(),
        "AppRun": b'#!/bin/sh\nexec "$APPDIR/opt/wechat/wechat" "$@"\n',
        "opt/wechat/wechat": b"\x7fELF wechat",
        "opt/wechat/libwechatcommon.so": b"\x7fELF lib",
    }


def home(root: Path) -> Path:
    downloads = root / "home" / "alice" / "Downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    return downloads


def unrecognised(result: ScanResult) -> list[str]:
    return [
        f"{e.path}: {e.detail}"
        for f in result.findings
        if f.rule_id.startswith("unrecognised")
        for e in f.evidence
    ]


needs_mksquashfs = pytest.mark.skipif(
    subprocess.run(["which", "mksquashfs"], capture_output=True, check=False).returncode != 0,
    reason="mksquashfs (squashfs-tools) is not installed",
)


@needs_mksquashfs
def test_field_case_1_tencent_appimage_in_downloads_is_clean(tmp_path: Path) -> None:
    root = tmp_path / "img"
    image = appimage(tmp_path, official_files())
    (home(root) / "WeChatLinux_x86_64.AppImage").write_bytes(image)
    result = scan_image(str(root), "linux")
    assert result.findings == [], [f.to_json() for f in result.findings]
    assert result.compliant
    (note,) = result.notes
    assert note.kind == "unverified"
    assert note.path == "home/alice/Downloads/WeChatLinux_x86_64.AppImage"
    assert "SHA-256" in note.detail.en and "官方" in note.detail.zh
    assert result.to_json()["summary"]["notes"] == 1


@needs_mksquashfs
def test_official_release_digest_approves_without_a_note(tmp_path: Path) -> None:
    import hashlib

    root = tmp_path / "img"
    image = appimage(tmp_path, official_files())
    (home(root) / "WeChatLinux_x86_64.AppImage").write_bytes(image)
    client = {
        "id": "wechat-linux-appimage-releases",
        "name": {"zh": "微信 AppImage", "en": "WeChat AppImage releases"},
        "platforms": ["linux"],
        "appimage_sha256": [hashlib.sha256(image).hexdigest()],
    }
    catalogue = load_builtin().with_policy(add_clients=[client])
    result = scan_image(str(root), "linux", catalogue)
    assert result.findings == [] and result.notes == []


@needs_mksquashfs
@pytest.mark.parametrize(
    "change",
    [
        {"wechat.desktop": OFFICIAL_DESKTOP.replace("AppRun", "usr/bin/wechat-web").encode()},
        {"opt/wechat/libwechatcommon.so": None},
        {"wechat.desktop": None},
    ],
    ids=["runs-another-program", "not-tencents-program-tree", "no-desktop-entry"],
)
def test_wechat_like_appimage_that_is_not_tencents_build_is_a_finding(
    tmp_path: Path, change: dict[str, bytes | None]
) -> None:
    files = official_files()
    for rel, data in change.items():
        if data is None:
            del files[rel]
        else:
            files[rel] = data
    root = tmp_path / "img"
    (home(root) / "WeChatLinux_x86_64.AppImage").write_bytes(appimage(tmp_path, files))
    result = scan_image(str(root), "linux")
    (found,) = unrecognised(result)
    assert found.startswith("home/alice/Downloads/WeChatLinux_x86_64.AppImage: 期望 expected:")
    assert "实际 found:" in found
    assert result.notes == []


def test_a_file_named_like_the_appimage_that_is_none_is_a_finding(tmp_path: Path) -> None:
    root = tmp_path / "img"
    (home(root) / "WeChatLinux_x86_64.AppImage").write_bytes(b"\x7fELF not an AppImage")
    (found,) = unrecognised(scan_image(str(root), "linux"))
    assert "not a type-2 AppImage" in found


@needs_mksquashfs
def test_tencent_content_under_another_name_is_a_finding(tmp_path: Path) -> None:
    """Name and place are part of the official form: a renamed image is not 'unverified'."""
    root = tmp_path / "img"
    image = appimage(tmp_path, official_files())
    (home(root) / "WeChat-plus.AppImage").write_bytes(image)
    (home(root) / "WeChatLinux_x86_64 (1).AppImage").write_bytes(image)  # a second download
    result = scan_image(str(root), "linux")
    assert [n.path for n in result.notes] == [
        "home/alice/Downloads/WeChatLinux_x86_64 (1).AppImage"
    ]
    (found,) = unrecognised(result)
    assert found.startswith("home/alice/Downloads/WeChat-plus.AppImage: 期望 expected:")


def _dpkg(root: Path, *packages: tuple[str, str]) -> None:
    status = root / "var" / "lib" / "dpkg" / "status"
    status.parent.mkdir(parents=True, exist_ok=True)
    status.write_text(
        "".join(
            f"Package: {name}\nStatus: install ok installed\nVersion: {version}\n"
            "Architecture: amd64\n\n"
            for name, version in packages
        )
    )


def _desktop(root: Path, folder: str, name: str, exec_line: str, title: str = "微信") -> None:
    path = root / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"[Desktop Entry]\nName={title}\nExec={exec_line}\nType=Application\n")


def test_uos_app_store_layout_is_clean(tmp_path: Path) -> None:
    root = tmp_path / "img"
    (root / "home" / "alice").mkdir(parents=True)
    _dpkg(root, ("com.tencent.wechat", "4.0.0.23"))
    app = root / "opt" / "apps" / "com.tencent.wechat"
    (app / "files").mkdir(parents=True)
    (app / "files" / "wechat").write_bytes(b"\x7fELF")
    (app / "info").write_text('{"appid": "com.tencent.wechat", "name": "WeChat"}')
    _desktop(
        root,
        "usr/share/applications",
        "com.tencent.wechat.desktop",
        "/opt/apps/com.tencent.wechat/files/wechat %U",
    )
    result = scan_image(str(root), "linux")
    assert result.findings == [], [f.to_json() for f in result.findings]


FLATHUB_CLIENT = {
    "id": "wechat-flathub",
    "name": {
        "zh": "微信（Flathub 社区封装，IT 批准）",
        "en": "WeChat (Flathub wrapper, approved by IT)",
    },
    "platforms": ["linux"],
    "packages": ["flatpak:com.tencent.WeChat"],
    "desktop_ids": ["com.tencent.WeChat.desktop"],
}


def test_flathub_wrapper_is_a_finding_until_the_policy_approves_it(tmp_path: Path) -> None:
    """Flathub's com.tencent.WeChat is a community wrapper (not Tencent's distribution):
    a finding by default; IT approves it with a client entry and the rule switched off."""
    root = tmp_path / "img"
    (root / "home" / "alice").mkdir(parents=True)
    (root / "var" / "lib" / "flatpak" / "app" / "com.tencent.WeChat").mkdir(parents=True)
    _desktop(
        root,
        "var/lib/flatpak/exports/share/applications",
        "com.tencent.WeChat.desktop",
        "/usr/bin/flatpak run --branch=stable --arch=x86_64 --command=wechat com.tencent.WeChat",
    )
    default = scan_image(str(root), "linux")
    assert "wechat-linux-community-repackage" in {f.rule_id for f in default.findings}
    approved = load_builtin().with_policy(
        add_clients=[FLATHUB_CLIENT], disable=["wechat-linux-community-repackage"]
    )
    assert scan_image(str(root), "linux", approved).findings == []
    # The same program under another package id (a repackaging of unknown origin).
    (root / "var" / "lib" / "flatpak" / "app" / "io.github.wechat.Repack").mkdir(parents=True)
    _desktop(
        root,
        "var/lib/flatpak/exports/share/applications",
        "io.github.wechat.Repack.desktop",
        "/usr/bin/flatpak run io.github.wechat.Repack",
    )
    found = unrecognised(scan_image(str(root), "linux", approved))
    assert len(found) == 2  # its package record and its launcher
    assert any("flatpak:com.tencent.WeChat" in f for f in found)


def test_uos_layout_under_a_different_package_origin_is_a_finding(tmp_path: Path) -> None:
    root = tmp_path / "img"
    (root / "home" / "alice").mkdir(parents=True)
    _dpkg(root, ("com.tencent.wechat.spark", "3.9.0"))
    found = unrecognised(scan_image(str(root), "linux"))
    (one,) = found
    assert "dpkg:com.tencent.wechat" in one and "com.tencent.wechat.spark" in one


def test_app_store_tree_without_its_package_record_is_a_finding(tmp_path: Path) -> None:
    """/opt/apps/<id> is vouched for by the package database: the same tree and launcher
    copied there without the dpkg record of <id> is not the store's install."""
    root = tmp_path / "img"
    (root / "home" / "alice").mkdir(parents=True)
    _dpkg(root, ("bash", "5.2"))
    app = root / "opt" / "apps" / "com.tencent.wechat" / "files"
    app.mkdir(parents=True)
    (app / "wechat").write_bytes(b"\x7fELF")
    _desktop(
        root,
        "usr/share/applications",
        "com.tencent.wechat.desktop",
        "/opt/apps/com.tencent.wechat/files/wechat %U",
    )
    (found,) = unrecognised(scan_image(str(root), "linux"))
    assert found.startswith("usr/share/applications/com.tencent.wechat.desktop:")
