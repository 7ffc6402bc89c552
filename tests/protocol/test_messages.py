"""The protocol package: one model per message, the same on agent and server."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from agent.policy import _Malformed, parse_document
from protocol.messages import HeartbeatResponse, PasswordAccountStatus
from protocol.policy import read_document
from protocol.text import explain
from server.policy import PolicyError, parse_policy_create

DOC = {
    "schema_version": 1,
    "version": 3,
    "issued_at": "2026-03-02T09:00:00Z",
    "expires_at": "2027-03-02T09:00:00Z",
    "devices": None,
    "key_id": "868c57a6839de8d0",
    "password": {"max_age_days": 60, "reminder_days": [7, 1], "max_deferrals": 2},
    "text": {"version": "2026-03", "zh": "制度", "en": "Policy"},
}


def test_the_agent_reads_the_policy_with_the_servers_model() -> None:
    policy = parse_document(json.dumps(DOC).encode())
    assert policy.version == 3 and policy.password.max_age_days == 60
    assert policy.text is not None and policy.text.version == "2026-03"
    # A newer server's optional keys are ignored by the agent, at every level ...
    newer = {**DOC, "new_key": 1, "password": {**DOC["password"], "new_too": True}}
    assert parse_document(json.dumps(newer).encode()).password.max_deferrals == 2
    # ... while IT's own input with an unknown key is a typo the server refuses.
    with pytest.raises(PolicyError, match="new_too"):
        parse_policy_create(json.dumps({"password": {"new_too": True}}))


@pytest.mark.parametrize(
    "change",
    [
        {"schema_version": 2},
        {"version": 0},
        {"enforcement": "kill-all"},
        {"password": {"reminder_days": [1, 7]}},  # the server signs only decreasing days
        {"scan_interval_s": 5},
        {"text": {"version": "", "zh": "x", "en": "x"}},
        {"issued_at": "2026-03-02T09:00:00"},  # no time zone
    ],
)
def test_what_the_server_would_never_sign_the_agent_refuses(change: dict[str, object]) -> None:
    with pytest.raises(_Malformed):
        parse_document(json.dumps({**DOC, **change}).encode())
    with pytest.raises(ValidationError):
        read_document(json.dumps({**DOC, **change}).encode())


def test_password_days_are_days_and_aware_times_are_their_utc_day() -> None:
    entry = PasswordAccountStatus.model_validate(
        {"account_type": "enterprise", "state": "ok", "last_changed": "2026-02-01"}
    )
    assert entry.last_changed == date(2026, 2, 1)
    entry = PasswordAccountStatus.model_validate(
        {"account_type": "enterprise", "state": "ok", "due_at": "2026-02-01T23:30:00-02:00"}
    )
    assert entry.due_at == date(2026, 2, 2)
    with pytest.raises(ValidationError):
        PasswordAccountStatus.model_validate(
            {"account_type": "enterprise", "state": "ok", "due_at": "2026-02-01T10:00:00"}
        )


def test_answers_ignore_fields_a_newer_server_adds() -> None:
    answer = HeartbeatResponse.model_validate(
        {
            "server_time": datetime(2026, 3, 2, tzinfo=UTC).isoformat(),
            "policy_version": 1,
            "heartbeat_interval_s": 300,
            "something_new": [1, 2],
        }
    )
    assert answer.protocol == 1 and answer.upgrade is False and answer.news == 0


def test_validation_errors_read_in_both_languages() -> None:
    with pytest.raises(ValidationError) as caught:
        PasswordAccountStatus.model_validate(
            {"account_type": "enterprise", "state": "ok", "deferrals": 10_001, "user": "a\0b"}
        )
    zh, en = explain(caught.value)
    assert "deferrals" in zh and "不能大于 10000" in zh and "NUL" in zh
    assert "deferrals" in en and "10000" in en and "NUL" in en
