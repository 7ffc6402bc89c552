"""The tray against a real agent (`wxguard agent run --mode user` in a private D-Bus session
with gnome-keyring) over its real socket: policy and acknowledgement, password status,
an incident report with an attachment, My reports."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from agent import password_age as pa
from agent.client import AgentClient
from bench.tray import real_agent
from gui.tray import Tray
from tests.gui.fake_agent import MemorySecrets


def test_tray_flows_against_the_real_agent(qtbot, tmp_path: Path) -> None:
    home = tmp_path / "agent"
    home.mkdir()
    settings = QSettings(str(tmp_path / "tray.ini"), QSettings.Format.IniFormat)
    settings.setValue("language", "en")
    with real_agent(home) as socket:
        tray = Tray(
            AgentClient(socket),
            settings,
            events_agent=AgentClient(socket),
            password_store=pa.PasswordAgeStore(secrets_=MemorySecrets()),
            poll_timeout=1.0,
        )
        failures: list[tuple[str, str]] = []
        tray.bridge.failed.connect(lambda op, e: failures.append((op, e.en)))
        try:
            tray.start()
            qtbot.waitUntil(lambda: bool(tray.policy) and bool(tray.status), timeout=15000)
            version = tray.policy["text_version"]
            assert "第十八条" in tray.policy["text"]["zh"]
            # A version never acknowledged: the window opens and asks.
            qtbot.waitUntil(lambda: "policy" in tray.windows, timeout=3000)
            w = tray.windows["policy"]
            assert w.ack_button.isEnabled()
            w.ack_button.click()
            qtbot.waitUntil(
                lambda: tray.policy.get("acknowledged_version") == version, timeout=5000
            )
            today = tray.clock().date()
            tray.passwords.record_change("enterprise", today)
            tray.passwords.record_change("personal", today)
            qtbot.waitUntil(
                lambda: (
                    len(tray.passwords.statuses) == 2
                    and all(s.state == "ok" for s in tray.passwords.statuses.values())
                ),
                timeout=5000,
            )
            d = tray.open_report()
            d.category.setCurrentIndex(d.category.findData("suspicious-message"))
            d.summary.setText("Phishing link in a group chat")
            d.description.setPlainText("A link asking for my WeChat password.")
            shot = tmp_path / "link.txt"
            shot.write_text("http://203.0.113.7/login")
            assert d.add_file(shot)
            assert d.review()
            d.send()
            qtbot.waitUntil(lambda: d.pages.currentIndex() == 2, timeout=5000)
            assert d.key
            qtbot.waitUntil(
                lambda: any(r.get("idempotency_key") == d.key for r in tray.reports), timeout=5000
            )
            qtbot.waitUntil(lambda: tray.state in ("compliant", "action", "offline"), timeout=5000)
            qtbot.wait(300)
            assert failures == []
        finally:
            tray.stop()
            tray.pump.stop()
            tray.bridge.wait_idle(5000)
            for win in tray.windows.values():
                win.close()
