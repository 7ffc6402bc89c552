"""AppImages: what an image holds (its embedded desktop entry and program), read offline.

A type-2 AppImage is an ELF runtime (its `e_ident` padding carries the magic `AI\\x02`)
followed by a SquashFS image that starts where the runtime's section headers end
(`e_shoff + e_shentsize * e_shnum`). The SquashFS is read with PySquashfsImage (a
maintained pure-Python reader); nothing is mounted or run.

What identifies Tencent's build (field case 1, and what Tencent's Linux packages install):
a desktop entry at the image's top whose `Name` is WeChat / 微信 and whose `Exec` runs the
image's `AppRun`, and the client's program tree `opt/wechat/` with `wechat` and
`libwechatcommon.so`. That is what the image *says*; a modified copy of Tencent's tree says
the same, which is why a matching image is "unverified" unless its SHA-256 is on the
official release list (`appimage_sha256` in the client data, extendable by the policy).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

from checks.parsers import parse_desktop_entry

MAX_DESKTOP = 64 * 1024
MAX_ENTRIES = 20_000  # files looked at in one image
AI_MAGIC = b"AI\x02"
# The program tree of Tencent's Linux client, as its .deb/.rpm install it under /opt/wechat.
OFFICIAL_FILES = ("opt/wechat/wechat", "opt/wechat/libwechatcommon.so")
OFFICIAL_NAMES = ("wechat", "微信", "weixin")


@dataclass(frozen=True, slots=True)
class AppImageInfo:
    """What an AppImage file holds; `problem` says why it could not be read as one."""

    is_appimage: bool
    desktop_file: str = ""
    name: str = ""
    name_zh: str = ""
    exec: str = ""
    files: tuple[str, ...] = ()  # of OFFICIAL_FILES and AppRun, those present
    problem: str = ""

    @property
    def official_layout(self) -> bool:
        """The image holds what Tencent's AppImage holds (see the module docstring)."""
        names = {self.name.casefold(), self.name_zh.casefold()}
        program = self.exec.split()[0] if self.exec.split() else ""
        return (
            self.is_appimage
            and bool(names & set(OFFICIAL_NAMES))
            and program.rsplit("/", 1)[-1] == "AppRun"
            and all(f in self.files for f in (*OFFICIAL_FILES, "AppRun"))
        )

    def describe(self) -> str:
        """What was found, for a finding's "found" part."""
        if not self.is_appimage:
            return f"not a type-2 AppImage ({self.problem})"
        if not self.desktop_file:
            return "an AppImage with no desktop entry"
        held = ", ".join(self.files) or "none of the official files"
        return (
            f"desktop entry {self.desktop_file} (Name={self.name!r}, Exec={self.exec!r}); "
            f"holds: {held}"
        )


def squashfs_offset(head: bytes) -> int | None:
    """Where the SquashFS starts in a type-2 AppImage; None when this is not one."""
    if head[:4] != b"\x7fELF" or head[8:11] != AI_MAGIC or len(head) < 64:
        return None
    endian = "<" if head[5] == 1 else ">"
    if head[4] == 2:  # ELF64
        (shoff,) = struct.unpack_from(endian + "Q", head, 0x28)
        shentsize, shnum = struct.unpack_from(endian + "HH", head, 0x3A)
    elif head[4] == 1:
        (shoff,) = struct.unpack_from(endian + "I", head, 0x20)
        shentsize, shnum = struct.unpack_from(endian + "HH", head, 0x2E)
    else:
        return None
    return int(shoff + shentsize * shnum)


def inspect(fh: BinaryIO, size: int) -> AppImageInfo:
    """Read an AppImage's embedded desktop entry and program files (never raises for
    bytes that are not an AppImage: says so in `problem`)."""
    fh.seek(0)
    offset = squashfs_offset(fh.read(64))
    if offset is None:
        return AppImageInfo(False, problem="no AppImage type-2 runtime (ELF with AI\\x02)")
    if not 0 < offset < size:
        return AppImageInfo(False, problem="the SquashFS offset lies outside the file")
    from PySquashfsImage import SquashFsImage

    try:
        image = SquashFsImage(fh, offset, closefd=False)
    except Exception as exc:  # a corrupt or hostile image may break the reader anywhere
        return AppImageInfo(False, problem=f"the embedded SquashFS cannot be read ({exc})")
    try:
        return _read(image)
    finally:
        image.close()


def _read(image: object) -> AppImageInfo:
    root = image.root  # type: ignore[attr-defined]
    desktop: dict[str, str] = {}
    desktop_name = ""
    for count, child in enumerate(root.iterdir()):
        if count > MAX_ENTRIES:
            break
        if child.name.endswith(".desktop") and child.is_file and child.size <= MAX_DESKTOP:
            desktop = parse_desktop_entry(child.read_bytes())
            desktop_name = child.name
            break
    present = tuple(
        path
        for path in (*OFFICIAL_FILES, "AppRun")
        if (node := root.select(path)) is not None and not node.is_dir
    )
    return AppImageInfo(
        True,
        desktop_file=desktop_name,
        name=desktop.get("Name", ""),
        name_zh=desktop.get("Name[zh_CN]", ""),
        exec=desktop.get("Exec", ""),
        files=present,
    )
