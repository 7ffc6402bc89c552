"""The findings history: new, still present and resolved across scans, durable on disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.store import Store, StoreError
from checks.model import (
    BlindSpot,
    Category,
    Evidence,
    Finding,
    Platform,
    ScanResult,
    Severity,
    Text,
)


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


def _pkg(rule: str, path: str) -> Finding:
    return Finding(
        rule_id=rule,
        title=Text("标题", "Title"),
        category=Category.BOT_FRAMEWORK,
        severity=Severity.HIGH,
        remediation=Text("处理", "Fix"),
        evidence=(Evidence("package", f"npm package {rule} 1.0", path=path, package=rule),),
        subject=f"npm:{rule}:{path}",
    )


def _blind_scan(*spots: BlindSpot) -> ScanResult:
    return ScanResult("/", Platform.LINUX, True, 2000.0, 0.1, [], list(spots))


def test_a_scan_resolves_only_what_it_could_see(tmp_path: Path) -> None:
    """Issue 10: a probe that failed, or a file that could not be read, resolves nothing it
    did not see; the same findings resolve once a complete scan no longer finds them."""
    store = Store(tmp_path / "state.db")
    wechaty = _pkg("wechaty", "home/alice/bot/node_modules/wechaty")
    other = _pkg("wechaty-puppet", "home/bob/x/node_modules/wechaty-puppet")
    on_file = _finding("rule-file")  # file evidence at home/a/x
    store.apply_scan(_scan(wechaty, other, on_file), "startup", now=100.0)

    # The packages probe died (e.g. on one hostile package.json): no package finding resolves,
    # and they keep their last_seen; the file finding, which that probe never reports, does.
    probe_failed = store.apply_scan(
        _blind_scan(BlindSpot("packages", "the whole probe", "failed: RecursionError")),
        "periodic",
        now=200.0,
    )
    assert {r.rule_id for r in probe_failed.unseen} == {"wechaty", "wechaty-puppet"}
    assert [r.rule_id for r in probe_failed.resolved] == ["rule-file"]
    assert not probe_failed.coverage.complete
    assert probe_failed.coverage.failed_probes == ("packages",)
    kept = store.history(wechaty.key)
    assert kept is not None and kept.open and kept.last_seen == 100.0

    # One package.json inside alice's wechaty could not be read (an absolute path, as FsView
    # notes it): only the finding on the folder holding it stays open.
    per_file = store.apply_scan(
        _blind_scan(
            BlindSpot(
                "packages",
                "/home/alice/bot/node_modules/wechaty/package.json",
                "could not be parsed: RecursionError",
            )
        ),
        "periodic",
        now=300.0,
    )
    assert [r.rule_id for r in per_file.unseen] == ["wechaty"]
    assert [r.rule_id for r in per_file.resolved] == ["wechaty-puppet"]
    assert per_file.coverage.blind_spots == 1 and not per_file.coverage.complete

    # A blind folder above the evidence covers it too; an unrelated one does not.
    above = store.apply_scan(
        _blind_scan(BlindSpot("packages", "/home/alice/bot", "permission denied")),
        "periodic",
        now=350.0,
    )
    assert [r.rule_id for r in above.unseen] == ["wechaty"] and not above.resolved

    # Informational limits (kernel threads' executables) do not make a scan partial.
    clean = store.apply_scan(
        _blind_scan(BlindSpot("processes", "1 processes", "kernel threads")),
        "periodic",
        now=400.0,
    )
    assert [r.rule_id for r in clean.resolved] == ["wechaty"] and not clean.unseen
    assert clean.coverage.complete
    assert store.open_findings() == []
    assert store.last_scan()["coverage"]["complete"] is True  # type: ignore[index]


def test_failed_scan_is_recorded_and_changes_no_finding(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    store.apply_scan(_scan(_finding("rule-a")), "startup", now=100.0)
    store.record_failed_scan(150.0, "periodic", "UnicodeEncodeError: surrogates", now=151.0)
    last = store.last_scan()
    assert last is not None and last["outcome"] == "failed" and "Unicode" in last["error"]
    assert [r.rule_id for r in store.open_findings()] == ["rule-a"]


def test_state_file_of_an_older_agent_gains_the_scan_columns(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE scans (id INTEGER PRIMARY KEY AUTOINCREMENT, started_at REAL NOT NULL,"
        " duration_s REAL NOT NULL, trigger TEXT NOT NULL, findings INTEGER NOT NULL,"
        " new INTEGER NOT NULL, resolved INTEGER NOT NULL, blind_spots INTEGER NOT NULL);"
        "INSERT INTO scans (started_at, duration_s, trigger, findings, new, resolved, blind_spots)"
        " VALUES (1.0, 0.1, 'startup', 0, 0, 0, 0);"
    )
    db.close()
    store = Store(path)
    last = store.last_scan()
    assert last is not None and last["outcome"] == "ok" and last["coverage"] == {}
