"""What a build bakes into every package: server, secret, pinned keys, version, managed keys."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent import config

# Where the Linux package puts IT's files; the agent reads /etc/wxguard/agent.toml.
LINUX_MANAGED_DIR = "/etc/wxguard"
LINUX_POLICY_KEY = f"{LINUX_MANAGED_DIR}/policy-public.pem"
LINUX_CA = f"{LINUX_MANAGED_DIR}/server-ca.pem"

# Managed preferences domain (macOS) and policy key (Windows) of the agent's settings.
MACOS_DOMAIN = "com.company.wxguard"
WINDOWS_POLICY_KEY = r"SOFTWARE\Policies\wxguard"

_DEBIAN_VERSION = re.compile(r"^[0-9][A-Za-z0-9.+~-]*$")


class BuildError(Exception):
    """A build input is wrong; the message says which and what to do (Chinese, then English)."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


def _pem(path: Path, what: str) -> str:
    try:
        text = path.read_text("ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise BuildError(
            f"无法读取{what} {path}：{exc}", f"Cannot read the {what} {path}: {exc}"
        ) from exc
    if "-----BEGIN" not in text:
        raise BuildError(f"{path} 不是 PEM 文件。", f"{path} is not a PEM file ({what}).")
    return text if text.endswith("\n") else text + "\n"


def read_secret(path: Path) -> str:
    try:
        secret = path.read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise BuildError(
            f"无法读取登记密钥文件 {path}：{exc}", f"Cannot read the secret file {path}: {exc}"
        ) from exc
    if not secret or "\n" in secret:
        raise BuildError(
            f"登记密钥文件 {path} 应只有一行密钥（`wxguard-server secret create` 的输出）。",
            f"The secret file {path} must hold one line: a secret from `wxguard-server secret create`.",
        )
    return secret


def project_version(source: Path) -> str:
    """The project's version from the source tree's pyproject.toml: every package carries it."""
    try:
        data = tomllib.loads((source / "pyproject.toml").read_text("utf-8"))
        return str(data["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise BuildError(
            f"{source} 不是 wxguard 源码目录（缺少 pyproject.toml 的版本号）：{exc}",
            f"{source} is not the wxguard source tree (no version in pyproject.toml): {exc}",
        ) from exc


def parse_setting(text: str) -> tuple[str, Any]:
    """`--set key=value`: the value is read as TOML (3600, 2.5, "en"), else taken as a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise BuildError(f"--set 需要 key=value：{text!r}", f"--set needs key=value, not {text!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip(), value


@dataclass(frozen=True)
class BuildSpec:
    """The inputs of one build. `secret` may be empty: it is then supplied at install time."""

    server_url: str
    policy_key_pem: str
    version: str
    secret: str = ""
    ca_pem: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    maintainer: str = "wxguard IT <it@company.example>"

    @classmethod
    def create(
        cls,
        server_url: str,
        policy_key: Path,
        version: str,
        secret_file: Path | None = None,
        ca: Path | None = None,
        settings: Mapping[str, Any] | None = None,
        maintainer: str | None = None,
    ) -> BuildSpec:
        spec = cls(
            server_url=server_url.rstrip("/"),
            policy_key_pem=_pem(policy_key, "policy public key"),
            version=version,
            secret=read_secret(secret_file) if secret_file else "",
            ca_pem=_pem(ca, "CA certificate") if ca else "",
            settings=dict(settings or {}),
            **({"maintainer": maintainer} if maintainer else {}),
        )
        spec.validate()
        return spec

    def validate(self) -> None:
        if not self.server_url.startswith(("https://", "http://")):
            raise BuildError(
                f"服务器地址必须以 https:// 开头：{self.server_url!r}",
                f"The server URL must start with https://: {self.server_url!r}",
            )
        if not _DEBIAN_VERSION.match(self.version):
            raise BuildError(
                f"版本号 {self.version!r} 无效。", f"{self.version!r} is not a valid version."
            )
        reserved = {"server_url", "enrollment_secret", "ca_file", "policy_public_key"}
        clash = reserved & set(self.settings)
        if clash:
            raise BuildError(
                f"{sorted(clash)} 由专用参数设置（--server、--secret-file、--ca、--policy-key）。",
                f"{sorted(clash)} are set by --server, --secret-file, --ca and --policy-key.",
            )
        try:
            config.merge(self.managed_values(LINUX_POLICY_KEY, LINUX_CA), {}, "build", "-")
        except config.ConfigError as exc:
            raise BuildError(str(exc), str(exc)) from exc

    def managed_values(self, policy_key_path: str, ca_path: str) -> dict[str, Any]:
        """The managed settings as the agent reads them (agent/config.py keys), in order."""
        values: dict[str, Any] = {"server_url": self.server_url}
        if self.secret:
            values["enrollment_secret"] = self.secret
        if self.ca_pem:
            values["ca_file"] = ca_path
        values["policy_public_key"] = policy_key_path
        values.update(self.settings)
        return values


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render_toml(values: Mapping[str, Any], header: str = "") -> str:
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [f"{key} = {toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"
