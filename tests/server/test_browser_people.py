"""What IT and the security team see, in a real headless Chromium against a real server
process (issue 16): the role refusal page, the policy diff before publishing, and a Chinese
page with no raw ids and times in the browser's zone."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.wait import WebDriverWait

from tests.server.conftest import ADMIN_PASSWORD, LiveServer, cli
from tests.server.test_browser import CHROMEDRIVER, CHROMIUM, live  # noqa: F401  (fixture)
from tests.server.test_people_pages import RAW_IDS

BROWSER_ZONE = "Asia/Shanghai"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Chromium whose own time zone is Beijing time (TZ for the browser process)."""
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
    service = Service(CHROMEDRIVER, env={**os.environ, "TZ": BROWSER_ZONE})
    driver = webdriver.Chrome(service=service, options=options)
    driver.implicitly_wait(5)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def log_in(browser: webdriver.Chrome, base: str, username: str, password: str) -> None:
    browser.get(base + "/login")
    browser.find_element(By.ID, "username").send_keys(username)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.ID, "login-submit").click()
    WebDriverWait(browser, 10).until(ec.url_contains("/fleet"))


def base_of(server: LiveServer) -> str:
    # localhost (not 127.0.0.1) is a secure context, so the Secure session cookie is kept.
    return server.url.replace("127.0.0.1", "localhost")


def test_a_viewer_is_refused_with_a_page_that_says_why(
    browser: webdriver.Chrome,
    live: tuple[LiveServer, dict[str, str], str],  # noqa: F811  (the imported fixture)
    tmp_path: Path,
    fresh_db: list[str],
) -> None:
    server, _headers, case = live
    data = str(tmp_path / "srv")  # the live server's data folder
    cli(
        "admin",
        "add",
        "vic",
        "--role",
        "viewer",
        "--data",
        data,
        *fresh_db,
        "--password-stdin",
        stdin="a viewer's long password\n",
    )
    base = base_of(server)
    log_in(browser, base, "vic", "a viewer's long password")
    nav = browser.find_element(By.TAG_NAME, "nav").text
    assert "Policy" not in nav and "Accounts" not in nav
    browser.get(base + "/policy")
    refusal = browser.find_element(By.ID, "forbidden").text
    assert "Not allowed" in refusal
    assert "Your role is “viewer”, which may not manage policy" in refusal
    assert (
        httpx.get(
            server.url + "/policy",
            timeout=10,
            cookies={
                "wxguard_session": browser.get_cookie("wxguard_session")["value"]  # type: ignore[index]
            },
        ).status_code
        == 403
    )
    # the reports page gives counts, never the report
    browser.get(base + "/reports")
    assert case not in browser.find_element(By.TAG_NAME, "main").text
    assert "how many reports" in browser.find_element(By.ID, "counts-only").text
    # in Chinese too
    browser.find_element(By.ID, "lang-switch").click()
    browser.get(base + "/policy")
    assert "您的角色是“只读查看者”" in browser.find_element(By.ID, "forbidden").text


def test_policy_form_shows_the_diff_before_publishing(
    browser: webdriver.Chrome,
    live: tuple[LiveServer, dict[str, str], str],  # noqa: F811  (the imported fixture)
) -> None:
    server, _headers, _case = live
    base = base_of(server)
    log_in(browser, base, "alice", ADMIN_PASSWORD)
    wait = WebDriverWait(browser, 10)
    browser.get(base + "/policy")
    assert browser.find_element(By.ID, "no-policy")
    age = browser.find_element(By.ID, "max_age_days")
    assert age.get_attribute("value") == "90"
    age.clear()
    age.send_keys("60")
    browser.find_element(By.CSS_SELECTOR, 'input[name="disable"][value="itchat"]').click()
    browser.find_element(By.ID, "review").click()
    wait.until(ec.presence_of_element_located((By.ID, "diff")))
    added = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#diff .add")]
    removed = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#diff .del")]
    assert '+    "max_age_days": 60,' in added and '-    "max_age_days": 90,' in removed
    assert any('"itchat"' in line for line in added)
    # nothing is signed yet
    session = browser.get_cookie("wxguard_session")
    assert session is not None
    trail = httpx.get(
        server.url + "/audit?action=policy.publish",
        cookies={"wxguard_session": session["value"]},
        timeout=10,
    )
    assert trail.status_code == 200 and "No events match." in trail.text
    browser.find_element(By.ID, "confirm-publish").click()
    wait.until(ec.presence_of_element_located((By.ID, "published")))
    assert "Published v1" in browser.find_element(By.ID, "published").text
    shown = browser.find_element(By.ID, "current-policy").text
    assert "60 days" in shown and "itchat / itchat-uos" in shown


def test_a_chinese_page_has_no_raw_ids_and_shows_local_time(
    browser: webdriver.Chrome,
    live: tuple[LiveServer, dict[str, str], str],  # noqa: F811  (the imported fixture)
) -> None:
    server, headers, _case = live
    now = datetime.now(UTC)
    finding = {
        "key": "k1",
        "status": "new",
        "rule_id": "itchat",
        "title": "Injected plugin in WeChat",
        "title_i18n": {"zh": "微信中注入了插件", "en": "Injected plugin in WeChat"},
        "category": "plugin-injection",
        "severity": "high",
        "subject": "/home/li.na/.local/lib/itchat",
        "evidence": [{"kind": "file", "matched": "itchat", "path": "/home/li.na/x"}],
        "remediation": "Remove it.",
        "first_seen": now.isoformat(),
        "last_seen": now.isoformat(),
    }
    with httpx.Client(base_url=server.url, timeout=10, headers=headers) as http:
        sent = http.post(
            "/api/v1/findings", json={"scanned_at": now.isoformat(), "findings": [finding]}
        )
        assert sent.status_code == 200, sent.text
        http.post(
            "/api/v1/password-status",
            json={"accounts": [{"user": "li.na", "account_type": "enterprise", "state": "ok"}]},
        )
    base = base_of(server)
    log_in(browser, base, "alice", ADMIN_PASSWORD)
    browser.find_element(By.ID, "lang-switch").click()
    WebDriverWait(browser, 10).until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "设备"))
    # the browser told the server its zone
    cookie = browser.get_cookie("wxguard_tz")
    assert cookie is not None and cookie["value"] == BROWSER_ZONE
    browser.find_element(By.LINK_TEXT, "finance-pc-07").click()
    device_url = browser.current_url
    for url in (
        base + "/fleet",
        device_url,
        base + "/findings",
        base + "/reports",
        base + "/audit",
    ):
        browser.get(url)
        text = browser.find_element(By.TAG_NAME, "body").text
        for raw in RAW_IDS:
            assert raw not in text, (url, raw)
        assert "时间显示为 Asia/Shanghai（UTC+08:00）" in text, url
    browser.get(device_url)
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "微信中注入了插件" in text and "企业" in text and "文件" in text
    times = re.findall(r"(\d{4}-\d\d-\d\d \d\d:\d\d) UTC\+08:00", text)
    assert times, text
    local = [datetime.strptime(t, "%Y-%m-%d %H:%M").replace(tzinfo=None) for t in times]
    expected = (now + timedelta(hours=8)).replace(tzinfo=None)
    assert any(abs((t - expected).total_seconds()) < 180 for t in local), (times, expected)


def test_a_long_path_wraps_instead_of_widening_the_device_page(
    browser: webdriver.Chrome,
    live: tuple[LiveServer, dict[str, str], str],  # noqa: F811  (the imported fixture)
) -> None:
    server, headers, _case = live
    now = datetime.now(UTC).isoformat()
    deep = "/home/li.na/" + "/".join(f"very-long-folder-name-{i:03d}" for i in range(30))
    finding = {
        "key": "deep",
        "status": "new",
        "rule_id": "itchat",
        "title": "itchat",
        "category": "bot-framework",
        "severity": "high",
        "subject": deep,
        "evidence": [{"kind": "file", "matched": "itchat", "path": deep + "/x" * 20}],
        "first_seen": now,
        "last_seen": now,
    }
    sent = httpx.post(
        server.url + "/api/v1/findings",
        json={"scanned_at": now, "findings": [finding]},
        headers=headers,
        timeout=10,
    )
    assert sent.status_code == 200, sent.text
    base = base_of(server)
    browser.set_window_size(1280, 900)
    log_in(browser, base, "alice", ADMIN_PASSWORD)
    browser.find_element(By.LINK_TEXT, "finance-pc-07").click()
    WebDriverWait(browser, 10).until(ec.url_contains("/devices/"))
    assert "very-long-folder-name-029" in browser.find_element(By.TAG_NAME, "body").text
    width = browser.execute_script("return document.documentElement.scrollWidth")
    inner = browser.execute_script("return window.innerWidth")
    assert width <= inner, (width, inner)
    shots = os.environ.get("WXGUARD_SCREENSHOTS")
    if shots:
        browser.save_screenshot(str(Path(shots) / "device-long-path.png"))
