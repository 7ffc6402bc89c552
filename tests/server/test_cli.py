"""`wxguard-server` end to end: init, admin, secrets, policy, listings, and a real server process."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from server.signing import load_public_key, verify
from tests.server.conftest import ADMIN_PASSWORD, LiveServer, cli, free_port, run_cli
from tests.server.test_policy import POLICY


@pytest.fixture
def data_dir(tmp_path: Path, fresh_db: list[str]) -> Path:
    data = tmp_path / "srv"
    out = cli(
        "init",
        "--data",
        str(data),
        *fresh_db,
        "--admin",
        "alice",
        "--password-stdin",
        stdin=ADMIN_PASSWORD + "\n",
    )
    assert "policy-public.pem" in out.stdout and ADMIN_PASSWORD not in out.stdout
    return data


def test_init_writes_keys_and_refuses_to_run_twice(data_dir: Path) -> None:
    assert (data_dir / "policy-public.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert (data_dir / "policy-private.pem").stat().st_mode & 0o077 == 0
    again = cli("init", "--data", str(data_dir), check=False)
    assert again.returncode == 2
    assert "已经初始化过了" in again.stderr and "already initialised" in again.stderr


def test_errors_are_bilingual_and_say_what_to_do(tmp_path: Path) -> None:
    missing = cli("secret", "create", "--data", str(tmp_path / "nowhere"), check=False)
    assert missing.returncode == 2
    assert "错误" in missing.stderr and "wxguard-server init" in missing.stderr
    short = cli(
        "init", "--data", str(tmp_path / "x"), "--password-stdin", stdin="short\n", check=False
    )
    assert short.returncode == 2 and "太短" in short.stderr and "too short" in short.stderr


def test_full_flow_through_a_real_server_process(data_dir: Path, tmp_path: Path) -> None:
    secret = run_cli(
        "secret", "create", "--data", str(data_dir), "--uses", "2", "--expires", "1h"
    ).stdout.strip()
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(POLICY), encoding="utf-8")
    assert "version 1" in cli("policy", "publish", "--data", str(data_dir), str(policy_file)).stdout
    bad = tmp_path / "bad.json"
    bad.write_text('{"enforcement": "nuke"}')
    refused = run_cli("policy", "publish", "--data", str(data_dir), str(bad), check=False)
    assert (
        refused.returncode == 2 and "策略无效" in refused.stderr and "enforcement" in refused.stderr
    )
    assert "account:  bob" in run_cli("admin", "add", "--data", str(data_dir), "bob").stdout

    server = LiveServer(data_dir, free_port())
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            enrolled = http.post("/api/v1/enroll", json={"secret": secret, "hostname": "pc-cli"})
            assert enrolled.status_code == 201
            headers = {"Authorization": f"Bearer {enrolled.json()['device_token']}"}
            beat = http.post("/api/v1/heartbeat", json={"agent_version": "2.0"}, headers=headers)
            assert beat.json()["policy_version"] == 1
            signed = http.get("/api/v1/policy", headers=headers).json()
            public = load_public_key((data_dir / "policy-public.pem").read_bytes())
            import base64

            assert verify(
                public, base64.b64decode(signed["payload"]), base64.b64decode(signed["signature"])
            )
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            finding = {
                "key": "k1",
                "status": "new",
                "rule_id": "wechatferry",
                "title": "WeChatFerry",
                "category": "bot-framework",
                "severity": "critical",
                "first_seen": now,
                "last_seen": now,
            }
            http.post(
                "/api/v1/findings", json={"scanned_at": now, "findings": [finding]}, headers=headers
            )
            report = {
                "idempotency_key": "cli-report-1",
                "category": "lost-device",
                "summary": "laptop lost",
            }
            case = http.post("/api/v1/reports", json=report, headers=headers).json()["case"]
    finally:
        server.stop()

    devices = json.loads(run_cli("devices", "--data", str(data_dir), "--format", "json").stdout)
    assert [d["hostname"] for d in devices] == ["pc-cli"] and devices[0]["agent_version"] == "2.0"
    findings = json.loads(run_cli("findings", "--data", str(data_dir), "--format", "json").stdout)
    assert findings[0]["rule_id"] == "wechatferry" and findings[0]["state"] == "open"
    reports = json.loads(run_cli("reports", "--data", str(data_dir), "--format", "json").stdout)
    # Later columns are added, never renamed: scripts read these keys.
    assert [
        {k: r[k] for k in reports[0] if k not in {"hostname", "updated_at"}} for r in reports
    ] == [
        {
            "case": case,
            "device_id": devices[0]["device_id"],
            "category": "lost-device",
            "status": "new",
            "summary": "laptop lost",
            "created_at": reports[0]["created_at"],
            "assignee": None,
            "attachments": 0,
            "contact_method": None,
            "contact_address": "",
        }
    ]


def test_it_lists_and_revokes_secrets_and_devices(data_dir: Path) -> None:
    """A secret that leaked is revoked: enrollments with it are refused, the other secret
    still works; a lost laptop's device is revoked: its token is refused from then on."""
    leaked = cli("secret", "create", "--data", str(data_dir), "--label", "leaked").stdout.strip()
    kept = cli("secret", "create", "--data", str(data_dir), "--label", "kept").stdout.strip()
    listed = json.loads(cli("secret", "list", "--data", str(data_dir), "--format", "json").stdout)
    assert [(s["label"], s["state"]) for s in listed] == [("leaked", "active"), ("kept", "active")]
    assert leaked not in json.dumps(listed) and kept not in json.dumps(listed)  # only hashes kept

    leaked_id = listed[0]["id"]
    out = cli("secret", "revoke", "--data", str(data_dir), str(leaked_id)).stdout
    assert "revoked" in out
    assert "already" in cli("secret", "revoke", "--data", str(data_dir), str(leaked_id)).stdout
    unknown = cli("secret", "revoke", "--data", str(data_dir), "999", check=False)
    assert (
        unknown.returncode == 2 and "secret list" in unknown.stderr and "注册密钥" in unknown.stderr
    )

    server = LiveServer(data_dir, free_port())
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            refused = http.post("/api/v1/enroll", json={"secret": leaked, "hostname": "evil"})
            assert refused.status_code in (401, 403)
            enrolled = http.post("/api/v1/enroll", json={"secret": kept, "hostname": "pc-lost"})
            assert enrolled.status_code == 201
            body = enrolled.json()
            headers = {"Authorization": f"Bearer {body['device_token']}"}
            assert (
                http.post(
                    "/api/v1/heartbeat", json={"agent_version": "2.0"}, headers=headers
                ).status_code
                == 200
            )

            out = cli("device", "revoke", "--data", str(data_dir), body["device_id"]).stdout
            assert "revoked" in out
            assert (
                http.post(
                    "/api/v1/heartbeat", json={"agent_version": "2.0"}, headers=headers
                ).status_code
                == 401
            )
    finally:
        server.stop()
    states = json.loads(cli("secret", "list", "--data", str(data_dir), "--format", "json").stdout)
    assert [s["state"] for s in states] == ["revoked", "used-up"]
    devices = json.loads(cli("devices", "--data", str(data_dir), "--format", "json").stdout)
    assert devices[0]["revoked"] is True
    missing = cli("device", "revoke", "--data", str(data_dir), "no-such-device", check=False)
    assert missing.returncode == 2 and "wxguard-server devices" in missing.stderr


def test_device_view_shows_the_state_why_and_the_password_and_policy_facts(
    data_dir: Path, tmp_path: Path
) -> None:
    """`wxguard-server device show HOST`: the dashboard's state with its reasons and next steps,
    each account's password age and each user's policy acknowledgement, as the agent reported
    them; in English and Chinese for people, JSON for scripts (issue 16)."""
    secret = run_cli("secret", "create", "--data", str(data_dir), "--uses", "3").stdout.strip()
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(POLICY), encoding="utf-8")
    cli("policy", "publish", "--data", str(data_dir), str(policy_file))
    cli("policy", "publish", "--data", str(data_dir), str(policy_file))  # current: version 2
    server = LiveServer(data_dir, free_port())
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            body = {"secret": secret, "hostname": "pc-state", "os": "Ubuntu 24.04"}
            enrolled = http.post("/api/v1/enroll", json=body).json()
            headers = {"Authorization": f"Bearer {enrolled['device_token']}"}
            http.post("/api/v1/heartbeat", json={"agent_version": "2.0"}, headers=headers)
            accounts = [
                {
                    "user": "alice",
                    "account_type": "enterprise",
                    "state": "overdue",
                    "last_changed": "2026-01-02",
                    "due_at": "2026-04-02",
                }
            ]
            sent = http.post(
                "/api/v1/password-status", json={"accounts": accounts}, headers=headers
            )
            assert sent.status_code == 200, sent.text
            ack = {"version": 1, "user": "alice", "acknowledged_at": "2026-11-01T09:00:00Z"}
            assert http.post("/api/v1/policy/ack", json=ack, headers=headers).status_code == 200
            # Another machine of the same name: the host name alone is then refused.
            body = {"secret": secret, "hostname": "pc-twin", "os": "Windows 11"}
            http.post("/api/v1/enroll", json=body)
            http.post("/api/v1/enroll", json=body)
    finally:
        server.stop()

    view = json.loads(
        run_cli("device", "show", "pc-state", "--data", str(data_dir), "--format", "json").stdout
    )
    assert view["device_id"] == enrolled["device_id"] and view["state"] == "non-compliant"
    codes = [r["code"] for r in view["reasons"]]
    assert "password-overdue" in codes and "never-scanned" in codes
    assert [(p["user"], p["state"]) for p in view["passwords"]] == [("alice", "overdue")]
    assert view["policy"]["current_version"] == 2
    assert [
        (a["user"], a["version"], a["current"]) for a in view["policy"]["acknowledgements"]
    ] == [("alice", 1, False)]
    en = run_cli("device", "show", "pc-state", "--data", str(data_dir), "--lang", "en").stdout
    for expected in (
        "State",
        "non-compliant",
        "1 WeChat password overdue",
        "Next step:",
        "alice  enterprise WeChat  overdue  last changed 2026-01-02, due 2026-04-02",
        "Keyring: not reported (an older tray or agent",
        "has not acknowledged the current version",
    ):
        assert expected in en, en
    assert "None" not in en and "{" not in en
    zh = run_cli("device", "show", "pc-state", "--data", str(data_dir), "--lang", "zh").stdout
    assert "不合规" in zh and "下一步：" in zh and "已过期" in zh and "non-compliant" not in zh
    twins = run_cli("device", "show", "pc-twin", "--data", str(data_dir), check=False)
    assert twins.returncode == 2 and "2 devices are called 'pc-twin'" in twins.stderr
    assert "有 2 台设备" in twins.stderr
