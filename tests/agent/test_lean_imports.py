"""The running agent does not import what it does not use (agent/lean.py): a real, enrolled
`wxguard agent run` process, its imports recorded by Python itself (-X importtime). Its idle
RSS is printed as a figure, not asserted (`python -m bench.agent` measures it over time).
YARA content matching runs in the content worker (checks/content/worker.py): the agent finds
a hooking script in a real account's Downloads without importing yara-x itself."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from agent.client import AgentClient
from agent.lean import NOT_AT_IDLE, UNUSED
from tests.checks.test_content import FRIDA_SCRIPT
from tests.support.accounts import add_user, remove_user
from tests.support.real_agent import AgentUnderTest
from tests.support.real_server import RealServer


class _ImportTimedAgent(AgentUnderTest):
    def env(self) -> dict[str, str]:
        return super().env() | {"PYTHONPROFILEIMPORTTIME": "1"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RealServer]:
    srv = RealServer(tmp_path / "server")
    srv.start()
    yield srv
    srv.stop()
    srv.engine.dispose()


def _imported(log: str) -> set[str]:
    """Top-level names of the modules Python reported importing (`import time: … | name`).
    An import that agent.lean made fail is reported too (a few µs, no submodules): not counted."""
    names = set()
    for line in log.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name and name != "imported package" and name not in UNUSED:
                names.add(name.split(".", 1)[0])
    return names


@pytest.fixture
def hooking_script() -> Iterator[str]:
    """A real account with a script that hooks WeChat in its Downloads (a content finding)."""
    name = f"wxy{uuid.uuid4().hex[:8]}"
    user = add_user(name, home=True)
    try:
        downloads = Path(user.pw_dir) / "Downloads"
        downloads.mkdir()
        script = downloads / "hook_send.py"
        script.write_text(FRIDA_SCRIPT)
        for path in (downloads, script):
            os.chown(path, user.pw_uid, user.pw_gid)
        yield str(script)
    finally:
        remove_user(name, home=True)


def test_an_idle_enrolled_agent_has_not_imported_what_it_does_not_use(
    server: RealServer, tmp_path: Path, hooking_script: str
) -> None:
    agent = _ImportTimedAgent(tmp_path / "agent")
    agent.start()
    try:
        agent.enroll(server)
        with AgentClient(agent.socket, timeout=60) as client:
            deadline = time.monotonic() + 180
            while True:
                status = client.status()
                if status.get("server_reachable") and status.get("last_scan"):
                    break
                assert time.monotonic() < deadline, status
                time.sleep(0.5)
            client.my_reports()
            client.policy()
            found = [
                f["rule_id"]
                for f in client.findings()
                if any("/" + e.get("path", "") == hooking_script for e in f["evidence"])
            ]
        assert "wechat-hook-injector-code" in found  # content matched, by the worker
        assert agent.proc is not None
        rss = psutil.Process(agent.proc.pid).memory_info().rss / 2**20
        print(f"\nagent RSS after start-up, enrollment and the first scan: {rss:.1f} MB")
    finally:
        agent.stop()
    log = (agent.home / "stderr.log").read_text("utf-8", "replace")
    imported = _imported(log)
    assert "httpx" in imported and "pydantic" in imported  # the log does record imports
    assert "httpcore" in imported  # the HTTP client ran (enrolled, heartbeats)
    assert sorted(imported & set(NOT_AT_IDLE)) == []


def test_an_idle_agent_that_is_not_enrolled_has_not_loaded_pydantic(tmp_path: Path) -> None:
    """The IPC answers and events are msgspec Structs (protocol/ipc_answers.py): an agent that
    has not talked to a server answers the tray (hello, status, findings, a scan, the event
    feed, its reports, the policy in force) and has loaded neither pydantic nor its compiled core
    nor httpx (~12 MB of RSS; `python -m bench.agent --imports`): both come with the first
    server exchange."""
    agent = _ImportTimedAgent(tmp_path / "agent")
    agent.start()
    try:
        with AgentClient(agent.socket, timeout=120) as client:
            client.hello()
            client.scan_now()  # None when the start-up scan is still running
            deadline = time.monotonic() + 300
            while not (status := client.status()).get("last_scan"):
                assert time.monotonic() < deadline, status
                time.sleep(0.5)
            assert status["mode"] == "system" and not status.get("enrolled")
            client.findings()
            client.wait_events(0, 0.1)
            assert client.my_reports() == []
            assert client.policy()["label"].startswith("built-in")  # the built-in policy
        assert agent.proc is not None
        maps = Path(f"/proc/{agent.proc.pid}/maps").read_text()
        rss = psutil.Process(agent.proc.pid).memory_info().rss / 2**20
        print(f"\nagent RSS after start-up and a scan, not enrolled: {rss:.1f} MB")
    finally:
        agent.stop()
    imported = _imported((agent.home / "stderr.log").read_text("utf-8", "replace"))
    assert "msgspec" in imported and "agent" in imported  # the log does record imports
    assert "pydantic" not in imported and "pydantic_core" not in imported
    assert "httpx" not in imported  # the HTTP client comes with a server to talk to
    assert "_pydantic_core" not in maps  # its shared library was never mapped
