"""The real tray (`wxguard-tray`, QT_QPA_PLATFORM=xcb) under a real StatusNotifierItem host, as
KDE, deepin, UKUI and GNOME's AppIndicator extension show tray icons: Xvfb, a private D-Bus
session, `status-notifier-watcher` and `gtk-sni-tray-standalone` (bench.tray.sni_display).
Everything is read over D-Bus as the host reads it: the item registered with the watcher, its
icon and tool tip, its menu (com.canonical.dbusmenu) with translated labels; menu clicks sent
as the host sends them do what the items do; a new finding changes what the item exports and
reaches the desktop's notification server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.tray import sni_display
from tests.gui.fake_agent import FINDING, FakeAgent, status
from tests.gui.sni import Bus, NotificationServer
from tests.gui.wire import WireServer

WORDS = {
    "en": {
        "status": "Open wxguard status",
        "check": "Check now",
        "report": "Report a security incident…",
        "quit": "Quit the tray (checks keep running)",
        "blocked": "Blocked programs…",
        "window": "wxguard — status",
        "action": "Action needed",
        "finding": "1 finding to fix",
        "new": "New finding: Critical",
        "title": FINDING["title_i18n"]["en"],  # type: ignore[index]
        "done": "Check finished",
    },
    "zh_CN": {
        "status": "打开 wxguard 状态",
        "check": "立即检查",
        "report": "报告安全事件…",
        "quit": "退出托盘程序（检查仍会继续运行）",
        "blocked": "被阻止的程序…",
        "window": "wxguard — 状态",
        "action": "需要处理",
        "finding": "1 项检查发现需要处理",
        "new": "新的检查发现：严重",
        "title": FINDING["title_i18n"]["zh"],  # type: ignore[index]
        "done": "检查完成",
    },
}


def wait_for(
    what: str, check: Callable[[], Any], timeout: float = 30, show: Callable[[], Any] = str
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {show()}")


def tooltip_text(props: dict[str, Any]) -> str:
    _icon, _pixmaps, title, text = props["ToolTip"]
    return f"{title}\n{text}"


def window_titles(env: dict[str, str]) -> str:
    out = subprocess.run(
        ["xwininfo", "-root", "-tree"],
        env=dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8", **env),
        capture_output=True,
        text=True,
        timeout=10,
    )
    return out.stdout


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_tray_under_a_status_notifier_host(tmp_path: Path, artifacts: Path, language: str) -> None:
    words = WORDS[language]
    agent = FakeAgent()
    agent.set("status", status(compliant=True))
    agent.scan_delay = 0.3
    server = WireServer(tmp_path / "agent.sock", agent)
    tray_bin = Path(sys.executable).with_name("wxguard-tray")
    try:
        with sni_display() as env:
            notes = NotificationServer(env["DBUS_SESSION_BUS_ADDRESS"])
            bus = Bus(env["DBUS_SESSION_BUS_ADDRESS"])
            proc = subprocess.Popen(
                [
                    str(tray_bin),
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
                    XDG_CONFIG_HOME=str(tmp_path / "config"),
                    WXGUARD_TRAY_HOST_WAIT_S="20",
                    **env,
                ),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                # The icon: registered with the watcher, with a picture and the app's state.
                item = bus.wait_item(timeout=40)
                props = wait_for(
                    "the state in the tool tip",
                    lambda: (p := bus.item(item)) and words["action"] in tooltip_text(p) and p,
                )
                assert props["Id"] == "wxguard" and props["Title"] == "wxguard"
                assert props["Status"] == "Active"
                assert props["IconName"] or props["IconPixmap"], "no icon exported"
                assert not notes.shown  # nothing new yet

                # The menu the host shows, in the employee's language.
                menu = bus.menu(item)
                labels = {e["label"]: e for e in menu if e["type"] != "separator"}
                for key in ("status", "check", "report", "quit"):
                    assert labels[words[key]]["visible"] and labels[words[key]]["enabled"]
                assert not labels[words["blocked"]]["visible"]  # nothing blocked yet
                assert not any("&" in label or "{" in label for label in labels)

                # Clicking "Open wxguard status" in the host's menu opens the window.
                bus.click(item, labels[words["status"]]["id"])
                wait_for("the status window", lambda: words["window"] in window_titles(env))

                # A new finding: what the item exports changes, and the desktop is notified.
                agent.set("status", status(compliant=False))
                agent.set("findings", [FINDING])
                agent.publish("finding-new", {k: FINDING[k] for k in FINDING if k != "evidence"})
                wait_for("the finding's notification", lambda: notes.shown)
                assert notes.shown[0] == (words["new"], words["title"])
                changed = wait_for(
                    "the finding in the tool tip",
                    lambda: (
                        (p := bus.item(item))
                        and words["finding"] in tooltip_text(p)
                        and p["Status"] == "Active"
                        and p
                    ),
                    timeout=40,  # after the notification's 10 s "needs attention"
                    show=lambda: (bus.item(item)["Status"], tooltip_text(bus.item(item))),
                )
                assert words["action"] in tooltip_text(changed)
                subprocess.run(
                    ["import", "-window", "root", str(artifacts / f"tray-sni-{language}.png")],
                    env=dict(os.environ, **env),
                    check=True,
                    timeout=20,
                )

                # "Check now" from the host's menu runs a check and says how it ended.
                bus.click(item, labels[words["check"]]["id"])
                wait_for("a check", lambda: agent.called("scan_now"))
                wait_for(
                    "the check's notification", lambda: len(notes.shown) >= 2, show=notes.shown.copy
                )
                assert notes.shown[1][0] == words["done"]
                assert proc.poll() is None
            finally:
                proc.terminate()
                _out, err = proc.communicate(timeout=20)
                bus.close()
                notes.close()
    finally:
        server.close()
    assert "Traceback" not in err, err[-3000:]
