"""Agent settings: IT's managed config over the user's config over defaults.

Every key is documented in docs/agent-config.md. A key set in the managed config is locked:
`Settings.managed` names it so front ends can show "managed by IT" and refuse local changes.
"""

from __future__ import annotations

import importlib
import os
import plistlib
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

MANAGED_LINUX = Path("/etc/wxguard/agent.toml")
MANAGED_MACOS = Path("/Library/Managed Preferences/com.company.wxguard.plist")


class ConfigError(ValueError):
    """A config file is unreadable or has a bad value; the message says which and how to fix."""


@dataclass(frozen=True, slots=True)
class Settings:
    server_url: str = ""
    enrollment_secret: str = ""
    ca_file: str = ""
    policy_public_key: str = ""
    scan_interval_s: int = 3600
    heartbeat_interval_s: int = 300
    process_poll_s: float = 1.0
    process_events: str = "auto"  # "auto": the kernel's exec events where allowed; "polling"
    # Linux blocking mode (docs/exec.md): "off", "audit" ("would block" only) or "block".
    exec_blocking: str = "off"
    # Mounts (any path on each) whose execs the guard decides, separated by ":".
    exec_guard_mounts: str = (
        "/home:/tmp:/var/tmp:/opt:/usr/local:/dev/shm:/media:/mnt:/run/media:/run/user"
    )
    exec_guard_deadline_s: float = 0.25
    watch_debounce_s: float = 0.2
    max_watches: int = 65536  # folders watched at most; beyond, periodic rescans read them
    cpu_budget_percent: float = 5.0
    enforcement_grace_s: float = 60.0
    report_refresh_s: int = 300
    ipc_idle_timeout_s: float = 30.0
    ipc_connections_per_user: int = 8
    log_level: str = "INFO"
    language: str = ""  # "" follows the OS locale; "zh" or "en"
    managed: frozenset[str] = field(default_factory=frozenset)

    def is_managed(self, key: str) -> bool:
        return key in self.managed


_KEYS = {f.name: f for f in fields(Settings) if f.name != "managed"}
_LIMITS: dict[str, tuple[float, float]] = {
    "scan_interval_s": (60, 7 * 86400),
    "heartbeat_interval_s": (30, 86400),
    "process_poll_s": (0.1, 60),
    "exec_guard_deadline_s": (0.01, 5),
    "watch_debounce_s": (0.0, 10),
    "max_watches": (1, 1_000_000),
    "cpu_budget_percent": (0.5, 100),
    "enforcement_grace_s": (1, 3600),
    "report_refresh_s": (2, 86400),
    "ipc_idle_timeout_s": (1, 3600),
    "ipc_connections_per_user": (1, 64),
}


def _coerce(key: str, value: Any, source: str) -> Any:
    default = getattr(Settings(), key)
    if isinstance(default, bool) or not isinstance(default, (int, float, str)):
        raise ConfigError(f"{source}: {key} cannot be set")
    try:
        if isinstance(default, str):
            if not isinstance(value, str):
                raise TypeError
            coerced: Any = value
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError
            coerced = value
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError
            coerced = float(value)
    except TypeError:
        raise ConfigError(
            f"{source}: {key} 应为 {type(default).__name__}，实际为 {value!r}，请修正。\n"
            f"{source}: {key} must be a {type(default).__name__}, not {value!r}; fix the file."
        ) from None
    if key in _LIMITS:
        low, high = _LIMITS[key]
        if not low <= coerced <= high:
            raise ConfigError(
                f"{source}: {key}={coerced} 超出范围 [{low}, {high}]，请修正。\n"
                f"{source}: {key}={coerced} is outside [{low}, {high}]; fix the file."
            )
    if key == "log_level" and coerced not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"{source}: log_level must be DEBUG, INFO, WARNING or ERROR")
    if key == "process_events" and coerced not in ("auto", "polling"):
        raise ConfigError(f"{source}: process_events must be auto or polling")
    if key == "exec_blocking" and coerced not in ("off", "audit", "block"):
        raise ConfigError(
            f"{source}: exec_blocking 只能是 off、audit 或 block。\n"
            f"{source}: exec_blocking must be off, audit or block."
        )
    if key == "language" and coerced not in ("", "zh", "en"):
        raise ConfigError(f"{source}: language must be zh, en or empty (follow the OS)")
    return coerced


def read_toml(path: Path) -> dict[str, Any]:
    """A config file's table; {} when it does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(
            f"无法读取配置文件 {path}：{exc.strerror}。\nCannot read the config file {path}: {exc.strerror}."
        ) from exc
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"配置文件 {path} 格式错误：{exc}。请修正或删除该文件。\n"
            f"The config file {path} is not valid TOML: {exc}. Fix or remove it."
        ) from exc


def merge(
    managed: Mapping[str, Any],
    user: Mapping[str, Any],
    managed_source: str = "managed",
    user_source: str = "user",
) -> Settings:
    """Defaults, then the user's values, then IT's (which lock their keys)."""
    values: dict[str, Any] = {}
    for source, table in ((user_source, user), (managed_source, managed)):
        for key, value in table.items():
            if key not in _KEYS:
                raise ConfigError(
                    f"{source}: 未知的配置项 {key!r}（可用：{', '.join(sorted(_KEYS))}）。\n"
                    f"{source}: unknown key {key!r}; known keys: {', '.join(sorted(_KEYS))}."
                )
            values[key] = _coerce(key, value, source)
    return replace(Settings(), **values, managed=frozenset(managed))


# Group Policy writes CamelCase value names under HKLM\SOFTWARE\Policies\wxguard; the
# installer's ADMX template uses exactly these (a test checks that the two agree).
WINDOWS_VALUE_NAMES: dict[str, str] = {
    "ServerUrl": "server_url",
    "EnrollmentSecret": "enrollment_secret",
    "CaFile": "ca_file",
    "PolicyPublicKey": "policy_public_key",
    "ScanIntervalSeconds": "scan_interval_s",
    "HeartbeatIntervalSeconds": "heartbeat_interval_s",
    "LogLevel": "log_level",
    "Language": "language",
    "EnforcementGraceSeconds": "enforcement_grace_s",
    "ReportRefreshSeconds": "report_refresh_s",
}
WINDOWS_POLICY_KEY = r"SOFTWARE\Policies\wxguard"


def from_windows_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Registry values (by CamelCase name) as config keys; names we do not know are refused."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        key = WINDOWS_VALUE_NAMES.get(name)
        if key is None:
            raise ConfigError(
                f"HKLM\\{WINDOWS_POLICY_KEY}: 未知的值 {name!r}。\n"
                f"HKLM\\{WINDOWS_POLICY_KEY}: unknown value {name!r}; known: {', '.join(sorted(WINDOWS_VALUE_NAMES))}."
            )
        default = getattr(Settings(), key)
        out[key] = float(value) if isinstance(default, float) and isinstance(value, int) else value
    return out


def read_windows_policies() -> dict[str, Any]:  # pragma: no cover - Windows only
    winreg: Any = importlib.import_module("winreg")

    try:
        key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, WINDOWS_POLICY_KEY)
    except OSError:
        return {}
    values: dict[str, Any] = {}
    with key:
        index = 0
        while True:
            try:
                name, value, _ = winreg.EnumValue(key, index)
            except OSError:
                break
            values[name] = value
            index += 1
    return from_windows_values(values)


def read_managed_plist(path: Path) -> dict[str, Any]:
    """macOS managed preferences (a configuration profile's forced settings) for our domain.
    The OS adds bookkeeping keys of its own; only the agent's keys are taken."""
    try:
        data = plistlib.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, plistlib.InvalidFileException, ValueError) as exc:
        raise ConfigError(
            f"无法读取受管理的偏好设置 {path}：{exc}。请检查配置描述文件。\n"
            f"Cannot read the managed preferences {path}: {exc}. Check the configuration profile."
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: managed preferences must be a dictionary")
    return {k: v for k, v in data.items() if k in _KEYS}


def read_managed(path: Path | None) -> dict[str, Any]:
    """IT's managed settings for this platform: TOML file, managed plist, or Group Policy."""
    if sys.platform == "win32" and path is None:  # pragma: no cover - Windows only
        return read_windows_policies()
    if path is None:
        return {}
    if path.suffix == ".plist":
        return read_managed_plist(path)
    return read_toml(path)


def default_managed_path() -> Path | None:
    if sys.platform.startswith("linux"):
        return MANAGED_LINUX
    if sys.platform == "darwin":
        return MANAGED_MACOS
    return None  # Windows: Group Policy in the registry (read_windows_policies)


def home_dir() -> Path:
    """The agent's state and config root: WXGUARD_HOME, or the user's platform folders."""
    override = os.environ.get("WXGUARD_HOME")
    if override:
        return Path(override)
    return Path(platformdirs.user_data_dir("wxguard", appauthor=False))


def load(managed_path: Path | None = None, user_path: Path | None = None) -> Settings:
    managed_path = managed_path if managed_path is not None else default_managed_path()
    user_path = user_path if user_path is not None else home_dir() / "agent.toml"
    managed = read_managed(managed_path)
    source = str(managed_path) if managed_path is not None else "Group Policy"
    return merge(managed, read_toml(user_path), source, str(user_path))
