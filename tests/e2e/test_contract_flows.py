"""One contract between tray, agent and server, with real processes: what the agent answers
"queued" for reaches the server, and what the server would refuse the agent refuses first,
with a message in both languages (issue 11)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from agent.api import AgentError
from agent.client import AgentClient
from protocol.limits import MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS, MAX_DESCRIPTION
from server.models import PasswordStatus, Report
from tests.e2e.test_agent_server import eventually
from tests.server.conftest import pg_cluster
from tests.support.real_agent import AgentUnderTest
from tests.support.real_server import RealServer, database_for, running_server

__all__ = ["pg_cluster"]

PNG = b"\x89PNG\r\n\x1a\n"


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


def rejected(agent: AgentUnderTest) -> list[object]:
    with AgentClient(agent.socket, timeout=10) as client:
        return list(client.status().get("outbox_rejected") or [])


def test_password_age_reaches_the_server_as_days(server: RealServer, agent: AgentUnderTest) -> None:
    with AgentClient(agent.socket, timeout=10) as client:
        client.report_password_status(
            [
                {
                    "account_type": "enterprise",
                    "state": "overdue",
                    "last_changed": "2025-01-02",
                    "due_at": "2025-04-02",
                    "deferrals": 2,
                    "no_expiry": False,
                }
            ]
        )
    eventually(lambda: len(server.rows(PasswordStatus)) == 1, 20, "password status", agent)
    row = server.rows(PasswordStatus)[0]
    assert row.state == "overdue" and row.deferrals == 2
    assert row.last_changed is not None and row.last_changed.date() == date(2025, 1, 2)
    assert row.due_at is not None and row.due_at.date() == date(2025, 4, 2)
    assert rejected(agent) == []


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"deferrals": 10_001}, "deferrals"),
        ({"deferrals": -1}, "deferrals"),
        ({"state": "fine"}, "state"),
        ({"last_changed": "2025-13-40"}, "last_changed"),
        ({"last_changed": "2025-01-02T10:00:00"}, "last_changed"),  # no time zone
        ({"password": "hunter2"}, "password"),
    ],
)
def test_a_password_status_the_server_would_refuse_is_refused_before_queued(
    agent: AgentUnderTest, entry: dict[str, object], field: str
) -> None:
    account = {"account_type": "personal", "state": "ok", **entry}
    with AgentClient(agent.socket, timeout=10) as client, pytest.raises(AgentError) as refused:
        client.report_password_status([account])
    assert refused.value.code == "invalid"
    assert field in refused.value.en and field in refused.value.zh
    assert "密码状态" in refused.value.zh and "password status" in refused.value.en


def test_a_report_with_unusual_text_arrives_or_is_refused_clearly(
    server: RealServer, agent: AgentUnderTest
) -> None:
    odd = "tab\tbell\x07 esc\x1b[2J del\x7f 表情😀 rtl\u202e"
    long = "长" * MAX_DESCRIPTION
    files = [
        {"name": f"shot{i}.png", "content_b64": base64.b64encode(PNG + bytes(64)).decode()}
        for i in range(MAX_ATTACHMENTS - 1)
    ]
    full = PNG + bytes(MAX_ATTACHMENT_BYTES - len(PNG))
    files.append({"name": "full.png", "content_b64": base64.b64encode(full).decode()})
    with AgentClient(agent.socket, timeout=60) as client:
        # NUL: refused before "queued", naming the field, in both languages.
        with pytest.raises(AgentError) as refused:
            client.submit_report("other", "s", "a\x00b", None, "", "", [])
        assert refused.value.code == "invalid"
        assert "NUL" in refused.value.zh and "NUL" in refused.value.en
        assert "description" in refused.value.en
        # A description over its limit is refused before "queued".
        with pytest.raises(AgentError) as too_long:
            client.submit_report("other", "s", long + "x", None, "", "", [])
        assert "10000" in too_long.value.en
        # At its limit with contact details: they are their own fields, the text unchanged.
        client.submit_report(
            "other", "with contact", long, None, "", "phone", [], "+86 10 6552 9988-8021"
        )
        # An attachment the server would not accept (no accepted type).
        with pytest.raises(AgentError) as bad_type:
            raw = base64.b64encode(b"\x00\x01binary").decode()
            client.submit_report(
                "other", "s", "", None, "", "", [{"name": "a.exe", "content_b64": raw}]
            )
        assert "a.exe" in bad_type.value.en
        client.submit_report("data-leak", odd[:200], odd, None, odd[:200], "", [])
        client.submit_report("other", "ten thousand", long, None, "", "", files)
    eventually(lambda: len(server.rows(Report)) == 3, 60, "the reports on the server", agent)
    stored = {r.summary: r for r in server.rows(Report)}
    assert stored["with contact"].description == long
    assert stored["with contact"].contact_method == "phone"
    assert stored["with contact"].contact_address == "+86 10 6552 9988-8021"
    assert stored[odd[:200].strip()].description == odd
    assert stored["ten thousand"].description == long
    assert len(stored["ten thousand"].attachments) == MAX_ATTACHMENTS
    assert rejected(agent) == []
