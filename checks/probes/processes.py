"""Running processes (name, exe, cmdline, user, parent) and the modules mapped into them.

Only live scans have processes. Facts are cached per (pid, create time): a rescan inspects
only processes that are new since the last one, which is what keeps steady state cheap.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import psutil

from checks.model import BlindSpot, ModuleFact, ProcessFact

T = TypeVar("T")

# Mappings that are never modules: anonymous memory, kernel pseudo-files, fonts and caches.
_NOT_MODULE_PREFIXES = ("[", "anon_inode:", "/dev/", "/memfd:", "/SYSV", "/proc/")


class ProcessSource(Protocol):
    """Where process facts come from: the live OS, or a recording in tests and images."""

    def snapshot(self) -> tuple[list[ProcessFact], list[BlindSpot]]: ...

    def modules(self, proc: ProcessFact) -> tuple[list[ModuleFact], list[BlindSpot]]: ...


@dataclass(slots=True)
class PsutilProcessSource:
    """The live machine's processes through psutil, remembering what it already inspected."""

    _known: dict[tuple[int, float], ProcessFact] = field(default_factory=dict)
    _pids: set[int] = field(default_factory=set)
    inspected_last: int = 0

    def snapshot(self) -> tuple[list[ProcessFact], list[BlindSpot]]:
        facts: list[ProcessFact] = []
        blind: list[BlindSpot] = []
        alive: dict[tuple[int, float], ProcessFact] = {}
        self.inspected_last = 0
        denied_exe = 0
        for proc in psutil.process_iter():
            try:
                created = proc.create_time()
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            except psutil.AccessDenied:
                created = 0.0
            key = (proc.pid, created)
            fact = self._known.get(key)
            if fact is None:
                fact, exe_denied = _inspect(proc, created)
                if fact is None:
                    continue
                denied_exe += exe_denied
                self.inspected_last += 1
            alive[key] = fact
            facts.append(fact)
        self._known = alive
        if denied_exe:
            blind.append(
                BlindSpot(
                    "processes",
                    f"{denied_exe} processes",
                    _denied_reason(),
                )
            )
        return facts, blind

    def modules(self, proc: ProcessFact) -> tuple[list[ModuleFact], list[BlindSpot]]:
        if sys.platform == "darwin":
            # psutil cannot list a process's images on macOS; injected dylibs are found in the
            # bundle's binaries instead (checks/integrity/macos_bundle.py).
            return [], [
                BlindSpot("modules", f"pid {proc.pid} ({proc.name})", "unsupported on macOS")
            ]
        try:
            maps = psutil.Process(proc.pid).memory_maps(grouped=False)
        except psutil.AccessDenied:
            return [], [BlindSpot("modules", f"pid {proc.pid} ({proc.name})", "permission denied")]
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return [], []
        except (NotImplementedError, AttributeError, OSError) as exc:
            return [], [
                BlindSpot("modules", f"pid {proc.pid} ({proc.name})", str(exc) or "unsupported")
            ]
        seen: set[str] = set()
        out: list[ModuleFact] = []
        for region in maps:
            path = getattr(region, "path", "")
            perms = getattr(region, "perms", "x")  # Windows has no perms: every mapping is an image
            if (
                not path
                or path in seen
                or "x" not in perms
                or path.startswith(_NOT_MODULE_PREFIXES)
            ):
                continue
            if path.endswith(" (deleted)"):
                path = path[: -len(" (deleted)")]
            seen.add(path)
            out.append(ModuleFact(proc.pid, proc.name, proc.exe, path))
        return out, []


def _inspect(proc: psutil.Process, created: float) -> tuple[ProcessFact | None, int]:
    """One process's facts; vanished processes give None, denied fields stay empty."""
    exe_denied = 0
    try:
        with proc.oneshot():
            name = _safe(proc.name, "")
            try:
                exe = proc.exe()
            except psutil.AccessDenied:
                exe, exe_denied = "", 1
            empty: list[str] = []
            cmdline = tuple(_safe(proc.cmdline, empty))
            user = _safe(proc.username, "")
            ppid = _safe(proc.ppid, 0)
            cwd = _safe(proc.cwd, "")
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None, 0
    return ProcessFact(proc.pid, name, exe, cmdline, user, ppid, created, cwd), exe_denied


def _safe(getter: Callable[[], T], default: T) -> T:
    try:
        return getter()
    except psutil.AccessDenied:
        return default
    except OSError:
        return default


def program_names(proc: ProcessFact) -> set[str]:
    """Every name a process goes by: its name, its executable's and argv[0]'s base names."""
    names = {proc.name}
    if proc.exe:
        names.add(_basename(proc.exe))
    if proc.cmdline:
        names.add(_basename(proc.cmdline[0]))
    names.discard("")
    return names


def _basename(path: str) -> str:
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def inspect_pid(pid: int) -> ProcessFact | None:
    """One process's facts by PID (None if it is gone): the poller's cheap look at a new PID."""
    try:
        proc = psutil.Process(pid)
        created = proc.create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return None
    fact, _ = _inspect(proc, created)
    return fact


def _denied_reason() -> str:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "the OS would not tell their executable path (kernel threads or another namespace)"
    return "permission denied reading their executable path (run as root to see them)"
