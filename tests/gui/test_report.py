"""Reporting an incident: validation, limits, confirmation of exactly what is sent, queued,
then the case number; My reports with replies; a change in a report is notified once."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from PySide6.QtCore import QDateTime, Qt

from agent.api import AgentError


def fill(qtbot, d, summary: str = "Strange login from another city") -> None:  # type: ignore[no-untyped-def]
    d.category.setCurrentIndex(d.category.findData("account-compromise"))
    qtbot.keyClicks(d.summary, summary)
    qtbot.keyClicks(d.description, "WeChat said my account logged in from Shenzhen.")
    d.account.setCurrentIndex(d.account.findData("enterprise"))
    qtbot.keyClicks(d.account_detail, "wxid_alice")
    d.contact.setCurrentIndex(d.contact.findData("email"))
    qtbot.keyClicks(d.contact_address, "alice@example.com")


def test_empty_form_is_refused_with_reasons(qtbot, make_tray, agent) -> None:
    tray = make_tray()
    d = tray.open_report()
    qtbot.mouseClick(d.next_button, Qt.MouseButton.LeftButton)
    assert d.pages.currentIndex() == 0
    assert "Choose what kind of incident" in d.error.text()
    assert "one-line summary" in d.error.text()
    assert agent.called("submit_report") == []


def test_limits_on_text_time_and_attachments(qtbot, make_tray, tmp_path: Path, clock) -> None:
    tray = make_tray()
    d = tray.open_report()
    fill(qtbot, d, summary="x" * 201)
    d.description.setPlainText("y" * 10_001)
    # The picker cannot go past now; a clock that moved back (or a typed value) is still refused.
    d.occurred.setMaximumDateTime(QDateTime(2030, 1, 1, 0, 0, 0))
    d.occurred.setDateTime(QDateTime(2026, 11, 25, 11, 0, 0))
    assert not d.review()
    assert "201 characters; the limit is 200" in d.error.text()
    assert "10001 characters; the limit is 10,000" in d.error.text()
    assert "cannot be in the future" in d.error.text()

    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (10 * 1024 * 1024 + 1))
    assert not d.add_file(big)
    assert "each attachment must be at most 10 MiB" in d.error.text()
    for i in range(5):
        f = tmp_path / f"f{i}.txt"
        f.write_text("log")
        assert d.add_file(f)
    extra = tmp_path / "f5.txt"
    extra.write_text("log")
    assert not d.add_file(extra)
    assert "At most 5 attachments" in d.error.text()
    assert d.files.count() == 5


def test_confirm_send_queued_then_case_number(qtbot, make_tray, agent, tmp_path: Path) -> None:
    log = tmp_path / "login.txt"
    log.write_text("login from 203.0.113.9")
    tray = make_tray()
    d = tray.open_report()
    fill(qtbot, d)
    d.occurred.setDateTime(QDateTime(2026, 11, 25, 8, 30, 0))
    assert d.add_file(log)
    qtbot.mouseClick(d.next_button, Qt.MouseButton.LeftButton)
    assert d.pages.currentIndex() == 1
    preview = d.preview.toPlainText()
    for expected in (
        "Category: Account stolen or suspicious login",
        "When: 2026-11-25 08:30 UTC+08:00",  # local time in words, not the wire value
        "Summary: Strange login from another city",
        "Affected account: Enterprise WeChat account (wxid_alice)",
        "Contact: By email (alice@example.com)",
        "Attachments: login.txt (1 KiB)",
        "WeChat said my account logged in from Shenzhen.",
    ):
        assert expected in preview
    assert "T08:30" not in preview and "enterprise:" not in preview
    qtbot.mouseClick(d.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: d.pages.currentIndex() == 2, timeout=3000)
    assert d.outcome.text().startswith("Queued.")
    (args,) = agent.called("submit_report")
    assert args[:6] == (
        "account-compromise",
        "Strange login from another city",
        "WeChat said my account logged in from Shenzhen.",
        "2026-11-25T08:30+08:00",
        "enterprise: wxid_alice",
        "email",
    )
    assert args[6] == [
        {"name": "login.txt", "content_b64": base64.b64encode(b"login from 203.0.113.9").decode()}
    ]
    assert args[7] == "alice@example.com"  # its own field; the description is as typed
    # Delivered: the agent publishes a report event and my_reports carries the case number.
    agent.reports[0].update(case="WXG-2026-0042", state="delivered")
    agent.set("my_reports", agent.reports)
    with qtbot.waitSignal(tray.notified, timeout=3000) as got:
        agent.publish("report", {"idempotency_key": "key-1"})
    qtbot.waitUntil(lambda: "WXG-2026-0042" in d.outcome.text(), timeout=3000)
    assert "Delivered" in d.outcome.text()
    assert got.args[1] == "Your incident report was received"  # its first news (issue 16)


def test_send_failure_keeps_the_report_for_retry(qtbot, make_tray, agent) -> None:
    agent.errors["submit_report"] = AgentError("outbox-full", "发件箱已满。", "The outbox is full.")
    tray = make_tray()
    d = tray.open_report()
    fill(qtbot, d)
    assert d.review()
    d.send_button.click()
    qtbot.waitUntil(lambda: "The outbox is full." in d.send_error.text(), timeout=3000)
    assert d.pages.currentIndex() == 1 and d.send_button.isEnabled()


def test_screenshot_is_attached(qtbot, make_tray) -> None:
    tray = make_tray()
    d = tray.open_report()
    d.attach_screenshot()
    qtbot.waitUntil(lambda: len(d.attachments) == 1 or bool(d.error.text()), timeout=3000)
    assert d.attachments, d.error.text()
    att = d.attachments[0]
    assert att.filename.startswith("screenshot-") and att.read().startswith(b"\x89PNG")
    assert d.isVisible()


def test_my_reports_shows_status_and_replies_and_notifies_once(qtbot, make_tray, agent) -> None:
    agent.set(
        "my_reports",
        [
            {
                "idempotency_key": "k9",
                "case": "WXG-2026-0007",
                "state": "triaged",
                "category": "suspicious-message",
                "summary": "Phishing link in group chat",
                "created_at": "2026-11-20T09:00:00+08:00",
                "replies": [
                    {"body": "Thanks, we blocked the domain.", "at": "2026-11-21T10:00:00+08:00"}
                ],
            }
        ],
    )
    tray = make_tray()
    w = tray.open_my_reports()
    qtbot.waitUntil(lambda: w.tree.topLevelItemCount() == 1, timeout=3000)
    item = w.tree.topLevelItem(0)
    assert item.text(0) == "WXG-2026-0007" and item.text(2) == "Being handled"
    assert item.child(0).text(1) == "Thanks, we blocked the domain."
    reports_notes = [n for n in tray.notifications if n[0].startswith("report:")]
    assert len(reports_notes) == 1 and "blocked the domain" in reports_notes[0][2]
    agent.publish("report", {})
    qtbot.wait(300)
    assert len([n for n in tray.notifications if n[0].startswith("report:")]) == 1


def test_my_reports_rows_read_as_chinese_in_chinese(qtbot, make_tray, agent, settings) -> None:  # type: ignore[no-untyped-def]
    """Category and summary are joined by the full-width colon in Chinese, not ": "."""
    settings.setValue("language", "zh_CN")
    agent.set(
        "my_reports",
        [
            {
                "idempotency_key": "k1",
                "case": "WXG-2026-0008",
                "state": "new",
                "category": "other",
                "summary": "手机丢了",
                "created_at": "2026-11-20T09:00:00+08:00",
                "replies": [],
            }
        ],
    )
    tray = make_tray()
    w = tray.open_my_reports()
    qtbot.waitUntil(lambda: w.tree.topLevelItemCount() == 1, timeout=3000)
    assert w.tree.topLevelItem(0).text(1) == "其他：手机丢了"


def test_refresh_asks_the_agent_to_ask_the_server(qtbot, make_tray, agent) -> None:  # type: ignore[no-untyped-def]
    """The Refresh button is not a re-read of the agent's cache: it asks the agent to ask the
    server now (issue 11); the answers come back as `report` events."""
    from PySide6.QtWidgets import QPushButton

    tray = make_tray()
    w = tray.open_my_reports()
    button = next(b for b in w.findChildren(QPushButton) if b.text() == "Refresh")
    button.click()
    qtbot.waitUntil(lambda: len(agent.called("refresh")) == 1, timeout=3000)


def test_the_form_states_the_protocols_limits(qtbot, make_tray, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The hints and refusals name the limits of protocol/limits.py, not copies of them: a
    changed limit changes what the employee reads."""
    import gui.report_dialog as rd
    from protocol import limits

    tray = make_tray()
    d = tray.open_report()
    assert d.summary.placeholderText() == f"One line, up to {limits.MAX_SUMMARY:,} characters"
    assert f"up to {limits.MAX_DESCRIPTION:,} characters" in d.description.placeholderText()
    monkeypatch.setattr(rd, "MAX_SUMMARY", 150)
    monkeypatch.setattr(rd, "MAX_DESCRIPTION", 5000)
    d.close()
    d = tray.open_report()
    assert d.summary.placeholderText() == "One line, up to 150 characters"
    assert "up to 5,000 characters" in d.description.placeholderText()
    fill(qtbot, d, summary="x" * 151)
    d.description.setPlainText("y" * 5001)
    assert not d.review()
    assert "151 characters; the limit is 150" in d.error.text()
    assert "5001 characters; the limit is 5,000" in d.error.text()


def test_my_reports_has_a_detail_view_with_the_whole_conversation(qtbot, make_tray, agent) -> None:
    """Issue 16: the list cut case numbers, status and replies; the detail shows them whole."""
    long_reply = "Thank you. We blocked the link for everyone.\nPlease change your password today."
    agent.set(
        "my_reports",
        [
            {
                "idempotency_key": "k-9",
                "case": "WXG-2026-000123",
                "state": "triaged",
                "category": "suspicious-message",
                "summary": "A link asking for my WeChat password",
                "created_at": 1795000000.0,
                "replies": [{"at": 1795003600.0, "body": long_reply}],
            }
        ],
    )
    tray = make_tray()
    w = tray.open_my_reports()
    qtbot.waitUntil(lambda: "WXG-2026-000123" in w.detail.toPlainText(), timeout=3000)
    text = w.detail.toPlainText()
    assert "Case WXG-2026-000123" in text
    assert "Status: Being handled" in text
    assert "Category: Suspicious message or link" in text
    assert "Conversation with the security team" in text
    assert "We blocked the link for everyone." in text
    assert "Please change your password today." in text


def test_contact_address_field_follows_the_method_and_is_checked(qtbot, make_tray, agent) -> None:
    """The address or number has its own field, shown for the methods that take one, checked
    before review in the tray's language; switching methods loses nothing already typed."""
    tray = make_tray()
    d = tray.open_report()
    d.show()
    # The default (enterprise WeChat) asks for nothing: its ID is optional.
    assert d.contact.currentData() == "wechat" and d.contact_address.isVisible()
    assert d.contact_address.placeholderText() == "Optional"
    fill(qtbot, d)
    typed = (d.summary.text(), d.description.toPlainText())
    assert d.contact_address.isVisible() and d.contact_address_label.text() == "Email address"

    d.contact_address.setText("alice at example")
    assert not d.review()
    assert d.pages.currentIndex() == 0
    assert "does not look like an email address" in d.error.text()
    assert (d.summary.text(), d.description.toPlainText()) == typed  # nothing lost

    d.contact.setCurrentIndex(d.contact.findData("phone"))
    assert d.contact_address_label.text() == "Phone number"
    d.contact_address.setText("138-0013")  # 7 digits: fine
    d.contact_address.setText("phone me")
    assert not d.review()
    assert "only digits, spaces and '-'" in d.error.text()
    d.contact_address.setText("+86 138 0013 8000")

    d.contact.setCurrentIndex(d.contact.findData("none"))
    assert not d.contact_address.isVisible()  # hidden, not cleared, and not sent
    assert d.contact_address.text() == "+86 138 0013 8000"
    assert d.payload()["contact_address"] == ""
    d.contact.setCurrentIndex(d.contact.findData("phone"))
    assert d.contact_address.isVisible() and d.contact_address.text() == "+86 138 0013 8000"

    assert d.review()
    assert "Contact: By phone (+86 138 0013 8000)" in d.preview.toPlainText()
    d.send_button.click()
    qtbot.waitUntil(lambda: d.pages.currentIndex() == 2, timeout=3000)
    (args,) = agent.called("submit_report")
    assert args[2] == typed[1] and args[5] == "phone" and args[7] == "+86 138 0013 8000"


def test_contact_error_is_in_chinese_for_a_chinese_tray(qtbot, make_tray) -> None:
    tray = make_tray()
    tray.set_language("zh_CN")
    d = tray.open_report()
    d.show()
    fill(qtbot, d)
    d.contact_address.clear()
    assert not d.review()
    assert "请填写邮箱地址" in d.error.text()
    assert d.contact_address_label.text() == "邮箱地址"


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Contact: By phone (+86 138 0013 8000)"),
        ("zh_CN", "联系方式：通过电话（+86 138 0013 8000）"),
    ],
)
def test_my_reports_detail_shows_the_contact_details_given(  # type: ignore[no-untyped-def]
    qtbot, make_tray, agent, settings, language, expected
) -> None:
    """The detail view shows how the employee asked to be contacted, labelled, in the tray's
    language (issue 16): the method in words and the number they typed."""
    settings.setValue("language", language)
    agent.set(
        "my_reports",
        [
            {
                "idempotency_key": "k3",
                "case": "WXG-2026-0009",
                "state": "new",
                "category": "lost-device",
                "summary": "Laptop left on the train",
                "created_at": 1795000000.0,
                "replies": [],
                "contact_method": "phone",
                "contact_address": "+86 138 0013 8000",
            }
        ],
    )
    tray = make_tray()
    w = tray.open_my_reports()
    qtbot.waitUntil(lambda: w.tree.topLevelItemCount() == 1, timeout=3000)
    qtbot.waitUntil(lambda: "WXG-2026-0009" in w.detail.toPlainText(), timeout=3000)
    assert expected in w.detail.toPlainText().splitlines()
