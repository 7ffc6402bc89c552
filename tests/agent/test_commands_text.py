"""`wxguard status` and `wxguard reports` as text: what the agent and the server send (paths,
summaries, replies) cannot write terminal escapes or add lines."""

from __future__ import annotations

from agent.commands import _reports_text, _scan_text, _status_text
from checks.model import Lang

HOSTILE = "x\x1b]0;owned\x07\x1b[2J\nforged line\r"


def test_status_text_escapes_blind_spot_paths() -> None:
    status = {
        "agent_version": "1",
        "mode": "user",
        "compliant": False,
        "open_findings": 1,
        "blind_spots": [{"what": f"/home/bob/{HOSTILE}", "reason": HOSTILE}],
        "policy_store_problem": "malformed: stored policy: bad",
    }
    for lang in Lang:
        text = _status_text(status, lang)
        assert "\x1b" not in text and "\r" not in text and "\nforged" not in text
        # The blind spot stays on its one line, the last one.
        lines = text.splitlines()
        assert sum("forged line" in line for line in lines) == 1
        assert "forged line" in lines[-1] and "/home/bob/" in lines[-1]


def test_reports_text_escapes_summaries_and_keeps_reply_lines() -> None:
    items = [
        {
            "case": "WXG-000001",
            "state": "new",
            "category": "other",
            "created_at": 0,
            "summary": HOSTILE,
            "replies": [{"at": "2026-03-02", "body": "first\nsecond \x1b[2J"}],
        }
    ]
    text = _reports_text(items, Lang.EN)
    assert "\x1b" not in text and "\r" not in text
    lines = text.splitlines()
    # The administrator's reply keeps its lines, each indented under the report.
    assert lines[2:] == ["    ↳ 2026-03-02: first", "      second \\x1b[2J"]


def test_failed_scan_text_escapes_the_error() -> None:
    """attack: `wxguard scan` printed a failed scan's error (an exception's text, which may
    name a file of the user's) raw to root's terminal."""
    summary = {"outcome": "failed", "error": f"OSError: [Errno 5] /home/bob/{HOSTILE}"}
    for lang in Lang:
        text = _scan_text(summary, lang)
        assert "\x1b" not in text and "\r" not in text and "\n" not in text


# --- issue 16: every open action with its next step, words for people -------------------

import re  # noqa: E402
import subprocess  # noqa: E402

from protocol.device_state import (  # noqa: E402
    DeviceInputs,
    ScanOutcome,
    device_state,
    state_for_person,
)
from tests.conftest import script  # noqa: E402

GOOD_SCAN = DeviceInputs(last_scan=ScanOutcome.OK, scanned_at=1795000000.0)


def _agent_status(inputs: DeviceInputs, **extra: object) -> dict:  # type: ignore[type-arg]
    state = device_state(inputs)
    return {
        "agent_version": "0.2.0",
        "mode": "system",
        "state": str(state.state),
        "reasons": [r.to_json() for r in state.reasons],
        "state_inputs": inputs.to_json(),
        "last_scan": {"started_at": 1795000000.123456, "trigger": "startup", "outcome": "ok"},
        "enrolled": True,
        "server_reachable": False,
        "policy_mode": "monitor",
        "outbox_depth": {"report": 1, "findings": 0, "password-status": 0, "policy-ack": 0},
        **extra,
    }


def test_overdue_password_and_unconfirmed_policy_are_open_actions_with_next_steps() -> None:
    agent = _agent_status(
        DeviceInputs(
            last_scan=ScanOutcome.OK,
            scanned_at=GOOD_SCAN.scanned_at,
            policy_unacknowledged=True,
            policy_text_version="2026-11",
        )
    )
    person = state_for_person(
        agent, overdue_passwords=1, unrecorded_passwords=0, keyring_available=True
    )
    assert str(person.state) == "non-compliant"
    text = _status_text(agent, Lang.EN, [], person)
    assert "State: non-compliant" in text
    assert "Open actions (2):" in text
    assert "1 WeChat password overdue for a change." in text
    assert "Next step: Change it in WeChat, then record the change" in text
    assert "The current WeChat policy (version 2026-11) is not confirmed yet." in text
    assert 'Next step: Read and confirm it: the tray menu\'s "WeChat policy".' in text
    zh = _status_text(agent, Lang.ZH, [], person)
    assert "状态：不合规" in zh and "需要处理（2）：" in zh and "下一步：在微信中更改密码" in zh


def test_no_keyring_is_never_compliant_and_says_which_keyring() -> None:
    agent = _agent_status(GOOD_SCAN)
    person = state_for_person(agent, 0, 0, keyring_available=False)
    assert not person.compliant
    text = _status_text(agent, Lang.EN, [], person)
    assert "The system keyring is missing or locked" in text
    assert "Unlock your login keyring (GNOME Keyring or KWallet)" in text
    assert "install gnome-keyring" in text


def test_status_text_has_no_reprs_raw_ids_or_microseconds() -> None:
    agent = _agent_status(GOOD_SCAN)
    for lang in Lang:
        text = _status_text(agent, lang, [], state_for_person(agent, 0, 0, True))
        for raw in ("True", "False", "None", "{'", "enrolled:", "server_reachable", "monitor\n"):
            assert raw not in text, (raw, text)
        assert not re.search(r"\d\d:\d\d:\d\d\.\d", text), text
        assert "123456" not in text
    en = _status_text(agent, Lang.EN, [], None)
    assert re.search(r"Last check: +20\d\d-\d\d-\d\d \d\d:\d\d \w+ \(at start-up, finished\)", en)
    assert re.search(r"Enrolled with the server: +yes", en)
    assert re.search(r"Server reachable: +no", en)
    assert re.search(r"Policy mode: +monitor only", en)
    assert re.search(r"Waiting to be sent: +1 report\(s\)", en)
    zh = _status_text(agent, Lang.ZH, [], None)
    assert "已登记到服务器：" in zh and "是" in zh and "仅监控" in zh and "1 条报告" in zh
    # The values line up in one column.
    starts = {
        len(line) - len(line.split(":", 1)[1].lstrip())
        for line in en.splitlines()
        if line.startswith(("Last check:", "Enrolled", "Server reachable:", "Policy mode:"))
    }
    assert len(starts) == 1, en


def test_reports_text_has_headers_translated_states_and_aligned_columns() -> None:
    items = [
        {"case": "WXG-000012", "state": "triaged", "category": "data-leak",
         "created_at": 1795000000.5, "summary": "发错群了", "replies": []},
        {"case": None, "state": "queued", "category": "other",
         "created_at": 1795000100.0, "summary": "x", "replies": []},
    ]  # fmt: skip
    en = _reports_text(items, Lang.EN).splitlines()
    assert en[0].split() == ["Case", "State", "Category", "Filed", "Summary"]
    assert "being handled" in en[1] and "confidential information sent out" in en[1]
    assert en[2].startswith("pending ") and "queued on this computer" in en[2]
    assert en[1].index("being") == en[2].index("queued") == en[0].index("State")
    zh = _reports_text(items, Lang.ZH).splitlines()
    assert zh[0].split() == ["编号", "状态", "类别", "提交时间", "摘要"]
    assert "处理中" in zh[1] and "机密信息外发" in zh[1] and "triaged" not in "".join(zh)


def test_report_with_an_empty_description_is_a_clear_bilingual_error() -> None:
    run = subprocess.run(
        [script("wxguard"), "report", "--category", "other", "--description", ""],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run
    assert "Traceback" not in run.stderr
    assert "error: Say what happened with --description (it cannot be empty)." in run.stderr
    assert "错误：请用 --description 写明发生了什么" in run.stderr


def test_excepted_findings_read_as_excepted_with_group_expiry_and_reason() -> None:
    """IT's exception, as `wxguard status` shows it: not an open finding, but which group it
    was granted to (or this device), until when and why; a hostile reason stays on its line."""
    excepted = {
        "key": "k1",
        "rule_id": "wechatferry",
        "title_i18n": {"zh": "检测到 WeChatFerry", "en": "WeChatFerry detected"},
        "exception": {
            "reason": {"zh": "开发测试机", "en": f"developer test machine {HOSTILE}"},
            "expires": 1_900_000_000.0,
            "group": "研发测试机",
            "granted_by": "admin:alice",
        },
    }
    own = {**excepted, "exception": {**excepted["exception"], "group": ""}}  # type: ignore[dict-item]
    status = {"agent_version": "1", "mode": "system", "excepted": [excepted, own]}
    en = _status_text(status, Lang.EN)
    assert "Excepted by IT (2, not counted as open):" in en
    assert "WeChatFerry detected: excepted (group 研发测试机, until 20" in en
    assert "WeChatFerry detected: excepted (this device, until 20" in en
    assert "\x1b" not in en and "\nforged" not in en
    zh = _status_text(status, Lang.ZH)
    assert "检测到 WeChatFerry：" not in zh  # one separator style, the title then the exception
    assert "已例外（设备组 研发测试机，至 20" in zh and "理由：开发测试机）" in zh
    assert "已例外（本设备，至 " in zh
