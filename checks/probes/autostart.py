"""Programs started at login or boot: XDG autostart, LaunchAgents/Daemons, Startup folders, Run keys."""

from __future__ import annotations

import plistlib
from typing import Any

from checks.model import AutostartFact, Platform
from checks.parsers import parse_desktop_entry
from checks.probes import winreg_source
from checks.probes.base import ProbeContext

_PLACES: dict[Platform, tuple[tuple[str, str], ...]] = {
    Platform.LINUX: (
        ("xdg", "{autostart}"),
        ("xdg", "{system_autostart}"),
        ("systemd-user", "{config}/systemd/user"),
    ),
    Platform.MACOS: (
        ("launchagent", "{launch_agents}"),
        ("launchagent", "{system_launch_agents}"),
        ("launchdaemon", "{launch_daemons}"),
    ),
    Platform.WINDOWS: (
        ("startup-folder", "{startup}"),
        ("startup-folder", "{common_startup}"),
    ),
}


def _launchd(data: bytes) -> dict[str, Any]:
    try:
        value = plistlib.loads(data)
    except (plistlib.InvalidFileException, ValueError, TypeError, OverflowError) as exc:
        raise ValueError(str(exc)) from exc
    if not isinstance(value, dict):
        raise ValueError("not a dictionary")
    return value


def _unit_exec(data: bytes) -> dict[str, str]:
    for line in data.decode("utf-8", "replace").splitlines():
        if line.strip().startswith("ExecStart="):
            return {"ExecStart": line.split("=", 1)[1].strip()}
    return {}


def collect(ctx: ProbeContext) -> None:
    platform = ctx.layout.platform
    out = ctx.facts.autostart
    for source, template in _PLACES[platform]:
        for folder, user in ctx.places(template):
            for entry in ctx.fs.listdir(folder, "autostart"):
                if entry.is_dir:
                    continue
                if source == "xdg" and entry.name.endswith(".desktop"):
                    info = (
                        ctx.fs.parsed(entry.path, parse_desktop_entry, "autostart", 1 << 20) or {}
                    )
                    out.append(
                        AutostartFact(
                            source,
                            info.get("Name", entry.name),
                            info.get("Exec", ""),
                            entry.path,
                            user,
                        )
                    )
                elif source == "systemd-user" and entry.name.endswith(".service"):
                    unit = ctx.fs.parsed(entry.path, _unit_exec, "autostart", 1 << 20) or {}
                    out.append(
                        AutostartFact(
                            source, entry.name, unit.get("ExecStart", ""), entry.path, user
                        )
                    )
                elif source.startswith("launch") and entry.name.endswith(".plist"):
                    plist = ctx.fs.parsed(entry.path, _launchd, "autostart", 1 << 20) or {}
                    args = plist.get("ProgramArguments") or [plist.get("Program", "")]
                    command = (
                        " ".join(str(a) for a in args if a) if isinstance(args, list) else str(args)
                    )
                    out.append(
                        AutostartFact(
                            source, str(plist.get("Label", entry.name)), command, entry.path, user
                        )
                    )
                elif source == "startup-folder" and entry.name.lower() != "desktop.ini":
                    # .lnk targets are binary; the shortcut's own name is what we can match on.
                    out.append(AutostartFact(source, entry.name, entry.name, entry.path, user))
    if platform is Platform.WINDOWS and ctx.layout.live:
        keys, blind = winreg_source.run_keys()
        out.extend(keys)
        ctx.facts.blind_spots.extend(blind)
