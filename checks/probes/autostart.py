"""Programs started at login or boot: XDG autostart, LaunchAgents/Daemons, Startup folders, Run keys."""

from __future__ import annotations

from typing import Any

from checks import windows_registry
from checks.fsview import METADATA_LIMIT
from checks.model import AutostartFact, Platform
from checks.parsers import load_plist, parse_desktop_entry
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
    return load_plist(data)


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
                with ctx.fs.item("autostart", entry.path):
                    _entry(ctx, source, entry.name, entry.path, user)
    if platform is Platform.WINDOWS and ctx.layout.live:
        keys, blind = windows_registry.run_keys()
        out.extend(keys)
        ctx.facts.blind_spots.extend(blind)
    elif platform is Platform.WINDOWS:
        from checks.probes.apps import offline_hives  # the hives are parsed once, cached

        for hive, user, where in offline_hives(ctx):
            out.extend(
                windows_registry.offline_run_keys(
                    hive, where + r"\Microsoft\Windows\CurrentVersion\Run", user
                )
            )


def _entry(ctx: ProbeContext, source: str, name: str, path: str, user: str) -> None:
    out = ctx.facts.autostart
    if source == "xdg" and name.endswith(".desktop"):
        info = ctx.fs.parsed(path, parse_desktop_entry, "autostart", METADATA_LIMIT) or {}
        out.append(
            AutostartFact(
                source,
                info.get("Name", name),
                info.get("Exec", ""),
                path,
                user,
            )
        )
    elif source == "systemd-user" and name.endswith(".service"):
        unit = ctx.fs.parsed(path, _unit_exec, "autostart", METADATA_LIMIT) or {}
        out.append(AutostartFact(source, name, unit.get("ExecStart", ""), path, user))
    elif source.startswith("launch") and name.endswith(".plist"):
        plist = ctx.fs.parsed(path, _launchd, "autostart", METADATA_LIMIT) or {}
        args = plist.get("ProgramArguments") or [plist.get("Program", "")]
        command = " ".join(str(a) for a in args if a) if isinstance(args, list) else str(args)
        out.append(AutostartFact(source, str(plist.get("Label", name)), command, path, user))
    elif source == "startup-folder" and name.lower() != "desktop.ini":
        # .lnk targets are binary; the shortcut's own name is what we can match on.
        out.append(AutostartFact(source, name, name, path, user))
