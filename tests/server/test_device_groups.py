"""Groups set by IT (issue 17): the device page's form and `wxguard-server device group`, on the
real app and database: validated with bilingual reasons, audited old → new, refused to viewers
and analysts, and picked up by the fleet list's group filter and the overview's rollup."""

from __future__ import annotations

import io
import time

import pytest
from sqlalchemy import select

from server.models import AuditEvent, DailyStats, Device
from tests.server.conftest import Harness, rollup_finished, run_cli
from tests.server.test_roles import add, client_for, csrf_of


def _group_of(harness: Harness, device_id: str) -> str:
    with harness.sessions() as session:
        return str(session.scalar(select(Device.group_label).where(Device.id == device_id)))


def _group_events(harness: Harness) -> list[AuditEvent]:
    with harness.sessions() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "device.group")
                .order_by(AuditEvent.id)
            )
        )


def _rollup_devices(harness: Harness, group: str, timeout: float = 30) -> int | None:
    """Today's rollup row of `group` once the refresh the page view started has stored it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        harness.client.get("/overview")
        with harness.sessions() as session:
            row = session.get(DailyStats, (harness.clock.now().date(), group))
            if row is not None:
                return row.devices
        time.sleep(0.2)
    return None


def test_an_administrator_sets_a_group_and_lists_and_overview_follow(harness: Harness) -> None:
    pc = harness.enroll("pc-finance")
    harness.enroll("pc-other")
    add(harness, "root", "administrator")
    root = client_for(harness, "root")
    harness.login(harness.client, "root")
    rollup_finished(harness)  # today's figures exist before the change (no group yet)

    page = root.get(f"/devices/{pc.device_id}")
    assert 'id="device-group">no group<' in page.text
    sent = root.post(
        f"/devices/{pc.device_id}/group",
        data={"csrf_token": csrf_of(page.text), "group": "  财务部 Shanghai  "},
        follow_redirects=False,
    )
    assert sent.status_code == 303 and sent.headers["location"].endswith("#group")
    assert _group_of(harness, pc.device_id) == "财务部 Shanghai"
    assert 'id="device-group">财务部 Shanghai<' in root.get(f"/devices/{pc.device_id}").text

    # the fleet list's group filter, its group choices, and the CSV export pick it up
    listed = root.get("/fleet", params={"group": "财务部 Shanghai"}).text
    assert "pc-finance" in listed and "pc-other" not in listed
    csv = root.get("/fleet.csv", params={"group": "财务部 Shanghai"})
    assert csv.status_code == 200 and "pc-finance" in csv.text and "pc-other" not in csv.text
    # the overview's rollup is recomputed with the new group (today's row was marked stale)
    assert _rollup_devices(harness, "财务部 Shanghai") == 1

    # audited with old → new, labelled in both languages on the audit page
    (event,) = _group_events(harness)
    assert event.actor == "admin:root" and event.target == pc.device_id
    assert event.detail == {"old": "", "new": "财务部 Shanghai"}
    assert "device group changed" in root.get("/audit", params={"action": "device.group"}).text
    zh = client_for(harness, "root", "zh")
    assert "更改设备组" in zh.get("/audit", params={"action": "device.group"}).text

    # the same name again changes nothing and is not audited again; empty means no group
    token = csrf_of(root.get(f"/devices/{pc.device_id}").text)
    root.post(
        f"/devices/{pc.device_id}/group", data={"csrf_token": token, "group": "财务部 Shanghai"}
    )
    assert len(_group_events(harness)) == 1
    root.post(f"/devices/{pc.device_id}/group", data={"csrf_token": token, "group": ""})
    assert _group_of(harness, pc.device_id) == ""
    assert _group_events(harness)[-1].detail == {"old": "财务部 Shanghai", "new": ""}


def test_a_bad_name_is_refused_with_the_reason_in_the_readers_language(harness: Harness) -> None:
    pc = harness.enroll("pc-1")
    add(harness, "root", "administrator")
    en, zh = client_for(harness, "root"), client_for(harness, "root", "zh")
    url = f"/devices/{pc.device_id}/group"

    token = csrf_of(en.get(f"/devices/{pc.device_id}").text)
    long = en.post(url, data={"csrf_token": token, "group": "x" * 101})
    assert long.status_code == 422
    assert "at most 100 characters (this one has 101)" in long.text
    assert 'value="' + "x" * 101 + '"' in long.text  # what was typed is kept to correct it
    token = csrf_of(zh.get(f"/devices/{pc.device_id}").text)
    bell = zh.post(url, data={"csrf_token": token, "group": "研发\x07部"})
    assert bell.status_code == 422 and "不能包含控制字符或不可见字符（U+0007）" in bell.text
    rlo = en.post(url, data={"csrf_token": csrf_of(long.text), "group": "a\u202eb"})
    assert rlo.status_code == 422 and "(U+202E)" in rlo.text
    # no CSRF token: refused, nothing changed
    assert en.post(url, data={"group": "Lab"}).status_code == 403
    assert _group_of(harness, pc.device_id) == "" and _group_events(harness) == []


def test_viewers_and_analysts_cannot_set_a_group(harness: Harness) -> None:
    pc = harness.enroll("pc-1")
    add(harness, "vic", "viewer")
    add(harness, "sam", "analyst")
    for name in ("vic", "sam"):
        client = client_for(harness, name)
        page = client.get(f"/devices/{pc.device_id}")
        assert page.status_code == 200 and 'id="device-group"' in page.text
        assert 'action="/devices/' + pc.device_id + '/group"' not in page.text  # no form
        refused = client.post(
            f"/devices/{pc.device_id}/group", data={"csrf_token": csrf_of(page.text), "group": "X"}
        )
        assert refused.status_code == 403, name
    assert _group_of(harness, pc.device_id) == "" and _group_events(harness) == []


def test_the_cli_moves_devices_in_bulk_all_or_nothing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = (harness.enroll(f"pc-{n}") for n in "abc")
    where = ["--data", str(harness.settings.data_dir)]
    where += ["--database-url", harness.settings.database_url]

    moved = run_cli("device", "group", "pc-a", b.device_id, "Lab 2", *where)
    assert "2 device(s) moved" in moved.stdout and "— → Lab 2" in moved.stdout
    assert _group_of(harness, a.device_id) == _group_of(harness, b.device_id) == "Lab 2"
    assert [e.actor for e in _group_events(harness)] == ["cli", "cli"]

    # one unknown device: nothing changes, and the error says so in both languages
    failed = run_cli("device", "group", "pc-c", "pc-nowhere", "Lab 3", *where, check=False)
    assert failed.returncode != 0
    assert "No device was changed" in failed.stderr and "没有更改任何设备" in failed.stderr
    assert _group_of(harness, c.device_id) == ""
    bad = run_cli("device", "group", "pc-c", "a\nb", *where, check=False)
    assert bad.returncode != 0 and "control or invisible characters (U+000A)" in bad.stderr
    assert len(_group_events(harness)) == 2

    # in bulk from a list (one a line, blank lines skipped), with the one named on the line
    monkeypatch.setattr("sys.stdin", io.StringIO(f"pc-a\n\n{c.device_id}\n"))
    listed = run_cli("device", "group", "--stdin", "pc-b", "财务部", *where)
    assert "3 device(s) moved" in listed.stdout
    assert {_group_of(harness, d.device_id) for d in (a, b, c)} == {"财务部"}
    assert _group_events(harness)[-1].detail == {"old": "", "new": "财务部"}
