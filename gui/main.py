"""`wxguard-tray`: the employee's tray icon, a client of the running agent."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wxguard-tray", description="wxguard tray icon")
    parser.add_argument("--socket", type=Path, help="the agent's socket (default: look it up)")
    parser.add_argument("--settings", type=Path, help="settings file (default: per user)")
    parser.add_argument(
        "--language",
        choices=("system", "zh_CN", "en"),
        help="set the language (saved in the settings)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon

    from agent.client import AgentClient
    from gui.tray import Tray

    app = QApplication(sys.argv[:1])
    app.setApplicationName("wxguard")
    app.setOrganizationName("wxguard")
    app.setQuitOnLastWindowClosed(False)  # closing a window never ends the tray

    settings = (
        QSettings(str(args.settings), QSettings.Format.IniFormat)
        if args.settings
        else QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "wxguard", "tray")
    )
    if args.language:
        settings.setValue("language", args.language)

    # Two connections: the event long-poll holds one for up to 25 s at a time.
    tray = Tray(AgentClient(args.socket), settings, events_agent=AgentClient(args.socket))
    tray.quit_requested.connect(app.quit)

    host_wait = float(os.environ.get("WXGUARD_TRAY_HOST_WAIT_S", "20"))

    def watch_for_host() -> None:
        if not tray.show_icon_when_host_appears():
            QTimer.singleShot(5000, watch_for_host)

    def show() -> None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            # Some desktops start their tray host after the session's autostart programs;
            # with none after a while, never run invisibly: a window is the way in.
            if time.monotonic() - started < host_wait:
                QTimer.singleShot(2000, show)
                return
            tray.start_without_host()
            sys.stdout.write("wxguard-tray: no tray host; the status window is shown\n")
            sys.stdout.flush()
            QTimer.singleShot(5000, watch_for_host)
            return
        tray.start()
        if os.environ.get("WXGUARD_TRAY_REPORT_STARTUP"):
            geometry = tray.icon.geometry()
            sys.stdout.write(
                f"wxguard-tray shown after {time.monotonic() - started:.3f}s "
                f"geometry={geometry.width()}x{geometry.height()}+{geometry.x()}+{geometry.y()}\n"
            )
            sys.stdout.flush()

    QTimer.singleShot(0, show)
    return int(app.exec())


if __name__ == "__main__":
    raise SystemExit(main())
