"""`wxguard status` never says compliant without a good, whole scan behind it (issue 10):
`unknown` before the first scan, `blind` after a scan that failed, by the real CLI over the
real socket of an agent whose state file is really locked."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.config import Settings
from agent.ipc import Dispatcher
from agent.ipc_unix import IpcServer
from agent.paths import AgentPaths, Mode
from agent.service import AgentService
from checks.api import image_scanner
from tests.agent.conftest import make_image
from tests.conftest import script


@pytest.fixture
def unstarted_agent(tmp_path: Path) -> Iterator[tuple[AgentService, Path]]:
    """An agent serving its socket whose scan loop has not started yet."""
    image = make_image(tmp_path / "image")
    home = Path(tempfile.mkdtemp(prefix="wxguard-state-", dir="/tmp"))  # a short socket path
    paths = AgentPaths.resolve(Mode.SYSTEM, home)
    service = AgentService(
        Settings(watch_debounce_s=0.05, process_poll_s=0.5),
        paths,
        image_scanner(str(image), "linux"),
    )
    server = IpcServer(paths.socket, Dispatcher(service), world_connectable=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service, home
    finally:
        server.close()
        service.stop()
        shutil.rmtree(home, ignore_errors=True)


def _status(home: Path) -> tuple[int, dict[str, Any], str]:
    env = dict(os.environ, WXGUARD_HOME=str(home))
    run = subprocess.run(
        [script("wxguard"), "status", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    text = subprocess.run(
        [script("wxguard"), "status", "--lang", "en"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    return run.returncode, json.loads(run.stdout), text.stdout


def test_status_is_unknown_before_the_first_scan_and_blind_after_a_failed_one(
    unstarted_agent: tuple[AgentService, Path],
) -> None:
    service, home = unstarted_agent
    code, status, text = _status(home)
    assert status["state"] == "unknown" and status["compliant"] is False, status
    assert [r["code"] for r in status["reasons"]] == ["never-scanned"]
    assert code == 1 and "State: unknown: no recent check" in text, text
    # Never "compliant" before a scan; the open action is listed with its next step.
    assert "compliant" not in text.lower().replace("non-compliant", ""), text
    assert "Open actions (1):\n  1. No check has finished yet." in text, text
    assert "Next step: Wait for the first check, or check now: wxguard scan-now" in text

    # Another process holds the state file's write lock: recording the startup scan fails
    # (after SQLite's 5 s busy wait). Before issue 10 that scan was logged and forgotten, and
    # the agent said "compliant".
    locker = sqlite3.connect(home / "state.db", isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")
        service.start()
        assert service.wait_for_scans(1, 60)
        code, status, text = _status(home)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert status["state"] == "blind" and status["compliant"] is False, status
    assert status["last_scan"]["outcome"] == "failed", status
    assert "database is locked" in status["last_scan"]["error"]
    assert [r["code"] for r in status["reasons"]] == ["scan-failed"]
    assert code == 1 and "State: not confirmed" in text and "The last check failed" in text, text

    # With the file writable again, the next scan is good and whole: compliant.
    assert service.scan_now(timeout=60) is not None
    code, status, text = _status(home)
    assert status["state"] == "compliant" and status["compliant"] is True, status
    assert code == 0 and "State: compliant" in text, text
    assert "Open actions" not in text and "True" not in text and "None" not in text, text
