"""CSV exports and the CLI's streamed lists (issue 17): same filters as the pages, Excel-ready."""

from __future__ import annotations

import csv
import io
import json

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from server.models import Device, Finding
from tests.server.conftest import Harness, run_cli
from tests.server.test_lists import _seed


def _csv(raw: bytes) -> list[list[str]]:
    assert raw.startswith(b"\xef\xbb\xbf"), "no UTF-8 byte-order mark: Excel would garble Chinese"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_fleet_csv_has_a_bom_chinese_names_and_the_pages_filters(harness: Harness) -> None:
    _seed(harness, 60)
    harness.enroll('=HYPERLINK("http://evil")')
    harness.add_admin()
    harness.login()
    with TestClient(harness.app) as stranger:
        anonymous = stranger.get("/fleet.csv", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"
    response = harness.client.get("/fleet.csv", params={"group": "财务部"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    rows = _csv(response.content)
    assert rows[0][:3] == ["设备 ID / device id", "主机名 / hostname", "分组 / group"]
    with harness.sessions() as session:
        expected = set(
            session.scalars(select(Device.hostname).where(Device.group_label == "财务部"))
        )
    assert {r[1] for r in rows[1:]} == expected and any(h.startswith("财务-") for h in expected)
    assert {r[2] for r in rows[1:]} == {"财务部"}
    # A host name that reads as a spreadsheet formula is shown, not run.
    everything = _csv(harness.client.get("/fleet.csv").content)
    assert '\'=HYPERLINK("http://evil")' in [r[1] for r in everything]
    assert len(everything) == 1 + 61
    # Who exported what is in the audit trail.
    with harness.engine.connect() as conn:
        actions = [
            tuple(r)
            for r in conn.execute(
                text("SELECT action, target FROM audit_events WHERE action = 'export'")
            )
        ]
    assert ("export", "fleet") in actions


def test_findings_csv_streams_every_matching_row(harness: Harness) -> None:
    _seed(harness, 80)
    harness.add_admin()
    harness.login()
    with harness.sessions() as session:
        critical = session.scalar(
            select(func.count()).where(Finding.state == "open", Finding.severity == "critical")
        )
        every = session.scalar(select(func.count()).select_from(Finding))
    rows = _csv(harness.client.get("/findings.csv?severity=critical").content)
    assert len(rows) - 1 == critical and {r[7] for r in rows[1:]} == {"critical"}
    assert len(_csv(harness.client.get("/findings.csv?state=all").content)) - 1 == every
    for name in ("compliance", "reports", "audit"):
        response = harness.client.get(f"/{name}.csv")
        assert response.status_code == 200 and len(_csv(response.content)) > 1, name


def test_cli_lists_stream_json_lines_with_filters_and_a_limit(harness: Harness) -> None:
    _seed(harness, 40)
    url = str(harness.engine.url.render_as_string(hide_password=False))
    data = str(harness.settings.data_dir)
    out = run_cli(
        "devices",
        "--data",
        data,
        "--database-url",
        url,
        "--format",
        "jsonl",
        "--group",
        "Sales",
        "--limit",
        "3",
    ).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 3 and {d["group"] for d in lines} == {"Sales"}
    findings = run_cli(
        "findings",
        "--data",
        data,
        "--database-url",
        url,
        "--format",
        "jsonl",
        "--severity",
        "critical",
    ).stdout.splitlines()
    assert findings and all(json.loads(f)["severity"] == "critical" for f in findings)
    assert json.loads(
        run_cli("devices", "--data", data, "--database-url", url, "--format", "json").stdout
    )[0]["hostname"]
