"""Windows registry reads for a live Windows machine (uninstall entries and Run keys).

On every other platform, and for offline images, there is nothing to read here.
"""

from __future__ import annotations

import sys
from typing import Any

from checks.model import AppFact, AutostartFact, BlindSpot

_UNINSTALL = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"
_UNINSTALL_WOW = r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall"
_RUN = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Run"


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
