"""Notifications and feedback an employee sees (issue 16): the icon fits the news, a finding
that comes back is told again, "Check now" answers, a report's first news is "received", a
snooze says when the reminder comes, and with no keyring nothing pretends to work."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import Qt

from tests.gui.conftest import recorded
from tests.gui.fake_agent import FINDING, started_again, status


def test_first_finding_balloon_uses_the_action_icon_not_the_green_check(
    qtbot, make_tray, agent
) -> None:
    tray = make_tray()
    qtbot.waitUntil(lambda: tray.state == "compliant", timeout=3000)
    agent.set("status", status(compliant=False))
    agent.set("findings", [FINDING])
    agent.publish("finding-new", dict(FINDING))
    qtbot.waitUntil(
        lambda: any(k.startswith("finding:") for k, *_ in tray.notifications), timeout=3000
    )
    index = next(i for i, n in enumerate(tray.notifications) if n[0].startswith("finding:"))
    assert tray.notifications[index][1] == "New finding: Critical"
    assert tray.notification_looks[index] == "action"


def test_a_finding_that_returns_after_being_resolved_is_told_again(qtbot, make_tray, agent) -> None:
    agent.set("status", status(compliant=False))
    agent.set("findings", [FINDING])
    tray = make_tray()
    key = f"finding:{FINDING['key']}"
    qtbot.waitUntil(lambda: any(n[0] == key for n in tray.notifications), timeout=3000)
    agent.set("status", status(compliant=True))
    agent.set("findings", [])
    agent.publish("finding-resolved", {"key": FINDING["key"]})
    qtbot.waitUntil(lambda: key not in tray.seen, timeout=3000)
    agent.set("status", status(compliant=False))
    agent.set("findings", [FINDING])
    agent.publish("finding-new", dict(FINDING))
    qtbot.waitUntil(lambda: sum(n[0] == key for n in tray.notifications) == 2, timeout=3000)


def test_check_now_from_the_menu_says_how_it_ended(qtbot, make_tray, agent) -> None:
    agent.set("scan_now", {"findings": 0, "outcome": "ok"})
    tray = make_tray()
    qtbot.waitUntil(lambda: tray.state == "compliant", timeout=3000)
    tray.actions["check"].trigger()
    qtbot.waitUntil(lambda: any(n[1] == "Check finished" for n in tray.notifications), timeout=3000)
    done = [n for n in tray.notifications if n[1] == "Check finished"][-1]
    assert done[2] == "No unapproved WeChat software was found."


def test_first_news_of_a_filed_report_says_received(qtbot, make_tray, agent) -> None:
    report = {
        "idempotency_key": "k-1",
        "case": "WXG-000042",
        "state": "new",
        "category": "other",
        "summary": "phishing link",
        "created_at": 1795000000.0,
        "replies": [],
    }
    agent.set("my_reports", [report])
    tray = make_tray()
    qtbot.waitUntil(
        lambda: any(n[0].startswith("report:k-1") for n in tray.notifications), timeout=3000
    )
    first = next(n for n in tray.notifications if n[0].startswith("report:k-1"))
    assert first[1] == "Your incident report was received"
    agent.set("my_reports", [dict(report, state="triaged")])
    agent.publish("report", {})
    qtbot.waitUntil(
        lambda: any(n[0] == "report:k-1:triaged:0" for n in tray.notifications), timeout=3000
    )
    assert tray.notifications[-1][1] == "Your incident report was updated"


def test_snooze_says_when_the_reminder_comes(qtbot, make_tray, secrets, clock) -> None:
    secrets.values.clear()
    recorded(secrets, clock().date() - timedelta(days=85), accounts=("enterprise",))
    tray = make_tray()
    d = tray.open_password()
    qtbot.waitUntil(lambda: d.rows["enterprise"]["snooze"][0].isVisible(), timeout=3000)
    qtbot.mouseClick(d.rows["enterprise"]["snooze"][0], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: (
            "We will remind you on 2026-11-26 09:00." in d.rows["enterprise"]["snooze_note"].text()
        ),
        timeout=3000,
    )


def test_without_a_keyring_the_dialog_says_what_to_do_and_disables_its_buttons(
    qtbot, make_tray, secrets
) -> None:
    secrets.fail = RuntimeError("no secure backend: keyring.backends.fail.Keyring")
    tray = make_tray()
    d = tray.open_password()
    qtbot.waitUntil(lambda: "gnome-keyring" in d.error.text(), timeout=3000)
    assert "keyring.backends" not in d.error.text()
    for row in d.rows.values():
        assert not row["record"].isEnabled()
        assert not row["no_expiry"].isEnabled()
        assert not any(b.isEnabled() for b in row["snooze"])


def test_without_a_keyring_the_tray_tells_the_agent_once(qtbot, make_tray, agent, secrets) -> None:  # type: ignore[no-untyped-def]
    """IT learns that this person's keyring cannot be opened (issue 16): the tray reports
    every account as unknown with keyring_available False, once; a working keyring later is
    reported as available with the real states."""
    secrets.fail = RuntimeError("no secure backend: keyring.backends.fail.Keyring")
    tray = make_tray()
    qtbot.waitUntil(lambda: bool(agent.called("report_password_status")), timeout=3000)
    accounts, keyring = agent.called("report_password_status")[0]
    assert keyring is False
    assert {a["state"] for a in accounts} == {"unknown"} and len(accounts) == 2
    tray.passwords.reload()
    qtbot.wait(300)
    assert len(agent.called("report_password_status")) == 1  # said once
    secrets.fail = None
    tray.passwords.reload()
    qtbot.waitUntil(lambda: len(agent.called("report_password_status")) == 2, timeout=3000)
    assert agent.called("report_password_status")[1][1] is True


def test_a_change_recorded_from_the_cli_shows_in_the_tray(
    qtbot, make_tray, agent, secrets, clock
) -> None:
    secrets.values.clear()
    tray = make_tray()
    qtbot.waitUntil(
        lambda: (
            tray.passwords.statuses.get("enterprise") is not None
            and tray.passwords.statuses["enterprise"].state == "unknown"
        ),
        timeout=3000,
    )
    # `wxguard password changed` writes the same keyring, then the agent tells the tray.
    recorded(secrets, clock().date(), accounts=("enterprise",))
    agent.publish("passwords", {"accounts": 2})
    qtbot.waitUntil(lambda: tray.passwords.statuses["enterprise"].state == "ok", timeout=3000)
    assert "Enterprise WeChat account" not in tray.icon.toolTip()


def test_a_program_started_again_is_told_at_once_but_once_a_minute_per_finding(
    qtbot, make_tray, agent, clock
) -> None:
    """`finding-seen` (an open finding's program started again): a notification at once; a
    program restarted in a loop gives one per finding per minute, not one per start."""
    agent.set("status", status(compliant=False))
    agent.set("findings", [FINDING])
    tray = make_tray()
    key = f"finding:{FINDING['key']}"
    qtbot.waitUntil(lambda: any(n[0] == key for n in tray.notifications), timeout=3000)

    def told() -> list[tuple[str, str, str]]:
        return [n for n in tray.notifications if n[0].startswith("finding-again:")]

    agent.publish("finding-seen", started_again(4242))
    qtbot.waitUntil(lambda: len(told()) == 1, timeout=3000)
    _, title, message = told()[0]
    assert title == "Started again: Critical"
    assert message.startswith(FINDING["title_i18n"]["en"])
    assert "wcf.exe was started again" in message
    for pid in range(4243, 4253):  # ten more starts within the minute
        agent.publish("finding-seen", started_again(pid))
    other = dict(FINDING, key="0123456789abcdef01234567")
    agent.publish("finding-seen", started_again(5000, other))  # another finding: its own
    qtbot.waitUntil(lambda: len(told()) == 2, timeout=3000)
    qtbot.wait(300)
    assert [n[0] for n in told()] == [
        f"finding-again:{FINDING['key']}",
        f"finding-again:{other['key']}",
    ]
    clock.advance(seconds=61)
    agent.publish("finding-seen", started_again(4300))
    qtbot.waitUntil(lambda: len(told()) == 3, timeout=3000)
