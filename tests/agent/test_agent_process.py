"""The real agent process on the live machine: start, status over the socket, findings that
appear as files and processes appear, and a clean stop."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.client import AgentClient
from tests.agent.conftest import AgentProcess, start_agent
from tests.conftest import script


def _wxguard(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, WXGUARD_HOME=str(home))
    return subprocess.run(
        [script("wxguard"), *args], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.fixture
def project_venv() -> Iterator[Path]:
    """An (empty) project virtual environment in the real home, present before the agent starts."""
    project = Path.home() / f"wxguard-e2e-{uuid.uuid4().hex[:8]}"
    site = (
        project
        / ".venv"
        / "lib"
        / f"python{sys.version_info.major}.{sys.version_info.minor}"
        / "site-packages"
    )
    site.mkdir(parents=True)
    try:
        yield site
    finally:
        shutil.rmtree(project, ignore_errors=True)


def _wait_for(client: AgentClient, predicate: object, timeout: float) -> float:
    start = time.monotonic()
    since = 0
    while True:
        findings = client.findings()
        if predicate(findings):  # type: ignore[operator]
            return time.monotonic() - start
        assert time.monotonic() - start < timeout, findings
        since = client.wait_events(since, 1.0)["seq"]


def test_agent_finds_dropped_plugin_and_new_process_then_resolves(
    project_venv: Path, tmp_path: Path
) -> None:
    agent = start_agent(tmp_path / "home")
    try:
        with AgentClient(agent.socket) as client:
            client.scan_now()  # the start-up scan is done and every folder it read is watched
            dist = project_venv / "wcferry-39.6.0.0.dist-info"
            dist.mkdir()
            took = _wait_for(client, lambda fs: any(f["rule_id"] == "wechatferry" for f in fs), 30)
            print(f"dropped plugin → finding in {took * 1000:.0f} ms")
            # Live evidence says where the thing really is: the absolute path (issue 16).
            (found,) = [f for f in client.findings() if f["rule_id"] == "wechatferry"]
            assert found["evidence"][0]["location"] == str(dist)
            assert "in_image" not in found["evidence"][0]
            shutil.rmtree(dist)
            _wait_for(client, lambda fs: not any(f["rule_id"] == "wechatferry" for f in fs), 30)

            exe = tmp_path / "WeChatMultiOpen"
            shutil.copy("/bin/sleep", exe)
            proc = subprocess.Popen([str(exe), "60"])
            try:
                took = _wait_for(
                    client,
                    lambda fs: any(ev.get("pid") == proc.pid for f in fs for ev in f["evidence"]),
                    30,
                )
                print(f"process started → finding in {took * 1000:.0f} ms")
            finally:
                proc.kill()
                proc.wait()
            _wait_for(
                client,
                lambda fs: (
                    not any(
                        f["rule_id"] == "unrecognised-wechat-process"
                        and "WeChatMultiOpen" in f["subject"]
                        for f in fs
                    )
                ),
                30,
            )
        # The CLI sees the same agent.
        status = _wxguard(agent.home, "status", "--format", "json")
        assert status.returncode in (0, 1), status.stderr
        assert json.loads(status.stdout)["mode"] == "user"
        log = (agent.home / "logs" / "agent.log").read_text()
        assert "finding wechatferry" in log and "resolved wechatferry" in log
        # The fix in the log: numbered steps, not a text cut at every "." (issue 16).
        assert "1. Uninstall wcferry (pip uninstall wcferry).  2. Delete its files." in log
    finally:
        agent.proc.terminate()
        assert agent.proc.wait(timeout=15) == 0
    assert not agent.socket.exists()


def test_cli_without_agent_says_so_in_both_languages(tmp_path: Path) -> None:
    run = _wxguard(tmp_path, "status")
    assert run.returncode == 2
    assert "未运行" in run.stderr and "not running" in run.stderr


def test_second_agent_on_the_same_socket_refuses_to_start(agent_process: AgentProcess) -> None:
    env = dict(os.environ, WXGUARD_HOME=str(agent_process.home))
    run = subprocess.run(
        [script("wxguard"), "agent", "run", "--mode", "user"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert run.returncode == 2
    assert "already running" in run.stderr
    assert agent_process.proc.poll() is None


def test_agent_started_with_umask_022_keeps_state_and_logs_private(tmp_path: Path) -> None:
    """`make run` or a manual start, without the unit's UMask=0077: who filed which incident
    report (in the log) and the agent's state stay the agent's own."""
    home = tmp_path / "home"
    logs = home / "logs"
    logs.mkdir(parents=True)
    rotated = logs / "agent.log.1"  # left world-readable by an older version
    rotated.write_text("2026-01-01 incident report queued for alice\n")
    for path, mode in ((home, 0o755), (logs, 0o755), (rotated, 0o644)):
        os.chmod(path, mode)
    previous = os.umask(0o022)
    try:
        agent = start_agent(home)
    finally:
        os.umask(previous)
    try:
        with AgentClient(agent.socket) as client:
            client.status()
        modes = {
            path.name: stat.S_IMODE(path.stat().st_mode)
            for path in (home, logs, logs / "agent.log", rotated)
        }
        assert modes == {"home": 0o700, "logs": 0o700, "agent.log": 0o600, "agent.log.1": 0o600}
    finally:
        agent.proc.terminate()
        assert agent.proc.wait(timeout=15) == 0


def test_a_hostile_folder_name_cannot_forge_log_records(tmp_path: Path) -> None:
    forged = "\n2026-01-01 00:00:00,000 INFO wxguard.agent: all clear\x1b]0;owned\x07\x1b[2J"
    project = Path.home() / f"wxguard-e2e-{uuid.uuid4().hex[:8]}{forged}"
    site = (
        project
        / ".venv"
        / "lib"
        / f"python{sys.version_info.major}.{sys.version_info.minor}"
        / "site-packages"
    )
    (site / "wcferry-39.6.0.0.dist-info").mkdir(parents=True)
    agent = None
    try:
        agent = start_agent(tmp_path / "home")
        with AgentClient(agent.socket) as client:
            client.scan_now()
            _wait_for(client, lambda fs: any(f["rule_id"] == "wechatferry" for f in fs), 30)
        log = (agent.home / "logs" / "agent.log").read_text("utf-8")
        finding_lines = [line for line in log.splitlines() if "finding wechatferry" in line]
        assert finding_lines and "\\n2026-01-01 00:00:00,000 INFO" in finding_lines[0]
        assert "\x1b" not in log and "\x07" not in log
        assert not any(line.startswith("2026-01-01 00:00:00,000") for line in log.splitlines())
    finally:
        if agent is not None:
            agent.proc.terminate()
            agent.proc.wait(timeout=15)
        shutil.rmtree(project, ignore_errors=True)
