"""`wxguard password changed|status` against a real Secret Service (gnome-keyring in a private
D-Bus session), and its refusal to fall back to a file without one."""

from __future__ import annotations

import json
import subprocess
from datetime import date, timedelta
from pathlib import Path

from tests.conftest import script
from tests.gui.test_keyring_real import env_for, files_under

ROOT = Path(__file__).resolve().parents[2]


def _in_keyring_session(home: Path, *commands: str) -> subprocess.CompletedProcess[str]:
    wx = script("wxguard")
    body = "; ".join(f"{wx} {c}" for c in commands)
    cmd = f"echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; {body}"
    return subprocess.run(
        ["timeout", "90", "dbus-run-session", "--", "sh", "-c", cmd],
        env=env_for(home) | {"WXGUARD_HOME": str(home / "no-agent")},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_change_recorded_then_status_shows_days(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    changed = date.today() - timedelta(days=80)
    run = _in_keyring_session(
        home,
        f"password changed --account enterprise --on {changed.isoformat()} --lang en",
        "password status --format json",
    )
    assert run.returncode == 1, run.stderr  # due within 14 days of the 90-day maximum: exit 1
    statuses = json.loads(run.stdout[run.stdout.index("[") :])
    enterprise = next(s for s in statuses if s["account_type"] == "enterprise")
    assert enterprise["last_changed"] == changed.isoformat()
    assert enterprise["days_since"] == 80 and enterprise["days_left"] == 10
    assert enterprise["state"] == "due-soon"
    assert "the state was not reported" in run.stdout  # no agent running: said, not hidden


def test_future_date_is_refused_in_both_languages(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    future = date.today() + timedelta(days=3)
    run = _in_keyring_session(home, f"password changed --on {future.isoformat()}")
    assert run.returncode == 2
    assert "after today" in run.stderr and "错误" in run.stderr


def test_without_a_keyring_nothing_is_written_to_disk(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    run = subprocess.run(
        [script("wxguard"), "password", "changed"],
        env=env_for(home) | {"WXGUARD_HOME": str(home / "no-agent")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "keyring" in run.stderr and "钥匙串" in run.stderr
    assert files_under(home) == []
