"""The password-age record against a real Secret Service (gnome-keyring in a private D-Bus
session), and the refusal to fall back to a file when there is none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def env_for(home: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "XDG_", "PYTHON_KEYRING"))
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_RUNTIME_DIR=str(home / "run"),
        PYTHONPATH=str(ROOT),
    )
    (home / "run").mkdir(mode=0o700)
    return env


def files_under(home: Path) -> list[str]:
    return sorted(
        str(p.relative_to(home)) for p in home.rglob("*") if p.is_file() and "run" not in p.parts
    )


def test_record_read_back_and_hand_edit_detected(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    cmd = (
        "echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; "
        f"exec {sys.executable} -m tests.gui.keyring_probe scenario"
    )
    proc = subprocess.run(
        ["timeout", "60", "dbus-run-session", "--", "sh", "-c", cmd],
        env=env_for(home),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {
        "backend": "keyring.backends.SecretService",
        "round_trip": True,
        "secret_tool_sees": True,
        "key_entry": True,
        "modified": True,
        "state": "unknown",
        "personal": True,
    }
    # Nothing of ours outside the keyring's own store.
    assert not [f for f in files_under(home) if "wxguard" in f.lower()]


def test_without_secret_service_a_clear_error_and_no_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = env_for(home)
    env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={tmp_path / 'no-bus'}"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.gui.keyring_probe", "no-service"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["error"] == "keyring-unavailable"
    assert (
        "never falls back to a plain file" in result["en"] and "unlock the keyring" in result["en"]
    )
    assert "不会改用明文文件" in result["zh"]
    assert files_under(home) == []
