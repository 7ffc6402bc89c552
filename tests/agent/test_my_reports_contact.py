"""The contact details an employee gave with a report come back in "My reports" (issue 16):
a real agent keeps the method and the address with its record of the report, and `wxguard
reports` shows them labelled in English and Chinese (and as fields for scripts)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.real_agent import AgentUnderTest

NUMBER = "+86 138 0013 8000"


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentUnderTest]:
    under_test = AgentUnderTest(tmp_path / "agent")
    under_test.start()
    yield under_test
    under_test.stop()


def test_wxguard_reports_shows_the_contact_details_given(agent: AgentUnderTest) -> None:
    filed = agent.cli(
        "report", "--category", "other", "--description", "x", "--summary", "Lost badge",
        "--contact-method", "phone", "--contact", NUMBER,
    )  # fmt: skip
    assert filed.returncode == 0, filed.stderr
    filed = agent.cli(
        "report", "--category", "other", "--description", "y", "--summary", "No contact",
        "--contact-method", "none",
    )  # fmt: skip
    assert filed.returncode == 0, filed.stderr

    en = agent.cli("reports", "--lang", "en")
    assert en.returncode == 0, en.stderr
    # Newest first, each under its report's row.
    contact = [line.strip() for line in en.stdout.splitlines() if line.startswith("    Contact")]
    assert contact == ["Contact: no need to contact me", f"Contact: by phone ({NUMBER})"], en.stdout

    zh = agent.cli("reports", "--lang", "zh")
    assert zh.returncode == 0, zh.stderr
    assert f"联系方式：电话（{NUMBER}）" in zh.stdout, zh.stdout
    assert "phone" not in zh.stdout

    as_json = agent.cli("reports", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    by_summary = {r["idempotency_key"]: r for r in json.loads(as_json.stdout)}
    assert {(r["contact_method"], r["contact_address"]) for r in by_summary.values()} == {
        ("phone", NUMBER),
        ("none", ""),
    }
