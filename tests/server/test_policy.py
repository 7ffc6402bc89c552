"""The signed policy: validation before signing, Ed25519 over exact bytes, versions, scope, expiry."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest

from server import crud
from server.db import session_scope
from server.policy import PolicyError, parse_policy_create
from server.signing import load_public_key, verify
from tests.server.conftest import START, Harness

RULE = {
    "id": "policy.extra-bot",
    "category": "bot-framework",
    "severity": "high",
    "platforms": ["windows", "linux"],
    "title": {"zh": "机器人框架", "en": "Bot framework"},
    "remediation": {"zh": "卸载它。", "en": "Uninstall it."},
    "match": [{"type": "process", "name": "extra-bot"}],
}
POLICY: dict[str, Any] = {
    "enforcement": "monitor",
    "heartbeat_interval_s": 600,
    "password": {"max_age_days": 90, "reminder_days": [14, 7, 3, 1], "max_deferrals": 3},
    "rules": {"add": [RULE], "disable": ["itchat"]},
    "approved_clients": [
        {
            "id": "wechat-mac-pinned",
            "name": {"zh": "微信（macOS）", "en": "WeChat for macOS"},
            "platforms": ["macos"],
            "bundle_ids": ["com.tencent.xinWeChat"],
            "team_ids": ["5A4RE8SF68"],
            "install_paths": ["/Applications/WeChat.app"],
        }
    ],
    "text": {"version": "2026-03", "zh": "第十八条……", "en": "Article 18 ..."},
}


def publish(harness: Harness, policy: dict[str, Any] | None = None) -> int:
    create = parse_policy_create(json.dumps(policy or POLICY))
    with session_scope(harness.sessions) as session:
        doc = crud.publish_policy(
            session, harness.app.state.wx.signer, create, harness.clock.now(), "test"
        )
    harness.app.state.wx.policies.invalidate()
    return doc.version


def fetch(harness: Harness, headers: dict[str, str]) -> dict[str, Any]:
    response = harness.client.get("/api/v1/policy", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_published_policy_verifies_and_any_flipped_byte_breaks_it(harness: Harness) -> None:
    device = harness.enroll()
    publish(harness)
    body = fetch(harness, device.headers)
    public = load_public_key(harness.settings.policy_public_key_path.read_bytes())
    payload = base64.b64decode(body["payload"])
    signature = base64.b64decode(body["signature"])
    assert verify(public, payload, signature)
    for i in range(len(payload)):
        flipped = bytearray(payload)
        flipped[i] ^= 0x01
        assert not verify(public, bytes(flipped), signature), f"payload byte {i}"
    for i in range(len(signature)):
        flipped = bytearray(signature)
        flipped[i] ^= 0x80
        assert not verify(public, payload, bytes(flipped)), f"signature byte {i}"
    document = json.loads(payload)
    assert document["version"] == 1 and document["key_id"] == body["key_id"]
    assert document["rules"]["add"][0]["id"] == "policy.extra-bot"
    assert document["password"]["reminder_days"] == [14, 7, 3, 1]
    assert document["expires_at"] > document["issued_at"]


def test_versions_strictly_increase_and_heartbeats_announce_them(harness: Harness) -> None:
    device = harness.enroll()
    hb = {"agent_version": "1"}
    assert (
        harness.client.post("/api/v1/heartbeat", json=hb, headers=device.headers).json()[
            "policy_version"
        ]
        == 0
    )
    assert [publish(harness) for _ in range(3)] == [1, 2, 3]
    beat = harness.client.post("/api/v1/heartbeat", json=hb, headers=device.headers).json()
    assert beat["policy_version"] == 3 and beat["heartbeat_interval_s"] == 600
    assert fetch(harness, device.headers)["version"] == 3
    ack = {"version": 3, "text_version": "2026-03", "acknowledged_at": START.isoformat()}
    assert (
        harness.client.post("/api/v1/policy/ack", json=ack, headers=device.headers).status_code
        == 200
    )
    assert (
        harness.client.post("/api/v1/policy/ack", json=ack, headers=device.headers).status_code
        == 200
    )
    assert harness.row_counts()["policy_acks"] == 1


def test_device_scope_and_expiry(harness: Harness) -> None:
    a = harness.enroll("a")
    b = harness.enroll("b")
    publish(harness, {**POLICY, "valid_days": 30})
    publish(
        harness, {**POLICY, "devices": [a.device_id], "enforcement": "enforce", "valid_days": 1}
    )
    assert fetch(harness, a.headers)["version"] == 2
    assert fetch(harness, b.headers)["version"] == 1
    harness.clock.advance(days=2)
    assert fetch(harness, a.headers)["version"] == 1  # the scoped one expired
    harness.clock.advance(days=30)
    assert harness.client.get("/api/v1/policy", headers=a.headers).status_code == 404


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rules": {"add": [{**RULE, "severity": "apocalyptic"}]}}, "severity"),
        ({"rules": {"add": [{k: v for k, v in RULE.items() if k != "match"}]}}, "match"),
        ({"rules": {"add": [RULE, RULE]}}, "duplicate id"),
        ({"rules": {"add": [{**RULE, "match": [{"type": "telepathy"}]}]}}, "type must be one of"),
        ({"approved_clients": [{"id": "x-client", "platforms": ["macos"]}]}, "name"),
        ({"password": {"reminder_days": [1, 3, 7]}}, "strictly decreasing"),
        ({"enforcement": "block-everything"}, "enforcement"),
        ({"surprise": True}, "surprise"),
        ({"heartbeat_interval_s": 1}, "heartbeat_interval_s"),
        (
            {"exceptions": [{"rule_id": "wechaty", "key": "k", "reason": {"zh": "z", "en": "e"}}]},
            "expires",
        ),
        ({"rules": {"yara": [{"name": "x.yar"}]}}, "rules.yara"),
        ({"exec_blocking": "always"}, "exec_blocking"),
    ],
)
def test_invalid_policies_are_refused_before_signing(change: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy_create(json.dumps({**POLICY, **change}))


def test_policy_defaults(harness: Harness) -> None:
    device = harness.enroll()
    publish(harness, {})
    document = json.loads(base64.b64decode(fetch(harness, device.headers)["payload"]))
    assert document["enforcement"] == "monitor"
    assert document["password"] == {
        "max_age_days": 90,
        "reminder_days": [14, 7, 3, 1],
        "daily_after_last": True,
        "max_deferrals": 3,
    }
    issued = document["issued_at"]
    assert issued.startswith(START.strftime("%Y-%m-%dT%H:%M"))
    assert timedelta(days=365) == (
        __import__("datetime").datetime.fromisoformat(document["expires_at"])
        - __import__("datetime").datetime.fromisoformat(issued)
    )
