"""Device secrets at rest: the credentials file (system mode) and the OS keyring (user mode).

System mode: one JSON file, mode 0600, owned by the service account, written to a temporary
file opened with O_EXCL and renamed over the old one, so a crash leaves the old or the new file,
never half of one. A file that others can read is refused: its token may already be copied.

User mode: the OS keyring through the `keyring` library, service name `wxguard`, entries
(see docs/agent-exchange.md):

    device-id      the id the server gave this device
    device-token   the bearer token (the server keeps only its hash)
    server-url     the server the token belongs to
    outbox-key     base64 of the outbox's 256-bit encryption key (agent.outbox)

Only real secret stores are accepted (Secret Service, macOS Keychain, Windows Credential
Locker). A missing, locked or refused keyring raises `CredentialsError`; there is never a
plaintext fallback, because a silent downgrade of where secrets live is itself a compliance gap.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import keyring
import keyring.backend
import keyring.errors

SERVICE = "wxguard"
KEY_DEVICE_ID = "device-id"
KEY_DEVICE_TOKEN = "device-token"
KEY_SERVER_URL = "server-url"
KEY_OUTBOX = "outbox-key"
KEY_REVOKED = "revoked"
CREDENTIALS_FILE = "credentials.json"

# Module path + class name of the backends that keep secrets in a real, OS-protected store.
ALLOWED_BACKENDS = frozenset(
    {
        "keyring.backends.SecretService.Keyring",
        "keyring.backends.macOS.Keyring",
        "keyring.backends.Windows.WinVaultKeyring",
    }
)


class CredentialsError(Exception):
    """Device secrets cannot be stored or read safely; `zh` and `en` say what to do."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh}\n{en}")
        self.zh = zh
        self.en = en


@dataclass(frozen=True, slots=True)
class Credentials:
    device_id: str
    token: str
    server_url: str
    # Set when the server refused the token as revoked: the fingerprint (agent.sync) of the
    # server URL and enrollment secret in use then. The device stays revoked, and does not
    # enroll itself again, until IT gives another secret or URL. The token is then empty.
    revoked: str = ""

    def __repr__(self) -> str:  # never let the token reach a log line through repr()
        return f"Credentials(device_id={self.device_id!r}, server_url={self.server_url!r})"


class CredentialStore(Protocol):
    """Where the device's credentials live; `load` is None before enrollment."""

    def load(self) -> Credentials | None: ...

    def save(self, credentials: Credentials) -> None: ...

    def clear(self) -> None: ...

    def describe(self) -> str: ...


# --- private files -----------------------------------------------------------------------


def write_private_file(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data`, readable by the current user only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    except FileExistsError:
        tmp.unlink()  # a leftover of a crash in this same process and thread: ours to remove
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    try:
        if sys.platform == "win32":  # mode bits mean nothing there: a DACL before the secret
            from agent import windows_security

            windows_security.make_private(str(tmp))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


# Windows has no O_NOFOLLOW; a planted reparse point there is caught by the DACL check.
_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)


def _refuse_foreign_readers(path: Path) -> None:
    if sys.platform != "win32":
        return
    from agent import windows_security

    readers = windows_security.foreign_readers(str(path))
    if readers:
        who = ", ".join(readers)
        raise CredentialsError(
            f"{path} 可被其他账户读取（{who}），因此拒绝使用。请 IT 删除该文件、吊销此设备的令牌后重新注册。",
            f"{path} can be read by other accounts ({who}), so it is refused. Ask IT to delete "
            f"it, revoke this device's token and enroll it again.",
        )


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_private_file(path: Path) -> bytes | None:
    """The bytes of a 0600 file owned by us; None if it does not exist.

    Raises CredentialsError when the file is readable by group or others, or owned by someone
    else: such a secret may have been copied or planted.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialsError(
            f"无法读取 {path}：{exc.strerror}。请检查权限或联系 IT。",
            f"Cannot read {path}: {exc.strerror}. Check its permissions or contact IT.",
        ) from exc
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise CredentialsError(f"{path} 不是普通文件。", f"{path} is not a regular file.")
        if sys.platform == "win32":
            _refuse_foreign_readers(path)
        elif info.st_mode & 0o077:
            raise CredentialsError(
                f"{path} 的权限是 {stat.S_IMODE(info.st_mode):o}，其他用户可以读取，因此拒绝使用。"
                f"请执行 chmod 600 {path}，并请 IT 吊销此设备的令牌后重新注册。",
                f"{path} has mode {stat.S_IMODE(info.st_mode):o}: other users can read it, so it "
                f"is refused. Run chmod 600 {path} and ask IT to revoke this device's token and "
                f"enroll it again.",
            )
        if sys.platform != "win32" and info.st_uid != os.geteuid():
            raise CredentialsError(
                f"{path} 属于另一个用户（uid {info.st_uid}），拒绝使用。请联系 IT。",
                f"{path} belongs to another user (uid {info.st_uid}) and is refused. Contact IT.",
            )
        return fh.read()


class FileCredentialStore:
    """System mode: `credentials.json` (0600) in the agent's state folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"file:{self.path}"

    def load(self) -> Credentials | None:
        with self._lock:
            raw = read_private_file(self.path)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return Credentials(
                device_id=_text(data["device_id"]),
                token=_text(data["token"]) if not data.get("revoked") else "",
                server_url=_text(data["server_url"]),
                revoked=_text(data.get("revoked") or "") if data.get("revoked") else "",
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CredentialsError(
                f"凭据文件 {self.path} 已损坏。请删除它，设备会用注册密钥重新注册。",
                f"The credentials file {self.path} is corrupt. Delete it; the device will enroll "
                f"again with the enrollment secret.",
            ) from exc

    def save(self, credentials: Credentials) -> None:
        data = {
            "device_id": credentials.device_id,
            "token": credentials.token,
            "server_url": credentials.server_url,
        }
        if credentials.revoked:
            data["revoked"] = credentials.revoked
        try:
            with self._lock:
                write_private_file(self.path, json.dumps(data).encode())
        except OSError as exc:
            raise CredentialsError(
                f"无法保存设备凭据到 {self.path}：{exc.strerror}。请检查磁盘空间和权限。",
                f"Cannot save the device credentials to {self.path}: {exc.strerror}. "
                f"Check disk space and permissions.",
            ) from exc

    def clear(self) -> None:
        with self._lock:
            self.path.unlink(missing_ok=True)


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("expected a non-empty string")
    return value


# --- keyring -----------------------------------------------------------------------------


def backend_name(backend: keyring.backend.KeyringBackend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _keyring_error(what: str, detail: str) -> CredentialsError:
    return CredentialsError(
        f"无法使用系统钥匙串（{what}：{detail}）。wxguard 不会把密钥以明文保存。"
        f"请登录桌面会话并解锁钥匙串（Linux：GNOME 钥匙串或 KWallet 的 Secret Service；"
        f"macOS：钥匙串；Windows：凭据管理器），然后重试；或请 IT 以系统服务方式安装 wxguard。",
        f"The system keyring cannot be used ({what}: {detail}). wxguard never stores secrets in "
        f"plain text. Log in to a desktop session and unlock the keyring (Linux: a Secret "
        f"Service such as GNOME Keyring or KWallet; macOS: Keychain; Windows: Credential "
        f"Manager), then try again, or ask IT to install wxguard as a system service.",
    )


class AgentKeyring:
    """The OS keyring, restricted to real backends, behind one lock and one error type.

    The backend is chosen once (the injected one, or the best the `keyring` library finds) and
    remembered, so secrets never move silently between stores.
    """

    def __init__(
        self,
        backend: keyring.backend.KeyringBackend | None = None,
        discover: Callable[[], keyring.backend.KeyringBackend] = keyring.get_keyring,
        service: str = SERVICE,
    ) -> None:
        self.service = service
        self._backend = backend
        self._discover = discover
        self._lock = threading.Lock()

    def backend(self) -> keyring.backend.KeyringBackend:
        if self._backend is None:
            try:
                found = self._discover()
            except Exception as exc:  # the library's discovery can fail in many ways
                raise _keyring_error("no backend", str(exc)) from exc
            self._backend = _pick_allowed(found)
        name = backend_name(self._backend)
        if name not in ALLOWED_BACKENDS:
            raise _keyring_error("refused backend", name)
        return self._backend

    def get(self, key: str) -> str | None:
        with self._lock:
            backend = self.backend()
            try:
                return backend.get_password(self.service, key)
            except Exception as exc:  # locked, D-Bus gone, access denied, …: all the same to us
                raise _keyring_error(type(exc).__name__, str(exc) or "read failed") from exc

    def set(self, key: str, value: str) -> None:
        with self._lock:
            backend = self.backend()
            try:
                backend.set_password(self.service, key, value)
            except Exception as exc:
                raise _keyring_error(type(exc).__name__, str(exc) or "write failed") from exc

    def delete(self, key: str) -> None:
        with self._lock:
            backend = self.backend()
            try:
                backend.delete_password(self.service, key)
            except keyring.errors.PasswordDeleteError:
                pass  # already absent
            except Exception as exc:
                raise _keyring_error(type(exc).__name__, str(exc) or "delete failed") from exc


def _pick_allowed(found: keyring.backend.KeyringBackend) -> keyring.backend.KeyringBackend:
    # The library may hand back a chainer wrapping several stores: use the first real one.
    candidates = list(getattr(found, "backends", None) or [found])
    for candidate in candidates:
        if backend_name(candidate) in ALLOWED_BACKENDS:
            chosen: keyring.backend.KeyringBackend = candidate
            return chosen
    names = ", ".join(backend_name(c) for c in candidates) or "none"
    raise _keyring_error("no secure backend", names)


class KeyringCredentialStore:
    """User mode: the credentials in the OS keyring under service `wxguard`."""

    def __init__(self, keyring_: AgentKeyring) -> None:
        self.keyring = keyring_

    def describe(self) -> str:
        return f"keyring:{backend_name(self.keyring.backend())}"

    def load(self) -> Credentials | None:
        device_id = self.keyring.get(KEY_DEVICE_ID)
        token = self.keyring.get(KEY_DEVICE_TOKEN)
        server_url = self.keyring.get(KEY_SERVER_URL)
        revoked = self.keyring.get(KEY_REVOKED)
        if revoked and device_id and server_url:
            return Credentials(device_id, "", server_url, revoked=revoked)
        if not (device_id and token and server_url):
            return None  # never enrolled, or a save was interrupted: enroll again
        return Credentials(device_id=device_id, token=token, server_url=server_url)

    def save(self, credentials: Credentials) -> None:
        # The token goes last: a half-finished save then reads as "not enrolled", not as a
        # device id paired with a stale token.
        self.keyring.delete(KEY_DEVICE_TOKEN)
        self.keyring.set(KEY_SERVER_URL, credentials.server_url)
        self.keyring.set(KEY_DEVICE_ID, credentials.device_id)
        if credentials.revoked:
            self.keyring.set(KEY_REVOKED, credentials.revoked)
            return
        self.keyring.delete(KEY_REVOKED)
        self.keyring.set(KEY_DEVICE_TOKEN, credentials.token)

    def clear(self) -> None:
        for key in (KEY_DEVICE_TOKEN, KEY_DEVICE_ID, KEY_SERVER_URL, KEY_REVOKED):
            self.keyring.delete(key)
