"""The real tray (`wxguard-tray`, QT_QPA_PLATFORM=xcb) on a real X display (Xvfb) with a D-Bus
session but no tray host of either kind (no XEmbed tray, no StatusNotifierWatcher), as on
stock GNOME: it does not run invisibly. It says so and maps its status window, the way in,
which tells the employee why and where to reopen it, in their language, and its news also
reaches the desktop's notification server (GNOME has one even without a tray); the window is
screenshotted to artifacts/tray-no-host-<language>.png."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.tray import sni_display
from tests.gui.fake_agent import FINDING, FakeAgent, status
from tests.gui.sni import NotificationServer
from tests.gui.wire import WireServer

EXPECTED = {"en": "wxguard — status", "zh_CN": "wxguard — 状态"}
NEWS = {
    "en": ("New finding: Critical", FINDING["title_i18n"]["en"]),  # type: ignore[index]
    "zh_CN": ("新的检查发现：严重", FINDING["title_i18n"]["zh"]),  # type: ignore[index]
}


def mapped_windows(env: dict[str, str]) -> str:
    return subprocess.run(
        ["xwininfo", "-root", "-tree"],
        env=dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8", **env),
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_no_tray_host_on_a_real_display_opens_the_window(
    tmp_path: Path, artifacts: Path, language: str
) -> None:
    agent = FakeAgent()
    agent.set("status", status(compliant=False))
    agent.set("findings", [FINDING])
    server = WireServer(tmp_path / "agent.sock", agent)
    tray = Path(sys.executable).with_name("wxguard-tray")
    try:
        with sni_display(host=False) as env:
            notes = NotificationServer(env["DBUS_SESSION_BUS_ADDRESS"])
            proc = subprocess.Popen(
                [
                    str(tray),
                    "--socket",
                    str(tmp_path / "agent.sock"),
                    "--settings",
                    str(tmp_path / "tray.ini"),
                    "--language",
                    language,
                ],
                env=dict(
                    os.environ,
                    QT_QPA_PLATFORM="xcb",
                    WXGUARD_TRAY_HOST_WAIT_S="1",
                    XDG_CONFIG_HOME=str(tmp_path / "config"),
                    **env,
                ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                assert proc.stdout is not None
                line = proc.stdout.readline()  # blocks until the tray decides (bounded below)
                assert "no tray host; the status window is shown" in line
                deadline = time.monotonic() + 30
                while EXPECTED[language] not in mapped_windows(env):
                    assert time.monotonic() < deadline, mapped_windows(env)
                    time.sleep(0.2)
                time.sleep(1.0)  # let the finding's news land in the window
                subprocess.run(
                    ["import", "-window", "root", str(artifacts / f"tray-no-host-{language}.png")],
                    env=dict(os.environ, **env),
                    check=True,
                    timeout=20,
                )
                assert proc.poll() is None  # still running, with its window
                assert ("findings", ()) in agent.calls
                deadline = time.monotonic() + 20
                while not notes.shown and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert notes.shown == [NEWS[language]]
            finally:
                proc.terminate()
                _out, err = proc.communicate(timeout=20)
                notes.close()
    finally:
        server.close()
    assert "Traceback" not in err, err[-3000:]
