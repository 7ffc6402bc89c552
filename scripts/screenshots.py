"""`make screenshots`: every tray window and every main dashboard page, in Chinese and English,
as PNGs in artifacts/screenshots/ for a person to review (issue 16).

- Tray: the real tray (gui.tray.Tray, QT_QPA_PLATFORM=xcb) on Xvfb with a real
  StatusNotifierItem host (bench.tray.sni_display), fed by the scripted agent of the GUI tests
  over the agent's real wire protocol; each window is grabbed as the employee sees it
  (status with the icon in the host's bar, report form, password, my reports with the detail
  of a case, policy).
- Dashboard: a real `wxguard-server` with a seeded fleet (bench.dashboard.seed) in headless
  Chromium: login, overview, devices, device detail, findings, reports, report detail,
  policy, accounts.

Usage: `.venv/bin/python scripts/screenshots.py [--only tray|dashboard] [--out DIR]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LANGUAGES = ("zh_CN", "en")
REPORTS = [
    {
        "idempotency_key": "k-1",
        "case": "WXG-000042",
        "state": "triaged",
        "category": "suspicious-message",
        "summary": "A colleague's account sent me a payment link",
        "created_at": 1795000000.0,
        "updated_at": 1795003600.0,
        "replies": [
            {
                "body": "Thanks — please do not click the link; we are checking.",
                "at": "2026-11-18T12:06:40+00:00",
            }
        ],
    },
    {
        "idempotency_key": "k-2",
        "state": "queued",
        "category": "other",
        "summary": "Unknown program asked for my WeChat password",
        "created_at": 1795007200.0,
    },
]


def shot_finding() -> dict[str, Any]:
    """The GUI tests' finding as a current agent sends it: steps per language, evidence with
    its words in both languages and the absolute path on this machine."""
    from tests.gui.fake_agent import FINDING

    return dict(
        FINDING,
        remediation_intro_i18n={
            "zh": "wcferry 控制微信收发消息，违反制度第十八条。",
            "en": "wcferry drives WeChat to send and read messages, against Art. 18.",
        },
        remediation_steps={
            "zh": ["退出微信。", "卸载 wcferry：pip uninstall wcferry。", "重新启动微信。"],
            "en": ["Quit WeChat.", "Uninstall wcferry: pip uninstall wcferry.", "Start WeChat."],
        },
        evidence=[
            {
                "kind": "package",
                "matched": "pypi package wcferry 39.6.0.0",
                "matched_i18n": {
                    "zh": "Python 软件包 wcferry 39.6.0.0",
                    "en": "Python package wcferry 39.6.0.0",
                },
                "location": "/home/alice/.local/lib/python3.11/site-packages/"
                "wcferry-39.6.0.0.dist-info",
            }
        ],
    )


# -- tray ----------------------------------------------------------------------------------------


def tray_child(socket: str, out_dir: str, language: str) -> int:
    """Runs on the virtual display: the real Tray, each window opened and grabbed in turn."""
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    from agent import password_age as pa
    from agent.client import AgentClient
    from gui.tray import Tray
    from tests.gui.fake_agent import MemorySecrets

    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    tmp = Path(tempfile.mkdtemp(prefix="wxguard-shots-"))
    settings = QSettings(str(tmp / "tray.ini"), QSettings.Format.IniFormat)
    settings.setValue("language", language)
    secrets = MemorySecrets()
    store = pa.PasswordAgeStore(secrets_=secrets)
    store.save(pa.PasswordRecord("enterprise", changed_on=pa.date(2026, 9, 1)))
    tray = Tray(
        AgentClient(Path(socket)),
        settings,
        events_agent=AgentClient(Path(socket)),
        password_store=pa.PasswordAgeStore(secrets_=secrets),
        poll_timeout=1.0,
    )
    out = Path(out_dir)
    written: list[str] = []

    def grab(w: QWidget, name: str) -> None:
        path = out / f"tray-{name}-{language}.png"
        w.grab().save(str(path))
        written.append(path.name)

    def root(name: str) -> None:
        path = out / f"tray-{name}-{language}.png"
        subprocess.run(["import", "-window", "root", str(path)], check=True, timeout=20)
        written.append(path.name)

    steps: list[tuple[float, Any]] = []

    def status() -> None:
        w = tray.open_status()
        w.resize(760, 720)
        w.move(40, 40)

    def report() -> None:
        tray.windows["status"].hide()
        tray.open_report().resize(640, 620)

    def password() -> None:
        tray.open_password()

    def my_reports() -> None:
        tray.open_my_reports().resize(760, 560)

    def policy() -> None:
        tray.open_policy().resize(640, 560)

    steps = [
        (0.0, tray.start),
        (3.0, status),
        (1.5, lambda: root("status")),
        (0.1, report),
        (1.0, lambda: grab(tray.windows["report"], "report")),
        (0.1, password),
        (1.0, lambda: grab(tray.windows["password"], "password")),
        (0.1, my_reports),
        (1.5, lambda: grab(tray.windows["my-reports"], "my-reports")),
        (0.1, policy),
        (1.5, lambda: grab(tray.windows["policy"], "policy")),
    ]

    def run(i: int = 0) -> None:
        if i == len(steps):
            tray.stop()
            print(json.dumps(written))
            app.quit()
            return
        steps[i][1]()
        delay = steps[i + 1][0] if i + 1 < len(steps) else 0.2
        QTimer.singleShot(int(delay * 1000), lambda: run(i + 1))

    QTimer.singleShot(0, run)
    return int(app.exec())


def shoot_tray(out: Path) -> list[str]:
    from bench.tray import sni_display
    from tests.gui.fake_agent import FakeAgent, status
    from tests.gui.wire import WireServer

    written: list[str] = []
    for language in LANGUAGES:
        with tempfile.TemporaryDirectory() as tmp:
            agent = FakeAgent()
            agent.set(
                "status",
                status(
                    compliant=False,
                    enrolled=True,
                    server_reachable=True,
                    last_contact=time.time() - 600,
                    policy_version=7,
                ),
            )
            agent.set("findings", [shot_finding()])
            agent.set("my_reports", REPORTS)
            server = WireServer(Path(tmp) / "agent.sock", agent)
            try:
                with sni_display() as env:
                    proc = subprocess.run(
                        [sys.executable, __file__, "--tray-child", tmp, str(out), language],
                        env=dict(os.environ, QT_QPA_PLATFORM="xcb", PYTHONPATH=str(ROOT), **env),
                        cwd=ROOT,
                        capture_output=True,
                        text=True,
                        timeout=120,
                    )
            finally:
                server.close()
            if proc.returncode != 0:
                raise RuntimeError(f"tray screenshots failed: {proc.stderr[-2000:]}")
            written += json.loads(proc.stdout.strip().splitlines()[-1])
    return written


# -- dashboard -----------------------------------------------------------------------------------


def shoot_dashboard(out: Path) -> list[str]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from sqlalchemy import text

    from bench.dashboard import seed
    from server.db import make_engine
    from tests.server.conftest import ADMIN_PASSWORD, LiveServer, cli, free_port

    written: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "srv"
        cli(
            "init",
            "--data",
            str(data),
            "--admin",
            "alice",
            "--password-stdin",
            stdin=ADMIN_PASSWORD + "\n",
        )
        engine = make_engine(f"sqlite:///{data / 'wxguard.db'}", pool_size=1)
        with engine.connect() as conn:
            seeded = seed(conn, 24, 3)
            report_id = conn.execute(text("SELECT id FROM reports ORDER BY id LIMIT 1")).scalar()
        engine.dispose()
        server = LiveServer(data, free_port())
        profile = tempfile.mkdtemp(prefix="wxguard-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--window-size=1280,1000",
            "--lang=en-US",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        driver.implicitly_wait(5)
        try:
            base = server.url.replace("127.0.0.1", "localhost")  # secure context: cookie kept
            pages = [
                ("overview", "/overview"),
                ("devices", "/fleet"),
                ("device", f"/devices/{seeded.device_id}"),
                ("findings", "/findings"),
                ("reports", "/reports"),
                ("report", f"/reports/{report_id}"),
                ("policy", "/policy"),
                ("accounts", "/accounts"),
            ]
            for language, code in (("zh_CN", "zh"), ("en", "en")):
                driver.delete_all_cookies()
                driver.get(f"{base}/lang/{code}?next=/login")
                time.sleep(0.5)
                path = out / f"web-login-{language}.png"
                driver.save_screenshot(str(path))
                written.append(path.name)
                driver.find_element(By.ID, "username").send_keys("alice")
                driver.find_element(By.ID, "password").send_keys(ADMIN_PASSWORD)
                driver.find_element(By.ID, "login-submit").click()
                time.sleep(1.0)
                for name, url in pages:
                    driver.get(base + url)
                    time.sleep(0.5)
                    height = driver.execute_script("return document.body.scrollHeight")
                    driver.set_window_size(1280, min(max(int(height) + 120, 1000), 2400))
                    path = out / f"web-{name}-{language}.png"
                    driver.save_screenshot(str(path))
                    driver.set_window_size(1280, 1000)
                    written.append(path.name)
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)
            server.stop()
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--tray-child"]:
        tmp, out_dir, language = args[1:4]
        return tray_child(str(Path(tmp) / "agent.sock"), out_dir, language)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("tray", "dashboard"))
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "screenshots")
    opts = parser.parse_args(args)
    opts.out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    if opts.only in (None, "tray"):
        written += shoot_tray(opts.out)
    if opts.only in (None, "dashboard"):
        written += shoot_dashboard(opts.out)
    for name in written:
        print(opts.out / name)
    print(f"screenshots: {len(written)} PNGs in {opts.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
