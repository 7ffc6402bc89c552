"""The monthly compliance report (issue 17) on the real app and database: known data seeded
across February and March 2026 (and across their bounds in Shanghai and in UTC), checked on the
page and in the CSV, in both languages; prev/next links; readers of reports only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select, update

from server.db import session_scope
from server.models import Admin, AuditEvent, DailyStats, Device, Finding, Report
from tests.server.conftest import Harness
from tests.server.test_roles import add, client_for


def _t(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def _seed(harness: Harness) -> None:
    ids = [harness.enroll(f"pc-{n}").device_id for n in range(1, 5)]
    # (enrolled, revoked): 2026-02-28 20:00 UTC is already March 1st in Shanghai (UTC+8).
    devices = [
        (_t(2026, 1, 10), None),
        (_t(2026, 2, 28, 20), None),
        (_t(2026, 2, 5), _t(2026, 3, 10)),
        (_t(2026, 3, 15), None),
    ]
    # (severity, first seen, resolved)
    findings = [
        ("high", _t(2026, 2, 3), None),
        ("critical", _t(2026, 1, 31, 17), _t(2026, 3, 31, 17)),  # Feb 1st / Apr 1st in Shanghai
        ("medium", _t(2026, 3, 5), _t(2026, 3, 6)),
        ("high", _t(2026, 3, 20), None),
        ("low", _t(2026, 2, 10), _t(2026, 2, 28, 15)),
    ]
    # (created, [(at, to)]): a report reopened and resolved again counts its last resolution
    reports = [
        (_t(2026, 2, 2), [(_t(2026, 2, 3), "resolved")]),  # 24 h
        (_t(2026, 2, 10), [(_t(2026, 2, 12), "resolved")]),  # 48 h
        (_t(2026, 2, 20), [(_t(2026, 2, 21), "triaged"), (_t(2026, 3, 2), "resolved")]),  # 240 h
        (_t(2026, 3, 3), []),
        (
            _t(2026, 3, 10),
            [
                (_t(2026, 3, 11, 12), "resolved"),
                (_t(2026, 3, 12), "triaged"),
                (_t(2026, 3, 13), "resolved"),  # 72 h
            ],
        ),
    ]
    # fleet rollup rows (day, devices, compliant, detail); a group row that must not count
    rollup: list[tuple[date, str, int, int, dict[str, Any] | None]] = [
        (date(2026, 2, 27), "*", 2, 1, None),
        (date(2026, 2, 28), "*", 2, 2, {"passwords": {"overdue": 1}}),
        (date(2026, 3, 1), "*", 4, 1, None),
        (date(2026, 3, 31), "*", 3, 2, {"passwords": {"overdue": 2, "ok": 1}}),
        (date(2026, 3, 31), "lab", 1, 0, {"passwords": {"overdue": 1}}),
    ]
    with session_scope(harness.sessions) as s:
        for n, (device_id, (enrolled, revoked)) in enumerate(zip(ids, devices, strict=True)):
            s.execute(
                update(Device)
                .where(Device.id == device_id)
                .values(enrolled_at=enrolled, revoked_at=revoked, group_label="lab" * (n == 1))
            )
        for n, (severity, seen, resolved) in enumerate(findings):
            s.add(
                Finding(
                    device_id=ids[0],
                    key=f"k{n}",
                    rule_id="rule.a",
                    title="t",
                    category="plugin",
                    severity=severity,
                    state="resolved" if resolved else "open",
                    first_seen=seen,
                    last_seen=resolved or seen,
                    resolved_at=resolved,
                    received_at=seen,
                )
            )
        for n, (created, changes) in enumerate(reports):
            report = Report(
                device_id=ids[0],
                idempotency_key=f"i{n}",
                payload_sha256="0" * 64,
                category="other",
                summary="s",
                created_at=created,
                updated_at=created,
                status=changes[-1][1] if changes else "new",
            )
            s.add(report)
            s.flush()
            for at, to in changes:
                s.add(
                    AuditEvent(
                        at=at,
                        actor="admin:root",
                        action="report.status",
                        target=report.case,
                        ip="",
                        detail={"from": "new", "to": to},
                    )
                )
        for day, group, n, ok, detail in rollup:
            s.add(
                DailyStats(
                    day=day,
                    group_label=group,
                    devices=n,
                    compliant=ok,
                    detail=detail,
                    computed_at=_t(day.year, day.month, day.day, 23),
                )
            )


def _text(page: str, element_id: str) -> str:
    start = page.index(f'id="{element_id}"')
    return page[page.index(">", start) + 1 : page.index("<", start + 1)].strip()


def _csv(body: bytes) -> dict[str, list[str]]:
    assert body.startswith("\ufeff".encode())  # Excel reads the Chinese right
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["月份 / month", "指标代码 / key", "指标 / figure", "数值 / value"]
    return {r[1]: r for r in rows[1:]}


def test_the_monthly_report_counts_each_month_in_the_readers_zone(harness: Harness) -> None:
    harness.clock.set(_t(2026, 4, 10, 9))
    _seed(harness)
    add(harness, "root", "administrator")
    with session_scope(harness.sessions) as s:
        s.execute(update(Admin).where(Admin.username == "root").values(time_zone="Asia/Shanghai"))
    root = client_for(harness, "root")

    march = root.get("/reports/monthly", params={"month": "2026-03"})
    assert march.status_code == 200, march.text
    page = march.text
    assert _text(page, "month-name") == "March 2026"
    assert "2026-03-01 00:00 UTC+08:00" in _text(page, "period")
    assert _text(page, "m-devices") == "3"
    assert _text(page, "m-share-end") == "66.7%"  # 2 of 3 on March 31st
    assert _text(page, "m-share-avg") == "45.8%"  # (1/4 + 2/3) / 2
    assert _text(page, "m-overdue") == "2"
    assert "2026-03-31" in _text(page, "m-rollup")
    assert _text(page, "m-opened-total") == "2" and _text(page, "m-resolved-total") == "1"
    assert _text(page, "m-received") == "2" and _text(page, "m-resolved-reports") == "2"
    assert _text(page, "m-median") == "156.0 hours"  # median of 240 h and 72 h
    assert 'href="/reports/monthly?month=2026-02"' in page
    assert 'href="/reports/monthly?month=2026-04"' in page
    assert 'href="/reports/monthly.csv?month=2026-03"' in page

    feb = root.get("/reports/monthly", params={"month": "2026-02"})
    cells = _csv(root.get("/reports/monthly.csv", params={"month": "2026-02"}).content)
    assert cells["time_zone"][3] == "Asia/Shanghai"
    assert cells["period_start"][3] == "2026-02-01T00:00:00+08:00"
    assert cells["devices_at_end"][3] == "2" == _text(feb.text, "m-devices")
    assert cells["compliant_share_end"][3] == "100.0%"
    assert cells["compliant_share_avg"][3] == "75.0%"
    assert cells["password_overdue_devices"][3] == "1"
    opened = {k.split(".")[1]: int(v[3]) for k, v in cells.items() if k.startswith("findings_o")}
    resolved = {k.split(".")[1]: int(v[3]) for k, v in cells.items() if k.startswith("findings_r")}
    assert opened == {"critical": 1, "high": 1, "medium": 0, "low": 1, "info": 0}
    assert resolved == {"critical": 0, "high": 0, "medium": 0, "low": 1, "info": 0}
    assert cells["reports_received"][3] == "3" and cells["reports_resolved"][3] == "2"
    assert cells["median_resolve_hours"][3] == "36.0 hours"
    assert cells["reports_received"][0] == "2026-02"
    with harness.sessions() as s:
        exported = s.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()
    assert [(e.target, e.detail["month"]) for e in exported] == [("monthly", "2026-02")]

    # narrowed to a group: its devices, findings and reports (none), and its rollup rows
    lab = root.get("/reports/monthly", params={"month": "2026-03", "group": "lab"}).text
    assert _text(lab, "month-group") == "lab" and _text(lab, "m-devices") == "1"
    assert _text(lab, "m-share-end") == "0.0%" and _text(lab, "m-overdue") == "1"
    assert _text(lab, "m-opened-total") == "0" and _text(lab, "m-received") == "0"
    assert 'href="/reports/monthly?month=2026-02&amp;group=lab"' in lab
    lab_csv = _csv(root.get("/reports/monthly.csv?month=2026-03&group=lab").content)
    assert lab_csv["group"][3] == "lab" and lab_csv["devices_at_end"][3] == "1"
    assert cells["group"][3] == "all devices"

    # the same February for a reader in UTC: the bounds move with the zone
    add(harness, "ute", "analyst")
    utc = _csv(client_for(harness, "ute").get("/reports/monthly.csv?month=2026-02").content)
    assert utc["time_zone"][3] == "UTC"
    assert utc["devices_at_end"][3] == "3"  # pc-2 enrolled Feb 28 20:00 UTC
    assert utc["findings_opened.critical"][3] == "0"  # Jan 31 17:00 UTC
    assert utc["findings_resolved.low"][3] == "1"

    # in Chinese: month name, figures and severities in Chinese, headers in both languages
    zh = client_for(harness, "root", "zh")
    page = zh.get("/reports/monthly", params={"month": "2026-03"}).text
    assert _text(page, "month-name") == "2026年3月" and "156.0 小时" in page
    assert "月末已注册设备" in page and "上个月" in page
    cells = _csv(zh.get("/reports/monthly.csv", params={"month": "2026-03"}).content)
    assert cells["findings_opened.high"][2] == "新出现 · 高"
    assert cells["devices_at_end"][2] == "月末已注册设备" and cells["devices_at_end"][3] == "3"


def test_month_links_defaults_and_bad_months(harness: Harness) -> None:
    harness.clock.set(_t(2026, 4, 10, 9))
    add(harness, "root", "administrator")
    root = client_for(harness, "root")
    # no month: the previous one; the current month has no link to the next
    default = root.get("/reports/monthly")
    assert default.status_code == 200 and _text(default.text, "month-name") == "March 2026"
    april = root.get("/reports/monthly?month=2026-04").text
    assert 'id="next-month"' not in april and "2026-03" in april
    assert _text(april, "m-devices") == "0" and "no daily rollup" in april
    january = root.get("/reports/monthly?month=2026-01").text
    assert 'href="/reports/monthly?month=2025-12"' in january
    bad = root.get("/reports/monthly?month=2026-13")
    assert bad.status_code == 422 and "year-month, e.g. 2026-03" in bad.text
    bad_zh = client_for(harness, "root", "zh").get("/reports/monthly?month=March")
    assert bad_zh.status_code == 422 and "例如 2026-03" in bad_zh.text
    assert root.get("/reports/monthly.csv?month=x").status_code == 422


def test_only_readers_of_reports_open_the_monthly_report(harness: Harness) -> None:
    add(harness, "vic", "viewer")
    add(harness, "sam", "analyst")
    vic, sam = client_for(harness, "vic"), client_for(harness, "sam")
    assert 'id="monthly-link"' in sam.get("/overview").text
    assert 'id="monthly-link"' not in vic.get("/overview").text
    for path in ("/reports/monthly", "/reports/monthly.csv"):
        assert vic.get(path).status_code == 403, path
        assert sam.get(path).status_code == 200, path
