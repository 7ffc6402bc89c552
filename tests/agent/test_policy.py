"""Signed policy: forged, rolled-back, expired, foreign and unknown-key policies are refused and
the last good one stays in force, also across a restart. Policies are signed with the server's
own signing code and key files."""

from __future__ import annotations

import base64
import json
import stat
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.policy import PolicyGuard, PolicyKeyError, PolicyRefused, Reason
from checks.catalogue import load_builtin
from checks.model import Platform
from server.policy import PolicyCreate, build_document, sign_document
from server.signing import PolicySigner, b64, generate_key_pair

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DEVICE = "3f9b7c1e-0000-4000-8000-000000000001"
ROOT = Path(__file__).resolve().parents[2]


def new_signer(folder: Path) -> tuple[PolicySigner, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    public = folder / "policy-public.pem"
    return generate_key_pair(folder / "policy-private.pem", public), public


def envelope(
    signer: PolicySigner,
    version: int,
    issued: datetime = NOW - timedelta(hours=1),
    valid_days: int = 30,
    **body: Any,
) -> dict[str, Any]:
    """What GET /api/v1/policy returns, built exactly as the server builds it."""
    create = PolicyCreate.model_validate({"valid_days": valid_days, **body})
    document = build_document(create, version, issued, signer.key_id)
    payload, signature = sign_document(document, signer)
    return {
        "version": version,
        "key_id": signer.key_id,
        "issued_at": document.issued_at.isoformat(),
        "expires_at": document.expires_at.isoformat(),
        "payload": b64(payload),
        "signature": b64(signature),
    }


@pytest.fixture
def keys(tmp_path: Path) -> tuple[PolicySigner, Path]:
    return new_signer(tmp_path / "server")


def guard_for(public: Path, tmp_path: Path) -> PolicyGuard:
    return PolicyGuard(public, tmp_path / "agent" / "policy.json")


def refused(guard: PolicyGuard, env: dict[str, Any], device: str | None = DEVICE) -> Reason:
    with pytest.raises(PolicyRefused) as info:
        guard.accept(env, device, NOW)
    return info.value.reason


def test_good_policy_is_installed_and_survives_restart(
    keys: tuple[PolicySigner, Path], tmp_path: Path
) -> None:
    signer, public = keys
    guard = guard_for(public, tmp_path)
    text = {"version": "2026-03", "zh": "微信使用规定", "en": "WeChat policy"}
    env = envelope(
        signer,
        1,
        enforcement="enforce",
        heartbeat_interval_s=600,
        text=text,
        password={"max_age_days": 60, "reminder_days": [10, 5, 1], "max_deferrals": 2},
    )
    assert guard.accept(env, DEVICE, NOW) is True
    policy = guard.effective()
    assert (policy.version, policy.enforcement, policy.heartbeat_interval_s) == (1, "enforce", 600)
    assert policy.password.max_age_days == 60 and policy.password.reminder_days == (10, 5, 1)
    assert policy.text is not None and policy.text.version == "2026-03"
    assert guard.accept(env, DEVICE, NOW) is False  # same version: no change, not an error
    assert list(guard.refusals) == []

    restarted = guard_for(public, tmp_path)
    assert restarted.load(NOW) is not None
    assert restarted.version == 1 and restarted.effective().enforcement == "enforce"
    # Same version with other content is "no change": the policy in force is not replaced.
    assert restarted.accept(envelope(signer, 1, enforcement="monitor"), DEVICE, NOW) is False
    assert restarted.effective().enforcement == "enforce"
    assert restarted.accept(envelope(signer, 3), DEVICE, NOW) is True
    # The rollback protection survives a restart too.
    again = guard_for(public, tmp_path)
    again.load(NOW)
    assert refused(again, envelope(signer, 2)) is Reason.ROLLBACK
    assert again.version == 3


def test_every_bad_policy_is_refused_and_the_last_good_stays(
    keys: tuple[PolicySigner, Path], tmp_path: Path
) -> None:
    signer, public = keys
    other, _ = new_signer(tmp_path / "attacker")
    guard = guard_for(public, tmp_path)
    assert guard.accept(envelope(signer, 5, enforcement="enforce"), DEVICE, NOW)

    flipped = envelope(signer, 6)
    raw = bytearray(base64.b64decode(flipped["payload"]))
    raw[raw.index(b"monitor")] ^= 0x01  # one bit, inside the document
    flipped["payload"] = base64.b64encode(bytes(raw)).decode()

    claims_our_key = envelope(other, 7)
    claims_our_key["key_id"] = signer.key_id  # lies about the key: the signature gives it away

    cases = {
        Reason.FORGED: flipped,
        Reason.ROLLBACK: envelope(signer, 4),
        Reason.EXPIRED: envelope(signer, 8, issued=NOW - timedelta(days=3), valid_days=1),
        Reason.NOT_YET_VALID: envelope(signer, 9, issued=NOW + timedelta(hours=2)),
        Reason.FOREIGN: envelope(signer, 10, devices=["someone-else"]),
        Reason.UNKNOWN_KEY: envelope(other, 11),
    }
    for reason, env in cases.items():
        assert refused(guard, env) is reason, reason
    assert refused(guard, claims_our_key) is Reason.FORGED
    # Scoped policies are foreign to a device that has no id yet.
    assert refused(guard, envelope(signer, 12, devices=[DEVICE]), device=None) is Reason.FOREIGN

    assert guard.version == 5 and guard.effective().enforcement == "enforce"
    recorded = [r.reason for r in guard.refusals]
    assert recorded[:6] == list(cases)
    status = guard.status(NOW)
    assert status["policy_version"] == 5 and status["policy_mode"] == "enforce"
    assert {r["reason"] for r in status["policy_refusals"]} >= {"forged", "rollback", "foreign"}
    json.dumps(status)  # plain data

    restarted = guard_for(public, tmp_path)
    restarted.load(NOW)
    assert restarted.version == 5


def test_scoped_policy_for_this_device_is_accepted(
    keys: tuple[PolicySigner, Path], tmp_path: Path
) -> None:
    signer, public = keys
    guard = guard_for(public, tmp_path)
    assert guard.accept(envelope(signer, 3, devices=[DEVICE, "x"]), DEVICE, NOW)


def test_signed_but_malformed_documents_are_refused(
    keys: tuple[PolicySigner, Path], tmp_path: Path
) -> None:
    signer, public = keys
    guard = guard_for(public, tmp_path)
    for payload in (
        b"not json",
        b"[1, 2]",
        json.dumps({"schema_version": 2, "version": 3}).encode(),
    ):
        env = {
            "version": 3,
            "key_id": signer.key_id,
            "payload": b64(payload),
            "signature": b64(signer.sign(payload)),
        }
        assert refused(guard, env) is Reason.MALFORMED
    assert refused(guard, {"payload": "%%%", "signature": "AAAA"}) is Reason.MALFORMED
    # Signed, well-formed JSON, but a rule the engine cannot load: refused now, not mid-scan.
    bad_rule = envelope(signer, 4)
    doc = json.loads(base64.b64decode(bad_rule["payload"]))
    doc["rules"]["add"] = [{"id": "Bad Id!", "match": []}]
    payload = json.dumps(doc).encode()
    bad_rule.update(payload=b64(payload), signature=b64(signer.sign(payload)))
    assert refused(guard, bad_rule) is Reason.MALFORMED
    assert guard.version == 0 and guard.effective().enforcement == "monitor"  # defaults


def test_tampered_state_file_is_not_trusted(
    keys: tuple[PolicySigner, Path], tmp_path: Path
) -> None:
    signer, public = keys
    guard = guard_for(public, tmp_path)
    guard.accept(envelope(signer, 2, enforcement="enforce"), DEVICE, NOW)
    state = json.loads(guard.state_path.read_text())
    doc = json.loads(base64.b64decode(state["payload"]))
    doc["enforcement"] = "monitor"  # a local user switching enforcement off
    state["payload"] = b64(json.dumps(doc).encode())
    guard.state_path.write_text(json.dumps(state))
    restarted = guard_for(public, tmp_path)
    assert restarted.load(NOW) is None
    assert restarted.refusals[-1].reason is Reason.FORGED


def test_missing_public_key_is_a_clear_error(tmp_path: Path) -> None:
    guard = PolicyGuard(tmp_path / "nope.pem", tmp_path / "policy.json")
    with pytest.raises(PolicyKeyError, match="IT"):
        guard.accept({"payload": "", "signature": ""}, DEVICE, NOW)


def test_policy_rules_and_clients_reach_the_catalogue(
    keys: tuple[PolicySigner, Path], tmp_path: Path
) -> None:
    signer, public = keys
    rules = tomllib.loads((ROOT / "checks/rules/generic.toml").read_text())["rule"]
    extra = {**rules[0], "id": "policy-extra-rule"}
    disabled = rules[1]["id"]
    client = {  # the engine's clients/*.toml schema, as the server validates it
        "id": "corp-wechat-build",
        "name": {"zh": "公司版微信", "en": "Corp WeChat"},
        "platforms": ["linux"],
        "packages": ["dpkg:corp-wechat"],
        "install_paths": ["/opt/corp-wechat"],
    }
    guard = guard_for(public, tmp_path)
    guard.accept(
        envelope(
            signer, 1, rules={"add": [extra], "disable": [disabled]}, approved_clients=[client]
        ),
        DEVICE,
        NOW,
    )
    catalogue = guard.effective().apply_to(load_builtin())
    ids = {r.id for r in catalogue.rules_for(Platform.LINUX)}
    assert "policy-extra-rule" in ids and disabled not in ids
    corp = [c for c in catalogue.clients_for(Platform.LINUX) if c.id == "corp-wechat-build"]
    assert corp and corp[0].packages == (("dpkg", "corp-wechat"),)


def test_policy_yara_exceptions_and_exec_blocking_reach_the_agent(
    keys: tuple[PolicySigner, Path], tmp_path: Path
) -> None:
    """The signed policy's YARA sources, finding exceptions and exec-blocking mode are what
    the engine and the exec guard run with (an agent that knows them applies them)."""
    signer, public = keys
    yara = {
        "name": "policy/extra.yar",
        "source": 'rule Policy_Extra { strings: $a = "x" condition: $a }',
    }
    exception = {
        "rule_id": "wechaty",
        "subject": "npm:wechaty:home/dev/node_modules/wechaty",
        "reason": {"zh": "开发测试机", "en": "developer test machine"},
        "expires": "2030-01-01T00:00:00+00:00",
        "granted_by": "it@example.com",
    }
    guard = guard_for(public, tmp_path)
    guard.accept(
        envelope(signer, 1, rules={"yara": [yara]}, exceptions=[exception], exec_blocking="audit"),
        DEVICE,
        NOW,
    )
    effective = guard.effective()
    assert effective.exec_blocking == "audit"
    catalogue = effective.apply_to(load_builtin())
    assert "policy/extra.yar" in dict(catalogue.yara_sources())
    assert [x.rule_id for x in catalogue.exceptions] == ["wechaty"]


def test_a_policy_exception_without_expiry_is_refused(
    keys: tuple[PolicySigner, Path], tmp_path: Path
) -> None:
    signer, public = keys
    open_ended = {"rule_id": "wechaty", "subject": "x", "reason": {"zh": "无", "en": "none"}}
    guard = guard_for(public, tmp_path)
    assert refused(guard, envelope(signer, 1, exceptions=[open_ended])) is Reason.MALFORMED


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "deleted", "older"])
def test_a_damaged_stored_policy_keeps_the_floor_and_the_mode(
    keys: tuple[PolicySigner, Path], tmp_path: Path, damage: str
) -> None:
    signer, public = keys
    guard = guard_for(public, tmp_path)
    assert guard.accept(envelope(signer, 1, enforcement="enforce"), DEVICE, NOW)
    old_document = guard.state_path.read_bytes()  # genuine, signed, version 1
    assert guard.accept(envelope(signer, 2, enforcement="enforce"), DEVICE, NOW)
    floor = guard.floor_path
    assert floor.parent == guard.state_path.parent and stat.S_IMODE(floor.stat().st_mode) == 0o600
    if damage == "corrupt":
        guard.state_path.write_bytes(b"\x00garbage{")
    elif damage == "truncated":
        guard.state_path.write_bytes(guard.state_path.read_bytes()[:40])
    elif damage == "deleted":
        guard.state_path.unlink()
    else:
        guard.state_path.write_bytes(old_document)

    restarted = guard_for(public, tmp_path)
    assert restarted.load(NOW) is None
    # Enforcement does not quietly drop to monitor, and the problem is visible.
    assert restarted.effective().enforcement == "enforce"
    status = restarted.status(NOW)
    assert status["policy_floor_version"] == 2 and status["policy_mode"] == "enforce"
    assert status["policy_store_problem"]
    # An older signed policy is still refused; the current one is taken again from the server.
    assert refused(restarted, envelope(signer, 1, enforcement="monitor")) is Reason.ROLLBACK
    assert restarted.accept(envelope(signer, 2, enforcement="enforce"), DEVICE, NOW)
    assert restarted.status(NOW)["policy_store_problem"] is None
    assert restarted.version == 2


def test_a_corrupt_floor_file_falls_back_to_the_stored_document(
    keys: tuple[PolicySigner, Path], tmp_path: Path
) -> None:
    signer, public = keys
    guard = guard_for(public, tmp_path)
    assert guard.accept(envelope(signer, 3), DEVICE, NOW)
    guard.floor_path.write_bytes(b"{not json")
    restarted = guard_for(public, tmp_path)
    assert restarted.load(NOW) is not None and restarted.version == 3
    assert restarted.status(NOW)["policy_store_problem"]  # said, not silent
    assert refused(restarted, envelope(signer, 2)) is Reason.ROLLBACK
    assert json.loads(restarted.floor_path.read_text())["version"] == 3  # repaired
