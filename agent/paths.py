"""Where the agent keeps its state, socket and logs, in system and in user mode."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import platformdirs


class Mode(StrEnum):
    SYSTEM = "system"  # installed by IT, runs as root, sees every user
    USER = "user"  # development and standalone: the current user's folders only


def default_mode() -> Mode:
    if sys.platform != "win32" and os.geteuid() == 0:
        return Mode.SYSTEM
    return Mode.USER


@dataclass(frozen=True, slots=True)
class AgentPaths:
    mode: Mode
    state: Path  # state.db, outbox.db, policy, device credentials (system mode)
    socket: Path
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


def socket_candidates() -> list[Path]:
    """Where a client looks for a running agent: WXGUARD_HOME, the system agent, the user's."""
    if os.environ.get("WXGUARD_HOME"):
        return [AgentPaths.resolve(Mode.USER).socket]
    return [AgentPaths.resolve(Mode.SYSTEM).socket, AgentPaths.resolve(Mode.USER).socket]
