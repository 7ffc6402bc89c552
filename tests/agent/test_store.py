"""The findings history: new, still present and resolved across scans, durable on disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.store import Store, StoreError
from checks.model import Category, Evidence, Finding, Platform, ScanResult, Severity, Text


def _finding(rule: str, subject: str | None = None) -> Finding:
    return Finding(
        rule_id=rule,
        title=Text("标题", "Title"),
        category=Category.BOT_FRAMEWORK,
        severity=Severity.HIGH,
        remediation=Text("处理", "Fix"),
        evidence=(Evidence("file", "file at x", path="home/a/x"),),
        subject=subject or rule,
    )


def _scan(*findings: Finding) -> ScanResult:
    return ScanResult("/", Platform.LINUX, True, 1000.0, 0.1, list(findings), [])


def test_findings_open_stay_and_resolve(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    a, b = _finding("rule-a"), _finding("rule-b")
    first = store.apply_scan(_scan(a, b), "startup", now=100.0)
    assert {r.rule_id for r in first.new} == {"rule-a", "rule-b"}
    second = store.apply_scan(_scan(a), "periodic", now=200.0)
    assert [r.rule_id for r in second.present] == ["rule-a"]
    assert [r.rule_id for r in second.resolved] == ["rule-b"]
    record = store.history(a.key)
    assert record is not None and record.first_seen == 100.0 and record.last_seen == 200.0
    resolved = store.history(b.key)
    assert resolved is not None and resolved.resolved_at == 200.0
    # It comes back: a new episode, first seen again.
    third = store.apply_scan(_scan(a, b), "periodic", now=300.0)
    assert [r.rule_id for r in third.new] == ["rule-b"]
    assert store.history(b.key).first_seen == 300.0  # type: ignore[union-attr]
    assert store.last_scan()["trigger"] == "periodic"  # type: ignore[index]


def test_state_survives_reopen_and_uses_wal_full(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = Store(path)
    store.apply_scan(_scan(_finding("rule-a")), "startup", now=1.0)
    assert store.pragma("journal_mode") == "wal"
    assert store.pragma("synchronous") == 2  # FULL
    store.close()
    again = Store(path)
    assert [r.rule_id for r in again.open_findings()] == ["rule-a"]
    assert again.pragma("quick_check") == "ok"


def test_corrupt_state_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="state file"):
        Store(path)
    # Nothing was overwritten: the evidence of the problem is still there for IT.
    assert path.read_bytes().startswith(b"this is not a database")
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(path).execute("SELECT 1 FROM findings")
