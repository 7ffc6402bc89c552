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
    assert lines[1:] == ["    ↳ 2026-03-02: first", "      second \\x1b[2J"]


def test_failed_scan_text_escapes_the_error() -> None:
    """attack: `wxguard scan` printed a failed scan's error (an exception's text, which may
    name a file of the user's) raw to root's terminal."""
    summary = {"outcome": "failed", "error": f"OSError: [Errno 5] /home/bob/{HOSTILE}"}
    for lang in Lang:
        text = _scan_text(summary, lang)
        assert "\x1b" not in text and "\r" not in text and "\n" not in text
