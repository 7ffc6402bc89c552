"""Blocking at exec end to end (Linux, root): the real agent daemon, enrolled with a real server
whose signed policy adds a deny-listed tool's digest, guards a tmpfs mounted for the test
(never `/`): the tool's exec fails with EPERM, the agent records it, status says which mode
applies, the block reaches IT as an `exec-blocked` report and the employee's request for
approval as an `approval-request` report."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.api import AgentError
from agent.client import AgentClient
from protocol import blocked
from server.models import Report
from tests.agent.test_exec import OTHER_SOURCE, TOOL_SOURCE, _place, _sha256, tmpfs
from tests.e2e.test_agent_server import eventually
from tests.support.real_agent import AgentUnderTest
from tests.support.real_server import RealServer, running_server

__all__ = ["tmpfs"]

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0, reason="Linux, as root"
)

RULE = {
    "id": "test-exec-dumper",
    "category": "db-dumper",
    "severity": "high",
    "platforms": ["linux"],
    "title": {"zh": "测试用数据库导出工具", "en": "test database dumper"},
    "remediation": {"zh": "删除它。", "en": "Delete it."},
    "match": [{"type": "sha256", "value": _sha256(TOOL_SOURCE), "path": "/nowhere/*"}],
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RealServer]:
    with running_server(tmp_path / "server") as srv:
        yield srv


def blocking_agent(home: Path, mounts: str) -> AgentUnderTest:
    home.mkdir(parents=True)
    (home / "agent.toml").write_text(
        f'exec_blocking = "block"\nexec_guard_mounts = "{mounts}"\nprocess_poll_s = 5\n'
    )
    agent = AgentUnderTest(home)
    agent.start()
    return agent


def test_the_daemon_refuses_a_deny_listed_binary_records_it_and_tells_it(
    server: RealServer, tmpfs: Path, tmp_path: Path
) -> None:
    server.publish({"rules": {"add": [RULE]}})
    agent = blocking_agent(tmp_path / "agent", str(tmpfs))
    try:
        agent.enroll(server)
        with AgentClient(agent.socket, timeout=10) as client:

            def ready() -> bool:
                state = client.status()["exec_blocking"]
                return bool(state["active"]) and state.get("deny_digests", 0) >= 1

            eventually(ready, 60, "the guard with the policy's digest", agent)
            state = client.status()["exec_blocking"]
            assert (state["mode"], state["applies"], state["source"]) == (
                "block",
                "block",
                "agent config",
            )
            assert state["pid"] != agent.proc.pid if agent.proc else False  # its own process
            assert state["marked"] == [str(tmpfs)]

            tool = _place(TOOL_SOURCE, tmpfs / "tools" / "chat-export")
            with pytest.raises(PermissionError) as info:
                subprocess.run([str(tool)], timeout=30)
            assert info.value.errno == errno.EPERM
            other = _place(OTHER_SOURCE, tmpfs / "tools" / "echo")
            assert subprocess.run([str(other)], capture_output=True, timeout=30).returncode == 0

            eventually(lambda: client.status()["exec_blocking"].get("denied") == 1, 20, "the count")
            # The employee asks IT to approve it, as the tray's Blocked programs window does.
            client.submit_report(
                "approval-request",
                "Approval requested: chat-export (rule test-exec-dumper)",
                blocked.describe({"name": "chat-export", "path": str(tool)}, "for a legal case"),
                None,
                "",
                "",
                [],
            )
        # IT hears of it, as a report of its own kind.
        eventually(
            lambda: any(r.category == "exec-blocked" for r in server.rows(Report)),
            60,
            "the exec-blocked report on the server",
            agent,
        )
        (report,) = [r for r in server.rows(Report) if r.category == "exec-blocked"]
        fields = blocked.parse(report.description)
        assert fields["program"] == "chat-export" and fields["path"] == str(tool)
        assert fields["rule"] == "test-exec-dumper" and fields["mode"] == "block"
        assert fields["user"] == "root"
        eventually(
            lambda: any(r.category == "approval-request" for r in server.rows(Report)),
            60,
            "the approval request on the server",
            agent,
        )
        (request,) = [r for r in server.rows(Report) if r.category == "approval-request"]
        assert blocked.parse(request.description)["reason"] == "for a legal case"
        log = (agent.home / "logs" / "agent.log").read_text()
        assert "exec guard: denied" in log and str(tool) in log
    finally:
        agent.stop()


def test_status_says_enforcement_applies_when_nothing_can_be_guarded(tmp_path: Path) -> None:
    """None of the configured mounts exists: blocking is inactive (not "active on nothing"),
    and status names what applies instead, the policy's enforcement mode, and why."""
    agent = blocking_agent(tmp_path / "agent", str(tmp_path / "no-such-mount"))
    try:
        with AgentClient(agent.socket, timeout=10) as client:
            eventually(lambda: "reason" in client.status()["exec_blocking"], 30, "a reason", agent)
            state = client.status()["exec_blocking"]
            assert state["active"] is False and state["applies"] == "monitor", state
            assert "exec_guard_mounts" in state["reason"]
    finally:
        agent.stop()


def test_approval_requests_are_rate_limited_per_account_and_duplicates_folded(
    server: RealServer, tmp_path: Path
) -> None:
    """An employee asks IT to approve blocked programs: five distinct programs in a row are
    sent; asking again for one of them is refused (already asked, no token spent); a sixth
    program within the hour is refused with when to try again — both in Chinese and English;
    IT receives exactly the five."""
    home = tmp_path / "agent"
    home.mkdir()
    (home / "agent.toml").write_text("process_poll_s = 5\n")
    agent = AgentUnderTest(home)
    agent.start()
    try:
        agent.enroll(server)

        def ask(client: AgentClient, n: int) -> dict[str, object]:
            data = {"name": f"tool{n}", "path": f"/home/u/tool{n}", "sha256": f"{n:064x}"}
            return client.submit_report(
                "approval-request",
                f"Approval requested: tool{n}",
                blocked.describe(data, "needed for work"),
                None,
                "",
                "",
                [],
            )

        with AgentClient(agent.socket, timeout=10) as client:
            for n in range(5):
                assert ask(client, n)["state"] == "queued"
            with pytest.raises(AgentError) as again:
                ask(client, 2)
            assert again.value.code == "already-requested"
            assert "already asked IT to approve this program" in again.value.en
            assert "无需重复申请" in again.value.zh
            with pytest.raises(AgentError) as limited:
                ask(client, 5)
            assert limited.value.code == "rate-limited"
            assert "at most 5 per hour" in limited.value.en and re.search(
                r"Try again in 1[12] min", limited.value.en
            )
            assert "每小时最多 5 个" in limited.value.zh
        eventually(
            lambda: sum(r.category == "approval-request" for r in server.rows(Report)) >= 5,
            60,
            "the five approval requests on the server",
            agent,
        )
        time.sleep(1)
        rows = [r for r in server.rows(Report) if r.category == "approval-request"]
        assert sorted(blocked.parse(r.description)["program"] for r in rows) == [
            f"tool{n}" for n in range(5)
        ]
    finally:
        agent.stop()
