"""The IPC answers and events are built and read through protocol/ipc.py's models (issue 11):
a wrong shape fails in the agent, an unknown field from a newer agent does not break the tray,
and the real agent's answers over its real socket fit their models."""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any

import pytest

from agent.api import AgentError, TypedCalls
from agent.client import AgentClient
from protocol import docs, ipc
from tests.agent.conftest import InProcessAgent

DOC = Path(__file__).resolve().parents[2] / "docs" / "ipc.md"


def test_the_real_agents_answers_and_events_fit_their_models(
    in_process_agent: InProcessAgent,
) -> None:
    with AgentClient(in_process_agent.socket) as client:
        raw = {op: client.call(op) for op in ("hello", "status", "findings", "scan_now")}
        for op, answer in raw.items():
            # Every field the agent sent is one its model names (or an open model keeps).
            assert ipc.parse_answer(op, answer) == answer, op
        since = raw["status"]["event_seq"]
        site = in_process_agent.image / "home/alice/.local/lib/python3.11/site-packages"
        (site / "wcferry-39.6.0.0.dist-info").mkdir()
        kinds: set[str] = set()
        deadline = time.monotonic() + 30
        while "finding-new" not in kinds:
            assert time.monotonic() < deadline, kinds
            got = client.call("events", {"since": since, "timeout": 5})
            assert ipc.parse_answer("events", got) == got
            for event in got["events"]:
                assert ipc.parse_event(event["kind"], event["data"]) == event["data"]
                kinds.add(event["kind"])
            since = got["seq"]
        finding = client.findings()[0]
        assert finding["rule_id"] == "wechatferry" and finding["title_i18n"]["zh"]
        assert finding["evidence"][0]["kind"] == "package"


def test_a_status_field_of_the_wrong_type_fails_in_the_agent(
    in_process_agent: InProcessAgent,
) -> None:
    service = in_process_agent.service
    with AgentClient(in_process_agent.socket) as client:
        # A part of the agent adding a field nobody modelled yet: it passes through.
        service.status_providers.append(lambda: {"keyring_backend": "SecretService"})
        assert client.status()["keyring_backend"] == "SecretService"
        # A known field of the wrong shape is the agent's bug: refused before it reaches a tray.
        service.status_providers.append(lambda: {"policy_version": "seven"})
        with pytest.raises(AgentError) as refused:
            client.status()
        assert refused.value.code == "internal"


def test_building_refuses_fields_the_model_does_not_name() -> None:
    hello = {"agent_version": "1", "protocol": 1, "uid": 0, "admin": True, "ops": ["status"]}
    assert ipc.build_answer("hello", hello) == hello
    with pytest.raises(ipc.AnswerError, match="has no field"):
        ipc.build_answer("hello", {**hello, "typo_field": 1})
    with pytest.raises(ipc.AnswerError, match="has no field"):
        ipc.build_answer(
            "policy",
            {
                "label": "v1",
                "version": 1,
                "mode": "monitor",
                "text": {"zh": "a", "en": "b", "fr": "c"},
                "text_version": "1",
            },
        )
    with pytest.raises(ipc.AnswerError):
        ipc.build_event("finding-resolved", {"key": "k"})  # rule_id missing
    with pytest.raises(ipc.AnswerError, match="has no field"):
        ipc.build_event("report", {"state": "delivered", "casee": "WXG-1"})


class _Answers(TypedCalls):
    """A transport that answers what a newer (or broken) agent would."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers

    def call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        return self.answers[op]


POLICY = {
    "label": "v3 · 2026-03",
    "version": 3,
    "mode": "monitor",
    "text": {"zh": "制度", "en": "Policy"},
    "text_version": "2026-03",
    "acknowledged_version": None,
    "acknowledged": False,
}


def test_an_older_tray_reads_a_newer_agents_answers() -> None:
    newer = _Answers(
        {
            "policy": {**POLICY, "quiz": {"questions": 3}},
            "my_reports": [
                {
                    "idempotency_key": "report-1",
                    "category": "other",
                    "created_at": 1.0,
                    "priority": "high",
                    "replies": [{"body": "ok", "at": "2026-03-01T00:00:00Z", "by": "sec"}],
                }
            ],
            "events": {
                "seq": 2,
                "events": [
                    {"seq": 1, "kind": "report", "at": 1.0, "data": {"state": "triaged", "x": 1}},
                    {"seq": 2, "kind": "hologram", "at": 1.0, "data": {"new": True}},
                ],
            },
        }
    )
    assert newer.policy() == POLICY
    reports = newer.my_reports()
    assert "priority" not in reports[0] and reports[0]["replies"] == [
        {"body": "ok", "at": "2026-03-01T00:00:00Z"}
    ]
    events = newer.wait_events(0, 1)["events"]
    assert events[0]["data"] == {"state": "triaged"}
    assert events[1]["data"] == {"new": True}  # a kind this tray does not know: as it came


def test_a_known_field_of_the_wrong_type_is_said_plainly() -> None:
    broken = _Answers({"policy": {**POLICY, "version": "three"}})
    with pytest.raises(AgentError) as refused:
        broken.policy()
    assert refused.value.code == "bad-answer"
    assert "version" in refused.value.en and "IT" in refused.value.zh


def test_every_answer_and_event_model_is_in_docs_ipc_md() -> None:
    text = DOC.read_text("utf-8")
    models = {
        obj
        for _, obj in inspect.getmembers(ipc, inspect.isclass)
        if issubclass(obj, ipc.Answer) and obj not in (ipc.Answer, ipc.OpenAnswer)
    }
    assert models <= set(docs.IPC_MODELS), models - set(docs.IPC_MODELS)
    for model in docs.IPC_MODELS:
        assert f"**{model.__name__}**" in text
        for name in ipc.schema_fields(model):
            assert f"`{name}`" in text, (model.__name__, name)
    for op in ipc.ANSWERS:
        assert f"| `{op}` |" in text, op
    for kind in ipc.EVENT_DATA:
        assert f"| `{kind}` |" in text, kind
