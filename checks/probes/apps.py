"""Installed applications as each platform's own inventory lists them.

Linux: .desktop files, dpkg status, flatpak and snap installs, AppImages. macOS: app
bundles' Info.plist. Windows: Program Files folders and, on a live machine, the uninstall
keys of the registry (a live machine through winreg, an offline image's hives through
regipy), and Microsoft Store (MSIX) packages by their AppxManifest.xml under WindowsApps.
"""

from __future__ import annotations

import hashlib
from typing import Any
from xml.etree import ElementTree

from checks import appimage, windows_registry
from checks.fsview import METADATA_LIMIT
from checks.identity import looks_like_wechat
from checks.integrity.filecache import computed
from checks.model import AppFact, Platform
from checks.parsers import load_plist, parse_desktop_entry, parse_dpkg_status
from checks.probes.base import ProbeContext

_DESKTOP_DIRS = (
    "{root}/usr/share/applications",
    "{root}/usr/local/share/applications",
    "{root}/var/lib/flatpak/exports/share/applications",
    "{root}/var/lib/snapd/desktop/applications",
    "{data}/applications",
    "{data}/flatpak/exports/share/applications",
)
_APPIMAGE_PLACES = ("{home}", "{home}/Applications", "{downloads}", "{desktop}", "{root}/opt")
_MAC_APP_DIRS = ("{applications}", "{applications}/*", "{user_applications}")
_WIN_PROGRAM_DIRS = ("{program_files}", "{program_files_x86}", "{localappdata}/Programs")
DPKG_STATUS_LIMIT = 128 * 1024 * 1024


def collect(ctx: ProbeContext) -> None:
    platform = ctx.layout.platform
    if platform is Platform.LINUX:
        _linux(ctx)
    elif platform is Platform.MACOS:
        _macos(ctx)
    else:
        _windows(ctx)


# --- Linux ---------------------------------------------------------------------------------


def _linux(ctx: ProbeContext) -> None:
    apps = ctx.facts.apps
    for template in _DESKTOP_DIRS:
        for folder, user in ctx.places(template):
            for entry in ctx.fs.listdir(folder, "apps"):
                if entry.is_dir or not entry.name.endswith(".desktop"):
                    continue
                with ctx.fs.item("apps", entry.path):
                    _desktop(ctx, entry.name, entry.path, user)
    for status, _ in ctx.places("{dpkg_status}"):
        with ctx.fs.item("apps", status):
            packages = ctx.fs.parsed(status, parse_dpkg_status, "apps", DPKG_STATUS_LIMIT)
            for name, version in (packages or {}).items():
                apps.append(AppFact("dpkg", name, name, status, version=version))
    _linux_installs(ctx)


def _desktop(ctx: ProbeContext, name: str, path: str, user: str) -> None:
    info = ctx.fs.parsed(path, parse_desktop_entry, "apps", METADATA_LIMIT)
    if info is None:
        return
    ctx.facts.apps.append(
        AppFact(
            "desktop",
            name,
            info.get("Name", name),
            path,
            exe=info.get("Exec", ""),
            user=user,
        )
    )


def _linux_installs(ctx: ProbeContext) -> None:
    apps = ctx.facts.apps
    for template, user_scope in (
        ("{root}/var/lib/flatpak/app", False),
        ("{data}/flatpak/app", True),
    ):
        for folder, user in ctx.places(template):
            for entry in ctx.fs.listdir(folder, "apps"):
                if entry.is_dir:
                    apps.append(
                        AppFact(
                            "flatpak",
                            entry.name,
                            entry.name,
                            entry.path,
                            user=user if user_scope else "",
                        )
                    )
    for folder, _ in ctx.places("{root}/snap"):
        for entry in ctx.fs.listdir(folder, "apps"):
            if entry.is_dir and entry.name != "bin":
                apps.append(AppFact("snap", entry.name, entry.name, entry.path))
    digests = any(c.appimage_sha256 for c in ctx.catalogue.clients)
    for template in _APPIMAGE_PLACES:
        for folder, user in ctx.places(template):
            for entry in ctx.fs.listdir(folder, "apps"):
                if not entry.is_dir and entry.name.lower().endswith(".appimage"):
                    with ctx.fs.item("apps", entry.path):
                        apps.append(_appimage(ctx, entry.name, entry.path, user, digests))


def _appimage(ctx: ProbeContext, name: str, path: str, user: str, digests: bool) -> AppFact:
    """An AppImage as its embedded desktop entry describes it (checks/appimage.py). Looked
    into only when its name is WeChat-like: other people's AppImages are none of our business."""
    stem = name[: -len(".appimage")]
    if not looks_like_wechat(stem):
        return AppFact("appimage", name, stem, path, exe=path, user=user)
    info = computed(ctx.fs, path, "appimage", appimage.inspect, "apps", reads_whole=False)
    if info is None:
        identity = "appimage:unreadable"
    elif info.official_layout:
        identity = "appimage:official-layout"
    else:
        identity = "appimage:other"
    if digests and info is not None:
        # Hashing a 200 MB image is worth it only when there is a release list to match.
        digest = ctx.fs.sha256(path, "apps")
        if digest:
            identity += f" sha256:{digest}"
    return AppFact(
        "appimage",
        name,
        (info.name if info is not None and info.name else stem),
        path,
        exe=info.describe() if info is not None else path,
        user=user,
        identity=identity,
    )


# --- macOS ---------------------------------------------------------------------------------


def _read_plist(data: bytes) -> dict[str, Any]:
    return load_plist(data)


def read_bundle(ctx: ProbeContext, bundle: str, user: str = "") -> AppFact:
    info = ctx.fs.parsed(bundle + "/Contents/Info.plist", _read_plist, "apps", METADATA_LIMIT)
    info = info or {}
    name = bundle.rstrip("/").rsplit("/", 1)[-1]
    display = str(
        info.get("CFBundleDisplayName") or info.get("CFBundleName") or name[: -len(".app")]
    )
    executable = str(info.get("CFBundleExecutable") or "")
    return AppFact(
        "bundle",
        str(info.get("CFBundleIdentifier") or ""),
        display,
        bundle,
        exe=bundle + "/Contents/MacOS/" + executable if executable else "",
        version=str(info.get("CFBundleShortVersionString") or ""),
        user=user,
    )


def _macos(ctx: ProbeContext) -> None:
    seen: set[str] = set()
    for template in _MAC_APP_DIRS:
        for folder, user in ctx.places(template):
            if folder.endswith(".app"):
                continue
            for entry in ctx.fs.listdir(folder, "apps"):
                if entry.is_dir and entry.name.endswith(".app") and entry.path not in seen:
                    seen.add(entry.path)
                    with ctx.fs.item("apps", entry.path):
                        ctx.facts.apps.append(read_bundle(ctx, entry.path, user))


# --- Windows -------------------------------------------------------------------------------


def _windows(ctx: ProbeContext) -> None:
    for template in _WIN_PROGRAM_DIRS:
        for folder, user in ctx.places(template):
            for entry in ctx.fs.listdir(folder, "apps"):
                if not entry.is_dir or entry.name.casefold() == "windowsapps":
                    continue  # Store packages are judged by their manifests (_msix)
                ctx.facts.apps.append(
                    AppFact("program-files", entry.name, entry.name, entry.path, user=user)
                )
                # Vendor folders (Tencent\WeChat) hold the products one level down.
                for sub in ctx.fs.listdir(entry.path, "apps"):
                    if sub.is_dir:
                        ctx.facts.apps.append(
                            AppFact(
                                "program-files",
                                f"{entry.name}/{sub.name}",
                                sub.name,
                                sub.path,
                                user=user,
                            )
                        )
                    elif sub.name.lower().endswith(".exe"):
                        ctx.facts.apps.append(
                            AppFact(
                                "program-files",
                                f"{entry.name}/{sub.name}",
                                sub.name[:-4],
                                sub.path,
                                exe=sub.path,
                                user=user,
                            )
                        )
    _msix(ctx)
    if ctx.layout.live:
        apps, blind = windows_registry.uninstall_entries()
        ctx.facts.apps.extend(apps)
        ctx.facts.blind_spots.extend(blind)
    else:
        for hive, user, _where in offline_hives(ctx):
            ctx.facts.apps.extend(windows_registry.offline_apps(hive, user))


def offline_hives(ctx: ProbeContext) -> list[tuple[windows_registry.HiveFacts, str, str]]:
    """(what the hive says, user, registry path) of an offline image's SOFTWARE hive and each
    user's NTUSER.DAT; a hive that is missing is skipped, one that cannot be read is a blind
    spot (FsView / `computed`)."""
    out: list[tuple[windows_registry.HiveFacts, str, str]] = []
    for template, where in (
        ("{root}/Windows/System32/config/SOFTWARE", "HKLM\\SOFTWARE"),
        ("{home}/NTUSER.DAT", "HKCU\\Software"),
    ):
        for path, user in ctx.places(template):
            facts = computed(
                ctx.fs,
                path,
                "registry-hive",
                windows_registry.read_hive,
                "apps",
                reads_whole=True,
            )
            if facts is not None:
                out.append((facts, user, where))
    return out


# Microsoft Store packages live here, one folder per package; the manifest is trusted only
# in this place (a copy elsewhere proves nothing), which only an administrator can write.
_WINDOWS_APPS = "{program_files}/WindowsApps"
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def publisher_id(publisher: str) -> str:
    """The 13-character publisher id Windows derives from a package's Publisher: the first
    8 bytes of SHA-256 over its UTF-16LE text, as Crockford base32 ("…_8wekyb3d8bbwe")."""
    head = int.from_bytes(hashlib.sha256(publisher.encode("utf-16-le")).digest()[:8], "big")
    value = head << 1
    return "".join(_CROCKFORD[(value >> (5 * (12 - i))) & 31] for i in range(13))


def parse_appx_identity(data: bytes) -> tuple[str, str, str] | None:
    """(Name, Publisher, Version) of an AppxManifest.xml's <Identity>; None without one.

    expat (2.4 and later) refuses entity-amplification bombs; a DTD is refused outright,
    since a real manifest never has one."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValueError("a manifest with a DTD is not a real AppxManifest.xml")
    root = ElementTree.fromstring(data)
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "Identity":
            name, publisher = element.get("Name", ""), element.get("Publisher", "")
            if name and publisher:
                return name, publisher, element.get("Version", "")
    return None


def _msix(ctx: ProbeContext) -> None:
    for folder, _ in ctx.places(_WINDOWS_APPS):
        for entry in ctx.fs.listdir(folder, "apps"):
            if not entry.is_dir or not looks_like_wechat(entry.name):
                continue
            manifest = entry.path + "/AppxManifest.xml"
            with ctx.fs.item("apps", manifest):
                identity = ctx.fs.parsed(manifest, parse_appx_identity, "apps", METADATA_LIMIT)
                if identity is None:
                    # No readable manifest: a WeChat-like package that nothing identifies.
                    ctx.facts.apps.append(
                        AppFact("msix", entry.name, entry.name, entry.path, exe="no manifest")
                    )
                    continue
                name, publisher, version = identity
                family = f"{name}_{publisher_id(publisher)}"
                ctx.facts.apps.append(
                    AppFact(
                        "msix",
                        family,
                        name,
                        entry.path,
                        exe=f"package family {family}, publisher {publisher!r}",
                        version=version,
                        publisher=publisher,
                        identity=f"msix:{family}|{publisher.replace(' ', '%20')}",
                    )
                )
