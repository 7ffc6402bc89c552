"""The overview home page (issue 17): figures IT reports upward and 90-day trends as inline SVG."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from server import overview as ov
from server.models import DailyStats, Device, Finding
from tests.server.conftest import Harness
from tests.server.test_lists import _seed


def _computed(harness: Harness, url: str = "/overview") -> Response:
    """The page once the background rollup has finished (bounded wait)."""
    deadline = time.monotonic() + 60
    while True:
        page = harness.client.get(url)
        assert page.status_code == 200
        if 'id="computing"' not in page.text:
            return page
        assert time.monotonic() < deadline, "the rollup never finished"
        time.sleep(0.05)


def test_overview_shows_the_fleet_figures_and_svg_trends(harness: Harness) -> None:
    _seed(harness, 50)
    harness.add_admin()
    harness.login()
    home = harness.client.get("/", follow_redirects=False)
    assert home.headers["location"] == "/overview"
    page = _computed(harness)
    html = page.text
    with harness.sessions() as session:
        compliant = session.scalar(
            select(func.count()).where(Device.compliance_state == "compliant")
        )
        open_ = session.scalar(select(func.count()).where(Finding.state == "open"))
        critical = session.scalar(
            select(func.count()).where(Finding.state == "open", Finding.severity == "critical")
        )
    assert f"compliant: {compliant}</a>" in html
    assert f"Open findings: {open_}</h2>" in html
    by_severity = html[html.index('id="by-severity"') :]
    assert re.search(rf"critical</span></a></th><td>{critical}</td>", by_severity)
    # Four charts, drawn on the server: no script anywhere, the CSP is the strict one.
    # Charts are drawn on the server: the only script is the page's own time-zone helper.
    scripts = re.findall(r"<script[^>]*>", html)
    assert html.count("<svg ") == 4 and scripts == ['<script src="/static/tz.js" defer>']
    assert "script-src" not in page.headers["content-security-policy"]
    assert "'unsafe-eval'" not in page.headers["content-security-policy"]
    # Narrowed to a group: that group's devices only.
    sales = _computed(harness, "/overview?group=Sales").text
    with harness.sessions() as session:
        n_sales = session.scalar(select(func.count()).where(Device.group_label == "Sales"))
    assert f"<strong>{n_sales}</strong> Devices" in sales


def test_the_rollup_is_kept_and_refreshed_not_recomputed_on_every_view(harness: Harness) -> None:
    _seed(harness, 20)
    harness.add_admin()
    harness.login()
    _computed(harness)
    with harness.sessions() as session:
        first = session.get(DailyStats, (harness.clock.now().date(), "*"))
        assert first is not None and first.detail is not None
        stamp = first.computed_at
    harness.clock.advance(minutes=1)
    harness.client.get("/overview")
    with harness.sessions() as session:
        again = session.get(DailyStats, (harness.clock.now().date(), "*"))
        assert again is not None and again.computed_at == stamp  # within 10 minutes: kept
    harness.clock.advance(days=1)
    _computed(harness)
    with harness.sessions() as session:
        days = session.scalar(select(func.count()).where(DailyStats.group_label == "*"))
    assert days is not None and days >= 2
    assert harness.clock.now() - stamp >= timedelta(days=1)


def test_the_first_overview_never_waits_for_the_rollup(harness: Harness) -> None:
    """On a fresh database the page answers at once, says the figures are being computed (in
    both languages) and reloads itself; the rollup is built on a thread of its own."""
    _seed(harness, 30)
    harness.add_admin()
    harness.login()
    gate = threading.Event()
    real = ov.refresh

    def slow_rollup(*args: Any, **kwargs: Any) -> None:
        assert threading.current_thread() is not threading.main_thread()
        gate.wait(120)  # a huge fleet: the rollup takes as long as the test wants
        real(*args, **kwargs)

    ov.refresh = slow_rollup
    try:
        started = time.monotonic()
        page = harness.client.get("/overview")
        assert time.monotonic() - started < 10
        assert page.status_code == 200 and 'id="computing"' in page.text
        assert "being computed" in page.text and 'http-equiv="refresh"' in page.text
        zh = harness.client.get("/overview", headers={"Accept-Language": "zh-CN"}).text
        assert "正在后台计算" in zh
        # The findings list answers meanwhile too (counted, as there is no rollup yet).
        assert harness.client.get("/findings").status_code == 200
        with harness.sessions() as session:
            assert session.get(DailyStats, (harness.clock.now().date(), "*")) is None
    finally:
        gate.set()
        ov.refresh = real
    page = _computed(harness)
    assert 'id="fig-devices"' in page.text and "being computed" not in page.text
    # Stale figures (older than the refresh) are shown with their time while recomputed.
    harness.clock.advance(minutes=11)
    gate.clear()
    ov.refresh = slow_rollup
    try:
        stale = harness.client.get("/overview").text
        assert 'id="fig-devices"' in stale
    finally:
        gate.set()
        ov.refresh = real
    _computed(harness)


def test_the_server_process_builds_the_rollup_at_start(harness: Harness) -> None:
    """Started as a server (its lifespan), the periodic job computes today's rollup before
    anybody opens a page."""
    _seed(harness, 20)
    with TestClient(harness.app):  # runs the app's start-up and shut-down
        deadline = time.monotonic() + 60
        while True:
            with harness.sessions() as session:
                row = session.get(DailyStats, (harness.clock.now().date(), "*"))
                if row is not None and row.detail is not None:
                    break
            assert time.monotonic() < deadline, "no rollup after start-up"
            time.sleep(0.05)
    assert row.devices == 20
