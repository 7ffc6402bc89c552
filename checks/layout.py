"""Where things live on each platform: the scan root, its users' homes and named path templates.

A template is a `/`-separated path whose first segment may be a `{variable}` that names a
place on the platform (`{home}`, `{appdata}`, `{program_files}`, …). Expanding a per-user
variable yields one path for every user found under the root, so a rule written once sees
every user's plugins, not only the scanning user's.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from checks.model import Platform

# Folders under Users/ that are not people.
_NOT_USERS = {
    "public",
    "default",
    "default user",
    "all users",
    "shared",
    "guest",
    "desktop.ini",
    ".localized",
}

# Variables that name a folder relative to each user's home, per platform.
_USER_VARS: dict[Platform, dict[str, str]] = {
    Platform.LINUX: {
        "home": "",
        "config": ".config",
        "data": ".local/share",
        "autostart": ".config/autostart",
        "documents": "Documents",
        "downloads": "Downloads",
        "desktop": "Desktop",
    },
    Platform.MACOS: {
        "home": "",
        "library": "Library",
        "user_applications": "Applications",
        "documents": "Documents",
        "downloads": "Downloads",
        "desktop": "Desktop",
        "launch_agents": "Library/LaunchAgents",
        "app_support": "Library/Application Support",
    },
    Platform.WINDOWS: {
        "home": "",
        "appdata": "AppData/Roaming",
        "localappdata": "AppData/Local",
        "documents": "Documents",
        "downloads": "Downloads",
        "desktop": "Desktop",
        "startup": "AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Startup",
    },
}

# Variables that name one machine-wide folder, per platform (relative to the root).
_SYSTEM_VARS: dict[Platform, dict[str, str]] = {
    Platform.LINUX: {
        "root": "",
        "opt": "opt",
        "usr": "usr",
        "etc": "etc",
        "tmp": "tmp",
        "applications_dir": "usr/share/applications",
        "system_autostart": "etc/xdg/autostart",
        "dpkg_status": "var/lib/dpkg/status",
    },
    Platform.MACOS: {
        "root": "",
        "applications": "Applications",
        "system_library": "Library",
        "launch_daemons": "Library/LaunchDaemons",
        "system_launch_agents": "Library/LaunchAgents",
        "usr": "usr",
        "opt": "opt",
        "tmp": "private/tmp",
    },
    Platform.WINDOWS: {
        "root": "",
        "program_files": "Program Files",
        "program_files_x86": "Program Files (x86)",
        "programdata": "ProgramData",
        "windows": "Windows",
        "common_startup": "ProgramData/Microsoft/Windows/Start Menu/Programs/Startup",
    },
}


def current_platform() -> Platform:
    """The platform of the machine this code runs on: the one place `sys.platform` is read."""
    if sys.platform.startswith("win"):
        return Platform.WINDOWS
    if sys.platform == "darwin":
        return Platform.MACOS
    return Platform.LINUX


class LayoutError(ValueError):
    """The scan root cannot be used; the message says what to do, in both languages."""


@dataclass(frozen=True, slots=True)
class UserHome:
    """A user's home folder; `uid` is its owner on a live POSIX machine (None otherwise):
    the only account whose files a root scan reports the content of under that home."""

    name: str
    path: Path
    uid: int | None = None


@dataclass(slots=True)
class Layout:
    """The scan root and platform, with the users found there."""

    root: Path
    platform: Platform
    live: bool
    users: list[UserHome] = field(default_factory=list)
    # Whether the users may be found again while scanning (`refresh_users`): true for the
    # machine the agent runs on; a layout built with a fixed list of users keeps it.
    refreshable: bool = False
    # Homes the user database names that do not exist yet (`useradd` writes /etc/passwd
    # before it creates the home): watched where they will appear.
    pending_homes: list[str] = field(default_factory=list)

    @classmethod
    def live_machine(cls) -> Layout:
        platform = current_platform()
        root = (
            Path(os.environ.get("SYSTEMDRIVE", "C:") + "\\")
            if platform is Platform.WINDOWS
            else Path("/")
        )
        layout = cls(root=root, platform=platform, live=True, refreshable=True)
        layout.users = layout._discover_users()
        return layout

    @classmethod
    def image(cls, root: str | os.PathLike[str], platform: Platform | str) -> Layout:
        path = Path(root)
        try:
            path.stat()
        except PermissionError as exc:
            raise LayoutError(
                f"无权访问扫描根目录 {path}。请以有权限的账户（如 root）运行。\n"
                f"Permission denied reaching the scan root {path}. Run as a user who may read it "
                f"(e.g. root)."
            ) from exc
        except OSError:
            pass
        if not path.exists():
            raise LayoutError(
                f"扫描根目录不存在：{path}。请指定已挂载的磁盘映像目录。\n"
                f"The scan root does not exist: {path}. Point --root at a mounted disk image."
            )
        if not path.is_dir():
            raise LayoutError(
                f"扫描根目录不是文件夹：{path}。请指定映像的根目录（Linux/macOS 的 /，Windows 的 C:\\）。\n"
                f"The scan root is not a folder: {path}. Point --root at the image's / or C:\\."
            )
        try:
            os.listdir(path)
        except OSError as exc:
            raise LayoutError(
                f"无法读取扫描根目录 {path}：{exc.strerror}。请以有权限的账户运行或检查挂载。\n"
                f"Cannot read the scan root {path}: {exc.strerror}. Run with enough rights or "
                f"check the mount."
            ) from exc
        layout = cls(root=path, platform=Platform(platform), live=False)
        layout.users = layout._discover_users()
        return layout

    # -- users ---------------------------------------------------------------------------

    def _discover_users(self) -> list[UserHome]:
        found: dict[str, UserHome] = {}
        if self.platform is Platform.LINUX:
            bases = [self.root / "home"]
            root_home = self.root / "root"
            if _is_dir(root_home):
                found[str(root_home)] = UserHome("root", root_home, self._owner(root_home))
        else:
            bases = [self.root / "Users"]
        for base in bases:
            try:
                entries = sorted(os.scandir(base), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                if entry.name.lower() in _NOT_USERS or entry.name.startswith("."):
                    continue
                try:
                    if not entry.is_dir():
                        continue
                except OSError:
                    continue
                found[entry.path] = UserHome(entry.name, Path(entry.path), self._owner(entry.path))
        if self.live and self.platform is not Platform.WINDOWS:
            extra, self.pending_homes = _homes_from_passwd(found)
            found.update(extra)
        if self.platform is Platform.WINDOWS:
            known = {p.lower() for p in found}
            pending: list[str] = []
            for home in self._profiles():
                if str(home).lower() in known:
                    continue
                known.add(str(home).lower())
                if _is_dir(home):
                    found[str(home)] = UserHome(home.name, home, None)
                elif self.live:
                    # Listed before Windows made its folder (a first logon): watched where
                    # it will appear, as a home /etc/passwd names is on Linux.
                    pending.append(str(home))
            self.pending_homes = pending
        return list(found.values())

    def _profiles(self) -> list[Path]:
        """Windows profile folders from the registry's ProfileList (`ProfileImagePath` per
        person's SID): live through winreg, in an image from its SOFTWARE hive (regipy). A
        profile may sit anywhere (`D:\\Profiles\\alice`, a renamed `ProfilesDirectory`); in
        an image only those on its system drive (`C:`) can be reached. A hive that cannot be
        read adds nothing here: the apps probe reads it too and reports it as a blind spot."""
        from checks import windows_registry

        if self.live:
            return [Path(path) for _, path in windows_registry.profile_list()]
        hive = self.root / "Windows" / "System32" / "config" / "SOFTWARE"
        try:
            if hive.stat().st_size > windows_registry.HIVE_LIMIT:
                return []
            with hive.open("rb") as fh:
                profiles = windows_registry.read_profile_list(fh, 0)
        except Exception:  # missing, unreadable or not a hive (regipy raises its own errors)
            return []
        out: list[Path] = []
        for _, path in profiles:
            text = re.sub(r"(?i)%systemdrive%", "C:", path)
            match = re.fullmatch(r"(?i)c:[\\/]+(.+)", text)
            if match is None or "%" in text:
                continue  # another volume, or a variable an image cannot expand
            parts = [p for p in re.split(r"[\\/]+", match.group(1)) if p not in ("", ".")]
            if parts and ".." not in parts:
                out.append(self.root.joinpath(*parts))
        return out

    def refresh_users(self) -> bool:
        """Find the users again (a home created since the last look, a user removed): one
        listing of the homes' folder and, on a live machine, one read of the user database.
        Returns whether the list changed. The scanner calls it at the start of each scan of a
        live machine, so a new employee's home is scanned without restarting the agent."""
        users = self._discover_users()
        if [(u.path, u.uid) for u in users] == [(u.path, u.uid) for u in self.users]:
            return False
        self.users = users
        return True

    def homes_parents(self) -> list[str]:
        """The folders new homes appear in (`/home`, `/Users`): what to watch for a new user."""
        name = "home" if self.platform is Platform.LINUX else "Users"
        parents = {str(self.root / name)}
        parents.update(str(u.path.parent) for u in self.users if u.name != "root")
        return sorted(parents)

    def user_database_files(self) -> list[str]:
        """Files whose change means an account came or went, on a live machine: `/etc/passwd`
        on Linux (shadow-utils and systemd-sysusers replace it by renaming a new copy over
        it, an event in `/etc`). A new account's home anywhere (`useradd -d /srv/people/x`)
        is found at that event, not at the next periodic scan. macOS keeps accounts in
        opendirectoryd (its homes appear under /Users, watched); Windows in the registry
        (`user_database_keys`)."""
        if not self.live or self.platform is not Platform.LINUX:
            return []
        return [str(self.root / "etc" / "passwd")]

    def user_database_keys(self) -> list[str]:
        """Registry keys (under HKEY_LOCAL_MACHINE) whose change means an account's profile
        came or went, on a live Windows machine: the profile list, read again by the scan a
        change asks for (`refresh_users`). The agent watches them (agent/watch_registry.py),
        as it watches `user_database_files` on Linux."""
        if not self.live or self.platform is not Platform.WINDOWS:
            return []
        from checks import windows_registry

        return [windows_registry.PROFILE_LIST]

    def _owner(self, path: str | os.PathLike[str]) -> int | None:
        """Who owns a home folder, on a live POSIX machine (an image's owners mean nothing)."""
        if not self.live or self.platform is Platform.WINDOWS:
            return None
        try:
            return os.stat(path).st_uid
        except OSError:
            return None

    # -- templates -----------------------------------------------------------------------

    def expand(self, template: str) -> Iterator[tuple[str, str, str]]:
        """Yield (base folder, relative pattern, user) for a template.

        The base is a real folder named by the template's variable; the pattern is what the
        template says below it; user is "" for machine-wide places.
        """
        template = template.strip()
        if template.startswith("{"):
            end = template.find("}")
            if end < 0:
                raise ValueError(f"unclosed variable in path template {template!r}")
            var, rest = template[1:end], template[end + 1 :].lstrip("/")
        else:
            var, rest = "root", template.lstrip("/")
        user_vars = _USER_VARS[self.platform]
        system_vars = _SYSTEM_VARS[self.platform]
        if var in user_vars:
            for user in self.users:
                yield _join(str(user.path), user_vars[var]), rest, user.name
        elif var in system_vars:
            yield _join(str(self.root), system_vars[var]), rest, ""
        elif var == "applications" and self.platform is not Platform.MACOS:
            return
        else:
            raise ValueError(f"unknown path variable {{{var}}} for {self.platform}")

    def relative(self, path: str) -> str:
        """A path as shown in reports: relative to the root, with `/` separators."""
        try:
            rel = os.path.relpath(path, self.root)
        except ValueError:
            return path.replace("\\", "/")
        if rel.startswith(".."):
            return path.replace("\\", "/")
        return rel.replace("\\", "/")

    @property
    def case_insensitive(self) -> bool:
        """Windows and (by default) macOS file systems ignore case; match names the same way."""
        return self.platform is not Platform.LINUX


def _join(base: str, rest: str) -> str:
    if not rest:
        return base
    return base.rstrip("/\\") + "/" + rest


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _homes_from_passwd(
    already: dict[str, UserHome],
) -> tuple[dict[str, UserHome], list[str]]:
    """Homes of real login users that live outside /home (live Linux/macOS only), and the
    homes named there that do not exist (yet)."""
    extra: dict[str, UserHome] = {}
    pending: list[str] = []
    if sys.platform == "win32":
        return extra, pending  # profiles come from the registry there
    import pwd

    for entry in pwd.getpwall():
        home = entry.pw_dir
        if not home or home in already or home in ("/", "/nonexistent", "/var/empty"):
            continue
        if entry.pw_uid < 1000 and entry.pw_uid != 0:
            continue  # system accounts; their homes are service folders
        if entry.pw_shell.endswith(("nologin", "false")):
            continue
        if _is_dir(Path(home)):
            try:
                uid = os.stat(home).st_uid
            except OSError:
                continue
            extra[home] = UserHome(entry.pw_name, Path(home), uid)
        elif not os.path.lexists(home):
            pending.append(home)
    return extra, sorted(pending)
