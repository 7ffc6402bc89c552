"""The outbox: durable before "queued", encrypted at rest, never loses a report, even on a full disk."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.credentials import CredentialsError
from agent.outbox import (
    MAX_ATTACHMENT_BYTES,
    Attachment,
    FileKeyProvider,
    Kind,
    Outbox,
    OutboxError,
    State,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = "我的微信账号被盗-account-stolen-7f3a9c"
PNG = b"\x89PNG\r\n\x1a\n" + b"screenshot-bytes-that-must-stay-private" * 10


def open_outbox(folder: Path) -> Outbox:
    return Outbox(folder / "outbox.db", FileKeyProvider(folder / "outbox.key"))


def report(summary: str = SECRET) -> dict[str, object]:
    return {"category": "account-compromise", "summary": summary, "description": "details"}


def all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.iterdir() if p.is_file())


def test_put_is_durable_and_encrypted_at_rest(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    item_id = box.put(
        Kind.REPORT, report(), "report-aaaa0001", NOW, attachments=[Attachment("截图.png", PNG)]
    )
    # Another connection sees it at once: committed before put() returned.
    with sqlite3.connect(tmp_path / "outbox.db") as other:
        assert other.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1
    # Neither the report text nor the attachment nor its name is readable on disk (db + WAL).
    raw = all_bytes(tmp_path)
    assert SECRET.encode() not in raw
    assert b"screenshot-bytes-that-must-stay-private" not in raw
    assert "截图".encode() not in raw
    assert (tmp_path / "outbox.db").stat().st_mode & 0o077 == 0
    assert (tmp_path / "outbox.key").stat().st_mode & 0o777 == 0o600
    box.close()

    again = open_outbox(tmp_path)
    item = again.get(item_id)
    assert item.payload == report()
    assert item.attachments == (Attachment("截图.png", PNG),)
    assert again.quick_check() == "ok"
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_swapped_rows_do_not_decrypt(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    a = box.put(Kind.REPORT, report("first"), "report-aaaa0001", NOW)
    b = box.put(Kind.FINDINGS, {"findings": []}, "findings-0001", NOW)
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        pa = db.execute("SELECT payload FROM outbox WHERE id = ?", (a,)).fetchone()[0]
        pb = db.execute("SELECT payload FROM outbox WHERE id = ?", (b,)).fetchone()[0]
        db.execute("UPDATE outbox SET payload = ? WHERE id = ?", (pb, a))
        db.execute("UPDATE outbox SET payload = ? WHERE id = ?", (pa, b))
    with pytest.raises(OutboxError, match="cannot be decrypted"):
        box.get(a)
    with pytest.raises(OutboxError):
        box.get(b)


def test_another_key_cannot_read_and_nothing_is_deleted(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    item_id = box.put(Kind.REPORT, report(), "report-aaaa0001", NOW)
    box.close()
    (tmp_path / "outbox.key").unlink()
    stranger = open_outbox(tmp_path)  # a new key is made: the old items stay, unreadable
    with pytest.raises(OutboxError, match="key changed"):
        stranger.get(item_id)
    assert stranger.depth()["report"] == 1
    # It cannot block the queue: set aside as rejected, with the reason, still not deleted.
    later = stranger.put(Kind.REPORT, report("new"), "report-aaaa0002", NOW)
    due = stranger.next_due(NOW + timedelta(seconds=1))
    assert due is not None and due.id == later
    assert stranger.rejected()[0].id == item_id
    assert "key changed" in stranger.rejected()[0].last_error
    assert stranger.depth()["report"] == 2


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    open_outbox(tmp_path).close()
    os.chmod(tmp_path / "outbox.key", 0o644)
    with pytest.raises(CredentialsError, match="chmod 600"):
        open_outbox(tmp_path)


def test_same_idempotency_key_stores_once(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    first = box.put(Kind.REPORT, report(), "report-aaaa0001", NOW)
    second = box.put(Kind.REPORT, report(), "report-aaaa0001", NOW)
    assert first == second
    assert box.depth()["report"] == 1


def test_findings_coalesce_but_reports_never(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    box.put(Kind.FINDINGS, {"n": 1}, "findings-0001", NOW)
    box.put(Kind.FINDINGS, {"n": 2}, "findings-0002", NOW)
    box.put(Kind.REPORT, report(), "report-aaaa0001", NOW)
    newest = box.put(
        Kind.FINDINGS, {"n": 3, "complete": True}, "findings-0003", NOW, supersede=True
    )
    assert box.depth() == {"report": 1, "findings": 1, "password-status": 0, "policy-ack": 0}
    assert box.get(newest).payload["n"] == 3
    with pytest.raises(ValueError, match="never"):
        box.put(Kind.REPORT, report(), "report-aaaa0002", NOW, supersede=True)
    assert box.depth()["report"] == 1


def test_attachments_are_bounded(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    big = Attachment("big.png", b"\x00" * (MAX_ATTACHMENT_BYTES + 1))
    with pytest.raises(ValueError, match="larger than"):
        box.put(Kind.REPORT, report(), "report-aaaa0001", NOW, attachments=[big])
    assert box.depth()["report"] == 0
    ok = Attachment("ok.png", b"\x01" * MAX_ATTACHMENT_BYTES)
    item_id = box.put(Kind.REPORT, report(), "report-aaaa0002", NOW, attachments=[ok])
    assert box.get(item_id).attachments[0].data == ok.data


def test_due_order_failure_rejection_and_delivery(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    findings = box.put(Kind.FINDINGS, {"n": 1}, "findings-0001", NOW)
    rep = box.put(Kind.REPORT, report(), "report-aaaa0001", NOW + timedelta(seconds=1))
    later = NOW + timedelta(seconds=5)
    due = box.next_due(later)
    assert due is not None and due.id == rep  # reports first: a person is waiting
    box.mark_failed(rep, "HTTP 503", NOW + timedelta(minutes=10))
    assert box.next_due(later) is not None and box.next_due(later).id == findings  # type: ignore[union-attr]
    box.mark_failed(findings, "HTTP 422 bad_time: check the clock", later, permanent=True)
    assert box.next_due(later) is None
    assert box.next_attempt_at() == NOW + timedelta(minutes=10)
    item = box.get(rep)
    assert (item.attempts, item.last_error) == (1, "HTTP 503")
    # A refused item is kept and counted, and shown with the server's reason.
    assert box.depth()["findings"] == 1
    assert box.rejected()[0].last_error.startswith("HTTP 422")
    box.mark_delivered(rep, {"case": "WXG-000042", "created": True}, NOW + timedelta(minutes=11))
    assert box.depth()["report"] == 0
    delivered = box.summaries(State.DELIVERED)
    assert delivered[0].response == {"case": "WXG-000042", "created": True}
    assert box.get(rep).payload == {}  # the plaintext is gone once the server has it


FULL_DISK_SCENARIO = textwrap.dedent(
    """
    import json, os, subprocess, sys
    from datetime import UTC, datetime
    from pathlib import Path
    from agent.outbox import FileKeyProvider, Kind, Outbox, OutboxFull

    mnt = Path(sys.argv[1])
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=384k", "tmpfs", str(mnt)], check=True)
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    filler = mnt / "filler"
    filler.write_bytes(b"x" * 64 * 1024)  # freed later to show the outbox works again
    box = Outbox(mnt / "outbox.db", FileKeyProvider(mnt / "outbox.key"))
    stored = {}
    error = None
    for n in range(1000):
        key = f"report-{n:08d}"
        body = {"category": "other", "summary": f"report {n}", "description": os.urandom(6000).hex()}
        try:
            stored[box.put(Kind.REPORT, body, key, now)] = body
        except OutboxFull as exc:
            error = exc
            failed_key = key
            break
    result = {"stored": len(stored), "error": str(error) if error else None,
              "zh": getattr(error, "zh", ""), "en": getattr(error, "en", "")}
    box.close()
    box = Outbox(mnt / "outbox.db", FileKeyProvider(mnt / "outbox.key"))
    result["intact"] = all(box.get(i).payload == body for i, body in stored.items())
    result["depth"] = box.depth()["report"]
    result["quick_check"] = box.quick_check()
    result["failed_absent"] = all(s.idempotency_key != failed_key for s in box.summaries())
    filler.unlink()
    box.put(Kind.REPORT, {"category": "other", "summary": "after"}, "report-after-0001", now)
    result["after_free"] = box.depth()["report"]
    box.close()
    print(json.dumps(result))
    """
)


def test_full_disk_is_a_clear_error_and_loses_nothing(tmp_path: Path) -> None:
    """A real, tiny filesystem (tmpfs in a private mount namespace) filled up by the outbox."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = tmp_path / "scenario.py"
    script.write_text(FULL_DISK_SCENARIO)
    # A private mount namespace: the tmpfs vanishes with the process, whatever happens.
    unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]
    proc = subprocess.run(
        [*unshare, sys.executable, str(script), str(mnt)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["error"] is not None, "the disk never filled up"
    assert result["stored"] >= 5
    assert "磁盘已满" in result["zh"] and "NOT saved" in result["en"]
    assert result["intact"] and result["depth"] == result["stored"]
    assert result["quick_check"] == "ok"
    assert result["failed_absent"]
    assert result["after_free"] == result["stored"] + 1
