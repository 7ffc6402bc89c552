"""Offline machine images for the checks tests, built from a declarative description.

An image is a folder laid out like a machine's `/` (Linux, macOS) or `C:\\` (Windows), the
layout `wxguard check --root DIR --platform P` expects (docs/image-layout.md). Items are
written with the platform's real places, spelt out here independently of checks/layout.py
so that a wrong layout in the engine shows up as a failing test rather than agreeing
with itself:

    build(tmp_path, "macos", Bundle("{applications}/WeChat.app", "com.tencent.xinWeChat"),
          Pypi("wechatpy", "1.8.18"))

Paths are templates whose first segment may be a place variable (`{home}`, `{appdata}`,
`{program_files_x86}`, `{applications}`, …); the image's one user is `alice` unless told.
"""

from __future__ import annotations

import hashlib
import json
import plistlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from checks.catalogue import Matcher
from checks.model import Platform

USER = "alice"

# Where each place is on a real machine, relative to the root ({u} is the user name).
PLACES: dict[Platform, dict[str, str]] = {
    Platform.LINUX: {
        "root": "",
        "home": "home/{u}",
        "config": "home/{u}/.config",
        "data": "home/{u}/.local/share",
        "autostart": "home/{u}/.config/autostart",
        "documents": "home/{u}/Documents",
        "downloads": "home/{u}/Downloads",
        "desktop": "home/{u}/Desktop",
        "opt": "opt",
        "usr": "usr",
        "etc": "etc",
        "tmp": "tmp",
        "applications_dir": "usr/share/applications",
        "system_autostart": "etc/xdg/autostart",
        "site_packages": "home/{u}/.local/lib/python3.12/site-packages",
        "node_modules": "usr/local/lib/node_modules",
    },
    Platform.MACOS: {
        "root": "",
        "home": "Users/{u}",
        "library": "Users/{u}/Library",
        "app_support": "Users/{u}/Library/Application Support",
        "launch_agents": "Users/{u}/Library/LaunchAgents",
        "user_applications": "Users/{u}/Applications",
        "documents": "Users/{u}/Documents",
        "downloads": "Users/{u}/Downloads",
        "desktop": "Users/{u}/Desktop",
        "applications": "Applications",
        "system_library": "Library",
        "launch_daemons": "Library/LaunchDaemons",
        "system_launch_agents": "Library/LaunchAgents",
        "usr": "usr",
        "opt": "opt",
        "tmp": "private/tmp",
        "site_packages": "Users/{u}/Library/Python/3.12/lib/python/site-packages",
        "node_modules": "opt/homebrew/lib/node_modules",
    },
    Platform.WINDOWS: {
        "root": "",
        "home": "Users/{u}",
        "appdata": "Users/{u}/AppData/Roaming",
        "localappdata": "Users/{u}/AppData/Local",
        "documents": "Users/{u}/Documents",
        "downloads": "Users/{u}/Downloads",
        "desktop": "Users/{u}/Desktop",
        "startup": "Users/{u}/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Startup",
        "program_files": "Program Files",
        "program_files_x86": "Program Files (x86)",
        "programdata": "ProgramData",
        "windows": "Windows",
        "common_startup": "ProgramData/Microsoft/Windows/Start Menu/Programs/Startup",
        "site_packages": "Users/{u}/AppData/Local/Programs/Python/Python312/Lib/site-packages",
        "node_modules": "Users/{u}/AppData/Roaming/npm/node_modules",
    },
}

# Where a Chromium browser keeps its profiles, per platform.
_CHROME_USER_DATA = {
    Platform.LINUX: "{config}/google-chrome",
    Platform.MACOS: "{app_support}/Google/Chrome",
    Platform.WINDOWS: "{localappdata}/Google/Chrome/User Data",
}
_FIREFOX_PROFILES = {
    Platform.LINUX: "{home}/.mozilla/firefox",
    Platform.MACOS: "{app_support}/Firefox/Profiles",
    Platform.WINDOWS: "{appdata}/Mozilla/Firefox/Profiles",
}


class UnknownPlace(KeyError):
    """A template names a place the platform does not have."""


@dataclass
class Ctx:
    """What an item needs to place itself: the root, the platform and the user."""

    root: Path
    platform: Platform
    user: str = USER
    dpkg: list[tuple[str, str]] = field(default_factory=list)

    def path(self, template: str) -> Path:
        """A template resolved to a path under the root."""
        template = template.strip()
        if template.startswith("{"):
            var, _, rest = template[1:].partition("}")
        else:
            var, rest = "root", template
        places = PLACES[self.platform]
        if var not in places:
            raise UnknownPlace(f"{{{var}}} is not a place on {self.platform}")
        base = places[var].format(u=self.user)
        rel = "/".join(p for p in (base, rest.strip("/")) if p)
        return self.root / rel if rel else self.root


class Item(Protocol):
    def place(self, ctx: Ctx) -> None: ...


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)


@dataclass
class File:
    """A file with content (bytes or text)."""

    path: str
    content: bytes | str = b"\0fixture\0"

    def place(self, ctx: Ctx) -> None:
        _write(ctx.path(self.path), self.content)


@dataclass
class Folder:
    path: str

    def place(self, ctx: Ctx) -> None:
        ctx.path(self.path).mkdir(parents=True, exist_ok=True)


@dataclass
class Bundle:
    """A macOS .app bundle: Contents/Info.plist (written with plistlib) and its executable."""

    path: str
    bundle_id: str
    name: str = ""
    executable: str = ""
    version: str = "1.0"
    extra_files: tuple[str, ...] = ()  # relative to Contents/MacOS
    team_id: str = ""  # with a Team ID the bundle is sealed and signed like a shipped app

    def place(self, ctx: Ctx) -> None:
        bundle = ctx.path(self.path)
        stem = bundle.name.removesuffix(".app")
        executable = self.executable or stem
        info = plistlib.dumps(
            {
                "CFBundleIdentifier": self.bundle_id,
                "CFBundleName": self.name or stem,
                "CFBundleExecutable": executable,
                "CFBundleShortVersionString": self.version,
                "CFBundlePackageType": "APPL",
            }
        )
        contents = bundle / "Contents"
        _write(contents / "Info.plist", info)
        _write(contents / "PkgInfo", b"APPL????")
        _write(contents / "Resources/en.lproj/Localizable.strings", b'"Send" = "Send";\n')
        for extra in self.extra_files:
            _write(contents / "MacOS" / extra, b"\xcf\xfa\xed\xfe")
        if not self.team_id:
            _write(contents / "MacOS" / executable, b"\xcf\xfa\xed\xfe")
            return
        # Seal every resource (CodeResources files2 with SHA-256 hash2), then sign the
        # executable with the Team ID, binding Info.plist (slot -1) and the seal (slot -3).
        from tests.checks.test_integrity_macos import Sig, code_bytes, macho_slice

        files2 = {}
        for path in sorted(contents.rglob("*")):
            rel = path.relative_to(contents).as_posix()
            if path.is_file() and rel not in ("Info.plist", "PkgInfo"):
                files2[rel] = {"hash2": hashlib.sha256(path.read_bytes()).digest()}
        rules2 = {
            "^.*": True,
            "^Info\\.plist$": {"omit": True, "weight": 20.0},
            "^PkgInfo$": {"omit": True, "weight": 20.0},
        }
        seal = plistlib.dumps({"files": {}, "files2": files2, "rules": {}, "rules2": rules2})
        _write(contents / "_CodeSignature/CodeResources", seal)
        signature = Sig(team=self.team_id, special={1: info, 3: seal})
        _write(contents / "MacOS" / executable, macho_slice(code_bytes(), signature))


@dataclass
class Desktop:
    """A freedesktop .desktop entry (system-wide applications folder unless told)."""

    desktop_id: str
    name: str
    exec: str
    folder: str = "{applications_dir}"

    def place(self, ctx: Ctx) -> None:
        text = f"[Desktop Entry]\nType=Application\nName={self.name}\nExec={self.exec}\n"
        _write(ctx.path(self.folder) / self.desktop_id, text)


@dataclass
class Dpkg:
    """An installed package stanza in var/lib/dpkg/status (all stanzas written together)."""

    name: str
    version: str = "1.0-1"

    def place(self, ctx: Ctx) -> None:
        ctx.dpkg.append((self.name, self.version))


@dataclass
class Pypi:
    """An installed Python distribution: a dist-info folder in a site-packages."""

    name: str
    version: str = "1.0.0"
    site: str = "{site_packages}"
    summary: str = ""
    requires: tuple[str, ...] = ()

    def place(self, ctx: Ctx) -> None:
        dist = re.sub(r"[-.]+", "_", self.name)
        folder = ctx.path(self.site) / f"{dist}-{self.version}.dist-info"
        meta = f"Metadata-Version: 2.1\nName: {self.name}\nVersion: {self.version}\n"
        if self.summary:
            meta += f"Summary: {self.summary}\n"
        meta += "".join(f"Requires-Dist: {r}\n" for r in self.requires)
        _write(folder / "METADATA", meta)
        (ctx.path(self.site) / dist.lower()).mkdir(parents=True, exist_ok=True)


@dataclass
class Npm:
    """An installed npm package: node_modules/<name>/package.json (scoped names allowed)."""

    name: str
    version: str = "1.0.0"
    folder: str = "{node_modules}"
    description: str = ""
    dependencies: tuple[str, ...] = ()

    def place(self, ctx: Ctx) -> None:
        meta: dict[str, object] = {"name": self.name, "version": self.version}
        if self.description:
            meta["description"] = self.description
        if self.dependencies:
            meta["dependencies"] = {d: "*" for d in self.dependencies}
        _write(ctx.path(self.folder) / self.name / "package.json", json.dumps(meta))


@dataclass
class Flatpak:
    app_id: str

    def place(self, ctx: Ctx) -> None:
        (ctx.path("{root}/var/lib/flatpak/app") / self.app_id / "current").mkdir(
            parents=True, exist_ok=True
        )


@dataclass
class Snap:
    name: str

    def place(self, ctx: Ctx) -> None:
        (ctx.path("{root}/snap") / self.name / "current").mkdir(parents=True, exist_ok=True)


@dataclass
class ChromeExtension:
    """An installed Chromium extension: <profile>/Extensions/<id>/<version>/manifest.json."""

    ext_id: str
    name: str
    version: str = "1.0.0"
    profile: str = "Default"

    def place(self, ctx: Ctx) -> None:
        user_data = ctx.path(_CHROME_USER_DATA[ctx.platform])
        folder = user_data / self.profile / "Extensions" / self.ext_id / f"{self.version}_0"
        manifest = {"manifest_version": 3, "name": self.name, "version": self.version}
        _write(folder / "manifest.json", json.dumps(manifest))


@dataclass
class FirefoxAddon:
    """A Firefox add-on listed in <profile>/extensions.json."""

    addon_id: str
    name: str
    profile: str = "abcd1234.default-release"

    def place(self, ctx: Ctx) -> None:
        profile = ctx.path(_FIREFOX_PROFILES[ctx.platform]) / self.profile
        addon = {
            "id": self.addon_id,
            "defaultLocale": {"name": self.name},
            "path": str(profile / "extensions" / f"{self.addon_id}.xpi"),
        }
        _write(profile / "extensions.json", json.dumps({"addons": [addon]}))


@dataclass
class LaunchAgent:
    """A macOS per-user LaunchAgent plist."""

    label: str
    program_arguments: tuple[str, ...]

    def place(self, ctx: Ctx) -> None:
        plist = {"Label": self.label, "ProgramArguments": list(self.program_arguments)}
        _write(ctx.path("{launch_agents}") / f"{self.label}.plist", plistlib.dumps(plist))


@dataclass
class XdgAutostart:
    """A Linux XDG autostart entry in the user's ~/.config/autostart."""

    desktop_id: str
    name: str
    exec: str

    def place(self, ctx: Ctx) -> None:
        text = f"[Desktop Entry]\nType=Application\nName={self.name}\nExec={self.exec}\n"
        _write(ctx.path("{autostart}") / self.desktop_id, text)


@dataclass
class StartupShortcut:
    """A shortcut in the user's Windows Startup folder (the name is what can be read)."""

    name: str

    def place(self, ctx: Ctx) -> None:
        _write(ctx.path("{startup}") / self.name, b"L\0\0\0")


def build(root: Path, platform: Platform | str, *items: Item, user: str = USER) -> Path:
    """Write the items into an image rooted at `root` and return the root."""
    ctx = Ctx(Path(root), Platform(platform), user)
    ctx.path("{home}").mkdir(parents=True, exist_ok=True)
    for item in items:
        item.place(ctx)
    if ctx.dpkg:
        stanzas = [
            f"Package: {name}\nStatus: install ok installed\nVersion: {version}\n"
            for name, version in ctx.dpkg
        ]
        _write(ctx.path("{root}/var/lib/dpkg/status"), "\n".join(stanzas))
    return ctx.root


# --- an artefact for one indicator --------------------------------------------------------


def concrete(pattern: str) -> str:
    """A name a glob pattern matches: `**` becomes two folders, `*` an `x`, `?` a `1`."""
    parts = []
    for segment in pattern.split("/"):
        if segment == "**":
            parts.append("work/project")
        else:
            parts.append(segment.replace("*", "x").replace("?", "1"))
    return "/".join(parts)


OFFLINE_TYPES = {"path", "package", "app", "extension", "autostart"}


def artefact(m: Matcher, platform: Platform) -> list[Item]:
    """What a machine holds when one offline indicator (path/package/app/…) is present."""
    if m.type == "path":
        return [File(concrete(m.path))]
    if m.type == "package":
        name = concrete(m.name)
        makers = {
            "pypi": lambda: Pypi(name),
            "npm": lambda: Npm(name),
            "dpkg": lambda: Dpkg(name),
            "flatpak": lambda: Flatpak(name),
            "snap": lambda: Snap(name),
        }
        return [makers[m.ecosystem]()]
    if m.type == "app":
        app_id = concrete(m.app_id) if m.app_id else ""
        name = concrete(m.name) if m.name else ""
        if platform is Platform.MACOS:
            stem = name or app_id.rsplit(".", 1)[-1]
            return [Bundle(f"{{applications}}/{stem}.app", app_id or "org.example.app", name)]
        if platform is Platform.LINUX:
            desktop_id = app_id if app_id.endswith(".desktop") else (app_id or "x") + ".desktop"
            return [Desktop(desktop_id, name or desktop_id, "/opt/x/x")]
        return [Folder(f"{{program_files}}/{app_id or name}")]
    if m.type == "extension":
        if m.app_id and "@" in m.app_id:
            return [FirefoxAddon(concrete(m.app_id), concrete(m.name) if m.name else "")]
        ext_id = concrete(m.app_id) if m.app_id else "abcdefghijklmnopabcdefghijklmnop"
        return [ChromeExtension(ext_id, concrete(m.name) if m.name else "x")]
    if m.type == "autostart":
        command = concrete(m.command) if m.command else "/opt/x/x"
        name = concrete(m.name) if m.name else "x"
        if platform is Platform.MACOS:
            return [LaunchAgent(name, tuple(command.split(" ")))]
        if platform is Platform.LINUX:
            return [XdgAutostart(f"{name}.desktop", name, command)]
        return [StartupShortcut(name)]
    raise ValueError(f"{m.type} indicators have no offline artefact")
