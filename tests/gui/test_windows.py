"""Every window driven like an employee would: status, Check now, password, policy, collects."""

from __future__ import annotations

from datetime import date, timedelta

from PySide6.QtCore import QDate, Qt

from agent import password_age as pa
from agent.api import AgentError
from tests.gui.conftest import recorded
from tests.gui.fake_agent import FINDING, status


def test_status_window_groups_findings_with_evidence_and_steps(qtbot, make_tray, agent) -> None:
    agent.set(
        "status",
        status(
            compliant=False,
            enrolled=True,
            server_reachable=True,
            last_contact=1795000000.0,
            policy_version=7,
            managed_keys=["scan_interval_s", "server_url"],
        ),
    )
    low = dict(
        FINDING,
        key="k2",
        severity="low",
        rule_id="old-plugin",
        title_i18n={"en": "Leftover plugin folder", "zh": "残留插件目录"},
    )
    agent.set("findings", [low, FINDING])
    tray = make_tray()
    w = tray.open_status()
    qtbot.waitUntil(lambda: w.tree.topLevelItemCount() == 2, timeout=3000)
    assert w.tree.topLevelItem(0).text(0) == "Critical (1)"  # most severe first
    assert w.tree.topLevelItem(1).text(0) == "Low (1)"
    text = w.detail.toPlainText()
    assert "pypi package wcferry 39.6.0.0" in text and "site-packages/wcferry" in text
    assert "1. Uninstall wcferry" in text.replace("\u2028", "\n") or "Uninstall wcferry" in text
    assert "Restart WeChat" in text
    # Status and findings come back on separate worker calls: wait for the status as well.
    qtbot.waitUntil(lambda: "server_url" in w.managed.text(), timeout=3000)
    assert "Managed by IT" in w.managed.text()
    assert "connected" in w.server.text()
    assert "Policy version: 7" in w.policy_label.text()
    assert w.last_scan.text().startswith("Last check: 20")


def test_check_now_shows_progress_then_refreshes(qtbot, make_tray, agent) -> None:
    agent.scan_delay = 0.4
    tray = make_tray()
    w = tray.open_status()
    qtbot.mouseClick(w.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.progress.isVisible(), timeout=1000)
    assert not w.check_button.isEnabled()
    before = len(agent.called("findings"))
    qtbot.waitUntil(lambda: not w.progress.isVisible(), timeout=3000)
    assert w.check_button.isEnabled()
    qtbot.waitUntil(lambda: len(agent.called("findings")) > before, timeout=2000)
    assert len(agent.called("scan_now")) == 1


def test_password_flow_records_and_reports_dates_only(
    qtbot, make_tray, agent, secrets, clock
) -> None:
    secrets.values.clear()
    tray = make_tray()
    d = tray.open_password()
    qtbot.waitUntil(
        lambda: "no change recorded" in d.rows["enterprise"]["state"].text(), timeout=3000
    )
    qtbot.waitUntil(lambda: tray.state == "action", timeout=3000)
    d.rows["enterprise"]["date"].setDate(QDate(2026, 11, 20))
    qtbot.mouseClick(d.rows["enterprise"]["record"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "2027-02-18" in d.rows["enterprise"]["state"].text(), timeout=3000)
    assert "up to date" in d.rows["enterprise"]["state"].text()
    sent = agent.called("report_password_status")[-1][0]
    ent = next(a for a in sent if a["account_type"] == "enterprise")
    assert ent == {
        "account_type": "enterprise",
        "state": "ok",
        "last_changed": "2026-11-20",
        "due_at": "2027-02-18",
        "deferrals": 0,
        "no_expiry": False,
    }
    assert "password" not in str(sent).replace("password_", "")


def test_future_change_date_is_refused_with_a_message(qtbot, make_tray, clock) -> None:
    tray = make_tray()
    d = tray.open_password()
    edit = d.rows["personal"]["date"]
    edit.setMaximumDate(QDate(2030, 1, 1))
    edit.setDate(QDate(2026, 12, 1))
    qtbot.mouseClick(d.rows["personal"]["record"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "after today" in d.error.text(), timeout=2000)


def test_no_expiry_account_gets_no_reminders(qtbot, make_tray, secrets, clock) -> None:
    recorded(secrets, date(2026, 1, 1))  # long overdue
    tray = make_tray()
    d = tray.open_password()
    qtbot.waitUntil(lambda: "overdue" in d.rows["personal"]["state"].text(), timeout=3000)
    d.rows["personal"]["no_expiry"].click()
    qtbot.waitUntil(lambda: "no expiry" in d.rows["personal"]["state"].text(), timeout=3000)
    assert tray.passwords.statuses["personal"].next_reminder is None
    assert tray.passwords.statuses["enterprise"].next_reminder is not None


def test_changes_made_while_the_keyring_is_slow_all_land(qtbot, make_tray, secrets) -> None:
    """The overdue reminder is being marked as shown (a slow keyring write) while the employee
    ticks "does not expire": neither change may overwrite the other (this raced in CI)."""
    recorded(secrets, date(2026, 1, 1))  # long overdue: a reminder is shown at once
    secrets.slow_next_set["personal"] = 1.0
    tray = make_tray()
    d = tray.open_password()
    qtbot.waitUntil(lambda: "overdue" in d.rows["personal"]["state"].text(), timeout=3000)
    d.rows["personal"]["no_expiry"].click()  # while the reminder's write is still in flight
    qtbot.waitUntil(lambda: "no expiry" in d.rows["personal"]["state"].text(), timeout=10000)
    assert tray.bridge.wait_idle(10000)
    qtbot.wait(200)  # let the last results reach the window
    stored = pa.PasswordAgeStore(secrets_=secrets).load("personal").record
    assert stored is not None
    assert stored.no_expiry and stored.last_reminded is not None
    assert "no expiry" in d.rows["personal"]["state"].text()


def test_reminders_follow_schedule_snooze_limit_and_stop(qtbot, make_tray, secrets, clock) -> None:
    recorded(secrets, clock().date() - timedelta(days=80), accounts=("enterprise",))  # due in 10 d
    recorded(secrets, clock().date(), accounts=("personal",), no_expiry=True)
    tray = make_tray()
    ctl = tray.passwords
    qtbot.waitUntil(lambda: "enterprise" in ctl.statuses, timeout=3000)
    # The 14-days-before reminder (4 days ago) was missed: it fires as soon as the tray knows.
    qtbot.waitUntil(
        lambda: any(n[0].startswith("password:") for n in tray.notifications), timeout=3000
    )
    shown = [n for n in tray.notifications if n[0].startswith("password:")]
    assert [n[1] for n in shown] == ["WeChat password: Enterprise WeChat account"]
    assert "due on 2026-12-05 (in 10 days)" in shown[0][2]
    qtbot.waitUntil(lambda: ctl.loaded["enterprise"].record.last_reminded is not None, timeout=3000)
    assert ctl.next_reminder().strftime("%Y-%m-%d %H:%M") == "2026-11-28 09:00"  # 7 days before
    # Snooze three times: tomorrow at 09:00 each time, then the limit.
    d = tray.open_password()
    assert d.rows["enterprise"]["snooze"][0].isVisible()
    for n in range(3):
        assert d.rows["enterprise"]["snooze"][0].isEnabled()
        ctl.snooze("enterprise", ctl.snooze_choices()[0].at)
        qtbot.waitUntil(
            lambda n=n: ctl.loaded["enterprise"].record.deferrals == n + 1, timeout=3000
        )
        assert ctl.next_reminder() == ctl.snooze_choices()[0].at
    clock.advance(days=3)  # 2026-11-28: the 7-day window
    ctl.snooze("enterprise", ctl.snooze_choices()[0].at)
    qtbot.waitUntil(lambda: "cannot be postponed" in d.error.text(), timeout=2000)
    assert not any(b.isEnabled() for b in d.rows["enterprise"]["snooze"])
    assert "cannot be postponed" in d.rows["enterprise"]["snooze_note"].text()
    # Recording the change stops the reminders at once.
    ctl.record_change("enterprise", clock().date())
    qtbot.waitUntil(lambda: ctl.statuses["enterprise"].state == "ok", timeout=3000)
    assert ctl.next_reminder() >= clock() + timedelta(days=70)
    assert ctl.loaded["enterprise"].record.deferrals == 0


def test_modified_record_is_shown_and_asks_to_record_again(qtbot, make_tray, secrets) -> None:
    secrets.values["enterprise"] = secrets.values["enterprise"].replace("2026-11-25", "2026-11-24")
    tray = make_tray()
    d = tray.open_password()
    qtbot.waitUntil(
        lambda: "record was modified" in d.rows["enterprise"]["state"].text(), timeout=3000
    )
    assert "record was modified" in tray.icon.toolTip()


def test_keyring_unavailable_is_shown_clearly(qtbot, make_tray, secrets) -> None:
    secrets.fail = RuntimeError("no Secret Service")
    tray = make_tray()
    d = tray.open_password()
    qtbot.waitUntil(lambda: "system keyring cannot be used" in d.error.text(), timeout=3000)
    assert "unavailable (keyring)" in d.rows["enterprise"]["state"].text()


def test_new_policy_version_is_acknowledged(qtbot, make_tray, agent) -> None:
    tray = make_tray()
    qtbot.waitUntil(lambda: bool(tray.policy), timeout=3000)
    assert "policy" not in tray.windows  # nothing to acknowledge yet
    new = dict(
        agent.responses["policy"],
        text_version="2027-01",
        version=8,
        text={"zh": "新版微信管理制度", "en": "New WeChat rules"},
    )
    agent.set("policy", new)
    agent.publish("policy", {"version": 8})
    qtbot.waitUntil(
        lambda: "policy" in tray.windows and tray.windows["policy"].isVisible(), timeout=3000
    )
    w = tray.windows["policy"]
    assert "New WeChat rules" in w.text.toPlainText() and "新版微信管理制度" in w.text.toPlainText()
    assert tray.state == "action" and "confirm the new WeChat policy" in tray.icon.toolTip()
    assert w.ack_button.isEnabled() and "2027-01" in w.ack_button.text()
    qtbot.mouseClick(w.ack_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: agent.called("acknowledge_policy") == [("2027-01",)], timeout=3000)
    qtbot.waitUntil(lambda: "You acknowledged version 2027-01" in w.ack_button.text(), timeout=3000)
    qtbot.waitUntil(lambda: tray.state == "compliant", timeout=3000)


def test_failed_acknowledgement_can_be_retried(qtbot, make_tray, agent) -> None:
    agent.set("policy", dict(agent.responses["policy"], text_version="2027-02"))
    agent.errors["acknowledge_policy"] = AgentError(
        "offline", "暂时无法记录。", "Cannot record it now."
    )
    tray = make_tray()
    qtbot.waitUntil(lambda: "policy" in tray.windows, timeout=3000)
    w = tray.windows["policy"]
    qtbot.waitUntil(w.ack_button.isEnabled, timeout=2000)
    w.ack_button.click()
    qtbot.waitUntil(lambda: "Cannot record it now." in w.ack_error.text(), timeout=3000)
    assert w.ack_button.isEnabled()


def test_policy_falls_back_to_the_shipped_text(qtbot, make_tray, agent) -> None:
    agent.errors["policy"] = AgentError("unknown-op", "未知操作", "unknown operation 'policy'.")
    tray = make_tray()
    w = tray.open_policy()
    qtbot.waitUntil(lambda: tray.policy_error is not None, timeout=3000)
    w.show_policy(tray.policy, tray.policy_error)
    text = w.text.toPlainText()
    assert "第十八条 员工不得安装未经许可的软件或插件" in text
    assert "Art. 19" in text and "有哪些信誉好的" not in text and "VIP" not in text
    assert "default text" in w.notice.text()
    assert not w.ack_button.isEnabled()


def test_collects_lists_what_is_sent_and_what_never_is(qtbot, make_tray, agent) -> None:
    tray = make_tray()
    w = tray.open_collects()
    text = w.text.toPlainText()
    assert "process names" in text and "Password-age dates" in text
    assert "never reads chat content, message databases or contact lists" in text
    agent.set(
        "policy",
        dict(agent.responses["policy"], collected=[{"zh": "设备名称", "en": "Device name only"}]),
    )
    agent.publish("policy", {})
    qtbot.waitUntil(lambda: "Device name only" in w.text.toPlainText(), timeout=3000)
    assert "never reads chat content" in w.text.toPlainText()


def test_about_shows_versions(qtbot, make_tray, agent) -> None:
    tray = make_tray()
    qtbot.waitUntil(lambda: bool(tray.status) and bool(tray.policy), timeout=3000)
    w = tray.open_about()
    assert "Agent version: 0.1.0" in w.label.text() and "Policy version: 7" in w.label.text()


def test_language_switch_to_chinese(qtbot, make_tray, settings) -> None:
    tray = make_tray()
    tray.set_language("zh_CN")
    assert settings.value("language") == "zh_CN"
    assert tray.actions["check"].text() == "立即检查"
    w = tray.open_status()
    assert w.windowTitle() == "wxguard — 状态"
    tray.set_language("en")
    assert tray.actions["check"].text() == "Check now"


def test_policy_in_the_agents_shape_with_builtin_text(qtbot, make_tray, agent) -> None:
    """The agent serves its shipped text as version "builtin-1" with an `acknowledged` flag."""
    from gui.policy_window import default_policy_text

    agent.set(
        "policy",
        {
            "version": 0,
            "mode": "monitor",
            "text": default_policy_text(),
            "text_version": "builtin-1",
            "acknowledged_version": None,
            "acknowledged": False,
            "password": {
                "max_age_days": 60,
                "reminder_days": [7, 1],
                "daily_after_last": True,
                "max_deferrals": 2,
            },
            "collected": [{"zh": "设备名称", "en": "Device name"}],
            "never_collected": {
                "zh": "wxguard 从不读取聊天内容。",
                "en": "wxguard never reads chat content.",
            },
        },
    )

    def ack(text_version: str) -> dict:  # type: ignore[type-arg]
        agent.calls.append(("acknowledge_policy", (text_version,)))
        agent.responses["policy"].update(acknowledged=True, acknowledged_version=text_version)
        return {"acknowledged": text_version}

    agent.acknowledge_policy = ack  # type: ignore[method-assign]
    tray = make_tray()
    qtbot.waitUntil(
        lambda: "policy" in tray.windows and tray.windows["policy"].isVisible(), timeout=3000
    )
    w = tray.windows["policy"]
    assert "第十九条 员工应定期更改微信账号密码" in w.text.toPlainText()
    assert tray.passwords.policy.max_age_days == 60 and tray.passwords.policy.max_deferrals == 2
    w.ack_button.click()
    qtbot.waitUntil(
        lambda: "You acknowledged version builtin-1" in w.ack_button.text(), timeout=3000
    )
    c = tray.open_collects()
    assert "Device name" in c.text.toPlainText()
    assert "wxguard never reads chat content." in c.text.toPlainText()
