"""Timely answers (issue 11): IT's reply reaches an online employee within 60 s (the heartbeat
answer's `news`, heartbeats every 45 s while a report is open), and at once when the
employee presses Refresh (the agent asks the server). Real agent, real server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from agent.client import AgentClient
from server import crud
from server.db import session_scope
from server.models import Admin, MessageKind, Report
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
def agent(tmp_path: Path, server: RealServer) -> Iterator[AgentUnderTest]:
    under_test = AgentUnderTest(tmp_path / "agent")
    under_test.start()
    under_test.enroll(server)
    yield under_test
    under_test.stop()


def reply(server: RealServer, body: str) -> None:
    """IT answers the report, as the dashboard does (crud.add_message)."""
    with session_scope(server.sessions) as session:
        admin = session.scalars(select(Admin)).first() or crud.create_admin(
            session, "it", "correct horse battery staple", datetime.now(UTC)
        )
        report = session.scalars(select(Report)).one()
        crud.add_message(session, report, MessageKind.REPLY, body, admin, datetime.now(UTC))


def replies(agent: AgentUnderTest) -> list[str]:
    with AgentClient(agent.socket, timeout=10) as client:
        return [r["body"] for item in client.my_reports() for r in item.get("replies", [])]


def test_a_reply_reaches_the_employee_within_a_minute_and_at_once_on_refresh(
    server: RealServer, agent: AgentUnderTest
) -> None:
    filed = agent.cli("report", "--category", "other", "--description", "odd login prompt")
    assert filed.returncode == 0, filed.stderr
    eventually(lambda: len(server.rows(Report)) == 1, 20, "the report on the server", agent)
    time.sleep(2)  # the agent has read the server's view of it (an open report)

    reply(server, "first answer")
    took = eventually(lambda: "first answer" in replies(agent), 60, "the reply, unasked", agent)
    print(f"reply reached the employee in {took:.1f} s without any action")

    reply(server, "second answer")
    with AgentClient(agent.socket, timeout=10) as client:
        client.refresh()
    took = eventually(
        lambda: "second answer" in replies(agent), 5, "the reply after Refresh", agent
    )
    print(f"reply reached the employee {took:.1f} s after Refresh")
