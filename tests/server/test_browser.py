"""The dashboard in a real headless Chromium against a real server process."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from tests.server.conftest import ADMIN_PASSWORD, LiveServer, cli, free_port
from tests.server.test_reports import PNG, REPORT

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("Chromium is not installed: run scripts/setup.sh (as root)")
    profile = tempfile.mkdtemp(prefix="wxguard-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--lang=en-US",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def live(tmp_path: Path, fresh_db: list[str]) -> Iterator[tuple[LiveServer, dict[str, str], str]]:
    data = tmp_path / "srv"
    cli(
        "init",
        "--data",
        str(data),
        *fresh_db,
        "--admin",
        "alice",
        "--password-stdin",
        stdin=ADMIN_PASSWORD + "\n",
    )
    secret = cli("secret", "create", "--data", str(data)).stdout.strip()
    server = LiveServer(data, free_port())
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            token = http.post(
                "/api/v1/enroll",
                json={"secret": secret, "hostname": "finance-pc-07", "os": "Windows 11"},
            ).json()["device_token"]
            headers = {"Authorization": f"Bearer {token}"}
            http.post("/api/v1/heartbeat", json={"agent_version": "1.4.2"}, headers=headers)
            case = http.post(
                "/api/v1/reports",
                data={"report": json.dumps(REPORT)},
                files=[("attachment", ("shot.png", PNG, "image/png"))],
                headers=headers,
            ).json()["case"]
        yield server, headers, case
    finally:
        server.stop()


def test_log_in_see_device_triage_and_reply(
    browser: webdriver.Chrome, live: tuple[LiveServer, dict[str, str], str]
) -> None:
    server, headers, case = live
    # localhost (not 127.0.0.1) is a secure context, so the Secure session cookie is kept over http.
    base = server.url.replace("127.0.0.1", "localhost")
    wait = WebDriverWait(browser, 10)
    browser.get(base + "/fleet")
    assert browser.current_url.endswith("/login")
    browser.find_element(By.ID, "username").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys(ADMIN_PASSWORD)
    browser.find_element(By.ID, "login-submit").click()
    wait.until(ec.url_contains("/fleet"))
    table = browser.find_element(By.ID, "fleet")
    assert "finance-pc-07" in table.text and "1.4.2" in table.text

    browser.get(base + "/reports")
    browser.find_element(By.LINK_TEXT, case).click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "case"), case))
    assert browser.find_element(By.ID, "report-status").text == "new"
    assert browser.find_elements(By.LINK_TEXT, "shot.png")

    Select(browser.find_element(By.ID, "status")).select_by_value("triaged")
    browser.find_element(By.ID, "set-status").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "report-status"), "triaged"))

    browser.find_element(By.ID, "reply-body").send_keys("Thanks — please do not click the link.")
    browser.find_element(By.ID, "send-reply").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "messages"), "please do not click"))

    # Switch to Chinese: the same page, translated.
    browser.find_element(By.ID, "lang-switch").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "report-status"), "处理中"))

    mine = httpx.get(f"{server.url}/api/v1/reports/{case}", headers=headers, timeout=10).json()
    assert mine["status"] == "triaged"
    assert [r["body"] for r in mine["replies"]] == ["Thanks — please do not click the link."]
