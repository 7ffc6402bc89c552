"""With no tray host (stock GNOME, a bare window manager) the tray never runs invisibly: it
says so in a window that is the employee's way in, and shows its news there (issue 16)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.gui.fake_agent import FINDING, status


def test_without_a_host_the_status_window_opens_and_says_why(qtbot, make_tray, agent) -> None:
    agent.set("status", status(compliant=False))
    agent.set("findings", [FINDING])
    tray = make_tray(start=False)
    tray.start_without_host()
    w = tray.windows["status"]
    qtbot.waitUntil(lambda: w.isVisible(), timeout=3000)
    assert "shows no tray icons" in w.notice.text()
    # News that would be a balloon lands in the window instead.
    qtbot.waitUntil(lambda: "New finding: Critical" in w.notice.text(), timeout=3000)
    assert "shows no tray icons" in w.notice.text()  # the news does not hide why


def test_without_a_host_news_reads_in_chinese(qtbot, make_tray, agent, settings) -> None:
    settings.setValue("language", "zh_CN")
    agent.set("status", status(compliant=False))
    agent.set("findings", [FINDING])
    tray = make_tray(start=False)
    tray.start_without_host()
    w = tray.windows["status"]
    qtbot.waitUntil(lambda: "新的检查发现：严重：" in w.notice.text(), timeout=3000)
    assert "托盘" in w.notice.text() and ": " not in w.notice.text()


def test_the_real_tray_opens_its_window_when_no_host_appears(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",  # a display without any tray host
        WXGUARD_TRAY_HOST_WAIT_S="0.5",
        XDG_CONFIG_HOME=str(tmp_path),
    )
    tray = Path(sys.executable).with_name("wxguard-tray")
    proc = subprocess.Popen(
        [str(tray), "--socket", str(tmp_path / "none.sock")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and "no tray host" not in line:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        assert "no tray host; the status window is shown" in line
        assert proc.poll() is None  # still running, with its window
    finally:
        proc.terminate()
        proc.wait(timeout=20)
