"""Fleet-scale lists (issue 17): keyset pages, filters, sorts, totals and groups, as IT sees them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import urlencode

from sqlalchemy import func, select, text

from bench.dashboard import seed
from server.models import Device, Finding, Report
from tests.server.conftest import Harness, rollup_finished

TOTAL_RE = re.compile(r'id="total">(\d+)')


def _seed(harness: Harness, devices: int = 120) -> None:
    with harness.engine.connect() as conn:
        seed(conn, devices, 3)


def _next(page: str) -> str | None:
    found = re.search(r'rel="next" href="([^"]+)"', page)
    return unescape(found.group(1)) if found else None


def _hosts(page: str, table: str = "fleet") -> list[str]:
    if f'id="{table}"' not in page:
        return []
    body = page[page.index(f'id="{table}"') :]
    body = body[: body.index("</table>")]
    return [unescape(h) for h in re.findall(r'<a href="/devices/[^"]+">([^<]+)</a>', body)]


def _total(page: str) -> int:
    found = TOTAL_RE.search(page.replace("共 ", ""))
    assert found, "page shows no total"
    return int(found.group(1))


def _walk(harness: Harness, url: str, table: str = "fleet") -> tuple[list[str], list[str]]:
    """Every page of a list from `url`: the hosts in order, and the pages' HTML."""
    hosts: list[str] = []
    pages: list[str] = []
    next_url: str | None = url
    while next_url is not None:
        page = harness.client.get(next_url)
        assert page.status_code == 200, page.text
        pages.append(page.text)
        hosts += _hosts(page.text, table)
        next_url = _next(page.text)
        assert len(pages) < 50, "pagination does not end"
    return hosts, pages


def test_fleet_pages_show_every_device_once_in_a_stable_order(harness: Harness) -> None:
    _seed(harness, 120)
    harness.add_admin()
    harness.login()
    hosts, pages = _walk(harness, "/fleet")
    with harness.sessions() as session:
        stored = list(session.scalars(select(Device.hostname).order_by(Device.hostname)))
    assert hosts == stored  # every device exactly once, in host-name order
    assert len(pages) == 3  # 50 + 50 + 20
    assert _total(pages[0]) == 120
    assert 'id="page-first"' not in pages[0] and 'id="page-next"' in pages[0]
    assert 'id="page-first"' in pages[-1] and 'id="page-next"' not in pages[-1]  # last page
    # Reverse order gives the same devices backwards; so does walking it twice.
    backwards, _ = _walk(harness, "/fleet?sort=-hostname")
    assert backwards == stored[::-1]
    assert _walk(harness, "/fleet")[0] == hosts
    # Sorting on a column with ties (open findings) still lists each device once.
    by_findings, _ = _walk(harness, "/fleet?sort=-findings")
    assert sorted(by_findings) == sorted(stored)


def _link(page: str, rel: str) -> str | None:
    found = re.search(rf'rel="{rel}" href="([^"]+)"', page)
    return unescape(found.group(1)) if found else None


def _rows(page: str, table: str) -> list[str]:
    """The rows of a list's table, as text (hosts, case numbers or audit lines)."""
    body = page[page.index(f'id="{table}"') :]
    body = body[body.index("<tbody") : body.index("</tbody>")]
    return [re.sub(r"<[^>]+>|\s+", " ", r).strip() for r in body.split("<tr")[1:]]


def test_previous_page_links_lead_back_through_every_list(harness: Harness) -> None:
    _seed(harness, 120)
    harness.add_admin()
    harness.login()
    for url, table in (
        ("/fleet", "fleet"),
        ("/fleet?sort=-findings&findings=open", "fleet"),
        ("/findings?state=all", "findings"),
        ("/compliance", "compliance"),
        ("/audit", "audit"),
    ):
        seen: list[list[str]] = []
        pages: list[str] = []
        next_url: str | None = url
        while next_url is not None:
            page = harness.client.get(next_url).text
            pages.append(page)
            seen.append(_rows(page, table))
            next_url = _link(page, "next")
        assert len(pages) >= 2, url
        assert _link(pages[0], "prev") is None, url  # the first page has none
        # From the last page back to the first, by "previous" links: the same rows, the same
        # order, and the first page reached that way offers no "previous" and no "first".
        back = pages[-1]
        for expected in reversed(seen[:-1]):
            prev = _link(back, "prev")
            assert prev is not None and "before=" in prev, url
            back = harness.client.get(prev).text
            assert _rows(back, table) == expected, url
            assert _link(back, "next") is not None, url
        assert _link(back, "prev") is None and 'id="page-first"' not in back, url
        # Forward again from a page reached backwards: the next link goes on where it was.
        assert _rows(harness.client.get(_link(back, "next") or "").text, table) == seen[1], url
        # Named in the reader's language.
        assert "Previous page" in pages[1], url
        zh = harness.client.get(
            _link(pages[1], "first") or "", headers={"Accept-Language": "zh-CN"}
        )
        assert (
            "上一页"
            in harness.client.get(
                _link(pages[-1], "prev") or "", headers={"Accept-Language": "zh-CN"}
            ).text
            and zh.status_code == 200
        ), url


def test_fleet_filters_and_totals_agree_with_the_database(harness: Harness) -> None:
    _seed(harness, 120)
    harness.add_admin()
    harness.login()
    with harness.sessions() as session:
        sales = set(session.scalars(select(Device.hostname).where(Device.group_label == "Sales")))
        win11_bad = session.scalar(
            select(func.count()).where(
                Device.os == "Windows 11", Device.compliance_state == "non-compliant"
            )
        )
    hosts, pages = _walk(harness, "/fleet?group=Sales")
    assert set(hosts) == sales and _total(pages[0]) == len(sales)
    page = harness.client.get("/fleet?state=non-compliant&os=Windows+11").text
    assert _total(page) == win11_bad
    # The form keeps the chosen filters, and the state totals are links that keep them too.
    assert '<option value="Windows 11" selected>' in page
    assert "os=Windows+11" in page[page.index('id="state-counts"') :]
    # Search: a Chinese host name, by part of it.
    found = harness.client.get("/fleet", params={"q": "财务-00001"}).text
    assert _hosts(found) == ["财务-000010"]


def test_a_filter_that_matches_nothing_says_so(harness: Harness) -> None:
    _seed(harness, 20)
    harness.add_admin()
    harness.login()
    for url in (
        "/fleet?q=no-such-host",
        "/fleet?group=Nowhere",
        "/findings?rule=no.such.rule",
        "/compliance?q=no-such-host",
        "/reports?q=WXG-999999",
        "/audit?actor=nobody",
    ):
        page = harness.client.get(url)
        assert page.status_code == 200, url
        assert _total(page.text) == 0, url
        assert 'id="empty"' in page.text and 'id="page-next"' not in page.text, url


def test_a_forged_or_stale_cursor_starts_at_the_first_page(harness: Harness) -> None:
    _seed(harness, 60)
    harness.add_admin()
    harness.login()
    first = _hosts(harness.client.get("/fleet").text)
    for cursor in ("garbage", "W1tdXQ", "WyJ4IiwxXQ", "%00"):
        page = harness.client.get("/fleet", params={"after": cursor})
        assert page.status_code == 200 and _hosts(page.text) == first


def test_findings_list_filters_by_severity_category_group_and_device(harness: Harness) -> None:
    _seed(harness, 60)
    harness.add_admin()
    harness.login()
    with harness.sessions() as session:
        critical = session.scalar(
            select(func.count()).where(Finding.state == "open", Finding.severity == "critical")
        )
        one = session.scalars(select(Device).where(Device.open_findings > 0)).first()
        assert one is not None
        device_id, device_open = one.id, one.open_findings
    page = harness.client.get("/findings?severity=critical").text
    assert _total(page) == critical
    body = page[page.index('id="findings"') :]
    assert "sev-high" not in body and "sev-critical" in body
    mine, _ = _walk(harness, f"/findings?device={device_id}", table="findings")
    assert len(mine) == device_open
    # Every open finding, one page after another, each once.
    everything, pages = _walk(harness, "/findings", table="findings")
    assert len(everything) == _total(pages[0])
    # By rule: the summary links to the list narrowed to that rule.
    assert 'id="rules"' in pages[0] and "rule=bench." in pages[0]


def test_findings_narrowed_by_severity_and_category_take_totals_from_the_rollup(
    harness: Harness,
) -> None:
    """Severity + category (and a group): totals, the other filter's counts and the per-rule
    summary equal the database's, read from the rollup (said on the page), the rows live."""
    _seed(harness, 80)
    harness.add_admin()
    harness.login()
    rollup_finished(harness)
    for params in (
        {"severity": "critical", "category": "plugin-injection"},
        {"severity": "high"},
        {"category": "binary-patcher", "group": "Sales"},
    ):
        page = harness.client.get("/findings", params=params).text
        where = [Finding.state == "open"]
        if "severity" in params:
            where.append(Finding.severity == params["severity"])
        if "category" in params:
            where.append(Finding.category == params["category"])
        if "group" in params:
            where.append(
                Finding.device_id.in_(
                    select(Device.id).where(Device.group_label == params["group"])
                )
            )
        with harness.sessions() as session:
            total = session.scalar(select(func.count()).where(*where))
            by_rule = {
                str(r): int(n)
                for r, n in session.execute(
                    select(Finding.rule_id, func.count()).where(*where).group_by(Finding.rule_id)
                )
            }
        assert total and _total(page) == total, params
        rules = page[page.index('id="rules"') : page.index("</table>", page.index('id="rules"'))]
        shown = dict(re.findall(r"<code>([^<]+)</code>.*?<td>(\d+)</td><td>\d+</td></tr>", rules))
        assert {k: int(v) for k, v in shown.items()} == by_rule, params
        assert "updated every 10 minutes" in page, params
        rows, _ = _walk(harness, "/findings?" + urlencode(params), table="findings")
        assert len(rows) == total, params  # the rows themselves are live and complete


def test_findings_search_by_host_name_lists_exactly_those_devices_findings(
    harness: Harness,
) -> None:
    """A host-name search (resolved to the matching devices first; trigram-indexed on
    PostgreSQL) gives their findings and totals, in Chinese too, and nothing for no match."""
    _seed(harness, 60)
    harness.add_admin()
    harness.login()
    for q, severity in (("财务-0000", ""), ("pc-00001", "critical"), ("PC-00001", "")):
        with harness.sessions() as session:
            where = [
                Finding.state == "open",
                Finding.device_id.in_(
                    select(Device.id).where(Device.hostname.ilike(f"%{q.lower()}%"))
                ),
            ]
            if severity:
                where.append(Finding.severity == severity)
            expected = session.scalar(select(func.count()).where(*where))
        params = {"q": q, **({"severity": severity} if severity else {})}
        rows, pages = _walk(harness, "/findings?" + urlencode(params), table="findings")
        assert _total(pages[0]) == expected == len(rows), params
    assert _total(harness.client.get("/findings?q=no-such-host").text) == 0


def test_device_group_comes_from_the_enrollment_secret_label(harness: Harness) -> None:
    from server import crud
    from server.db import session_scope

    now = harness.clock.now()
    with session_scope(harness.sessions) as session:
        secret = crud.create_secret(session, now, 1, now + timedelta(days=1), label="上海办公室")
    r = harness.client.post(
        "/api/v1/enroll",
        json={"secret": secret, "hostname": "sh-pc-1", "os": "linux", "agent_version": "1"},
    )
    assert r.status_code == 201
    harness.enroll("elsewhere")
    harness.add_admin()
    harness.login()
    page = harness.client.get("/fleet", params={"group": "上海办公室"}).text
    assert _hosts(page) == ["sh-pc-1"]
    assert "上海办公室" in page


def test_reports_search_by_case_number_and_status_totals(harness: Harness) -> None:
    _seed(harness, 100)  # 10 reports
    harness.add_admin()
    harness.login()
    with harness.sessions() as session:
        first_id = session.scalar(select(func.min(Report.id)))
        new = session.scalar(select(func.count()).where(Report.status == "new"))
    page = harness.client.get("/reports", params={"q": f"WXG-{first_id:06d}"}).text
    assert _total(page) == 1 and f"WXG-{first_id:06d}" in page
    assert _total(harness.client.get("/reports?status=new").text) == new


def test_migration_0006_backfills_summaries_groups_and_ninety_days(db_url: str) -> None:
    """Rows written before 0006 get their summaries, group and a daily history on upgrade."""
    from alembic import command

    from server.db import make_engine
    from server.migrate import alembic_config, upgrade

    engine = make_engine(db_url, pool_size=1)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    try:
        cfg = alembic_config(str(engine.url))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0005")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO enrollment_secrets (id, secret_hash, label, uses_allowed, uses,"
                    " created_at, revoked) VALUES (1, 'h', 'Sales', 5, 1, :t, false)"
                ),
                {"t": now},
            )
            conn.execute(
                text(
                    "INSERT INTO devices (id, token_hash, hostname, os, agent_version,"
                    " enrolled_at, enrolled_ip, secret_id, last_scan_at, policy_version_seen,"
                    " users_seen, news) VALUES ('d1', 't', 'pc', 'linux', '1', :e, '', 1, :t, 0,"
                    " '[]', 0)"
                ),
                {"e": now - timedelta(days=30), "t": now},
            )
            for key, severity, state, first, resolved in [
                ("a", "high", "open", now - timedelta(days=10), None),
                ("b", "critical", "open", now - timedelta(days=2), None),
                ("c", "low", "resolved", now - timedelta(days=5), now - timedelta(days=3)),
            ]:
                conn.execute(
                    text(
                        "INSERT INTO findings (device_id, key, rule_id, title, title_i18n,"
                        " category, severity, subject, evidence, remediation, remediation_i18n,"
                        " state, first_seen, last_seen, resolved_at, received_at) VALUES ('d1',"
                        " :k, 'r', 't', '{}', 'c', :s, '', '[]', '', '{}', :st, :f, :f, :r, :f)"
                    ),
                    {"k": key, "s": severity, "st": state, "f": first, "r": resolved},
                )
        upgrade(engine)
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT open_findings, worst_severity, compliance_state, group_label,"
                    " last_seen_at FROM devices"
                )
            ).one()
            assert tuple(row[:4]) == (2, "critical", "non-compliant", "Sales")
            assert row[4] is not None  # never heartbeated: last seen at enrollment
            history = {
                str(day)[:10]: (devices, open_, new, resolved, compliant)
                for day, devices, open_, new, resolved, compliant in conn.execute(
                    text(
                        "SELECT day, devices, open_findings, new_findings, resolved_findings,"
                        " compliant FROM daily_stats WHERE group_label = '*'"
                    )
                )
            }
            assert len(history) == 90
            day = (now - timedelta(days=4)).date().isoformat()
            # Four days ago: a and c were open (c resolved a day later), one device enrolled;
            # past device states cannot be reconstructed: NULL, not a made-up zero.
            assert history[day] == (1, 2, 0, 0, None)
            assert history[(now - timedelta(days=3)).date().isoformat()][:4] == (1, 1, 0, 1)
            assert (
                conn.scalar(text("SELECT count(*) FROM daily_stats WHERE group_label = 'Sales'"))
                == 90
            )
    finally:
        engine.dispose()
