"""Contract tests from the models (issue 11): any value, through the agent's real code, into a
real `wxguard-server` process, is either accepted by the server or refused by the agent before
it would say "queued" (an AgentError with a message in both languages). Never a server 4xx."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.api import AgentError
from agent.exchange import prepare_password_status, prepare_report
from agent.server_client import Attachment, ServerClient, findings_batch
from agent.store import FindingRecord
from protocol import limits as L
from protocol.messages import AccountType, ContactMethod, PasswordState, ReportCategory
from tests.support.real_server import RealServer

# Any code point, lone surrogates and NUL included: what a hostile or broken front end sends.
ANY_CHAR = st.one_of(
    st.characters(blacklist_categories=()),
    # Drawn often on purpose: what an undecodable file name or a pasted terminal line holds.
    st.sampled_from(["\x00", "\udcff", "\ud800", "\x1b", "\u202e", "\r", "\n", "\x7f"]),
)
# Joined by hand: `st.text` avoids lone surrogates, which are exactly what must be covered.
TEXT = st.lists(ANY_CHAR, max_size=60).map("".join)
SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    srv = RealServer(tmp_path_factory.mktemp("properties") / "server")
    srv.start()
    yield srv
    srv.stop()
    srv.engine.dispose()


def client_for(server: RealServer) -> ServerClient:
    client = ServerClient(server.url)
    enrollment = client.enroll(server.secret(), "pc-props", "linux", "0.1.0")
    client.token = enrollment.device_token
    return client


def refused_clearly(exc: AgentError) -> None:
    assert exc.code == "invalid" and exc.zh and exc.en and exc.zh != exc.en


@st.composite
def reports(draw: st.DrawFn) -> dict[str, Any]:
    files = draw(
        st.lists(
            st.one_of(
                st.binary(max_size=64).map(lambda b: PNG + b),
                st.binary(max_size=64),
                TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
            ),
            max_size=L.MAX_ATTACHMENTS + 1,
        )
    )
    return {
        "category": draw(st.sampled_from([*map(str, ReportCategory), "nope"])),
        "summary": draw(st.one_of(TEXT, st.text(max_size=L.MAX_SUMMARY + 2))),
        "description": draw(
            st.one_of(
                TEXT, st.just("长" * L.MAX_DESCRIPTION), st.just("x" * (L.MAX_DESCRIPTION + 1))
            )
        ),
        "occurred_at": draw(
            st.one_of(
                st.none(),
                st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
                TEXT,
            )
        ),
        "affected_account": draw(TEXT),
        "contact": draw(st.one_of(st.sampled_from([*map(str, ContactMethod), ""]), TEXT)),
        "contact_address": draw(
            st.one_of(
                TEXT,
                st.sampled_from(
                    ["a@example.cn", "a@b", "+86 138 0013 8000", "12", "８０２１", "wxid_alice"]
                ),
                st.emails().map(str),
                st.from_regex(r"\+?[0-9][0-9 \-]{0,40}", fullmatch=True),
            )
        ),
        "attachments": [
            {"name": draw(TEXT), "content_b64": base64.b64encode(data).decode()} for data in files
        ],
    }


def test_any_report_is_accepted_or_refused_before_queued(server: RealServer) -> None:
    client = client_for(server)

    @SETTINGS
    @given(args=reports(), reporter=TEXT)
    def check(args: dict[str, Any], reporter: str) -> None:
        try:
            report, files = prepare_report(args, reporter, datetime.now(UTC))
        except AgentError as exc:
            refused_clearly(exc)
            return
        body = report.model_dump(mode="json", exclude_none=True)
        receipt = client.submit_report(body, [Attachment(a.filename, a.data) for a in files])
        assert receipt.case.startswith("WXG-")

    check()


@st.composite
def password_entries(draw: st.DrawFn) -> list[Any]:
    today = date.today()
    day = st.one_of(
        st.none(),
        st.dates(min_value=today - timedelta(days=4000), max_value=today + timedelta(days=400)).map(
            date.isoformat
        ),
        TEXT,
    )
    entry = st.fixed_dictionaries(
        {
            "account_type": st.sampled_from([*map(str, AccountType), "both"]),
            "state": st.sampled_from([*map(str, PasswordState), "fine"]),
            "last_changed": day,
            "due_at": day,
            "deferrals": st.integers(-2, L.MAX_DEFERRALS + 2),
            "no_expiry": st.booleans(),
        }
    )
    return draw(st.lists(entry, max_size=3))


def test_any_password_status_is_accepted_or_refused_before_queued(server: RealServer) -> None:
    client = client_for(server)

    @SETTINGS
    @given(accounts=password_entries(), user=TEXT)
    def check(accounts: list[Any], user: str) -> None:
        try:
            request = prepare_password_status(accounts, user, datetime.now(UTC))
        except AgentError as exc:
            refused_clearly(exc)
            return
        sent = request.model_dump(mode="json")["accounts"]
        assert client.password_status(sent) == len({(a["user"], a["account_type"]) for a in sent})

    check()


@st.composite
def findings(draw: st.DrawFn) -> FindingRecord:
    now = datetime.now(UTC).timestamp()
    body = {
        "title": draw(TEXT),
        "subject": draw(TEXT),
        "remediation": draw(st.one_of(TEXT, st.just("r" * 5000))),
        "evidence": [
            {
                "kind": draw(TEXT),
                "matched": draw(TEXT),
                "path": draw(TEXT),
                "pid": draw(st.integers(-5, 2**33)),
            }
            for _ in range(draw(st.integers(0, 3)))
        ],
        "references": draw(st.lists(TEXT, max_size=3)),
        "title_i18n": {"zh": draw(TEXT), "en": draw(TEXT)},
    }
    key = draw(st.from_regex(r"[A-Za-z0-9_.:-]{1,40}", fullmatch=True))
    first = now - draw(st.integers(0, 86400 * 30))
    return FindingRecord(
        key, "rule.x", "high", draw(st.sampled_from(["client", "x" * 70])), body, first, now, None
    )


def test_any_finding_the_agent_records_arrives(server: RealServer) -> None:
    client = client_for(server)

    @SETTINGS
    @given(records=st.lists(findings(), max_size=4, unique_by=lambda r: r.key))
    def check(records: list[FindingRecord]) -> None:
        batch = findings_batch(records, [], [], datetime.now(UTC), complete=False)
        assert client.upload_findings(batch).received == len(records)

    check()


def test_any_heartbeat_arrives(server: RealServer) -> None:
    client = client_for(server)

    @SETTINGS
    @given(hostname=TEXT, os=TEXT, users=st.lists(TEXT, max_size=5))
    def check(hostname: str, os: str, users: list[str]) -> None:
        reply = client.heartbeat("0.1.0", os=os, hostname=hostname, users_seen=users)
        assert reply.protocol == L.PROTOCOL_VERSION

    check()
