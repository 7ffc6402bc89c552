"""The tray on a real X11 tray host (Xvfb + trayer), against the agent's real wire protocol:
the host embeds the icon, and screenshots of the tray, its menu and the status window are
written to artifacts/ in Chinese and English."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.tray import virtual_display
from tests.gui.fake_agent import FINDING, FakeAgent, status
from tests.gui.wire import WireServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_tray_icon_is_embedded_by_a_real_tray_host(
    tmp_path: Path, artifacts: Path, language: str
) -> None:
    agent = FakeAgent()
    agent.set(
        "status",
        status(
            compliant=False,
            enrolled=True,
            server_reachable=True,
            last_contact=1795000000.0,
            policy_version=7,
            managed_keys=["scan_interval_s"],
        ),
    )
    agent.set("findings", [FINDING])
    server = WireServer(tmp_path / "agent.sock", agent)
    try:
        with virtual_display() as display:
            env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", PYTHONPATH=str(ROOT))
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tests.gui.tray_xcb_probe",
                    str(tmp_path / "agent.sock"),
                    str(tmp_path / "tray.ini"),
                    str(artifacts),
                    language,
                ],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
    finally:
        server.close()
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["available"] is True
    assert result["visible"] is True
    assert result["geometry"][2] > 0 and result["geometry"][3] > 0
    assert result["state"] == "action", proc.stderr[-3000:]  # e.g. the answers did not fit
    expected = {
        "zh_CN": ("需要处理", "wxguard — 状态"),
        "en": ("Action needed", "wxguard — status"),
    }
    assert expected[language][0] in result["tooltip"]
    assert result["status_title"] == expected[language][1]
    for name in (
        f"tray-{language}.png",
        f"tray-status-{language}.png",
        f"tray-menu-{language}.png",
    ):
        shot = artifacts / name
        assert shot.stat().st_size > 5000, f"{name} is empty"
    assert ("status", ()) in agent.calls and ("findings", ()) in agent.calls
