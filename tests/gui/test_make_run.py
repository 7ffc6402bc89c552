"""`make run` (scripts/run.sh) as a newcomer starts it and stops it with Ctrl-C (issue 16): a
real keyring for the password features, the admin password's file named with the advice to
delete it, and nothing left running afterwards (no dbus-launch, keyring or display)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _ours(pattern: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True, check=False)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


def test_make_run_starts_a_keyring_and_leaves_nothing_behind(tmp_path: Path) -> None:
    run = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS")}
    env.update(WXGUARD_RUN=str(run), WXGUARD_PORT="8793")
    before = set(_ours("dbus-launch"))
    proc = subprocess.Popen(
        [str(ROOT / "scripts" / "run.sh")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C stops" in line or time.monotonic() > deadline:
                break
        text = "".join(lines)
        assert "backend keyring.backends.SecretService" in text, text
        assert f"saved to {run}/server-init.txt" in text and "then delete that file" in text
        assert "shown once" not in text
        assert (run / "server-init.txt").stat().st_mode & 0o077 == 0
        assert "password" in (run / "server-init.txt").read_text()
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal reaches the whole group
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            raise
    time.sleep(2)
    assert set(_ours("dbus-launch")) <= before
    assert not _ours(str(run / "server"))
    assert _started_in(run) == [], "processes of the run still alive"


def _started_in(run: Path) -> list[str]:
    """Processes whose environment names this run (the keyring, the bus, the display …)."""
    alive = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            name = (proc / "comm").read_text().strip()
        except OSError:
            continue
        if f"WXGUARD_RUN={run}".encode() in environ.split(b"\0"):
            alive.append(f"{proc.name} {name}")
    return alive
