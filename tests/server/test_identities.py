"""The identities page over the real app: approved identities (built-in and from the policy)
and exceptions are listed; IT grants one device an exception with a reason and an expiry,
which that device alone receives in its signed policy, audited and shown on the page."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from agent.server_client import approvals_json, findings_batch
from checks.api import scan_image
from checks.catalogue import load_builtin
from protocol.device_state import Coverage
from server.db import session_scope
from server.models import AuditEvent, Device
from tests.checks.test_integrity_macos import APPLE_LIKE, TENCENT_ID, Sig, build_bundle
from tests.server.conftest import Harness
from tests.server.test_dashboard import audit_actions, csrf_of
from tests.server.test_policy import POLICY, publish


def _device_policy(harness: Harness, token: str) -> dict[str, object]:
    client = TestClient(harness.app, client=("10.9.0.1", 5000))
    signed = client.get("/api/v1/policy", headers={"Authorization": f"Bearer {token}"})
    assert signed.status_code == 200, signed.text
    return json.loads(base64.b64decode(signed.json()["payload"]))


def test_identities_page_requires_login(harness: Harness) -> None:
    response = harness.client.get("/identities", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"


def test_it_grants_one_device_an_exception_with_a_reason_and_an_expiry(harness: Harness) -> None:
    harness.add_admin()
    harness.login()
    laptop = harness.enroll("dev-laptop")
    other = harness.enroll("other-pc")
    publish(harness)  # for every device: approves a pinned macOS identity
    page = harness.client.get("/identities", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "wechat-mac-pinned" in page.text and "Team ID: 5A4RE8SF68" in page.text
    assert any(c.id in page.text for c in load_builtin().clients)  # built-in identities too
    csrf = csrf_of(page.text)

    form = {
        "csrf_token": csrf,
        "device_id": laptop.device_id,
        "rule_id": "itchat",
        "subject": "home/dev/tests/fixtures/itchat.pkl",
        "reason_zh": "测试夹具，不是真实会话",
        "reason_en": "a test fixture, not a real session",
        "days": "14",
    }
    missing = harness.client.post("/identities/exceptions", data={**form, "subject": ""})
    assert missing.status_code == 422 and "Fill in the subject or the finding key" in missing.text
    unknown = harness.client.post("/identities/exceptions", data={**form, "device_id": "nope"})
    assert unknown.status_code == 422 and "No device nope" in unknown.text

    granted = harness.client.post(
        "/identities/exceptions", data=form, headers={"Accept-Language": "en"}
    )
    assert granted.status_code == 200, granted.text
    assert f"published to device {laptop.device_id}" in granted.text
    assert "a test fixture, not a real session" in granted.text and "admin:alice" in granted.text
    actions = audit_actions(harness)
    assert actions[-2:] == ["policy.publish", "exception.grant"]

    # The device receives it, with the policy it had (the approved identity kept); the
    # agent's own parser accepts it and it covers that finding only until it expires.
    mine = _device_policy(harness, laptop.token)
    assert mine["devices"] == [laptop.device_id]
    assert [c["id"] for c in mine["approved_clients"]] == ["wechat-mac-pinned"]  # type: ignore[index]
    catalogue = load_builtin().with_exceptions(mine["exceptions"])  # type: ignore[arg-type]
    (grant,) = catalogue.exceptions
    now = harness.clock.now().timestamp()
    assert grant.covers("itchat", form["subject"], "", now)
    assert not grant.covers("itchat", form["subject"], "", now + 15 * 86400)
    assert grant.granted_by == "admin:alice"
    # Another device keeps the policy for everyone, with no exception.
    assert not _device_policy(harness, other.token).get("exceptions")

    zh = harness.client.get("/identities", headers={"Accept-Language": "zh-CN"})
    assert "测试夹具，不是真实会话" in zh.text and "批准的客户端身份与例外" in zh.text


def test_the_policy_page_example_still_publishes(harness: Harness) -> None:
    """The grant builds on the device's policy as published: POLICY round-trips."""
    harness.add_admin()
    harness.login()
    assert publish(harness, dict(POLICY)) == 1


def test_the_device_page_shows_which_identity_approved_a_client(
    harness: Harness, tmp_path: Path
) -> None:
    """Scan (checks) → the agent's batch (agent.server_client) → the server → the page: the
    genuine WeChat.app is no finding, and the device's page says which identity approved it."""
    root = build_bundle(tmp_path / "img", Sig(signer=TENCENT_ID))
    result = scan_image(str(root), "macos", APPLE_LIKE)
    assert result.findings == []
    coverage = Coverage().to_json() | {"outcome": "ok", "approved": approvals_json(result)}
    batch = findings_batch([], [], [], harness.clock.now(), True, coverage)
    harness.add_admin()
    harness.login()
    mac = harness.enroll("mac-1")
    posted = harness.client.post("/api/v1/findings", json=batch, headers=mac.headers)
    assert posted.status_code == 200, posted.text
    page = harness.client.get(f"/devices/{mac.device_id}", headers={"Accept-Language": "en"})
    section = page.text[page.text.index('id="approved-clients"') :]
    assert "Approved by identity" in section
    assert "Applications/WeChat.app" in section
    assert "bundle com.tencent.xinWeChat" in section
    zh = harness.client.get(f"/devices/{mac.device_id}", headers={"Accept-Language": "zh-CN"})
    assert "批准依据（身份）" in zh.text


def _set_group(harness: Harness, device_id: str, group: str) -> None:
    """IT puts a device in a group (the server's own record of it)."""
    with session_scope(harness.sessions) as session:
        session.execute(update(Device).where(Device.id == device_id).values(group_label=group))


def _announced(harness: Harness, token: str) -> int:
    beat = TestClient(harness.app, client=("10.9.0.2", 5000)).post(
        "/api/v1/heartbeat",
        json={"agent_version": "1"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert beat.status_code == 200, beat.text
    return int(beat.json()["policy_version"])


def test_it_grants_a_group_an_exception_its_devices_receive_and_others_do_not(
    harness: Harness,
) -> None:
    """A developer's test machines: IT grants the group "研发测试机" an exception; each device
    of the group (as the server groups them now) is served it, with the policy it had and any
    exception of its own kept; a device outside the group is not; the grant is audited."""
    harness.add_admin()
    harness.login()
    lab1, lab2, office = (harness.enroll(h) for h in ("lab-1", "lab-2", "office-1"))
    group = "研发测试机"
    for device in (lab1, lab2):
        _set_group(harness, device.device_id, group)
    _set_group(harness, office.device_id, "财务部")
    publish(harness)  # v1, for every device
    page = harness.client.get("/identities", headers={"Accept-Language": "en"})
    assert f'<option value="{group}">' in page.text  # the form suggests the known groups
    csrf = csrf_of(page.text)
    own = {
        "csrf_token": csrf,
        "device_id": lab2.device_id,
        "rule_id": "wechatferry",
        "subject": "home/dev/bot/.venv",
        "reason_zh": "机器人开发",
        "reason_en": "bot development",
        "days": "30",
    }
    assert harness.client.post("/identities/exceptions", data=own).status_code == 200  # v2
    form = {
        "csrf_token": csrf,
        "group": group,
        "rule_id": "itchat",
        "key": "k-itchat-fixture",
        "reason_zh": "测试夹具，不是真实会话",
        "reason_en": "a test fixture, not a real session",
        "days": "14",
    }
    both = harness.client.post("/identities/exceptions", data={**form, "device_id": "x"})
    assert both.status_code == 422 and "either a device id or a device group" in both.text
    nobody = harness.client.post("/identities/exceptions", data={**form, "group": "nobody"})
    assert nobody.status_code == 422 and "No device is in the group nobody" in nobody.text

    granted = harness.client.post(
        "/identities/exceptions", data=form, headers={"Accept-Language": "en"}
    )
    assert granted.status_code == 200, granted.text
    assert f"published to device group {group}" in granted.text
    actions = audit_actions(harness)
    assert actions[-3:] == ["policy.publish", "policy.publish", "exception.grant"]

    # lab-1: the group's policy (v3), built on v1; announced by the heartbeat too.
    mine = _device_policy(harness, lab1.token)
    assert (mine["version"], mine["groups"], mine["devices"]) == (3, [group], None)
    assert [c["id"] for c in mine["approved_clients"]] == ["wechat-mac-pinned"]  # type: ignore[index]
    (grant,) = load_builtin().with_exceptions(mine["exceptions"]).exceptions  # type: ignore[arg-type]
    now = harness.clock.now().timestamp()
    assert grant.group == group and grant.covers("itchat", "", "k-itchat-fixture", now)
    assert not grant.covers("itchat", "", "k-itchat-fixture", now + 15 * 86400)
    assert _announced(harness, lab1.token) == 3
    # lab-2 had its own exception: its own policy again (v4), with both.
    theirs = _device_policy(harness, lab2.token)
    assert theirs["version"] == 4 and theirs["devices"] == [lab2.device_id]
    assert [x["rule_id"] for x in theirs["exceptions"]] == ["wechatferry", "itchat"]  # type: ignore[union-attr]
    assert _announced(harness, lab2.token) == 4
    # office-1 is in another group: the policy for everyone, no exception.
    assert _device_policy(harness, office.token)["version"] == 1
    assert _announced(harness, office.token) == 1
    # A device IT moves into the group is served the group's policy from then on.
    _set_group(harness, office.device_id, group)
    harness.app.state.wx.policies.invalidate()
    assert _device_policy(harness, office.token)["version"] == 3

    page = harness.client.get("/identities", headers={"Accept-Language": "en"})
    section = page.text[page.text.index('id="policy-v3"') :]
    assert f"device group {group}" in section and "a test fixture, not a real session" in section
    with session_scope(harness.sessions) as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "exception.grant")
        ).all()[-1]
    assert event.target == f"group:{group}"
    assert event.detail["devices_with_own_policy"] == [lab2.device_id]
