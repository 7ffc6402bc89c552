"""Where the agent lives on each platform, and who may connect to its endpoint.

The Windows values are computed here from the same functions the Windows agent calls (with the
SID and environment it would read from the system), so they are checked on every CI run."""

from __future__ import annotations

from pathlib import Path

from agent.paths import (
    PIPE_CLIENT_RIGHTS,
    SYSTEM_PIPE,
    AgentPaths,
    Mode,
    pipe_name,
    pipe_security,
    windows_system_folders,
)

ALICE = "S-1-5-21-3623811015-3361044348-30300820-1013"
BOB = "S-1-5-21-3623811015-3361044348-30300820-1014"


def test_windows_service_state_lives_under_programdata() -> None:
    paths = AgentPaths.for_windows(Mode.SYSTEM, None, "S-1-5-18", {"ProgramData": r"D:\PD"})
    assert str(paths.state) == r"D:\PD\wxguard"
    assert str(paths.logs) == r"D:\PD\wxguard\logs"
    assert str(paths.socket) == SYSTEM_PIPE == r"\\.\pipe\wxguard-agent"
    # Without the variable (a stripped service environment), the documented default.
    assert windows_system_folders({})[0] == r"C:\ProgramData\wxguard"


def test_each_windows_user_agent_has_its_own_pipe() -> None:
    alice = pipe_name(Mode.USER, ALICE, None)
    assert alice == rf"\\.\pipe\wxguard-agent-{ALICE}"
    assert alice != pipe_name(Mode.USER, BOB, None)
    assert pipe_name(Mode.SYSTEM, ALICE, None) == SYSTEM_PIPE


def test_side_by_side_runs_get_distinct_pipes(tmp_path: Path) -> None:
    one = AgentPaths.for_windows(Mode.SYSTEM, tmp_path / "one", ALICE, {})
    two = AgentPaths.for_windows(Mode.SYSTEM, tmp_path / "two", ALICE, {})
    again = AgentPaths.for_windows(Mode.USER, tmp_path / "one", BOB, {})
    assert one.socket != two.socket
    assert one.socket == again.socket  # the client finds the agent it shares WXGUARD_HOME with
    assert one.state == tmp_path / "one"
    assert str(one.socket).startswith("\\\\.\\pipe\\wxguard-home-")


def test_system_pipe_lets_local_users_talk_but_not_serve() -> None:
    sddl = pipe_security(world_connectable=True, owner_sid="S-1-5-18")
    assert sddl.startswith("D:P")  # protected: no inherited entries widen it
    assert "(A;;GA;;;SY)" in sddl
    assert f"(A;;0x{PIPE_CLIENT_RIGHTS:x};;;AU)" in sddl  # authenticated users: read/write
    assert sddl.count(";AU)") == 1
    file_create_pipe_instance = 0x4  # FILE_APPEND_DATA on a pipe
    assert not PIPE_CLIENT_RIGHTS & file_create_pipe_instance
    assert PIPE_CLIENT_RIGHTS & 0x1 and PIPE_CLIENT_RIGHTS & 0x2  # read data, write data


def test_user_mode_pipe_admits_only_its_owner() -> None:
    sddl = pipe_security(world_connectable=False, owner_sid=ALICE)
    assert sddl == f"D:P(A;;GA;;;SY)(A;;GA;;;{ALICE})"
    assert "AU" not in sddl and "WD" not in sddl
