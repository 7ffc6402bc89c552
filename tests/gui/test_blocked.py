"""A program blocked at exec, as the employee meets it: a notification that names it and says
how to get it approved, the Blocked programs window (from the notification and the menu), and
"Request approval", which files an `approval-request` report with the block's facts and the
employee's reason. The incident form does not offer the agent's own categories."""

from __future__ import annotations

from PySide6.QtCore import Qt

from agent.exec_guard import Decision
from protocol import blocked
from tests.gui.test_translations import english_left, visible_texts

TITLE = {"zh": "聊天记录导出工具", "en": "chat database dumper"}


def _event(path: str = "/home/alice/Downloads/chat-export", mode: str = "block") -> dict:  # type: ignore[type-arg]
    decision = Decision(1795000000.0, 4242, path, "ab" * 32, "wechat-db-dumper", mode, 1000)
    data = decision.to_json(TITLE)
    data["user"] = "alice"
    return data


def test_a_blocked_program_is_explained_and_approval_can_be_requested(
    qtbot, make_tray, agent
) -> None:
    tray = make_tray()
    assert not tray.actions["blocked"].isVisible()  # nothing blocked yet
    agent.publish("exec-blocked", _event())
    qtbot.waitUntil(lambda: any(k.startswith("blocked:") for k, _, _ in tray.notifications))
    (_key, title, message) = next(n for n in tray.notifications if n[0].startswith("blocked:"))
    assert title == "blocked: chat-export"
    assert "chat database dumper" in message
    assert "Request approval" in message  # how to get it approved

    # The notification opens the window; the menu has it too.
    tray._on_message_clicked()
    w = tray.windows["blocked"]
    assert w.isVisible()
    assert tray.actions["blocked"].text() == "Blocked programs…"
    assert tray.actions["blocked"].isVisible()
    assert w.tree.topLevelItemCount() == 1
    row = w.tree.topLevelItem(0)
    assert [row.text(0), row.text(1), row.text(3)] == [
        "chat-export",
        "chat database dumper",
        "Blocked",
    ]
    assert w.request_button.isEnabled()
    qtbot.keyClicks(w.reason, "I need to export a customer's chat for a legal case.")
    qtbot.mouseClick(w.request_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(agent.called("submit_report")) == 1)
    category, summary, description, occurred, _account, _contact, files, _address = (
        agent.called("submit_report")
    )[0]
    assert category == "approval-request" and files == []
    assert summary == "Approval requested: chat-export (rule wechat-db-dumper)"
    assert occurred is not None and occurred.startswith("2026-11-18")
    fields = blocked.parse(description)
    assert fields == {
        "program": "chat-export",
        "path": "/home/alice/Downloads/chat-export",
        "sha256": "ab" * 32,
        "rule": "wechat-db-dumper",
        "mode": "block",
        "user": "alice",
        "pid": "4242",
        "reason": "I need to export a customer's chat for a legal case.",
    }
    qtbot.waitUntil(lambda: "Request sent" in w.outcome.text())
    assert w.tree.topLevelItem(0).text(3) == "Approval requested"
    assert not w.request_button.isEnabled()  # asked once

    # The same binary tried again is one line; an audit-mode one says it ran.
    agent.publish("exec-blocked", _event())
    agent.publish("exec-would-block", _event("/tmp/wx-multi", mode="audit"))
    qtbot.waitUntil(lambda: w.tree.topLevelItemCount() == 2)
    states = {w.tree.topLevelItem(i).text(0): w.tree.topLevelItem(i).text(3) for i in range(2)}
    assert states == {
        "chat-export": "Approval requested",
        "wx-multi": "Would be blocked (trial mode; it ran)",
    }


def test_the_incident_form_does_not_offer_the_agents_own_categories(qtbot, make_tray) -> None:
    d = make_tray().open_report()
    offered = {d.category.itemData(i) for i in range(d.category.count())}
    assert "unapproved-software" in offered
    assert not offered & {"exec-blocked", "approval-request"}


def test_the_request_is_shown_in_chinese(qtbot, make_tray, agent, settings) -> None:
    settings.setValue("language", "zh_CN")
    tray = make_tray()
    agent.publish("exec-blocked", _event())
    qtbot.waitUntil(lambda: bool(tray.blocked))
    w = tray.open_blocked()
    assert w.windowTitle() == "被阻止的程序"
    assert w.request_button.text() == "申请批准"
    assert w.tree.topLevelItem(0).text(1) == "聊天记录导出工具"
    title = next(n for n in tray.notifications if n[0].startswith("blocked:"))[1]
    assert title == "已阻止：chat-export"
    assert english_left(visible_texts(w)) == []
