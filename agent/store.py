"""The agent's local state: findings history and scan records in one SQLite file.

WAL with `synchronous=FULL`: a finding recorded before a crash is still there after it,
which the outbox (next to this) relies on for "queued" to mean "will be delivered".
Two writes are not waited onto the disk (`synchronous=NORMAL` for their transaction): a
finding from one new process (`record_seen`) and a scan for new processes: they survive the
agent's crash (the OS has them), and what a power cut loses is about processes it ended, or
found again by the start-up scan.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.coverage import Blindness, coverage_of
from agent.principals import UserId
from checks.model import Finding, ScanResult
from protocol.device_state import Coverage, ScanOutcome

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS findings (
    key          TEXT PRIMARY KEY,
    rule_id      TEXT NOT NULL,
    severity     TEXT NOT NULL,
    category     TEXT NOT NULL,
    body         TEXT NOT NULL,           -- the finding as JSON (both languages)
    first_seen   REAL NOT NULL,
    last_seen    REAL NOT NULL,
    resolved_at  REAL                     -- NULL while present
);
CREATE INDEX IF NOT EXISTS findings_open ON findings (resolved_at);
-- The employee's own incident reports, so each user sees only theirs. The content lives
-- encrypted in the outbox and, once delivered, on the server; here only what routes it.
CREATE TABLE IF NOT EXISTS reports (
    key          TEXT PRIMARY KEY,        -- the idempotency key
    uid          INTEGER NOT NULL,        -- POSIX uid; on Windows the account SID, as text
    user         TEXT NOT NULL,
    category     TEXT NOT NULL,
    created_at   REAL NOT NULL,
    case_id      TEXT,
    state        TEXT NOT NULL,           -- queued, delivered, new, triaged, resolved, rejected
    summary      TEXT NOT NULL DEFAULT '',-- from the server, once delivered
    replies      TEXT NOT NULL DEFAULT '[]',
    updated_at   REAL NOT NULL,
    -- How the employee asked to be contacted (protocol.contact): shown back to them only.
    contact_method  TEXT,
    contact_address TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS acks (
    uid          INTEGER NOT NULL,
    text_version TEXT NOT NULL,
    policy_version INTEGER NOT NULL,
    at           REAL NOT NULL,
    PRIMARY KEY (uid, text_version)
);
CREATE TABLE IF NOT EXISTS terminations (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           REAL NOT NULL,
    pid          INTEGER NOT NULL,
    name         TEXT NOT NULL,
    exe          TEXT NOT NULL,
    rule_id      TEXT NOT NULL,
    finding_key  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scans (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at   REAL NOT NULL,
    duration_s   REAL NOT NULL,
    trigger      TEXT NOT NULL,
    findings     INTEGER NOT NULL,
    new          INTEGER NOT NULL,
    resolved     INTEGER NOT NULL,
    blind_spots  INTEGER NOT NULL,
    outcome      TEXT NOT NULL DEFAULT 'ok',  -- protocol.device_state.ScanOutcome
    coverage     TEXT NOT NULL DEFAULT '{}',  -- protocol.device_state.Coverage as JSON
    error        TEXT NOT NULL DEFAULT ''     -- why a failed scan failed
);
"""

# Columns added after version 1, for state files written by older agents.
_ADDED_COLUMNS = (
    ("scans", "outcome", "TEXT NOT NULL DEFAULT 'ok'"),
    ("scans", "coverage", "TEXT NOT NULL DEFAULT '{}'"),
    ("scans", "error", "TEXT NOT NULL DEFAULT ''"),
    ("reports", "contact_method", "TEXT"),
    ("reports", "contact_address", "TEXT NOT NULL DEFAULT ''"),
)


class StoreError(RuntimeError):
    """The state file cannot be opened or written; the message says what to do."""


@dataclass(frozen=True, slots=True)
class FindingRecord:
    key: str
    rule_id: str
    severity: str
    category: str
    body: dict[str, Any]
    first_seen: float
    last_seen: float
    resolved_at: float | None

    @property
    def open(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True, slots=True)
class ScanDelta:
    """What one scan changed: findings that appeared, stayed, and went away; and the open
    findings it did not report but could not have seen (`unseen`: they stay open), with the
    scan's coverage."""

    new: list[FindingRecord]
    present: list[FindingRecord]
    resolved: list[FindingRecord]
    unseen: list[FindingRecord] = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)


class Store:
    """Thread-safe access to the agent's SQLite state file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            for table, column, decl in _ADDED_COLUMNS:
                have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)",
                (str(SCHEMA_VERSION),),
            )
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"无法打开状态文件 {path}：{exc}。请检查磁盘空间和权限；若文件已损坏，请联系 IT。\n"
                f"Cannot open the state file {path}: {exc}. Check disk space and permissions; "
                f"if the file is corrupt, contact IT."
            ) from exc
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction; `durable=False` commits without waiting for the disk (WAL,
        `synchronous=NORMAL`: the file stays consistent, a power cut may lose this one
        transaction; the next durable commit makes it durable too)."""
        with self._lock:
            if not durable:
                self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                if not durable:
                    self._db.execute("PRAGMA synchronous=FULL")

    def pragma(self, name: str) -> Any:
        with self._lock:
            row = self._db.execute(f"PRAGMA {name}").fetchone()
        return row[0] if row else None

    # -- findings ------------------------------------------------------------------------

    def apply_scan(
        self,
        result: ScanResult,
        trigger: str,
        now: float,
        keep: frozenset[str] = frozenset(),
        durable: bool = True,
    ) -> ScanDelta:
        """Record a full scan: new findings open, seen ones refresh, and missing ones resolve
        only where the scan could see them. An open finding whose evidence lies in a blind spot
        (its probe failed; its path, a folder above it or a file in it was not read) stays
        open with its last_seen unchanged: a scan never resolves what it did not look at.
        Nor does it resolve the keys in `keep` (findings about a process that started after
        the scan looked at the processes: `record_seen`); they stay open, unseen, and when the
        scan has them too, the processes their evidence names that the scan did not list are
        kept in it.
        `durable=False`: committed without waiting for the disk (see `_tx`)."""
        current: dict[str, Finding] = {f.key: f for f in result.findings}
        blindness = Blindness.of(result.blind_spots, result.root)
        coverage = coverage_of(result.blind_spots)
        new: list[str] = []
        present: list[str] = []
        resolved: list[str] = []
        unseen: list[str] = []
        with self._tx(durable) as db:
            open_rows = db.execute(
                "SELECT key, body FROM findings WHERE resolved_at IS NULL"
            ).fetchall()
            open_keys = {row[0] for row in open_rows}
            evidence = {row[0]: json.loads(row[1]).get("evidence") or [] for row in open_rows}
            for key, finding in current.items():
                data = finding.to_json(root=result.root, live=result.live)
                if key in keep and key in open_keys:
                    # Judged since this scan listed the processes: the processes it names that
                    # the scan could not list stay its evidence (the next scan settles them).
                    listed = {e.get("pid") for e in data["evidence"]}
                    data["evidence"] += [
                        e
                        for e in evidence[key]
                        if e.get("pid") is not None and e.get("pid") not in listed
                    ]
                body = json.dumps(data, ensure_ascii=False)
                if key in open_keys:
                    db.execute(
                        "UPDATE findings SET last_seen = ?, body = ? WHERE key = ?",
                        (now, body, key),
                    )
                    present.append(key)
                else:
                    db.execute(
                        """INSERT INTO findings (key, rule_id, severity, category, body, first_seen, last_seen, resolved_at)
                           VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
                           ON CONFLICT(key) DO UPDATE SET body = excluded.body, last_seen = excluded.last_seen,
                               first_seen = excluded.first_seen, resolved_at = NULL""",
                        (
                            key,
                            finding.rule_id,
                            str(finding.severity),
                            str(finding.category),
                            body,
                            now,
                            now,
                        ),
                    )
                    new.append(key)
            for key in sorted(open_keys - set(current)):
                if key in keep or blindness.covers(evidence[key], result.root):
                    unseen.append(key)
                    continue
                db.execute("UPDATE findings SET resolved_at = ? WHERE key = ?", (now, key))
                resolved.append(key)
            db.execute(
                """INSERT INTO scans (started_at, duration_s, trigger, findings, new, resolved, blind_spots, outcome, coverage)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    result.started_at,
                    result.duration_s,
                    trigger,
                    len(current),
                    len(new),
                    len(resolved),
                    len(result.blind_spots),
                    str(ScanOutcome.OK),
                    json.dumps(coverage.to_json()),
                ),
            )
        return ScanDelta(
            self._records(new),
            self._records(present),
            self._records(resolved),
            self._records(unseen),
            coverage,
        )

    def record_seen(
        self, findings: list[Finding], root: str, live: bool, now: float
    ) -> tuple[list[FindingRecord], list[FindingRecord]]:
        """Record findings seen by a look at one new process (not a scan): each opens (or
        reopens) under the key a scan gives it, or, already open, gains this evidence (an
        observation of the same thing replaces its older one). Nothing resolves and no scan
        is recorded; not waited onto the disk (the scan that follows is, and a process that
        outlives a crash is found again). Returns (opened, updated)."""
        opened: list[str] = []
        updated: list[str] = []
        with self._tx(durable=False) as db:
            for finding in findings:
                body = finding.to_json(root=root, live=live)
                row = db.execute(
                    "SELECT body FROM findings WHERE key = ? AND resolved_at IS NULL",
                    (finding.key,),
                ).fetchone()
                if row is not None:
                    fresh = {_evidence_identity(e) for e in body["evidence"]}
                    old = json.loads(row[0]).get("evidence") or []
                    body["evidence"] += [e for e in old if _evidence_identity(e) not in fresh]
                    db.execute(
                        "UPDATE findings SET last_seen = ?, body = ? WHERE key = ?",
                        (now, json.dumps(body, ensure_ascii=False), finding.key),
                    )
                    updated.append(finding.key)
                    continue
                db.execute(
                    """INSERT INTO findings (key, rule_id, severity, category, body, first_seen, last_seen, resolved_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
                       ON CONFLICT(key) DO UPDATE SET body = excluded.body, last_seen = excluded.last_seen,
                           first_seen = excluded.first_seen, resolved_at = NULL""",
                    (
                        finding.key,
                        finding.rule_id,
                        str(finding.severity),
                        str(finding.category),
                        json.dumps(body, ensure_ascii=False),
                        now,
                        now,
                    ),
                )
                opened.append(finding.key)
        return self._records(opened), self._records(updated)

    def record_failed_scan(self, started_at: float, trigger: str, error: str, now: float) -> None:
        """A scan that raised: recorded as failed, and no finding changes."""
        with self._tx() as db:
            db.execute(
                """INSERT INTO scans (started_at, duration_s, trigger, findings, new, resolved, blind_spots, outcome, coverage, error)
                   VALUES (?, ?, ?, 0, 0, 0, 0, ?, ?, ?)""",
                (
                    started_at,
                    max(0.0, now - started_at),
                    trigger,
                    str(ScanOutcome.FAILED),
                    json.dumps(Coverage(False).to_json()),
                    error[:1000],
                ),
            )

    def _records(self, keys: list[str]) -> list[FindingRecord]:
        if not keys:
            return []
        with self._lock:
            rows = self._db.execute(
                f"SELECT key, rule_id, severity, category, body, first_seen, last_seen, resolved_at FROM findings WHERE key IN ({','.join('?' * len(keys))})",
                keys,
            ).fetchall()
        return [_record(row) for row in rows]

    def open_findings(self) -> list[FindingRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, rule_id, severity, category, body, first_seen, last_seen, resolved_at FROM findings WHERE resolved_at IS NULL ORDER BY first_seen"
            ).fetchall()
        return [_record(row) for row in rows]

    def history(self, key: str) -> FindingRecord | None:
        records = self._records([key])
        return records[0] if records else None

    def last_scan(self) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT started_at, duration_s, trigger, findings, new, resolved, blind_spots, outcome, coverage, error FROM scans ORDER BY id DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        keys = ("started_at", "duration_s", "trigger", "findings", "new", "resolved", "blind_spots")
        out: dict[str, Any] = dict(zip(keys, row[:7], strict=True))
        out.update(outcome=row[7], coverage=json.loads(row[8] or "{}"), error=row[9])
        return out


class LocalRecords:
    """Per-user records that route the tray's data: reports, acknowledgements, terminations."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add_report(
        self,
        key: str,
        uid: UserId,
        user: str,
        category: str,
        now: float,
        contact_method: str | None = None,
        contact_address: str = "",
    ) -> None:
        """Route a queued report to its author; the contact method and address (checked by
        protocol.contact) are kept so "My reports" shows the author what they gave."""
        with self._store._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO reports (key, uid, user, category, created_at, state, "
                "updated_at, contact_method, contact_address) "
                "VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                (key, uid, user, category, now, now, contact_method, contact_address),
            )

    def reports_for(self, uid: UserId) -> list[dict[str, Any]]:
        with self._store._lock:
            rows = self._store._db.execute(
                "SELECT key, category, created_at, case_id, state, summary, replies, updated_at, "
                "contact_method, contact_address FROM reports WHERE uid = ? ORDER BY created_at DESC",
                (uid,),
            ).fetchall()
        return [
            {
                "idempotency_key": r[0],
                "category": r[1],
                "created_at": r[2],
                "case": r[3],
                "state": r[4],
                "summary": r[5],
                "replies": json.loads(r[6]),
                "updated_at": r[7],
                "contact_method": r[8],
                "contact_address": r[9],
            }
            for r in rows
        ]

    def by_case(self) -> dict[str, str]:
        with self._store._lock:
            rows = self._store._db.execute(
                "SELECT case_id, key FROM reports WHERE case_id IS NOT NULL"
            ).fetchall()
        return {r[0]: r[1] for r in rows}

    def update_report(
        self,
        key: str,
        now: float,
        *,
        case: str | None = None,
        state: str | None = None,
        summary: str | None = None,
        replies: list[dict[str, Any]] | None = None,
    ) -> UserId | None:
        """Apply what the server says; the owner's uid when anything changed, else None."""
        with self._store._tx() as db:
            row = db.execute(
                "SELECT uid, case_id, state, summary, replies FROM reports WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                return None
            new = (
                case if case is not None else row[1],
                state if state is not None else row[2],
                summary if summary is not None else row[3],
                json.dumps(replies, ensure_ascii=False) if replies is not None else row[4],
            )
            if new == tuple(row[1:]):
                return None
            db.execute(
                "UPDATE reports SET case_id = ?, state = ?, summary = ?, replies = ?, updated_at = ? WHERE key = ?",
                (*new, now, key),
            )
            owner: UserId = row[0]  # an int uid, or a Windows SID string
            return owner

    def record_ack(self, uid: UserId, text_version: str, policy_version: int, now: float) -> None:
        with self._store._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO acks (uid, text_version, policy_version, at) VALUES (?, ?, ?, ?)",
                (uid, text_version, policy_version, now),
            )

    def acknowledged(self, uid: UserId) -> list[str]:
        with self._store._lock:
            rows = self._store._db.execute(
                "SELECT text_version FROM acks WHERE uid = ? ORDER BY at", (uid,)
            ).fetchall()
        return [r[0] for r in rows]

    def record_termination(
        self, now: float, pid: int, name: str, exe: str, rule_id: str, key: str
    ) -> None:
        with self._store._tx() as db:
            db.execute(
                "INSERT INTO terminations (at, pid, name, exe, rule_id, finding_key) VALUES (?, ?, ?, ?, ?, ?)",
                (now, pid, name, exe, rule_id, key),
            )

    def terminations(self) -> list[dict[str, Any]]:
        with self._store._lock:
            rows = self._store._db.execute(
                "SELECT at, pid, name, exe, rule_id, finding_key FROM terminations ORDER BY id"
            ).fetchall()
        keys = ("at", "pid", "name", "exe", "rule_id", "finding_key")
        return [dict(zip(keys, r, strict=True)) for r in rows]


def _evidence_identity(evidence: dict[str, Any]) -> tuple[str, str, str, str]:
    """`checks.model.Evidence.identity` of an evidence's JSON: the PID is not part of it."""
    return (
        str(evidence.get("kind", "")),
        str(evidence.get("matched", "")),
        str(evidence.get("path", "")),
        str(evidence.get("package", "")),
    )


def _record(row: tuple[Any, ...]) -> FindingRecord:
    return FindingRecord(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6], row[7])
