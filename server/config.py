"""Server settings: validated once at start-up from the data folder, the environment and flags."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from protocol import limits

SESSION_KEY_FILE = "session.key"
CONFIG_FILE = "config.json"
DB_FILE = "wxguard.db"
POLICY_PRIVATE_KEY_FILE = "policy-private.pem"
POLICY_PUBLIC_KEY_FILE = "policy-public.pem"
ATTACHMENTS_DIR = "attachments"

# Secrets people paste from examples; a server started with one of these is not secured.
_PLACEHOLDERS = {"changethis", "changeme", "secret", "password", "example", "xxx", "test"}

MIB = 1024 * 1024


class ConfigError(ValueError):
    """The server cannot start with this configuration; the message says what to fix."""


class Settings(BaseSettings):
    """Everything the app needs to run. Built explicitly, never at import time."""

    model_config = SettingsConfigDict(env_prefix="WXGUARD_", extra="forbid")

    data_dir: Path
    database_url: str = ""
    session_secret: SecretStr = SecretStr("")
    # Browsers send Secure cookies to http://127.0.0.1 too, so this stays on even in development.
    cookie_secure: bool = True
    session_hours: int = Field(default=12, ge=1, le=24 * 30)

    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated
    # addresses or networks, "*" for any). Empty: none, the peer address is the client.
    # Believing a header nobody vouches for lets any local process pick its own address and
    # walk around the per-address login limit.
    forwarded_allow_ips: str = ""

    max_body_bytes: int = Field(default=1 * MIB, ge=1024)
    max_attachment_bytes: int = Field(default=limits.MAX_ATTACHMENT_BYTES, ge=1024)
    max_attachments: int = Field(default=limits.MAX_ATTACHMENTS, ge=0, le=20)

    enroll_per_ip_per_minute: int = Field(default=10, ge=1)
    login_per_ip_per_minute: int = Field(default=10, ge=1)
    # Failed dashboard logins are counted in the database (the audit trail), so every worker
    # process sees them: an account refuses an address after this many failures from it, and
    # every address after the second number, within the window (a success starts it anew).
    login_failures_per_account_and_ip: int = Field(default=5, ge=1)
    login_failures_per_account: int = Field(default=50, ge=1)
    login_failure_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    device_per_minute: int = Field(default=120, ge=1)
    ip_per_minute: int = Field(default=6000, ge=1)

    offline_after_heartbeats: int = Field(default=3, ge=1)
    # Resolved findings and audit events older than this are pruned (server/retention.py) once
    # a day by the server and by `wxguard-server prune`; open findings are always kept.
    retention_days: int = Field(default=365, ge=30)
    default_heartbeat_interval_s: int = Field(default=300, ge=10)
    # Timestamps a device sends must fall within this window around the server's clock.
    max_past_days: int = Field(default=limits.MAX_PAST_DAYS, ge=1)
    max_future_minutes: int = Field(default=limits.MAX_FUTURE_MINUTES, ge=1)

    @field_validator("session_secret")
    @classmethod
    def _real_secret(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if raw.lower() in _PLACEHOLDERS or len(raw) < 32:
            raise ValueError(
                "session secret is missing, too short (< 32 characters) or a placeholder; "
                "run `wxguard-server init` or set WXGUARD_SESSION_SECRET to a random value"
            )
        return value

    @model_validator(mode="after")
    def _default_database(self) -> Self:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / DB_FILE}"
        return self

    @property
    def uvicorn_proxy_options(self) -> dict[str, Any]:
        """What uvicorn is told about proxies: nothing trusted unless configured. The empty
        string is passed rather than None, which would make uvicorn trust 127.0.0.1 (or its
        FORWARDED_ALLOW_IPS variable)."""
        trusted = self.forwarded_allow_ips.strip()
        return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted}

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / ATTACHMENTS_DIR

    @property
    def policy_private_key_path(self) -> Path:
        return self.data_dir / POLICY_PRIVATE_KEY_FILE

    @property
    def policy_public_key_path(self) -> Path:
        return self.data_dir / POLICY_PUBLIC_KEY_FILE

    @property
    def max_report_body_bytes(self) -> int:
        """A report may carry attachments; the rest of the API stays small."""
        return self.max_body_bytes + self.max_attachments * (self.max_attachment_bytes + 64 * 1024)


def read_data_config(data_dir: Path) -> dict[str, Any]:
    """What `init` recorded in the data folder (database URL), or nothing."""
    path = data_dir / CONFIG_FILE
    if not path.exists():
        return {}
    loaded = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path} is not a JSON object")
    return loaded


def load_settings(data_dir: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    """Settings for a data folder made by `init`: flags override the environment and the folder."""
    data_dir = data_dir.resolve()
    if not data_dir.is_dir():
        raise ConfigError(f"data folder {data_dir} does not exist: run `wxguard-server init` first")
    values: dict[str, Any] = {"data_dir": data_dir}
    stored = read_data_config(data_dir)
    if database_url:
        values["database_url"] = database_url
    elif stored.get("database_url") and not os.environ.get("WXGUARD_DATABASE_URL"):
        values["database_url"] = stored["database_url"]
    key_path = data_dir / SESSION_KEY_FILE
    if key_path.exists():
        values["session_secret"] = key_path.read_text(encoding="utf-8").strip()
    values.update(overrides)
    try:
        # Explicit values win over WXGUARD_* variables only where they were given.
        return Settings(**values)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
