"""Windows: account SIDs, tokens and file DACLs, through pywin32.

The Windows counterpart of uids, `SO_PEERCRED` and mode 0600: who a token belongs to,
whether it is an elevated administrator, and files only their owner (plus SYSTEM) may open.
Imported only on Windows; the type checker checks it with `--platform win32`.
"""

from __future__ import annotations

import sys

assert sys.platform == "win32"

import ntsecuritycon
import pywintypes
import win32api
import win32con
import win32security

LOCAL_SYSTEM = "S-1-5-18"
ADMINISTRATORS = "S-1-5-32-544"


def token_user_sid(token: int) -> str:
    sid, _attributes = win32security.GetTokenInformation(token, win32security.TokenUser)
    return str(win32security.ConvertSidToStringSid(sid))


def token_is_administrator(token: int) -> bool:
    """An elevated member of BUILTIN\\Administrators, or LocalSystem. A filtered (UAC) token of
    an administrator is not one: it has the group only for deny."""
    if token_user_sid(token) == LOCAL_SYSTEM:
        return True
    admins = win32security.CreateWellKnownSid(win32security.WinBuiltinAdministratorsSid, None)
    try:
        return bool(win32security.CheckTokenMembership(token, admins))
    except pywintypes.error:
        return False


def current_user_sid() -> str:
    token = win32security.OpenProcessToken(win32api.GetCurrentProcess(), win32con.TOKEN_QUERY)
    try:
        return token_user_sid(token)
    finally:
        win32api.CloseHandle(token)


def current_token_is_administrator() -> bool:
    if current_user_sid() == LOCAL_SYSTEM:
        return True
    admins = win32security.CreateWellKnownSid(win32security.WinBuiltinAdministratorsSid, None)
    # CheckTokenMembership wants an impersonation token; None means "this thread's / process's
    # own", which Windows duplicates for the check. (The stubs do not know None is allowed.)
    return bool(win32security.CheckTokenMembership(None, admins))  # type: ignore[arg-type]


def is_local_system() -> bool:
    """True inside the service (LocalSystem): the agent then runs in system mode."""
    return current_user_sid() == LOCAL_SYSTEM


def account_name(sid: str) -> str:
    """DOMAIN\\name for a SID; the SID itself for a deleted or unresolvable account."""
    try:
        name, domain, _kind = win32security.LookupAccountSid(
            None, win32security.ConvertStringSidToSid(sid)
        )
    except pywintypes.error:
        return sid
    return f"{domain}\\{name}" if domain else str(name)


def process_owner_sid(pid: int) -> str | None:
    try:
        process = win32api.OpenProcess(win32con.PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    except pywintypes.error:
        return None  # gone, or a protected process
    try:
        token = win32security.OpenProcessToken(process, win32con.TOKEN_QUERY)
    except pywintypes.error:
        return None
    finally:
        win32api.CloseHandle(process)
    try:
        return token_user_sid(token)
    finally:
        win32api.CloseHandle(token)


# --- files only their owner may open -------------------------------------------------------

_PRIVATE_INFO = (
    win32security.DACL_SECURITY_INFORMATION | win32security.PROTECTED_DACL_SECURITY_INFORMATION
)


def make_private(path: str) -> None:
    """Replace the DACL with full control for SYSTEM, Administrators and the current user
    only, inheriting nothing: the Windows equivalent of chmod 600 (files) and 700 (folders)
    owned by root, whom Administrators stand for (IT reads the service's logs there)."""
    acl = win32security.ACL()
    for sid in sorted({LOCAL_SYSTEM, ADMINISTRATORS, current_user_sid()}):
        acl.AddAccessAllowedAceEx(
            win32security.ACL_REVISION,
            win32security.OBJECT_INHERIT_ACE | win32security.CONTAINER_INHERIT_ACE,
            ntsecuritycon.FILE_ALL_ACCESS,
            win32security.ConvertStringSidToSid(sid),
        )
    win32security.SetNamedSecurityInfo(
        path, win32security.SE_FILE_OBJECT, _PRIVATE_INFO, None, None, acl, None
    )


def foreign_readers(path: str) -> list[str]:
    """Accounts other than SYSTEM, Administrators and the current user that the file's DACL
    lets in: a secret readable by them may have been copied or planted. A missing (NULL)
    DACL lets everyone in."""
    descriptor = win32security.GetNamedSecurityInfo(
        path, win32security.SE_FILE_OBJECT, win32security.DACL_SECURITY_INFORMATION
    )
    dacl = descriptor.GetSecurityDescriptorDacl()
    if dacl is None:
        return ["Everyone (no DACL)"]
    trusted = {LOCAL_SYSTEM, ADMINISTRATORS, current_user_sid()}
    found: list[str] = []
    for index in range(dacl.GetAceCount()):
        (ace_type, _flags), _mask, sid = dacl.GetAce(index)
        if ace_type != win32security.ACCESS_ALLOWED_ACE_TYPE:
            continue
        text = str(win32security.ConvertSidToStringSid(sid))
        if text not in trusted:
            found.append(account_name(text))
    return found
