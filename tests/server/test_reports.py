"""Incident reports: idempotent delivery, attachments checked by content, replies to the reporter."""

from __future__ import annotations

import json
import os
import secrets
import time

from sqlalchemy import select

from server import crud
from server.db import session_scope
from server.models import Admin, Attachment, MessageKind, ReportStatus
from tests.server.conftest import Harness, build_harness

REPORT = {
    "idempotency_key": "0f6c1a4e-report",
    "category": "suspicious-message",
    "summary": "A colleague's account sent me a payment link",
    "description": "Received at 09:12; the link asks for my WeChat password.",
    "affected_account": "wxid_colleague",
    "reporter": "zhang.wei",
    "occurred_at": "2026-03-02T08:12:00+08:00",
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"


def _multipart(report: dict[str, object], files: list[tuple[str, bytes]]) -> dict[str, object]:
    return {
        "data": {"report": json.dumps(report)},
        "files": [("attachment", (name, data, "application/octet-stream")) for name, data in files],
    }


def test_the_same_report_sent_twice_is_stored_once(harness: Harness) -> None:
    device = harness.enroll()
    first = harness.client.post("/api/v1/reports", json=REPORT, headers=device.headers)
    second = harness.client.post("/api/v1/reports", json=REPORT, headers=device.headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["case"] == second.json()["case"]
    assert first.json()["case"].startswith("WXG-") and len(first.json()["case"]) == 10
    assert harness.row_counts()["reports"] == 1


def test_same_key_with_a_different_payload_is_refused(harness: Harness) -> None:
    device = harness.enroll()
    harness.client.post("/api/v1/reports", json=REPORT, headers=device.headers)
    changed = {**REPORT, "summary": "something else entirely"}
    response = harness.client.post("/api/v1/reports", json=changed, headers=device.headers)
    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_conflict"
    assert harness.row_counts()["reports"] == 1


def test_attachments_are_typed_by_content_and_stored_under_random_names(harness: Harness) -> None:
    device = harness.enroll()
    response = harness.client.post(
        "/api/v1/reports",
        headers=device.headers,
        **_multipart(REPORT, [("../../etc/screen.png", PNG), ("chat.pdf", PDF)]),  # type: ignore[arg-type]
    )
    assert response.status_code == 201, response.text
    kinds = [(a["filename"], a["content_type"]) for a in response.json()["attachments"]]
    assert kinds == [("screen.png", "image/png"), ("chat.pdf", "application/pdf")]
    stored = sorted(p.name for p in harness.settings.attachments_dir.iterdir())
    assert len(stored) == 2 and all(len(name) == 32 and name.isalnum() for name in stored)
    # Replaying the upload stores nothing new, on disk or in the database.
    again = harness.client.post(
        "/api/v1/reports",
        headers=device.headers,
        **_multipart(REPORT, [("../../etc/screen.png", PNG), ("chat.pdf", PDF)]),  # type: ignore[arg-type]
    )
    assert again.status_code == 200
    assert len(list(harness.settings.attachments_dir.iterdir())) == 2
    assert harness.row_counts()["attachments"] == 2


def test_executables_disguised_as_images_are_refused(harness: Harness) -> None:
    device = harness.enroll()
    elf = b"\x7fELF\x02\x01\x01" + b"\x00" * 100
    response = harness.client.post(
        "/api/v1/reports",
        headers=device.headers,
        **_multipart(REPORT, [("photo.png", elf)]),  # type: ignore[arg-type]
    )
    assert response.status_code == 415
    assert harness.row_counts()["reports"] == 0
    assert list(harness.settings.attachments_dir.glob("*")) == []


def test_an_attachment_over_10_mib_is_refused(harness: Harness) -> None:
    device = harness.enroll()
    big = PNG + b"\x00" * (10 * 1024 * 1024)
    response = harness.client.post(
        "/api/v1/reports",
        headers=device.headers,
        **_multipart(REPORT, [("big.png", big)]),  # type: ignore[arg-type]
    )
    assert response.status_code == 413
    assert harness.row_counts()["reports"] == 0


def test_the_reporter_sees_status_and_replies_but_not_internal_notes(harness: Harness) -> None:
    device = harness.enroll()
    case = harness.client.post("/api/v1/reports", json=REPORT, headers=device.headers).json()[
        "case"
    ]
    harness.add_admin()
    with session_scope(harness.sessions) as session:
        admin = session.query(Admin).one()
        report = crud.get_report(session, int(case.split("-")[1]))
        crud.update_report(session, report, harness.clock.now(), admin, "", ReportStatus.TRIAGED)
        crud.add_message(
            session, report, MessageKind.NOTE, "looks like phishing", admin, harness.clock.now()
        )
        crud.add_message(
            session,
            report,
            MessageKind.REPLY,
            "Thanks, do not click it.",
            admin,
            harness.clock.now(),
        )
    mine = harness.client.get(f"/api/v1/reports/{case}", headers=device.headers).json()
    assert mine["status"] == "triaged"
    assert [r["body"] for r in mine["replies"]] == ["Thanks, do not click it."]
    assert "phishing" not in json.dumps(mine)


def test_report_validation_errors_are_clear(harness: Harness) -> None:
    device = harness.enroll()
    bad_category = harness.client.post(
        "/api/v1/reports", json={**REPORT, "category": "gossip"}, headers=device.headers
    )
    assert bad_category.status_code == 422
    future = harness.client.post(
        "/api/v1/reports",
        json={**REPORT, "occurred_at": "2031-01-01T00:00:00Z"},
        headers=device.headers,
    )
    assert future.status_code == 422 and "device clock" in future.json()["detail"]
    wrong_type = harness.client.post(
        "/api/v1/reports",
        content=b"summary=x",
        headers={**device.headers, "Content-Type": "text/plain"},
    )
    assert wrong_type.status_code == 415
    assert harness.row_counts()["reports"] == 0


def test_an_upload_leaves_exactly_the_files_its_rows_name(harness: Harness) -> None:
    device = harness.enroll()
    response = harness.client.post(
        "/api/v1/reports",
        headers=device.headers,
        **_multipart(REPORT, [("screen.png", PNG)]),  # type: ignore[arg-type]
    )
    assert response.status_code == 201, response.text
    with harness.sessions() as session:
        named = set(session.scalars(select(Attachment.stored_name)))
    on_disk = {p.name for p in harness.settings.attachments_dir.iterdir()}
    assert len(named) == 1 and on_disk == named  # no temporary name left behind


def test_start_up_sweeps_what_a_crashed_upload_left(harness: Harness, db_url: str) -> None:
    """What a server killed mid-upload leaves: a temporary file of a report never committed,
    and (from before temporary names) a file no row names; and what a kill between the commit
    and the rename leaves: a committed row whose file still has its temporary name."""
    device = harness.enroll()
    response = harness.client.post(
        "/api/v1/reports",
        headers=device.headers,
        **_multipart(REPORT, [("screen.png", PNG)]),  # type: ignore[arg-type]
    )
    assert response.status_code == 201, response.text
    folder = harness.settings.attachments_dir
    (committed,) = [p.name for p in folder.iterdir()]
    (folder / committed).rename(folder / f"{committed}.tmp")  # killed before the rename
    unfinished = folder / f"{secrets.token_hex(16)}.tmp"  # killed before the commit
    orphan = folder / secrets.token_hex(16)  # no row names it
    fresh = folder / f"{secrets.token_hex(16)}.tmp"  # an upload in flight in another worker
    foreign = folder / "README.txt"  # not ours: never touched
    for path in (unfinished, orphan, fresh, foreign):
        path.write_bytes(PNG)
    hour_ago = time.time() - 2 * 3600
    for path in (unfinished, orphan, foreign, folder / f"{committed}.tmp"):
        os.utime(path, (hour_ago, hour_ago))

    restarted = build_harness(db_url, harness.settings.data_dir)  # the server starts again
    try:
        assert {p.name for p in folder.iterdir()} == {committed, fresh.name, foreign.name}
        with restarted.sessions() as session:
            assert set(session.scalars(select(Attachment.stored_name))) == {committed}
        assert (folder / committed).read_bytes() == PNG
    finally:
        restarted.client.close()
        restarted.app.state.wx.dispose()
        restarted.engine.dispose()


def test_contact_details_are_stored_as_fields_and_a_bad_address_is_refused(
    harness: Harness,
) -> None:
    """Issue 16: the method and address are their own columns; an address that does not fit
    its method is refused (422, saying why) and nothing is stored."""
    device = harness.enroll()
    bad = {**REPORT, "contact_method": "email", "contact_address": "alice at example"}
    refused = harness.client.post("/api/v1/reports", json=bad, headers=device.headers)
    assert refused.status_code == 422
    assert "does not look like an email address" in refused.text
    assert harness.row_counts()["reports"] == 0
    good = {**REPORT, "contact_method": "email", "contact_address": "alice@example.cn"}
    case = harness.client.post("/api/v1/reports", json=good, headers=device.headers).json()
    harness.add_admin()
    page = harness.login().get(f"/reports/{int(case['case'].split('-')[1])}")
    assert "alice@example.cn" in page.text and "mailto:alice@example.cn" in page.text


def test_a_report_without_description_or_account_says_so_rather_than_showing_blanks(
    harness: Harness,
) -> None:
    """Optional fields left empty read as "—" and a sentence, in the viewer's language."""
    device = harness.enroll()
    bare = {**REPORT, "description": "", "affected_account": ""}
    case = harness.client.post("/api/v1/reports", json=bare, headers=device.headers).json()
    harness.add_admin()
    client = harness.login()
    path = f"/reports/{int(case['case'].split('-')[1])}"
    page = client.get(path).text
    assert "(the reporter wrote no description)" in page
    assert "<dd>—</dd>" in page  # the affected account
    client.cookies.set("wxguard_lang", "zh")
    zh = client.get(path).text
    assert "（报告人未填写详细描述）" in zh
    assert "：" + REPORT["summary"].replace("'", "&#39;") in zh  # case number, full-width colon
