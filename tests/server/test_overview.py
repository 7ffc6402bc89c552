"""The overview home page (issue 17): figures IT reports upward and 90-day trends as inline SVG."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from server.models import DailyStats, Device, Finding
from tests.server.conftest import Harness
from tests.server.test_lists import _seed


def test_overview_shows_the_fleet_figures_and_svg_trends(harness: Harness) -> None:
    _seed(harness, 50)
    harness.add_admin()
    harness.login()
    home = harness.client.get("/", follow_redirects=False)
    assert home.headers["location"] == "/overview"
    page = harness.client.get("/overview")
    assert page.status_code == 200
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
    sales = harness.client.get("/overview", params={"group": "Sales"}).text
    with harness.sessions() as session:
        n_sales = session.scalar(select(func.count()).where(Device.group_label == "Sales"))
    assert f"<strong>{n_sales}</strong> Devices" in sales


def test_the_rollup_is_kept_and_refreshed_not_recomputed_on_every_view(harness: Harness) -> None:
    _seed(harness, 20)
    harness.add_admin()
    harness.login()
    harness.client.get("/overview")
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
    harness.client.get("/overview")
    with harness.sessions() as session:
        days = session.scalar(select(func.count()).where(DailyStats.group_label == "*"))
    assert days is not None and days >= 2
    assert harness.clock.now() - stamp >= timedelta(days=1)
