"""A keyring that cannot be opened reaches IT (issue 16): the tray tells a real agent with its
password status (`keyring_available: false`), the agent forwards it to a real server, and the
server's state function reads it, so `wxguard-server device show` and the dashboard's device
page (real headless Chromium) say "keyring unavailable" with the next step, in English and
Chinese, instead of "not reported"."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.wait import WebDriverWait

from agent.client import AgentClient
from server.models import Device, PasswordStatus
from tests.conftest import script
from tests.e2e.test_agent_server import eventually
from tests.server.test_browser import browser  # noqa: F401  (fixture)
from tests.support.real_agent import AgentUnderTest
from tests.support.real_server import RealServer, running_server

PASSWORD = "keyring-test-password-1"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RealServer]:
    with running_server(tmp_path / "server") as srv:
        yield srv


@pytest.fixture
def agent(tmp_path: Path, server: RealServer) -> Iterator[AgentUnderTest]:
    under_test = AgentUnderTest(tmp_path / "agent")
    under_test.start()
    under_test.enroll(server)
    yield under_test
    under_test.stop()


def device_show(server: RealServer, *args: str) -> str:
    run = subprocess.run(
        [script("wxguard-server"), "device", "show", "--data", str(server.data), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_an_unavailable_keyring_reaches_the_device_page_and_the_server_cli(
    server: RealServer,
    agent: AgentUnderTest,
    browser: webdriver.Chrome,  # noqa: F811  (the imported fixture)
) -> None:
    unknown = [
        {"account_type": "enterprise", "state": "unknown"},
        {"account_type": "personal", "state": "unknown"},
    ]
    with AgentClient(agent.socket, timeout=10) as client:
        client.report_password_status(unknown, keyring_available=False)
    eventually(
        lambda: [r.keyring_available for r in server.rows(PasswordStatus)] == [False, False],
        30,
        "the keyring's state on the server",
        agent,
    )
    (device,) = server.rows(Device)

    view = json.loads(device_show(server, device.id, "--format", "json"))
    assert view["keyring_available"] is False
    assert "keyring-unavailable" in [r["code"] for r in view["reasons"]]
    en = device_show(server, device.id, "--lang", "en")
    assert "Keyring: unavailable (missing or locked)" in en, en
    assert "Next step: Unlock your login keyring" in en and "Keyring: not reported" not in en
    zh = device_show(server, device.id, "--lang", "zh")
    assert "系统密钥环：不可用" in zh and "下一步：解锁登录密钥环" in zh, zh

    add = subprocess.run(
        [script("wxguard-server"), "admin", "add", "--data", str(server.data), "alice",
         "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert add.returncode == 0, add.stderr
    base = server.url.replace("127.0.0.1", "localhost")  # a secure context keeps the cookie
    wait = WebDriverWait(browser, 15)
    browser.get(base + "/login")
    browser.find_element(By.ID, "username").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login-submit").click()
    wait.until(ec.url_contains("/fleet"))
    browser.get(f"{base}/devices/{device.id}")
    keyring = browser.find_element(By.ID, "device-keyring").text
    assert keyring.startswith("Keyring: unavailable (missing or locked)"), keyring
    assert "Next step: Unlock your login keyring" in keyring
    reasons = [
        e.get_attribute("data-code") for e in browser.find_elements(By.CSS_SELECTOR, ".reason")
    ]
    assert "keyring-unavailable" in reasons
    browser.find_element(By.ID, "lang-switch").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "device-keyring"), "系统密钥环"))
    keyring = browser.find_element(By.ID, "device-keyring").text
    assert keyring.startswith("系统密钥环：不可用") and "下一步：解锁登录密钥环" in keyring, keyring
