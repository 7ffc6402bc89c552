"""The tray never contradicts itself (issue 16): "Action needed" lists every open action with
its next step, never "Nothing to fix"; a missing keyring is never a green "Compliant"."""

from __future__ import annotations

from datetime import timedelta

from tests.gui.conftest import recorded
from tests.gui.fake_agent import FINDING, POLICY, status


def test_overdue_password_and_unconfirmed_policy_are_listed_with_next_steps(
    qtbot, make_tray, agent, secrets, clock
) -> None:
    secrets.values.clear()
    recorded(secrets, (clock() - timedelta(days=120)).date(), accounts=("enterprise",))
    agent.set("status", status(compliant=True))
    agent.set("findings", [])
    agent.set("policy", dict(POLICY, text_version="2027-01", acknowledged_version="2026-11"))
    tray = make_tray()
    w = tray.open_status()
    qtbot.waitUntil(lambda: tray.state == "action", timeout=3000)
    qtbot.waitUntil(lambda: "confirm the new WeChat policy" in w.detail.toPlainText(), timeout=3000)
    text = w.detail.toPlainText()
    assert "Nothing to fix" not in text
    assert "Enterprise WeChat account" in text and "overdue" in text.lower()
    assert "Next step: Change it in WeChat, then record the change" in text
    assert "Read and confirm the new WeChat policy" in text
    assert "Next step: Open \u201cWeChat policy\u201d in the menu and confirm it." in text
    assert "need your attention" in w.summary.text()
    assert w.state_label.text() != "Compliant"


def test_missing_keyring_is_an_action_that_says_which_keyring(
    qtbot, make_tray, agent, secrets
) -> None:
    secrets.fail = RuntimeError("org.freedesktop.secrets was not provided")
    agent.set("status", status(compliant=True))
    tray = make_tray()
    w = tray.open_status()
    qtbot.waitUntil(lambda: tray.state == "action", timeout=3000)
    qtbot.waitUntil(lambda: "GNOME Keyring" in w.detail.toPlainText(), timeout=3000)
    assert "install gnome-keyring" in w.detail.toPlainText()
    assert "keyring is missing or locked" in tray.icon.toolTip()


def test_nothing_to_fix_only_when_nothing_is_open(qtbot, make_tray, agent) -> None:
    agent.set("status", status(compliant=True, state="compliant"))
    tray = make_tray()
    w = tray.open_status()
    qtbot.waitUntil(lambda: tray.state == "compliant" and bool(tray.policy), timeout=3000)
    assert "Nothing to fix" in w.detail.toPlainText() and tray.open_actions() == []


def test_findings_do_not_hide_the_other_open_actions(
    qtbot, make_tray, agent, secrets, clock
) -> None:
    secrets.values.clear()
    recorded(secrets, (clock() - timedelta(days=120)).date(), accounts=("enterprise",))
    agent.set("status", status(compliant=False))
    agent.set("findings", [FINDING])
    tray = make_tray()
    w = tray.open_status()
    qtbot.waitUntil(lambda: w.tree.topLevelItemCount() == 2, timeout=3000)
    qtbot.waitUntil(lambda: "3 things need your attention." in w.summary.text(), timeout=3000)
    todo = w.tree.topLevelItem(0)
    assert todo.text(0) == "What to do (3)"
    assert "WeChatFerry" in w.detail.toPlainText()  # the first finding is still shown first
    w.tree.setCurrentItem(todo)
    text = w.detail.toPlainText()
    assert "1 finding to fix" in text
    assert "Enterprise WeChat account" in text and "overdue" in text.lower()
    assert "Personal WeChat account" in text
    assert "Next step: Change it in WeChat, then record the change" in text
