"""What the Debian maintainer scripts do in Python: install IT's managed config at configure.

The package ships the baked config as `/opt/wxguard/share/agent.toml.dist` (0600). At configure
time it becomes `/etc/wxguard/agent.toml` unless IT pre-seeded or edited that file: a file the
package wrote itself (its SHA-256 is kept beside it, `agent.toml.stamp`) is replaced on upgrade, one it did not write
is kept, and the new baked config is left beside it as `agent.toml.dpkg-dist`. The environment
variables WXGUARD_SERVER_URL and WXGUARD_ENROLLMENT_SECRET, when set at install time, override
the server and the secret in whichever file results. No prompt: installs are silent.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agent import config
from installer.spec import render_toml

ENV_OVERRIDES = {
    "WXGUARD_SERVER_URL": "server_url",
    "WXGUARD_ENROLLMENT_SECRET": "enrollment_secret",
}
HEADER = (
    "wxguard managed configuration (IT). Written by the wxguard package; root-only (0600)\n"
    "because it holds the enrollment secret. Keys: /opt/wxguard/share/doc/deploy.md"
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    if os.geteuid() == 0:
        os.chown(tmp, 0, 0)
    os.replace(tmp, path)


def _parse(data: bytes, source: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise config.ConfigError(f"{source}: not valid TOML: {exc}") from exc


def _read_stamp(stamp: Path) -> dict[str, Any]:
    try:
        data = json.loads(stamp.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def install_managed_config(dist: Path, target: Path, env: Mapping[str, str]) -> list[str]:
    """Put the managed config in place; returns what to tell the person installing."""
    notes: list[str] = []
    stamp = target.with_name(target.name + ".stamp")
    baked = dist.read_bytes()
    overrides = {key: env[var] for var, key in ENV_OVERRIDES.items() if env.get(var)}
    current = target.read_bytes() if target.exists() else None
    previous = _read_stamp(stamp)
    ours = current is not None and previous.get("sha256") == _sha256(current)
    from_env: set[str] = set(overrides)
    if current is None or ours:
        values = _parse(baked, dist)
        if ours and current is not None:
            # Values given at an earlier install (environment) survive an upgrade.
            earlier = _parse(current, target)
            for key in previous.get("from_env", []):
                if key in earlier and key not in overrides:
                    values[key] = earlier[key]
                    from_env.add(key)
    else:
        values = _parse(current, target)
        if current != baked:
            _write_private(target.with_name(target.name + ".dpkg-dist"), baked)
            notes.append(
                f"{target} was pre-seeded or edited by IT and is kept; the package's own "
                f"settings are in {target}.dpkg-dist."
            )
    values.update(overrides)
    settings = config.merge(values, {}, str(target), "-")  # refuses unknown keys and bad values
    if overrides:
        notes.append(f"{target}: {', '.join(sorted(overrides))} taken from the environment.")
    if current is None or ours or overrides:
        data = render_toml(values, HEADER).encode("utf-8")
    else:
        data = current
    _write_private(target, data)
    if current is None or ours:
        record = {"sha256": _sha256(data), "from_env": sorted(from_env)}
        stamp.write_text(json.dumps(record) + "\n", "utf-8")
    else:
        stamp.unlink(missing_ok=True)  # IT's own file: never replaced by a later package
    if not settings.server_url or not settings.enrollment_secret:
        notes.append(
            f"{target} has no server_url or enrollment_secret: the agent checks this machine "
            "but does not report until both are set (or `wxguard enroll` is run)."
        )
    return notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="installer.deb_hooks")
    sub = parser.add_subparsers(dest="command", required=True)
    managed = sub.add_parser("managed-config", help="install /etc/wxguard/agent.toml")
    managed.add_argument("--dist", type=Path, required=True)
    managed.add_argument("--target", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        notes = install_managed_config(args.dist, args.target, os.environ)
    except (OSError, config.ConfigError) as exc:
        print(f"wxguard: 托管配置有误 / the managed config is wrong: {exc}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"wxguard: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
