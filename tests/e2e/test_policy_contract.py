"""One version label per policy, the same in `wxguard status`, the tray's policy view and the
dashboard; the built-in policy's acknowledgement reaches IT; enrolling without the policy key
is a decision that status keeps warning about (issue 11). Real agent, real server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.client import AgentClient
from server import crud
from server.models import PolicyAck
from tests.e2e.test_agent_server import eventually
from tests.server.conftest import pg_cluster
from tests.support.real_agent import AgentUnderTest
from tests.support.real_server import RealServer, database_for, running_server

__all__ = ["pg_cluster"]


@pytest.fixture(params=["sqlite", "postgresql"])
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RealServer]:
    for url in database_for(request, request.param):
        with running_server(tmp_path / "server", url) as srv:
            yield srv


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentUnderTest]:
    under_test = AgentUnderTest(tmp_path / "agent")
    under_test.start()
    yield under_test
    under_test.stop()


def dashboard_labels(server: RealServer) -> tuple[str, list[str]]:
    with server.sessions() as session:
        from datetime import UTC, datetime

        current = crud.label_of(crud.current_policy(session, datetime.now(UTC)))
        return current, [row.acked_label for row in crud.compliance(session)]


def test_the_builtin_policy_is_acknowledged_like_any_other(
    server: RealServer, agent: AgentUnderTest
) -> None:
    agent.enroll(server)
    with AgentClient(agent.socket, timeout=10) as client:
        policy = client.policy()
        assert policy["version"] == 0 and policy["label"] == "built-in · builtin-1"
        client.acknowledge_policy(policy["text_version"])
    eventually(lambda: len(server.rows(PolicyAck)) == 1, 20, "the ack on the server", agent)
    ack = server.rows(PolicyAck)[0]
    assert (ack.policy_version, ack.text_version) == (0, "builtin-1")
    assert dashboard_labels(server)[1] == ["built-in · builtin-1"]


def test_one_label_in_status_tray_and_dashboard(server: RealServer, agent: AgentUnderTest) -> None:
    server.publish({"text": {"version": "2026-12", "zh": "制度", "en": "Policy"}})
    agent.enroll(server)
    with AgentClient(agent.socket, timeout=10) as client:
        eventually(lambda: client.policy()["version"] == 1, 20, "policy in force", agent)
        label = client.policy()["label"]
        assert label == "v1 · 2026-12"
        assert client.status()["policy_label"] == label
        client.acknowledge_policy("2026-12")
    status_lines = agent.cli("status", "--lang", "en").stdout.splitlines()
    assert any(re.fullmatch(rf"Policy:\s+{re.escape(label)}", line) for line in status_lines)
    eventually(lambda: len(server.rows(PolicyAck)) == 1, 20, "the ack on the server", agent)
    assert dashboard_labels(server) == (label, [label])


def test_enrolling_without_the_policy_key_is_a_decision_status_keeps_showing(
    server: RealServer, agent: AgentUnderTest
) -> None:
    plain = agent.cli("enroll", "--server", server.url, "--secret", server.secret())
    assert plain.returncode != 0 and "--policy-key" in plain.stderr
    silent = agent.cli(
        "enroll", "--server", server.url, "--secret", server.secret(), "--no-policy-key"
    )
    assert silent.returncode == 0, silent.stderr
    status = agent.cli("status", "--lang", "en").stdout
    assert "WARNING: no policy key" in status
    with AgentClient(agent.socket, timeout=10) as client:
        assert client.status()["policy_key_present"] is False
