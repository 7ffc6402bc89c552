"""Contact details are their own fields, end to end (issue 16): a report filed with
`wxguard report --contact-method … --contact …` on a real agent arrives at a real server with
the method and the number set and the employee's text exactly as written (no "[contact: …]"
pasted into it); the dashboard's report page shows them, labelled, in English and Chinese, in a
real headless Chromium; a bad address is refused before anything is queued, in both languages."""

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

from server.models import Report
from tests.conftest import script
from tests.e2e.test_agent_server import eventually
from tests.server.test_browser import browser  # noqa: F401  (fixture)
from tests.support.real_agent import AgentUnderTest
from tests.support.real_server import RealServer, running_server

PASSWORD = "contact-test-password-1"
TEXT = "A colleague's account sent me a login link.\n可疑链接：不要点。\n\n[not a contact line]"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RealServer]:
    with running_server(tmp_path / "server") as srv:
        yield srv


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentUnderTest]:
    under_test = AgentUnderTest(tmp_path / "agent")
    under_test.start()
    yield under_test
    under_test.stop()


def test_contact_details_arrive_as_fields_and_the_dashboard_shows_them(
    server: RealServer,
    agent: AgentUnderTest,
    browser: webdriver.Chrome,  # noqa: F811  (the imported fixture)
) -> None:
    agent.enroll(server)
    # A bad number: refused in both languages before anything is queued.
    bad = agent.cli(
        "report", "--category", "other", "--description", "x", "--contact-method", "phone",
        "--contact", "call 138",
    )  # fmt: skip
    assert bad.returncode == 2, bad.stdout
    assert "digits" in bad.stderr and "电话号码" in bad.stderr
    bad = agent.cli(
        "report", "--category", "other", "--description", "x", "--contact-method", "email",
    )  # fmt: skip
    assert bad.returncode == 2 and "give your email address" in bad.stderr, bad.stderr

    run = agent.cli(
        "report", "--category", "suspicious-message", "--description", TEXT,
        "--summary", "Login link from a colleague", "--contact-method", "phone",
        "--contact", "+86 138 0013 8000", "--format", "json",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    queued = json.loads(run.stdout)
    assert queued["state"] == "queued"
    assert (queued["contact_method"], queued["contact_address"]) == ("phone", "+86 138 0013 8000")
    eventually(lambda: len(server.rows(Report)) == 1, 30, "the report on the server", agent)
    (report,) = server.rows(Report)
    assert report.description == TEXT  # exactly as written: nothing appended
    assert (report.contact_method, report.contact_address) == ("phone", "+86 138 0013 8000")

    # The server CLI lists them for scripts.
    listed = subprocess.run(
        [script("wxguard-server"), "reports", "--data", str(server.data), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["contact_method"], row["contact_address"]) == ("phone", "+86 138 0013 8000")

    # The security team reads them on the report's page, in the viewer's language.
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
    browser.get(f"{base}/reports/{report.id}")
    contact = browser.find_element(By.ID, "report-contact")
    assert contact.text == "Phone: +86 138 0013 8000"
    link = browser.find_element(By.ID, "contact-address")
    assert link.get_attribute("href") == "tel:+8613800138000"
    facts = browser.find_element(By.CSS_SELECTOR, "dl.facts").text
    assert "How to contact" in facts
    description = browser.find_element(By.CSS_SELECTOR, "p.prose").text
    assert "[contact:" not in description and "[not a contact line]" in description
    browser.find_element(By.ID, "lang-switch").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "report-contact"), "电话"))
    facts = browser.find_element(By.CSS_SELECTOR, "dl.facts").text
    assert "联系方式" in facts and "How to contact" not in facts
    assert browser.find_element(By.ID, "report-contact").text == "电话：+86 138 0013 8000"
