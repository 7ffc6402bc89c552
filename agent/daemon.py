"""`wxguard agent run`: wires settings, logging, the service, the server exchange and the socket,
and runs until a signal."""

from __future__ import annotations

import dataclasses
import logging
import logging.handlers
import os
import platform
import signal
import socket
import sys
import threading
import time
import tomllib
from pathlib import Path
from types import FrameType
from typing import Any

from agent import __version__, config
from agent.api import AgentError
from agent.credentials import (
    AgentKeyring,
    CredentialsError,
    CredentialStore,
    FileCredentialStore,
    KeyringCredentialStore,
)
from agent.enforcement import Enforcer
from agent.exchange import Exchange
from agent.exec_guard import ExecBlocking
from agent.ipc import Dispatcher, IpcLimits, Peer, listen
from agent.machine import serial_number
from agent.outbox import FileKeyProvider, KeyProvider, KeyringKeyProvider, Outbox, OutboxError
from agent.paths import AgentPaths, Mode, secure_folder
from agent.policy import PolicyGuard
from agent.principals import current_user
from agent.service import AgentService
from agent.sync import DeviceInfo, Sync, machine_id
from checks.api import live_scanner
from checks.catalogue import Catalogue, load_builtin
from checks.text import OneLineFormatter
from protocol import blocked

log = logging.getLogger("wxguard.agent")

ENROLL_WAIT_S = 30.0


class PrivateLogHandler(logging.handlers.RotatingFileHandler):
    """The rotating log file, created 0600 whatever the umask (rotation reopens through here)."""

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


def setup_logging(paths: AgentPaths, level: str) -> None:
    """Rotating log file for IT (5 × 5 MB) plus stderr for the service manager's journal.

    The folder is the agent's only (0700, files 0600) and every record is one line: names
    and summaries in a record cannot forge another one (`checks.text.OneLineFormatter`).
    """
    secure_folder(paths.logs)
    fmt = OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    file_handler = PrivateLogHandler(
        paths.logs / "agent.log",
        maxBytes=5 * 1024 * 1024,
        backupCount=5,
        encoding="utf-8",
        errors="backslashreplace",
    )
    file_handler.setFormatter(fmt)
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    for name in ("wxguard", "agent"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [file_handler, stream]
        logger.setLevel(level)
        logger.propagate = False


class Runtime:
    """The running agent's parts, and re-wiring the server exchange after `wxguard enroll`."""

    def __init__(self, paths: AgentPaths, managed_path: Path | None) -> None:
        self.paths = paths
        self.managed_path = managed_path
        self.settings = self._load_settings()
        setup_logging(paths, self.settings.log_level)
        self.builtin: Catalogue = load_builtin()
        self.service = AgentService(self.settings, paths, live_scanner(self.builtin))
        self.enforcer = Enforcer(self.service, self.settings.enforcement_grace_s, self._terminated)
        self.exec_blocking = ExecBlocking(
            self.service, self._exec_blocked, fallback=lambda: self.enforcer.mode
        )
        self.dispatcher = Dispatcher(self.service)
        self.dispatcher.register("enroll", self._enroll)
        self.exchange: Exchange | None = None
        self.exchange_error: AgentError | None = None
        self._lock = threading.Lock()
        self.service.status_providers.append(self._exchange_status)

    def _terminated(self, record: dict[str, Any]) -> None:
        if self.exchange is not None:
            self.exchange.report_termination(record)

    def _exec_blocked(self, record: dict[str, Any]) -> None:
        """IT hears of every blocked (or, in audit mode, would-be-blocked) exec: an incident
        report through the outbox, at most one per binary and user per hour."""
        exchange = self.exchange
        if exchange is None:
            return
        verb = "blocked" if record["mode"] == "block" else "would block (audit)"
        report = {
            "category": "exec-blocked",
            "summary": f"wxguard {verb} {record['name']} (rule {record['rule_id']})"[:200],
            "description": blocked.describe(record),
            "affected_account": "",
            "reporter": f"wxguard-agent ({record.get('user') or '?'})"[:200],
        }
        try:
            exchange.sync.queue_report(report, exchange.clock())
            exchange.kick()
        except Exception as exc:  # the outbox full or broken: the local record remains
            log.error("could not queue the exec block report: %s", exc)

    def _exchange_status(self) -> dict[str, Any]:
        if self.exchange is not None or self.exchange_error is None:
            return {}
        return {"enrolled": False, "exchange_error": self.exchange_error.to_json()}

    def try_connect(self) -> None:
        """Connect the server exchange; without a safe place for secrets (user mode with no
        keyring) the agent still checks the machine and says plainly why it cannot report."""
        try:
            self.exchange = self.connect()
            self.exchange_error = None
        except (CredentialsError, OutboxError) as exc:
            self.exchange = None
            self.exchange_error = AgentError("storage", exc.zh, exc.en)
            log.error("server exchange unavailable: %s", exc.en)
            self.dispatcher.attach_unavailable(self.exchange_error)

    def _load_settings(self) -> config.Settings:
        managed = self.managed_path or Path("/nonexistent/agent.toml")
        return config.load(managed_path=managed, user_path=self.paths.user_config)

    # -- server exchange -------------------------------------------------------------------

    def connect(self) -> Exchange:
        paths, settings = self.paths, self.settings
        credentials: CredentialStore
        keys: KeyProvider
        if paths.mode is Mode.SYSTEM:
            credentials = FileCredentialStore(paths.state / "device.json")
            keys = FileKeyProvider(paths.state / "outbox.key")
        else:
            keyring = AgentKeyring()
            credentials = KeyringCredentialStore(keyring)
            keys = KeyringKeyProvider(keyring)
        ca = paths.state / "server-ca.pem"
        if not settings.ca_file and ca.exists():
            settings = dataclasses.replace(settings, ca_file=str(ca))
        key_path = (
            Path(settings.policy_public_key)
            if settings.policy_public_key
            else paths.state / "policy-public.pem"
        )
        sync = Sync(
            settings=settings,
            device=DeviceInfo(
                socket.gethostname(),
                platform.platform(),
                __version__,
                machine_id=machine_id(),
                serial_number=serial_number(),
            ),
            credentials=credentials,
            outbox=Outbox(paths.outbox_db, keys),
            policy=PolicyGuard(key_path, paths.state / "policy.json"),
        )
        exchange = Exchange(self.service, sync, self.builtin)
        exchange.policy_listeners.append(lambda policy: self.enforcer.set_mode(policy.enforcement))
        # Reads the policy's optional `exec_blocking` (attribute of the typed policy once it has
        # one; absent = not set): see docs/exec.md.
        exchange.policy_listeners.append(self.exec_blocking.policy_changed)
        self.dispatcher.attach_exchange(exchange)
        exchange.start()
        return exchange

    def _enroll(self, args: dict[str, Any], peer: Peer) -> dict[str, Any]:
        """`wxguard enroll`: IT (root, or the agent's own user in user mode) points the agent
        at a server. Files are copied into the agent's state so it depends on nothing the
        caller can change later."""
        if not (peer.admin or peer.uid == current_user()):
            raise AgentError(
                "forbidden",
                "只有管理员（root，或 Windows 上以管理员身份运行）才能为本机登记服务器。",
                "Only an administrator (root, or on Windows an elevated administrator) may "
                "enroll this machine.",
            )
        server = args.get("server")
        secret = args.get("secret")
        if not isinstance(server, str) or not server.startswith(("https://", "http://")):
            raise AgentError(
                "invalid",
                "服务器地址必须以 https:// 开头。",
                "The server URL must start with https://.",
            )
        if not isinstance(secret, str) or not secret:
            raise AgentError("invalid", "缺少登记密钥。", "The enrollment secret is missing.")
        unknown = set(args) - {"server", "secret", "ca_pem", "policy_key_pem", "no_policy_key"}
        if unknown:
            raise AgentError("invalid", "未知参数。", f"unknown arguments {sorted(unknown)}.")
        for key in ("server_url", "enrollment_secret"):
            if self.settings.is_managed(key):
                raise AgentError(
                    "managed",
                    f"{key} 由 IT 统一管理（{self.managed_path}），不能在本机更改。",
                    f"{key} is managed by IT ({self.managed_path}) and cannot be changed here.",
                )
        has_key = bool(args.get("policy_key_pem")) or bool(self.settings.policy_public_key)
        if not has_key and (self.settings.managed or args.get("no_policy_key") is not True):
            # Without the key no policy is ever verified: that must be a decision, never a
            # silent default, and never where IT manages the settings.
            raise AgentError(
                "invalid",
                "登记需要服务器的策略公钥（--policy-key policy-public.pem）"
                + (
                    "；本机设置由 IT 统一管理，不能不用公钥登记。"
                    if self.settings.managed
                    else "，或明确给出 --no-policy-key。"
                ),
                "Enrolling needs the server's policy public key (--policy-key policy-public.pem)"
                + (
                    "; this machine's settings are managed by IT, so it cannot enroll without it."
                    if self.settings.managed
                    else ", or an explicit --no-policy-key."
                ),
            )
        with self._lock:
            for field_name, filename in (
                ("ca_pem", "server-ca.pem"),
                ("policy_key_pem", "policy-public.pem"),
            ):
                pem = args.get(field_name)
                if pem:
                    if not isinstance(pem, str) or "-----BEGIN" not in pem:
                        raise AgentError(
                            "invalid",
                            "证书/公钥文件不是 PEM 格式。",
                            f"{field_name} is not a PEM file.",
                        )
                    target = self.paths.state / filename
                    target.write_text(pem, encoding="ascii")
                    os.chmod(target, 0o644)
            _update_user_config(
                self.paths.user_config, {"server_url": server, "enrollment_secret": secret}
            )
            self.settings = self._load_settings()
            if self.exchange is not None:
                self.exchange.stop()
            self.try_connect()
            if self.exchange is None:
                assert self.exchange_error is not None
                raise self.exchange_error
            exchange = self.exchange
        deadline = time.monotonic() + ENROLL_WAIT_S
        while time.monotonic() < deadline:
            status = exchange.sync.status(exchange.clock())
            if status.get("enrolled") or (status.get("last_error") or {}).get("rejected"):
                break
            time.sleep(0.1)
        return {
            "enrolled": bool(status.get("enrolled")),
            "device_id": status.get("device_id"),
            "last_error": status.get("last_error"),
        }


def _update_user_config(path: Path, values: dict[str, str]) -> None:
    """Set keys in the agent's own config file (root-only: it holds the enrollment secret)."""
    current: dict[str, Any] = {}
    if path.exists():
        current = tomllib.loads(path.read_text("utf-8"))
    current.update(values)
    lines = [f"{key} = {_toml_value(value)}" for key, value in current.items()]
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def run(
    mode: Mode | None = None, home: Path | None = None, ready: threading.Event | None = None
) -> int:
    paths = AgentPaths.resolve(mode, home)
    secure_folder(paths.state)  # device token, outbox key, reports: the agent's account only
    # IT's managed config applies to the installed agent, not to side-by-side test runs.
    managed = config.default_managed_path() if not os.environ.get("WXGUARD_HOME") else None
    runtime = Runtime(paths, managed)
    limits = IpcLimits(
        idle_timeout_s=runtime.settings.ipc_idle_timeout_s,
        per_user=runtime.settings.ipc_connections_per_user,
    )
    server = listen(paths.socket, runtime.dispatcher, paths.mode is Mode.SYSTEM, limits)
    stop = threading.Event()

    def _signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    if sys.platform == "win32":
        signal.signal(signal.SIGBREAK, _signal)  # the service wrapper's Ctrl+Break
    runtime.service.start()
    runtime.enforcer.start()
    runtime.exec_blocking.start()
    runtime.try_connect()
    server_thread = threading.Thread(target=server.serve_forever, name="wxguard-ipc", daemon=True)
    server_thread.start()
    log.info("listening on %s", paths.socket)
    if ready is not None:
        ready.set()
    stop.wait()
    server.close()
    if runtime.exchange is not None:
        runtime.exchange.stop()
    runtime.exec_blocking.stop()
    runtime.enforcer.stop()
    runtime.service.stop()
    return 0
