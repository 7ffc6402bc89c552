"""Who a local user is, in the terms of the operating system the agent runs on.

On Linux and macOS a user is a numeric uid; on Windows, an account SID ("S-1-5-21-…"). The
agent keys everything per user (reports, policy acknowledgements, events for the tray) by this
value and takes it from the kernel (socket peer credentials, a named pipe client's token),
never from what a client says.
"""

from __future__ import annotations

import os
import sys

import psutil

UserId = int | str  # a POSIX uid, or a Windows account SID in its string form

LOCAL_SYSTEM_SID = "S-1-5-18"


def current_user() -> UserId:
    if sys.platform == "win32":
        from agent import windows_security

        return windows_security.current_user_sid()
    return os.getuid()


def is_administrator(user: UserId) -> bool:
    """Root on POSIX. On Windows a pipe client's rights come from its token, not its SID
    (see `agent.ipc_pipe`); this answers only for LocalSystem."""
    if isinstance(user, int):
        return user == 0
    return user == LOCAL_SYSTEM_SID


def current_user_is_administrator() -> bool:
    """Root, or on Windows an elevated administrator or LocalSystem (from our own token)."""
    if sys.platform == "win32":
        from agent import windows_security

        return windows_security.current_token_is_administrator()
    return os.geteuid() == 0


def account_name(user: UserId) -> str:
    """The login name to show and to send with a report; the id itself if it has none."""
    if sys.platform == "win32":
        from agent import windows_security

        return windows_security.account_name(str(user))
    import pwd

    try:
        return pwd.getpwuid(int(user)).pw_name
    except (KeyError, ValueError):
        return str(user)


def process_owner(pid: int) -> UserId | None:
    """The user a process runs as; None if it is gone or cannot be inspected."""
    if sys.platform == "win32":
        from agent import windows_security

        return windows_security.process_owner_sid(pid)
    try:
        return int(psutil.Process(pid).uids().real)
    except psutil.Error:
        return None
