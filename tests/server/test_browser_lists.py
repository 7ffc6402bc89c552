"""The overview and the fleet list in a real headless Chromium against a real server (issue 17)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from bench.dashboard import seed
from server.db import make_engine
from tests.server.conftest import ADMIN_PASSWORD, LiveServer, cli, free_port
from tests.server.test_browser import browser

__all__ = ["browser"]


@pytest.fixture
def seeded(tmp_path: Path, fresh_db: list[str]) -> Iterator[LiveServer]:
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
    url = fresh_db[1] if fresh_db else f"sqlite:///{data / 'wxguard.db'}"
    engine = make_engine(url, pool_size=1)
    with engine.connect() as conn:
        seed(conn, 130, 3)
    engine.dispose()
    server = LiveServer(data, free_port())
    try:
        yield server
    finally:
        server.stop()


def test_overview_and_fleet_list_in_chromium(browser: webdriver.Chrome, seeded: LiveServer) -> None:
    base = seeded.url.replace("127.0.0.1", "localhost")  # a secure context keeps the cookie
    wait = WebDriverWait(browser, 15)
    browser.get(base + "/")
    browser.find_element(By.ID, "username").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys(ADMIN_PASSWORD)
    browser.find_element(By.ID, "login-submit").click()
    wait.until(ec.url_contains("/fleet"))

    browser.get(base + "/overview")
    # Built at the server's start-up in the background; until then the page says so and
    # reloads itself.
    figures = WebDriverWait(browser, 60).until(lambda b: b.find_element(By.ID, "fig-devices")).text
    assert figures.startswith("130 Devices") and "compliant:" in figures
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) == 4 and all(c.size["height"] > 100 for c in charts)
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-open polyline")
    # Nothing was refused by the Content-Security-Policy (it would be logged as an error).
    refused = [e for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
    assert refused == []

    # The fleet: a group and a search from the form, then the next page and back to the first.
    browser.get(base + "/fleet")
    assert "130 in total" in browser.find_element(By.ID, "total").text
    Select(browser.find_element(By.ID, "f-group")).select_by_value("Sales")
    browser.find_element(By.ID, "apply").click()
    wait.until(ec.url_contains("group=Sales"))
    assert "26 in total" in browser.find_element(By.ID, "total").text
    groups = browser.find_elements(By.CSS_SELECTOR, "#fleet tbody td:nth-child(5)")
    assert groups and {g.text for g in groups} == {"Sales"}

    browser.get(base + "/fleet")
    first_page = [
        a.text for a in browser.find_elements(By.CSS_SELECTOR, "#fleet tbody td:first-child a")
    ]
    browser.find_element(By.ID, "page-next").click()
    wait.until(ec.url_contains("after="))
    second_page = [
        a.text for a in browser.find_elements(By.CSS_SELECTOR, "#fleet tbody td:first-child a")
    ]
    assert second_page and not set(first_page) & set(second_page)
    browser.find_element(By.ID, "page-first").click()
    wait.until(ec.url_matches(r"/fleet(\?sort=hostname)?$"))
    again = [
        a.text for a in browser.find_elements(By.CSS_SELECTOR, "#fleet tbody td:first-child a")
    ]
    assert again == first_page
    # Searching a Chinese host name.
    search = browser.find_element(By.ID, "f-q")
    search.send_keys("财务-000120")
    browser.find_element(By.ID, "apply").click()
    wait.until(ec.url_contains("q="))
    assert [
        a.text for a in browser.find_elements(By.CSS_SELECTOR, "#fleet tbody td:first-child a")
    ] == ["财务-000120"]
