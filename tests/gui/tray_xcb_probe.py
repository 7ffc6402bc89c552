"""Run by test_tray_real.py on a virtual display with a real tray host: start the tray against
an agent socket, report whether the tray host embedded the icon, and take screenshots."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from agent import password_age as pa
from agent.client import AgentClient
from gui.tray import Tray
from tests.gui.fake_agent import MemorySecrets


def main() -> int:
    socket, settings_path, out_dir, language = sys.argv[1:5]
    started = time.monotonic()
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    settings = QSettings(settings_path, QSettings.Format.IniFormat)
    settings.setValue("language", language)
    secrets = MemorySecrets()
    pa.PasswordAgeStore(secrets_=secrets).save(
        pa.PasswordRecord("enterprise", changed_on=pa.date(2026, 9, 1))
    )
    tray = Tray(
        AgentClient(Path(socket)),
        settings,
        events_agent=AgentClient(Path(socket)),
        password_store=pa.PasswordAgeStore(secrets_=secrets),
        poll_timeout=1.0,
    )
    result: dict[str, object] = {"available": QSystemTrayIcon.isSystemTrayAvailable()}
    out = Path(out_dir)

    def shot(name: str) -> None:
        subprocess.run(["import", "-window", "root", str(out / name)], check=True, timeout=20)

    def step1() -> None:
        tray.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            app.processEvents()
            g = tray.icon.geometry()
            if (
                tray.icon.isVisible()
                and g.width() > 0
                and g.height() > 0
                and tray.state != "starting"
            ):
                break
            time.sleep(0.05)
        g = tray.icon.geometry()
        result.update(
            shown_after_s=round(time.monotonic() - started, 3),
            visible=tray.icon.isVisible(),
            geometry=[g.x(), g.y(), g.width(), g.height()],
            state=tray.state,
            tooltip=tray.icon.toolTip(),
        )
        shot(f"tray-{language}.png")
        w = tray.open_status()
        w.move(200, 80)
        QTimer.singleShot(1500, step2)

    def step2() -> None:
        w = tray.windows["status"]
        result["status_title"] = w.windowTitle()
        result["status_state"] = w.state_label.text()
        shot(f"tray-status-{language}.png")
        w.hide()
        tray.menu.popup(tray.icon.geometry().bottomLeft())
        QTimer.singleShot(600, step3)

    def step3() -> None:
        shot(f"tray-menu-{language}.png")
        tray.menu.hide()
        tray.stop()
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        app.quit()

    QTimer.singleShot(0, step1)
    return int(app.exec())


if __name__ == "__main__":
    raise SystemExit(main())
