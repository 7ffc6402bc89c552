"""Rolling upgrades: the server accepts every request the agents of each protocol version send.

The fixtures (tests/fixtures/protocol/v*/) were recorded from the agent code of that version by
`tests/fixtures/protocol/record.py`; they are never edited by hand, and never regenerated for an
old version: they are what agents in the field still send.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import Harness
from tests.server.test_policy import publish

FIXTURES = Path(__file__).parents[1] / "fixtures" / "protocol"
VERSIONS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name.startswith("v"))


def load(version: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / version / f"{name}.json").read_text("utf-8"))
    return data


def replay(harness: Harness, fixture: dict[str, Any], headers: dict[str, str]) -> Any:
    headers = {**fixture["headers"], **headers}
    if "multipart" in fixture:
        parts = fixture["multipart"]
        files = [
            (
                "attachment",
                (a["filename"], bytes.fromhex(a["content_hex"]), "application/octet-stream"),
            )
            for a in parts["attachments"]
        ]
        return harness.client.post(
            fixture["path"],
            data={"report": json.dumps(parts["report"], ensure_ascii=False)},
            files=files,
            headers=headers,
        )
    return harness.client.request(
        fixture["method"],
        fixture["path"],
        content=json.dumps(fixture["json"], ensure_ascii=False).encode(),
        headers={**headers, "content-type": fixture["content_type"]},
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_the_server_accepts_every_recorded_agent_request(harness: Harness, version: str) -> None:
    publish(harness)  # the recorded acknowledgement is of version 1
    enroll = load(version, "enroll")
    enroll["json"]["secret"] = harness.secret()
    answer = replay(harness, enroll, {})
    assert answer.status_code == 201, answer.text
    auth = {"Authorization": f"Bearer {answer.json()['device_token']}"}
    for name in (
        "heartbeat",
        "findings",
        "report",
        "report-attachment",
        "password-status",
        "policy-ack",
    ):
        answer = replay(harness, load(version, name), auth)
        assert answer.status_code in (200, 201), f"{version}/{name}: {answer.text}"
    # And what they said was stored as they meant it.
    passwords = harness.client.get("/api/v1/reports", headers=auth)
    assert len(passwords.json()["reports"]) == 2
    from server.models import PasswordStatus

    with harness.sessions() as session:
        row = session.query(PasswordStatus).one()
        assert row.last_changed is not None and row.last_changed.date().isoformat() == "2026-02-01"
        assert row.due_at is not None and row.due_at.date().isoformat() == "2026-05-02"
