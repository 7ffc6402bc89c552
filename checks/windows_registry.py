"""Windows registry reads: uninstall entries and Run keys.

A live Windows machine is read through `winreg`. An offline image's hives are parsed with
regipy (a maintained pure-Python hive parser): the machine's `Windows/System32/config/
SOFTWARE` (HKLM\\SOFTWARE) and each user's `NTUSER.DAT` (HKCU). Hive files are opened
through `FsView` under its read policy and size limit; one that cannot be parsed is a
blind spot naming it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, BinaryIO

from checks.model import AppFact, AutostartFact, BlindSpot

_UNINSTALL = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"
_UNINSTALL_WOW = r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall"
_RUN = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Run"
# Every profile Windows has made: one subkey per SID, `ProfileImagePath` its folder (which may
# be on any drive, under any folder: `C:\Users` is only the default of `ProfilesDirectory`).
# https://learn.microsoft.com/en-us/troubleshoot/windows-server/user-profiles-and-logon/
#   renaming-user-account-not-change-profile-path
PROFILE_LIST = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList"
# SIDs of people: local and domain accounts (S-1-5-21-…), Microsoft Entra ID (S-1-12-1-…);
# not SYSTEM, LOCAL SERVICE, NETWORK SERVICE (S-1-5-18/19/20), whose profiles are services'.
_PEOPLE_SIDS = ("S-1-5-21-", "S-1-12-1-")
MAX_PROFILES = 10_000
HIVE_LIMIT = 512 * 1024 * 1024
MAX_HIVE_ITEMS = 20_000  # uninstall entries / Run values read from one hive


def _winreg() -> Any:
    if sys.platform != "win32":
        return None
    import winreg

    return winreg


def uninstall_entries() -> tuple[list[AppFact], list[BlindSpot]]:
    reg = _winreg()
    if reg is None:
        return [], []
    apps: list[AppFact] = []
    blind: list[BlindSpot] = []
    for hive, hive_name in ((reg.HKEY_LOCAL_MACHINE, "HKLM"), (reg.HKEY_CURRENT_USER, "HKCU")):
        for path in (_UNINSTALL, _UNINSTALL_WOW):
            try:
                key = reg.OpenKey(hive, path)
            except OSError:
                continue
            with key:
                index = 0
                while True:
                    try:
                        sub_name = reg.EnumKey(key, index)
                    except OSError:
                        break
                    index += 1
                    try:
                        with reg.OpenKey(key, sub_name) as sub:
                            values = _values(reg, sub)
                    except OSError as exc:
                        blind.append(
                            BlindSpot("apps", f"{hive_name}\\{path}\\{sub_name}", str(exc))
                        )
                        continue
                    apps.append(
                        AppFact(
                            "uninstall",
                            sub_name,
                            str(values.get("DisplayName", sub_name)),
                            str(values.get("InstallLocation", "")),
                            exe=str(values.get("DisplayIcon", "")).split(",")[0],
                            version=str(values.get("DisplayVersion", "")),
                            publisher=str(values.get("Publisher", "")),
                        )
                    )
    return apps, blind


def run_keys() -> tuple[list[AutostartFact], list[BlindSpot]]:
    reg = _winreg()
    if reg is None:
        return [], []
    out: list[AutostartFact] = []
    for hive, hive_name in ((reg.HKEY_LOCAL_MACHINE, "HKLM"), (reg.HKEY_CURRENT_USER, "HKCU")):
        try:
            key = reg.OpenKey(hive, _RUN)
        except OSError:
            continue
        with key:
            for name, value in _values(reg, key).items():
                out.append(AutostartFact("run-key", name, str(value), f"{hive_name}\\{_RUN}"))
    return out, []


def profile_list() -> list[tuple[str, str]]:
    """(SID, profile folder) of every person's profile on this live Windows machine, with
    environment variables expanded (`%SystemDrive%\\Users\\alice`); [] elsewhere."""
    reg = _winreg()
    if reg is None:
        return []
    out: list[tuple[str, str]] = []
    try:
        key = reg.OpenKey(reg.HKEY_LOCAL_MACHINE, PROFILE_LIST)
    except OSError:
        return out
    with key:
        index = 0
        while len(out) < MAX_PROFILES:
            try:
                sid = reg.EnumKey(key, index)
            except OSError:
                break
            index += 1
            if not sid.startswith(_PEOPLE_SIDS):
                continue
            try:
                with reg.OpenKey(key, sid) as sub:
                    path = str(_values(reg, sub).get("ProfileImagePath", ""))
            except OSError:
                continue
            if path:
                out.append((sid, os.path.expandvars(path)))
    return out


def read_profile_list(fh: BinaryIO, _size: int) -> tuple[tuple[str, str], ...]:
    """(SID, ProfileImagePath as written, variables unexpanded) of every person's profile
    in an offline SOFTWARE hive (regipy raises for a file that is not a hive)."""
    from regipy.registry import RegistryHive

    hive: Any = RegistryHive(os.dup(fh.fileno()))  # type: ignore[no-untyped-call]
    key = _key(hive, "\\" + PROFILE_LIST.split("\\", 1)[1])
    if key is None:
        return ()
    out: list[tuple[str, str]] = []
    for sub in key.iter_subkeys():
        if len(out) >= MAX_PROFILES:
            break
        sid = str(sub.name)
        if not sid.startswith(_PEOPLE_SIDS):
            continue
        for value in sub.iter_values():
            if str(value.name).lower() == "profileimagepath" and value.value:
                out.append((sid, str(value.value)))
    return tuple(out)


def _values(reg: Any, key: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    index = 0
    while True:
        try:
            name, value, _ = reg.EnumValue(key, index)
        except OSError:
            break
        values[name] = value
        index += 1
    return values


# --- offline hives (regipy) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HiveFacts:
    """What one hive says: uninstall entries (key name, values) and Run values."""

    uninstall: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    run: tuple[tuple[str, str], ...] = ()


def read_hive(fh: BinaryIO, _size: int) -> HiveFacts:
    """Uninstall entries and Run values of a SOFTWARE or NTUSER.DAT hive (regipy raises for
    a file that is not a hive; the caller turns that into a blind spot)."""
    from regipy.registry import RegistryHive

    # regipy opens by path; an int is a path to open() too, so it reads the very file the
    # read policy opened (a duplicate descriptor, which regipy closes).
    hive: Any = RegistryHive(os.dup(fh.fileno()))  # type: ignore[no-untyped-call]
    # SOFTWARE's root is HKLM\\SOFTWARE itself; NTUSER.DAT's root is HKCU (keys under Software).
    prefix = "\\Software" if _root_has(hive, "Software") else ""
    uninstall: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    for path in (_UNINSTALL, _UNINSTALL_WOW):
        key = _key(hive, prefix + "\\" + path.split("\\", 1)[1])
        if key is None:
            continue
        for sub in key.iter_subkeys():
            if len(uninstall) >= MAX_HIVE_ITEMS:
                break
            values = tuple(
                (str(v.name), str(v.value)) for v in sub.iter_values() if v.value is not None
            )
            uninstall.append((str(sub.name), values))
    run: list[tuple[str, str]] = []
    key = _key(hive, prefix + "\\" + _RUN.split("\\", 1)[1])
    if key is not None:
        for value in key.iter_values():
            if len(run) < MAX_HIVE_ITEMS and value.value is not None:
                run.append((str(value.name), str(value.value)))
    return HiveFacts(tuple(uninstall), tuple(run))


def _root_has(hive: Any, name: str) -> bool:
    return any(str(k.name) == name for k in hive.root.iter_subkeys())


def _key(hive: Any, path: str) -> Any:
    from regipy.exceptions import RegistryKeyNotFoundException

    try:
        return hive.get_key(path)
    except RegistryKeyNotFoundException:
        return None


def offline_apps(facts: HiveFacts, user: str = "") -> list[AppFact]:
    out: list[AppFact] = []
    for name, pairs in facts.uninstall:
        values = dict(pairs)
        out.append(
            AppFact(
                "uninstall",
                name,
                values.get("DisplayName", name),
                values.get("InstallLocation", ""),
                exe=values.get("DisplayIcon", "").split(",")[0],
                version=values.get("DisplayVersion", ""),
                publisher=values.get("Publisher", ""),
                user=user,
            )
        )
    return out


def offline_run_keys(facts: HiveFacts, where: str, user: str = "") -> list[AutostartFact]:
    return [AutostartFact("run-key", name, command, where, user) for name, command in facts.run]
