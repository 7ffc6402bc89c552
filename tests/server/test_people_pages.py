"""What IT and the security team read on the dashboard (issue 16): enrollment secrets, device
detail, report history and image previews, audit labels and filter, Chinese pages without raw
ids, and times in the viewer's zone."""

from __future__ import annotations

import html
import json
import re

from fastapi.testclient import TestClient
from sqlalchemy import update

from server.models import Device
from tests.server.conftest import Harness, iso
from tests.server.test_dashboard import audit_actions, csrf_of
from tests.server.test_findings import finding
from tests.server.test_reports import PNG, REPORT

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"


def file_report(harness: Harness, headers: dict[str, str]) -> int:
    created = harness.client.post(
        "/api/v1/reports",
        data={"report": json.dumps(REPORT)},
        files=[
            ("attachment", ("shot.png", PNG, "image/png")),
            ("attachment", ("letter.pdf", PDF, "application/pdf")),
        ],
        headers=headers,
    )
    assert created.status_code == 201, created.text
    return int(created.json()["case"].split("-")[1])


def test_enrollment_secrets_page_creates_once_lists_and_revokes(harness: Harness) -> None:
    harness.add_admin()
    harness.login()
    page = harness.client.get("/secrets")
    assert "No enrollment secret yet." in page.text and "<table" not in page.text
    made = harness.client.post(
        "/secrets",
        data={"csrf_token": csrf_of(page.text), "uses": "3", "days": "2", "label": "floor 3"},
    )
    secret = re.search(r'<code id="new-secret">([^<]+)</code>', made.text)
    assert secret, made.text
    # it works for an agent, and it is never shown again
    enrolled = harness.client.post(
        "/api/v1/enroll", json={"secret": secret.group(1), "hostname": "pc"}
    )
    assert enrolled.status_code == 201
    listing = harness.client.get("/secrets").text
    assert secret.group(1) not in listing
    row = re.search(r'<tr data-id="(\d+)">(.*?)</tr>', listing, re.S)
    assert row
    cells = re.findall(r"<td>(.*?)</td>", row.group(2), re.S)
    assert cells[1] == "floor 3" and cells[3] == "1 / 3" and cells[4] == "2"
    assert "active" in row.group(2) and "2026-03-04 09:00 UTC" in row.group(2)
    revoked = harness.client.post(
        f"/secrets/{row.group(1)}/revoke",
        data={"csrf_token": csrf_of(listing)},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    assert "revoked" in harness.client.get("/secrets").text
    again = harness.client.post(
        "/api/v1/enroll", json={"secret": secret.group(1), "hostname": "pc2"}
    )
    assert again.status_code in (401, 403)
    assert {"secret.create", "secret.revoke"} <= set(audit_actions(harness))


def test_device_page_tells_namesakes_apart_and_confirms_revoke(harness: Harness) -> None:
    harness.add_admin()
    one, two = harness.enroll("reception-pc"), harness.enroll("reception-pc")
    harness.client.post(
        "/api/v1/heartbeat",
        json={
            "agent_version": "1.5",
            "os": "Windows-10-10.0.22631-SP0",
            "users_seen": ["li.na", "wang.fang"],
        },
        headers=one.headers,
    )
    with harness.sessions.begin() as session:
        session.execute(
            update(Device).where(Device.id == one.device_id).values(machine_id="ab" * 32)
        )
    harness.login()
    page = harness.client.get(f"/devices/{one.device_id}").text
    assert "Windows 11 (build 22631)" in page
    assert "li.na, wang.fang" in page and "<code>abababababab</code>" in page
    assert f'href="/devices/{two.device_id}"' in page  # the other reception-pc, linked
    # empty sections say so instead of showing bare table headers
    assert "has not reported password status yet" in page
    assert "Nobody on this device has acknowledged a policy yet." in page
    assert "No reports." in page and "No findings." in page
    assert '<thead><tr><th scope="col">User' not in page
    # Revoke is a link to a confirmation page; a bare POST does not revoke
    assert f'href="/devices/{one.device_id}/revoke"' in page
    stray = harness.client.post(
        f"/devices/{one.device_id}/revoke",
        data={"csrf_token": csrf_of(page)},
        follow_redirects=False,
    )
    assert stray.status_code == 303 and stray.headers["location"].endswith("/revoke")
    assert "device.revoke" not in audit_actions(harness)
    confirm = harness.client.get(f"/devices/{one.device_id}/revoke").text
    assert "Revoke this device?" in confirm and "li.na" in confirm
    done = harness.client.post(
        f"/devices/{one.device_id}/revoke",
        data={"csrf_token": csrf_of(confirm), "confirm": "yes"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and "device.revoke" in audit_actions(harness)


def test_report_history_previews_and_one_view_per_visit(harness: Harness) -> None:
    harness.add_admin("alice")
    harness.add_admin("bob")
    device = harness.enroll("pc")
    report_id = file_report(harness, device.headers)
    harness.login()
    page = harness.client.get(f"/reports/{report_id}").text
    assert "Nothing has happened on this report yet." in page
    csrf = csrf_of(page)
    bob = re.search(r'<option value="(\d+)">bob</option>', page)
    assert bob
    for form in (
        {"action": "status", "status": "triaged"},
        {"action": "assign", "assignee": bob.group(1)},
        {"action": "reply", "body": "We are looking at it."},
    ):
        harness.clock.advance(minutes=1)
        r = harness.client.post(f"/reports/{report_id}", data={"csrf_token": csrf, **form})
        assert r.status_code == 200  # followed the redirect back to the page
    page = harness.client.get(f"/reports/{report_id}").text
    history = page.split('id="messages"')[1]
    assert "Status changed" in history and "new → triaged" in history
    assert "assigned to bob" in history and "We are looking at it." in history
    # a view is audited once, not again after each of the reader's own actions
    actions = audit_actions(harness)
    assert actions.count("report.view") == 1, actions
    # the PNG is previewed inline with its content type; the PDF is not
    assert f'src="/reports/{report_id}/attachments/1/preview"' in page
    assert f'src="/reports/{report_id}/attachments/2/preview"' not in page
    image = harness.client.get(f"/reports/{report_id}/attachments/1/preview")
    assert image.status_code == 200 and image.content == PNG
    assert image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in image.headers["content-security-policy"]
    assert image.headers["content-disposition"].startswith("inline")
    assert harness.client.get(f"/reports/{report_id}/attachments/2/preview").status_code == 404
    # the page's own CSP is intact: images only from the server itself
    csp = harness.client.get(f"/reports/{report_id}").headers["content-security-policy"]
    assert "img-src 'self' data:" in csp and "script-src" not in csp.replace("default-src", "")


def test_audit_trail_labels_and_filter(harness: Harness) -> None:
    harness.add_admin("alice")
    harness.add_admin("bob")
    device = harness.enroll("pc")
    report_id = file_report(harness, device.headers)
    harness.login()
    harness.client.get(f"/reports/{report_id}")
    page = harness.client.get("/audit").text
    assert "report viewed" in page and "logged in" in page and "device enrolled" in page
    assert ">report.view<" not in page  # labels, not raw ids
    only = harness.client.get("/audit?action=report.view").text
    body = only.split("<tbody>")[1]
    assert "report viewed" in body and "logged in" not in body
    nobody = harness.client.get("/audit?actor=admin:bob").text
    assert "No events match." in nobody
    harness.client.cookies.set("wxguard_lang", "zh")
    zh = harness.client.get("/audit").text
    assert "查看报告" in zh and "登录" in zh and "report viewed" not in zh


RAW_IDS = [
    "plugin-injection",
    "suspicious-message",
    "report.view",
    "admin.login",
    "device.enroll",
    "enterprise",
    "personal",
    "Injected plugin in WeChat",
    "non-compliant",
    "device:",
    "admin:",
]


def visible_text(page: str) -> str:
    """What a person reads: the page without scripts, styles, tags and attributes."""
    page = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_chinese_pages_show_no_raw_ids_and_local_time(harness: Harness) -> None:
    harness.add_admin()
    device = harness.enroll("pc")
    harness.client.post(
        "/api/v1/findings",
        json={"scanned_at": iso(harness.clock.now()), "findings": [finding("a")]},
        headers=device.headers,
    )
    harness.client.post(
        "/api/v1/password-status",
        json={"accounts": [{"user": "li.na", "account_type": "enterprise", "state": "ok"}]},
        headers=device.headers,
    )
    report_id = file_report(harness, device.headers)
    harness.login()
    harness.client.cookies.set("wxguard_lang", "zh")
    pages = [
        "/fleet",
        "/findings",
        "/findings/rule/rule.a",
        f"/devices/{device.device_id}",
        "/reports",
        f"/reports/{report_id}",
        "/compliance",
        "/audit",
        "/policy",
        "/secrets",
        "/accounts",
        "/account",
    ]
    for path in pages:
        page = harness.client.get(path)
        assert page.status_code == 200, path
        shown = visible_text(page.text)
        for raw in RAW_IDS:
            assert raw not in shown, (path, raw)
        # times are Beijing time, and the zone is named (START is 09:00 UTC = 17:00 UTC+8)
        assert "时间显示为 Asia/Shanghai（UTC+08:00）" in page.text, path
        assert " UTC</" not in page.text and "09:00 UTC" not in page.text, path
        # a label and its value: the full-width colon, never the ASCII one, in Chinese
        assert not re.search(r"[\u4e00-\u9fff]: ", shown), (
            path,
            re.findall(r".{12}[\u4e00-\u9fff]: .{8}", shown),
        )
    device_page = harness.client.get(f"/devices/{device.device_id}").text
    assert "2026-03-02 17:00 UTC+08:00" in device_page
    assert "设备：" in visible_text(device_page)
    assert "企业" in device_page and "微信中注入了插件" in device_page
    assert "插件注入" in harness.client.get("/findings").text


def test_times_follow_the_account_setting_then_the_browser(harness: Harness) -> None:
    harness.add_admin()
    device = harness.enroll("pc")
    harness.login()
    url = f"/devices/{device.device_id}"
    assert "2026-03-02 09:00 UTC" in harness.client.get(url).text  # English default: UTC
    harness.client.cookies.set("wxguard_tz", "Europe/Berlin")
    page = harness.client.get(url).text
    assert "2026-03-02 10:00 UTC+01:00" in page and "Europe/Berlin" in page
    harness.client.cookies.set("wxguard_tz", "Not/A_Zone")
    assert "2026-03-02 09:00 UTC" in harness.client.get(url).text
    account = harness.client.get("/account").text
    bad = harness.client.post(
        "/account/time-zone", data={"csrf_token": csrf_of(account), "time_zone": "Mars/Base"}
    )
    assert bad.status_code == 422 and "Unknown time zone" in bad.text
    harness.client.post(
        "/account/time-zone", data={"csrf_token": csrf_of(account), "time_zone": "Asia/Shanghai"}
    )
    assert "2026-03-02 17:00 UTC+08:00" in harness.client.get(url).text


def test_a_heartbeat_without_an_os_keeps_the_one_given_at_enrollment(harness: Harness) -> None:
    harness.add_admin()
    created = harness.client.post(
        "/api/v1/enroll",
        json={"secret": harness.secret(), "hostname": "pc", "os": "macOS-14.4.1-arm64-arm-64bit"},
    ).json()
    headers = {"Authorization": f"Bearer {created['device_token']}"}
    harness.client.post("/api/v1/heartbeat", json={"agent_version": "1"}, headers=headers)
    harness.login()
    assert "macOS 14.4.1 (arm64)" in harness.client.get(f"/devices/{created['device_id']}").text


def test_device_page_and_cli_show_the_serial_number(harness: Harness) -> None:
    """Same-named devices told apart by the serial printed on them (issue 16): the agent sends
    it at enrollment; the device page and its namesakes list show it, in both languages."""
    harness.add_admin()
    enrolled = []
    for i, serial in enumerate(("PF3ABCDE", "PF3XYZ12", "s" * 65)):
        agent = TestClient(harness.app, client=(f"10.0.9.{i}", 5000))  # not IP-throttled
        body = {"secret": harness.secret(), "hostname": "front-desk", "serial_number": serial}
        made = agent.post("/api/v1/enroll", json=body)
        if len(serial) > 64:
            assert made.status_code == 422, made.text  # over the protocol's limit
            continue
        assert made.status_code == 201, made.text
        enrolled.append(made.json()["device_id"])
    harness.login()
    page = harness.client.get(f"/devices/{enrolled[0]}").text
    serial = re.search(r'<dd id="device-serial">(.*?)</dd>', page, re.S)
    assert serial and "<code>PF3ABCDE</code>" in serial.group(1)
    assert "the hardware serial number printed on the machine" in serial.group(1)
    namesakes = re.search(r'<div class="card" id="namesakes">(.*?)</div>', page, re.S)
    assert namesakes and "Serial number <code>PF3XYZ12</code>" in namesakes.group(1)
    harness.client.cookies.set("wxguard_lang", "zh")
    zh = harness.client.get(f"/devices/{enrolled[0]}").text
    assert "序列号" in zh and "（印在机器上的硬件序列号）" in zh
