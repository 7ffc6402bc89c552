"""IT grants a device group an exception (issue 13: "a developer's test machine"): a real
`wxguard-server` serves it to the device it groups there, the real agent verifies the signed
policy, shows the finding as excepted (which group, until when, why) instead of open, and the
finding is open again when the exception ends, without waiting for the periodic scan."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from agent.client import AgentClient
from server.db import session_scope
from server.exceptions import grant
from server.models import Device
from server.models import Finding as ServerFinding
from server.signing import PolicySigner
from tests.e2e.test_agent_server import eventually, project_venv
from tests.support.real_agent import AgentUnderTest
from tests.support.real_server import RealServer, running_server

__all__ = ["project_venv"]

GROUP = "研发测试机"
REASON = {"zh": "机器人开发测试机", "en": "bot development test machine"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RealServer]:
    with running_server(tmp_path / "server") as srv:
        yield srv


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentUnderTest]:
    under_test = AgentUnderTest(tmp_path / "agent")
    under_test.start()
    yield under_test
    under_test.stop()


def _ferry(client: AgentClient) -> list[dict[str, Any]]:
    return [f for f in client.findings() if f["rule_id"] == "wechatferry"]


def test_a_group_exception_reaches_the_agent_shows_as_excepted_and_ends_at_expiry(
    server: RealServer, agent: AgentUnderTest, project_venv: Path
) -> None:
    agent.enroll(server)
    (project_venv / "wcferry-39.6.0.0.dist-info").mkdir()
    with AgentClient(agent.socket, timeout=30) as client:
        eventually(lambda: bool(_ferry(client)), 120, "the wechatferry finding", agent)
        (finding,) = _ferry(client)
        device_id = client.status()["device_id"]

    # IT puts the device in a group, and grants the group an exception that ends soon.
    with session_scope(server.sessions) as session:
        session.execute(update(Device).where(Device.id == device_id).values(group_label=GROUP))
    expires = datetime.now(UTC) + timedelta(seconds=150)
    exception = {
        "rule_id": "wechatferry",
        "key": finding["key"],
        "reason": REASON,
        "expires": expires.isoformat(),
        "granted_by": "admin:alice",
    }
    signer = PolicySigner.load(server.settings.policy_private_key_path)
    with session_scope(server.sessions) as session:
        version = grant(
            session, signer, datetime.now(UTC), "admin:alice", "", exception, group=GROUP
        )

    with AgentClient(agent.socket, timeout=30) as client:

        def in_force() -> bool:
            client.refresh()  # the tray's Refresh: a heartbeat now, the policy if it is new
            return bool(client.policy()["version"] == version)

        # Refresh at most every 3 s (the server limits how often a device may ask).
        eventually(lambda: in_force() or bool(time.sleep(3)), 60, "the group's policy", agent)
        eventually(
            lambda: bool(client.status().get("excepted")) and not _ferry(client),
            90,
            "the finding excepted",
            agent,
        )
        assert client.policy()["version"] == version
        (shown,) = client.status()["excepted"]
    assert shown["key"] == finding["key"] and shown["exception"]["group"] == GROUP
    assert shown["exception"]["reason"] == REASON
    assert shown["exception"]["expires"] == pytest.approx(expires.timestamp())
    # What the person reads: excepted, by which group, until when, why; not an open finding.
    en = agent.cli("status", "--lang", "en").stdout
    assert "Excepted by IT (1, not counted as open):" in en
    assert f"excepted (group {GROUP}, until " in en and "reason: bot development" in en
    findings_part = en.split("Excepted by IT")[0]
    assert "WeChatFerry" not in findings_part  # not listed as an open finding
    zh = agent.cli("status", "--lang", "zh").stdout
    assert f"已例外（设备组 {GROUP}，至 " in zh and "理由：机器人开发测试机" in zh
    # The server sees it no longer open.
    eventually(
        lambda: all(
            f.resolved_at is not None
            for f in server.rows(ServerFinding)
            if f.rule_id == "wechatferry"
        ),
        90,
        "the finding resolved on the server",
        agent,
    )

    # The exception ends: the finding is open again within seconds (the periodic scan is an
    # hour away, and nothing changes on disk).
    with AgentClient(agent.socket, timeout=30) as client:
        left = expires.timestamp() - datetime.now(UTC).timestamp()
        eventually(
            lambda: bool(_ferry(client)) and client.status()["excepted"] == [],
            left + 30,
            "the finding open again",
            agent,
        )
        # On a quiet machine the agent's own `exception-expired` scan does it; on a busy one
        # (other tests' processes) a scan for a new process may come first: either is in time.
