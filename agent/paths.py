"""Where the agent keeps its state, its IPC endpoint and its logs, in system and in user mode.

The endpoint is a Unix socket on Linux and macOS and a named pipe on Windows
(`\\\\.\\pipe\\…`); `AgentPaths.socket` holds either, and the transport follows the platform.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import platformdirs


class Mode(StrEnum):
    SYSTEM = "system"  # installed by IT, runs as root / LocalSystem, sees every user
    USER = "user"  # development and standalone: the current user's folders only


def default_mode() -> Mode:
    if sys.platform == "win32":
        from agent import windows_security

        return Mode.SYSTEM if windows_security.is_local_system() else Mode.USER
    return Mode.SYSTEM if os.geteuid() == 0 else Mode.USER


SYSTEM_PIPE = r"\\.\pipe\wxguard-agent"


def pipe_name(mode: Mode, user_sid: str, home: str | None) -> str:
    """The named pipe of an agent on Windows. One system pipe; a user-mode agent's pipe carries
    the user's SID so that two users' agents never meet; a WXGUARD_HOME run's pipe is named
    after the folder so side-by-side runs do not collide."""
    if home is not None:
        digest = hashlib.sha256(os.path.normcase(home).encode("utf-8")).hexdigest()[:16]
        return rf"\\.\pipe\wxguard-home-{digest}"
    if mode is Mode.SYSTEM:
        return SYSTEM_PIPE
    return rf"\\.\pipe\wxguard-agent-{user_sid}"


# Read and write data, nothing else: FILE_GENERIC_READ (0x120089) | FILE_WRITE_DATA (0x2).
# GENERIC_WRITE would include FILE_CREATE_PIPE_INSTANCE, which would let a client serve a rogue
# instance of the agent's pipe.
PIPE_CLIENT_RIGHTS = 0x12008B


def pipe_security(world_connectable: bool, owner_sid: str) -> str:
    """The SDDL of the agent's pipe: full control for SYSTEM and the agent's own account;
    read/write for every authenticated local user in system mode (who they are comes from
    their token), for nobody else in user mode. Protected: nothing is inherited."""
    owner = "SY" if owner_sid == "S-1-5-18" else owner_sid
    aces = ["(A;;GA;;;SY)"]
    if owner != "SY":
        aces.append(f"(A;;GA;;;{owner})")
    if world_connectable:
        aces.append(f"(A;;0x{PIPE_CLIENT_RIGHTS:x};;;AU)")
    return "D:P" + "".join(aces)


def windows_system_folders(environ: Mapping[str, str]) -> tuple[str, str]:
    """State and logs of the Windows service: under %ProgramData%, which the service locks to
    SYSTEM (see `agent.windows_security.make_private`)."""
    program_data = environ.get("ProgramData") or environ.get("PROGRAMDATA") or r"C:\ProgramData"
    base = program_data.rstrip("\\") + r"\wxguard"
    return base, base + r"\logs"


@dataclass(frozen=True, slots=True)
class AgentPaths:
    mode: Mode
    state: Path  # state.db, outbox.db, policy, device credentials (system mode)
    socket: Path  # the Unix socket, or on Windows the named pipe (\\.\pipe\…)
    logs: Path

    @property
    def state_db(self) -> Path:
        return self.state / "state.db"

    @property
    def outbox_db(self) -> Path:
        return self.state / "outbox.db"

    @property
    def user_config(self) -> Path:
        return self.state / "agent.toml"

    @classmethod
    def resolve(cls, mode: Mode | None = None, home: Path | None = None) -> AgentPaths:
        """WXGUARD_HOME (or `home`) puts everything under one folder: tests, side-by-side runs."""
        mode = mode or default_mode()
        override = home or (
            Path(os.environ["WXGUARD_HOME"]) if os.environ.get("WXGUARD_HOME") else None
        )
        if sys.platform == "win32":
            from agent import windows_security

            sid = windows_security.current_user_sid()
            return cls.for_windows(mode, override, sid, os.environ)
        if override is not None:
            return cls(mode, override, override / "agent.sock", override / "logs")
        if mode is Mode.SYSTEM:
            if sys.platform == "darwin":
                base = Path("/Library/Application Support/wxguard")
                return cls(
                    mode, base, Path("/var/run/wxguard/agent.sock"), Path("/Library/Logs/wxguard")
                )
            return cls(
                mode,
                Path("/var/lib/wxguard"),
                Path("/run/wxguard/agent.sock"),
                Path("/var/log/wxguard"),
            )
        state = Path(platformdirs.user_data_dir("wxguard", appauthor=False))
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        socket = Path(runtime) / "wxguard" / "agent.sock" if runtime else state / "agent.sock"
        return cls(mode, state, socket, Path(platformdirs.user_log_dir("wxguard", appauthor=False)))

    @classmethod
    def for_windows(
        cls, mode: Mode, override: Path | None, user_sid: str, environ: Mapping[str, str]
    ) -> AgentPaths:
        home = str(override.resolve()) if override is not None else None
        pipe = Path(pipe_name(mode, user_sid, home))
        if override is not None:
            return cls(mode, override, pipe, override / "logs")
        if mode is Mode.SYSTEM:
            state, logs = windows_system_folders(environ)
            return cls(mode, Path(state), pipe, Path(logs))
        return cls(
            mode,
            Path(platformdirs.user_data_dir("wxguard", appauthor=False)),
            pipe,
            Path(platformdirs.user_log_dir("wxguard", appauthor=False)),
        )


def secure_folder(path: Path) -> None:
    """Create `path` (with its parents) for the agent's own account only, and fix it if it
    already exists: mode 0700 with every file directly in it stripped of group and other
    access on Linux and macOS; on Windows a protected DACL for SYSTEM, Administrators and the
    agent's account, inherited by what is created in it later.

    The agent must not rely on the service unit's `UMask=0077`: started by hand or by
    `make run` with umask 022, its log (who filed which incident report) and state would
    otherwise be readable by every local user. Raises OSError when the folder cannot be made
    private (a symlink in its place, a file system without permissions).
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if sys.platform == "win32":
        from agent import windows_security

        windows_security.make_private(str(path))
        return
    if stat.S_ISLNK(os.lstat(path).st_mode):
        raise OSError(f"{path} is a symbolic link; the agent keeps its state in a real folder")
    os.chmod(path, 0o700)
    with os.scandir(path) as entries:
        for entry in entries:
            if not entry.is_file(follow_symlinks=False):
                continue
            mode = stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode)
            if mode & 0o077:
                os.chmod(entry.path, mode & 0o700, follow_symlinks=False)


def socket_candidates() -> list[Path]:
    """Where a client looks for a running agent: WXGUARD_HOME, the system agent, the user's."""
    if os.environ.get("WXGUARD_HOME"):
        return [AgentPaths.resolve(Mode.USER).socket]
    return [AgentPaths.resolve(Mode.SYSTEM).socket, AgentPaths.resolve(Mode.USER).socket]
