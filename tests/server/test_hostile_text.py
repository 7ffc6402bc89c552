"""Text devices and employees control (host names, report summaries, evidence paths) cannot
write terminal escapes or forge lines in `wxguard-server` listings, and cannot reorder or hide
text in the dashboard."""

from __future__ import annotations

import json

from tests.server.conftest import Harness, cli, iso

RLO = "\u202e"
# Retitles the terminal, clears it, then forges a line of the listing.
ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[1;1H\nREP-0000  new  forged"
HOSTNAME = f"pc-{RLO}gnp.exe"
PATH = f"/home/alice/e{RLO}gnp.exe"


def _seed(h: Harness) -> str:
    device = h.enroll(HOSTNAME)
    now = iso(h.clock.now())
    finding = {
        "key": "k1",
        "status": "new",
        "rule_id": "wechatferry",
        "title": "WeChatFerry",
        "category": "bot-framework",
        "severity": "critical",
        "subject": PATH,
        "evidence": [{"kind": "file", "matched": f"name e{RLO}gnp.exe", "path": PATH}],
        "first_seen": now,
        "last_seen": now,
    }
    sent = h.client.post(
        "/api/v1/findings",
        json={"scanned_at": now, "findings": [finding]},
        headers=device.headers,
    )
    assert sent.status_code == 200, sent.text
    report = {
        "idempotency_key": "hostile-1",
        "category": "other",
        "summary": f"lost {ESCAPES} e{RLO}gnp.exe",
        "description": f"line one\nsee e{RLO}gnp.exe\u200b here",
        "reporter": f"bob{RLO}",
    }
    created = h.client.post("/api/v1/reports", json=report, headers=device.headers)
    assert created.status_code == 201, created.text
    return device.device_id


def test_server_listings_print_no_escape_and_one_line_per_row(harness: Harness) -> None:
    _seed(harness)
    data = ["--data", str(harness.settings.data_dir)]
    db = ["--database-url", harness.settings.database_url]
    for command in ("reports", "devices", "findings"):
        out = cli(command, *data, *db).stdout  # the real command, in its own process
        assert "\x1b" not in out and "\x07" not in out and RLO not in out, (command, out)
        assert len(out.splitlines()) == 1, (command, out)
    reports = cli("reports", *data, *db).stdout
    assert "\\x1b]0;owned\\x07\\x1b[2J" in reports and "\\nREP-0000" in reports
    # JSON keeps the exact text for scripts (JSON escapes control characters itself).
    exact = json.loads(cli("reports", *data, *db, "--format", "json").stdout)
    assert exact[0]["summary"] == f"lost {ESCAPES} e{RLO}gnp.exe"


def test_dashboard_shows_bidi_and_zero_width_characters(harness: Harness) -> None:
    device_id = _seed(harness)
    harness.add_admin()
    client = harness.login()
    reports = client.get("/reports")
    assert reports.status_code == 200
    report_path = next(
        part.split('"')[0]
        for part in reports.text.split('href="')[1:]
        if part.startswith("/reports/") and part.split('"')[0].rstrip("/").split("/")[-1].isdigit()
    )
    pages = {
        "fleet": client.get("/fleet").text,
        "device": client.get(f"/devices/{device_id}").text,
        "findings": client.get("/findings/rule/wechatferry").text,
        "reports": reports.text,
        "report": client.get(report_path).text,
    }
    for name, html in pages.items():
        assert RLO not in html and "\u200b" not in html and "\x1b" not in html, name
    shown = "e&lt;U+202E&gt;gnp.exe"
    assert "pc-&lt;U+202E&gt;gnp.exe" in pages["fleet"]
    assert shown in pages["device"] and shown in pages["findings"]
    assert shown in pages["report"] and "&lt;U+200B&gt;" in pages["report"]
    assert "bob&lt;U+202E&gt;" in pages["report"]
    assert "&lt;U+001B&gt;]0;owned" in pages["report"]
