"""The tray icon: states, tooltips, menu, agent down and back, notifications not repeated."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QSystemTrayIcon

from gui import icons
from tests.gui.fake_agent import FINDING, status


def test_icon_states_are_visually_distinct(qapp, artifacts) -> None:
    images = {s: icons.pixmap(s, 32).toImage() for s in icons.STATES}
    strip = QPixmap(64 * len(icons.STATES), 64)
    strip.fill(QColor("white"))
    painter = QPainter(strip)
    for i, state in enumerate(icons.STATES):
        painter.drawPixmap(64 * i, 0, icons.pixmap(state, 64))
    painter.end()
    assert strip.save(str(artifacts / "tray-icons.png"))
    for a in icons.STATES:
        for b in icons.STATES:
            if a < b:
                assert images[a] != images[b], f"{a} and {b} look the same"


def test_compliant_state_and_tooltip(qtbot, make_tray, agent) -> None:
    tray = make_tray()
    qtbot.waitUntil(lambda: tray.state == "compliant", timeout=3000)
    assert tray.icon.toolTip().startswith("wxguard — Compliant")
    assert tray.icon.isVisible()


def test_findings_make_action_needed_with_count_in_tooltip(qtbot, make_tray, agent) -> None:
    agent.set("status", status(compliant=False))
    agent.set("findings", [FINDING])
    tray = make_tray()
    qtbot.waitUntil(lambda: tray.state == "action", timeout=3000)
    assert "Action needed" in tray.icon.toolTip()
    assert "1 finding to fix" in tray.icon.toolTip()


def test_server_unreachable_is_offline(qtbot, make_tray, agent, secrets) -> None:
    agent.set("status", status(enrolled=True, server_reachable=False, last_contact=1795000000.0))
    tray = make_tray()
    tray.passwords.record_change("enterprise", tray.clock().date())
    tray.passwords.record_change("personal", tray.clock().date())
    qtbot.waitUntil(lambda: tray.state == "offline", timeout=3000)
    assert "Offline" in tray.icon.toolTip()
    assert "Last contact" in tray.icon.toolTip()


def test_menu_offers_every_entry(qtbot, make_tray) -> None:
    tray = make_tray()
    # "Blocked programs…" appears once the agent has blocked something (tests/gui/test_blocked.py).
    texts = [a.text() for a in tray.menu.actions() if not a.isSeparator() and a.isVisible()]
    assert texts == [
        "Open wxguard status",
        "Check now",
        "Findings and how to fix them",
        "Record a WeChat password change…",
        "Report a security incident…",
        "My reports",
        "WeChat policy",
        "What wxguard collects",
        "Settings…",
        "About wxguard",
        "Quit the tray (checks keep running)",
    ]


def test_left_click_opens_status_window(qtbot, make_tray) -> None:
    tray = make_tray()
    tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    w = tray.windows["status"]
    qtbot.waitUntil(w.isVisible, timeout=2000)


def test_agent_down_keeps_icon_and_recovers(qtbot, make_tray, agent) -> None:
    agent.go_down()
    tray = make_tray()
    qtbot.waitUntil(lambda: tray.state == "agent-down", timeout=3000)
    assert tray.icon.isVisible()
    assert "Agent not running" in tray.icon.toolTip()
    assert not tray.actions["check"].isEnabled()
    w = tray.open_status()
    assert "not running" in w.state_label.text()
    reported = len(agent.called("report_password_status"))
    agent.come_up()
    qtbot.waitUntil(lambda: tray.state == "compliant", timeout=5000)
    assert tray.icon.isVisible()
    assert tray.actions["check"].isEnabled()
    # The password states are sent again to the agent that just came (back) up.
    qtbot.waitUntil(lambda: len(agent.called("report_password_status")) > reported, timeout=3000)


def test_agent_dies_while_running(qtbot, make_tray, agent) -> None:
    tray = make_tray()
    qtbot.waitUntil(lambda: tray.state == "compliant", timeout=3000)
    agent.go_down()
    qtbot.waitUntil(lambda: tray.state == "agent-down", timeout=3000)
    assert tray.icon.isVisible()


def test_new_finding_event_notifies_once(qtbot, make_tray, agent, settings) -> None:
    tray = make_tray()
    qtbot.waitUntil(lambda: tray.state == "compliant", timeout=3000)
    agent.set("status", status(compliant=False))
    agent.set("findings", [FINDING])
    with qtbot.waitSignal(tray.notified, timeout=3000) as blocker:
        agent.publish(
            "finding-new",
            {
                "key": FINDING["key"],
                "rule_id": "wechatferry",
                "severity": "critical",
                "title_i18n": FINDING["title_i18n"],
            },
        )
    assert blocker.args[1] == "New finding: Critical"
    assert "WeChatFerry" in blocker.args[2]
    qtbot.waitUntil(lambda: tray.state == "action", timeout=3000)
    # The findings refresh that follows must not repeat it; nor a restarted tray.
    count = len(tray.notifications)
    tray.stop()
    tray2 = make_tray()
    qtbot.waitUntil(lambda: tray2.state == "action", timeout=3000)
    qtbot.wait(200)
    assert not [n for n in tray.notifications[count:] + tray2.notifications if "finding:" in n[0]]


def test_each_menu_entry_opens_its_window_and_quit_leaves_the_agent(
    qtbot, make_tray, agent
) -> None:
    tray = make_tray()
    opens = {
        "status": "status",
        "findings": "status",
        "password": "password",
        "report": "report",
        "my-reports": "my-reports",
        "policy": "policy",
        "collects": "collects",
        "settings": "settings",
        "about": "about",
    }
    for action, window in opens.items():
        tray.actions[action].trigger()
        qtbot.waitUntil(
            lambda w=window: w in tray.windows and tray.windows[w].isVisible(), timeout=2000
        )
        tray.windows[window].close()
    tray.actions["check"].trigger()
    qtbot.waitUntil(lambda: len(agent.called("scan_now")) == 1, timeout=2000)
    with qtbot.waitSignal(tray.quit_requested, timeout=1000):
        tray.actions["quit"].trigger()
    assert not tray.icon.isVisible()
    assert not [
        c
        for c in agent.calls
        if c[0]
        not in {
            "hello",
            "status",
            "findings",
            "policy",
            "my_reports",
            "scan_now",
            "report_password_status",
        }
    ]


def test_fake_agent_matches_the_protocol() -> None:
    import inspect

    from agent.api import AgentAPI
    from tests.gui.fake_agent import FakeAgent

    for name, member in inspect.getmembers(AgentAPI, inspect.isfunction):
        if name.startswith("_"):
            continue
        ours = getattr(FakeAgent, name)
        assert list(inspect.signature(ours).parameters) == list(
            inspect.signature(member).parameters
        ), name


def test_an_agent_without_an_operation_does_not_stop_the_others(qtbot, make_tray, agent) -> None:
    class OldAgent:
        """An agent from before the report/policy operations existed."""

        def __init__(self, inner):  # type: ignore[no-untyped-def]
            self.hello, self.status, self.findings = inner.hello, inner.status, inner.findings
            self.scan_now, self.wait_events = inner.scan_now, inner.wait_events

    tray = make_tray(start=False)
    tray.bridge.agent = OldAgent(agent)
    tray.pump.agent = tray.bridge.agent
    tray.start()
    qtbot.waitUntil(lambda: tray.policy_error is not None, timeout=3000)
    qtbot.waitUntil(lambda: tray.state == "compliant", timeout=3000)
    w = tray.open_policy()
    assert "第十九条" in w.text.toPlainText()  # the shipped default text


def _blind_status() -> dict:  # type: ignore[type-arg]
    """What the agent says after a scan that failed: its state from the shared function."""
    from protocol.device_state import DeviceInputs, ScanOutcome, device_state

    verdict = device_state(
        DeviceInputs(
            last_scan=ScanOutcome.FAILED,
            scanned_at=1795000000.0,
            scan_error="OperationalError: database is locked",
        )
    )
    return status(compliant=False, open_findings=0, by_severity={}, **verdict.to_json())


def test_blind_or_unknown_agent_is_never_shown_compliant(qtbot, make_tray, agent) -> None:
    """Issue 10: no findings after a failed check is not "Compliant" (icon, tooltip, window)."""
    agent.set("status", _blind_status())
    tray = make_tray()
    qtbot.waitUntil(lambda: tray.state == "action", timeout=3000)
    tip = tray.icon.toolTip()
    assert "Compliant" not in tip and "The last check failed" in tip, tip
    assert "finding(s) to fix" not in tip
    w = tray.open_status()
    qtbot.waitUntil(lambda: "The last check failed" in w.summary.text(), timeout=3000)
    assert w.state_label.text() == "Action needed"
    assert "No unapproved WeChat software was found" not in w.summary.text()
    # Before the first scan the agent says `unknown`: not compliant either.
    agent.set(
        "status",
        status(
            compliant=False,
            last_scan=None,
            state="unknown",
            reasons=[
                {
                    "code": "never-scanned",
                    "zh": "尚未完成任何检查。",
                    "en": "No check has finished yet.",
                }
            ],
        ),
    )
    agent.publish("scan", {"outcome": "ok"})
    qtbot.waitUntil(lambda: "No check has finished yet." in tray.icon.toolTip(), timeout=3000)
    assert tray.state == "action"


def test_older_agent_with_a_failed_probe_is_not_compliant(qtbot, make_tray, agent) -> None:
    """An agent from before issue 10 sends no state: the tray computes it from the status."""
    agent.set(
        "status",
        status(
            blind_spots=[
                {"probe": "packages", "what": "the whole probe", "reason": "failed: RecursionError"}
            ]
        ),
    )
    tray = make_tray()
    qtbot.waitUntil(lambda: tray.state == "action", timeout=3000)
    assert "Some checks could not run (packages)" in tray.icon.toolTip()
