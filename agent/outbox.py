"""The durable outbox: what the agent owes the server, encrypted at rest, until delivered.

`put` commits (WAL, synchronous=FULL) before it returns, so "queued" said to the employee means
the item survives a crash or a power cut. Payloads and attachments are sealed with AES-256-GCM:
a fresh random 96-bit nonce per blob, and associated data naming the item id, kind and part, so a
row (or an attachment) copied onto another row fails to decrypt instead of being sent as it.

Delivery is at least once: each item has an idempotency key that the server uses to store it
once. Incident reports are never dropped: a full disk is an `OutboxFull` error raised to the
caller (who tells the employee), and a report the server refuses stays here as `rejected`.
Findings snapshots may be coalesced: a newer complete snapshot supersedes undelivered ones.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agent.credentials import (
    KEY_OUTBOX,
    AgentKeyring,
    CredentialsError,
    read_private_file,
    write_private_file,
)
from protocol.limits import MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS  # the server's defaults

KEY_BYTES = 32
NONCE_BYTES = 12
SQLITE_FULL = 13

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    state            TEXT NOT NULL,      -- pending | delivered | rejected
    created_at       REAL NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL NOT NULL,
    last_error       TEXT NOT NULL DEFAULT '',
    delivered_at     REAL,
    payload          BLOB,               -- nonce || AES-GCM(JSON); NULL once delivered
    response         BLOB                -- nonce || AES-GCM(server's answer), once delivered
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS outbox_attachments (
    item_id  TEXT NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    seq      INTEGER NOT NULL,
    blob     BLOB NOT NULL,              -- nonce || AES-GCM(name length, name, bytes)
    PRIMARY KEY (item_id, seq)
);
"""


class Kind(StrEnum):
    """What an item is; stable strings, never renumber."""

    REPORT = "report"
    FINDINGS = "findings"
    PASSWORD_STATUS = "password-status"
    POLICY_ACK = "policy-ack"


class State(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    REJECTED = "rejected"  # the server refused it (4xx): kept, shown, not retried on its own


# Reports go first: they are what a person is waiting on.
_PRIORITY = {Kind.REPORT: 0, Kind.POLICY_ACK: 1, Kind.PASSWORD_STATUS: 2, Kind.FINDINGS: 3}


class OutboxError(Exception):
    """The outbox cannot store or read an item; `zh` and `en` say what to do."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh}\n{en}")
        self.zh = zh
        self.en = en


class OutboxFull(OutboxError):
    """The disk (or the file's size limit) is full: the new item was NOT stored."""


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    kind: Kind
    idempotency_key: str
    state: State
    payload: dict[str, Any]
    attachments: tuple[Attachment, ...]
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    last_error: str


@dataclass(frozen=True, slots=True)
class Summary:
    """An item without its (decrypted) contents: for status displays and lists."""

    id: str
    kind: Kind
    idempotency_key: str
    state: State
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    last_error: str
    delivered_at: datetime | None
    response: dict[str, Any] | None


# --- keys --------------------------------------------------------------------------------


class KeyProvider(Protocol):
    """The outbox's 256-bit key; created on first use, the same bytes every time after."""

    def key(self) -> bytes: ...


class FileKeyProvider:
    """System mode: the key in a 0600 file that only the service account can read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cached: bytes | None = None

    def key(self) -> bytes:
        if self._cached is None:
            raw = read_private_file(self.path)
            if raw is None:
                raw = os.urandom(KEY_BYTES)
                try:
                    write_private_file(self.path, raw)
                except OSError as exc:
                    raise _key_error(str(self.path), exc.strerror or str(exc)) from exc
            if len(raw) != KEY_BYTES:
                raise _key_error(str(self.path), f"expected {KEY_BYTES} bytes, found {len(raw)}")
            self._cached = raw
        return self._cached


class KeyringKeyProvider:
    """User mode: the key in the OS keyring (entry `outbox-key`); never a plaintext fallback."""

    def __init__(self, keyring_: AgentKeyring) -> None:
        self.keyring = keyring_
        self._cached: bytes | None = None

    def key(self) -> bytes:
        if self._cached is None:
            stored = self.keyring.get(KEY_OUTBOX)
            if stored is None:
                raw = os.urandom(KEY_BYTES)
                self.keyring.set(KEY_OUTBOX, base64.b64encode(raw).decode("ascii"))
                stored = self.keyring.get(KEY_OUTBOX)  # read back: the store really kept it
                if stored is None:
                    raise _key_error("keyring", "the key did not persist")
            try:
                raw = base64.b64decode(stored, validate=True)
            except ValueError as exc:
                raise _key_error("keyring", "entry is not base64") from exc
            if len(raw) != KEY_BYTES:
                raise _key_error("keyring", f"expected {KEY_BYTES} bytes, found {len(raw)}")
            self._cached = raw
        return self._cached


def _key_error(where: str, detail: str) -> CredentialsError:
    return CredentialsError(
        f"无法读取或创建发件箱加密密钥（{where}：{detail}）。请联系 IT。",
        f"Cannot read or create the outbox encryption key ({where}: {detail}). Contact IT.",
    )


# --- the outbox --------------------------------------------------------------------------


def _ts(when: datetime) -> float:
    if when.tzinfo is None:
        raise ValueError("outbox times must be timezone-aware")
    return when.timestamp()


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


class Outbox:
    """Thread-safe durable queue of items for the server, in its own SQLite file."""

    def __init__(self, path: Path, keys: KeyProvider) -> None:
        self.path = path
        self._keys = keys
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # private from the first byte
            os.close(fd)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            # Freed pages are zeroed, so a delivered payload's ciphertext does not linger.
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise _storage_error(path, exc) from exc
        self._aead = AESGCM(keys.key())

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    # SQLite may already have rolled back what it could not write.
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise _storage_error(self.path, exc) from exc

    # --- sealing -------------------------------------------------------------------------

    def _seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def _open(self, blob: bytes, aad: bytes, item_id: str) -> bytes:
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag:
            raise OutboxError(
                f"发件箱条目 {item_id} 无法解密：密钥已更换或数据被篡改。该条目保留未删除，请联系 IT。",
                f"Outbox item {item_id} cannot be decrypted: the key changed or the data was "
                f"tampered with. The item is kept, not deleted; contact IT.",
            ) from None

    @staticmethod
    def _aad(item_id: str, kind: str, part: str) -> bytes:
        return f"wxguard-outbox/v1\0{item_id}\0{kind}\0{part}".encode()

    # --- writing -------------------------------------------------------------------------

    def put(
        self,
        kind: Kind | str,
        payload: Mapping[str, Any],
        idempotency_key: str,
        now: datetime,
        attachments: Sequence[Attachment] = (),
        supersede: bool = False,
    ) -> str:
        """Store one item durably and return its id; committed when this returns.

        The same idempotency key again returns the existing item's id (a double click files
        one report). `supersede=True` (not for reports) removes undelivered items of the same
        kind: a complete findings snapshot makes older ones pointless.
        Raises OutboxFull when the disk is full (nothing is stored), OutboxError otherwise.
        """
        kind = Kind(kind)
        if supersede and kind is Kind.REPORT:
            raise ValueError("incident reports are never superseded or dropped")
        if len(attachments) > MAX_ATTACHMENTS:
            raise ValueError(f"at most {MAX_ATTACHMENTS} attachments per report")
        for att in attachments:
            if len(att.data) > MAX_ATTACHMENT_BYTES:
                raise ValueError(
                    f"attachment {att.filename!r} is larger than {MAX_ATTACHMENT_BYTES} bytes"
                )
        item_id = uuid.uuid4().hex
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        sealed = self._seal(body, self._aad(item_id, kind, "payload"))
        sealed_files = []
        for seq, att in enumerate(attachments):
            name = att.filename.encode()
            plain = len(name).to_bytes(2, "big") + name + att.data
            sealed_files.append((seq, self._seal(plain, self._aad(item_id, kind, f"file{seq}"))))
        at = _ts(now)
        with self._tx() as db:
            existing = db.execute(
                "SELECT id, kind FROM outbox WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
            if existing is not None:
                if existing[1] != kind:
                    raise ValueError(f"idempotency key {idempotency_key!r} used for another kind")
                return str(existing[0])
            if supersede:
                db.execute(
                    "DELETE FROM outbox WHERE kind = ? AND state = ?", (kind.value, State.PENDING)
                )
            db.execute(
                "INSERT INTO outbox (id, kind, idempotency_key, state, created_at, "
                "next_attempt_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (item_id, kind.value, idempotency_key, State.PENDING.value, at, at, sealed),
            )
            db.executemany(
                "INSERT INTO outbox_attachments (item_id, seq, blob) VALUES (?, ?, ?)",
                [(item_id, seq, blob) for seq, blob in sealed_files],
            )
        return item_id

    def mark_delivered(self, item_id: str, response: Mapping[str, Any], now: datetime) -> None:
        """Delivered: drop the payload and attachments, keep the server's answer (e.g. the case
        number) sealed for the status display."""
        with self._tx() as db:
            row = db.execute("SELECT kind FROM outbox WHERE id = ?", (item_id,)).fetchone()
            if row is None:
                raise KeyError(item_id)
            sealed = self._seal(
                json.dumps(response, ensure_ascii=False).encode(),
                self._aad(item_id, row[0], "response"),
            )
            db.execute(
                "UPDATE outbox SET state = ?, delivered_at = ?, payload = NULL, response = ?, "
                "last_error = '', attempts = attempts + 1 WHERE id = ?",
                (State.DELIVERED.value, _ts(now), sealed, item_id),
            )
            db.execute("DELETE FROM outbox_attachments WHERE item_id = ?", (item_id,))

    def mark_failed(
        self, item_id: str, error: str, next_attempt_at: datetime, permanent: bool = False
    ) -> None:
        """A delivery attempt failed: retry at `next_attempt_at`, or never on its own when
        `permanent` (the server refused it; the item is kept as `rejected`)."""
        state = State.REJECTED if permanent else State.PENDING
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt_at = ?, "
                "last_error = ? WHERE id = ? AND state != ?",
                (state.value, _ts(next_attempt_at), error[:2000], item_id, State.DELIVERED),
            )

    def purge_delivered(self, before: datetime) -> int:
        """Forget delivered items older than `before` (their answers were shown long ago)."""
        with self._tx() as db:
            cursor = db.execute(
                "DELETE FROM outbox WHERE state = ? AND delivered_at < ?",
                (State.DELIVERED.value, _ts(before)),
            )
            return cursor.rowcount

    # --- reading -------------------------------------------------------------------------

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._db.execute(sql, args).fetchall())
            except sqlite3.Error as exc:
                raise _storage_error(self.path, exc) from exc

    def depth(self) -> dict[str, int]:
        """Undelivered items per kind (pending and rejected), every kind present."""
        counts = {kind.value: 0 for kind in Kind}
        for kind, count in self._query(
            "SELECT kind, COUNT(*) FROM outbox WHERE state != ? GROUP BY kind",
            (State.DELIVERED.value,),
        ):
            counts[str(kind)] = int(count)
        return counts

    def rejected(self) -> list[Summary]:
        return self.summaries(State.REJECTED)

    def next_due(self, now: datetime) -> Item | None:
        """The most urgent pending item whose next attempt time has come, decrypted.

        An item that cannot be decrypted (the key changed, the row was tampered with) is set
        aside as `rejected` with the reason, not deleted, so it cannot block the queue.
        """
        while True:
            rows = self._query(
                "SELECT id FROM outbox WHERE state = ? AND next_attempt_at <= ? "
                "ORDER BY CASE kind WHEN 'report' THEN 0 WHEN 'policy-ack' THEN 1 "
                "WHEN 'password-status' THEN 2 ELSE 3 END, created_at LIMIT 1",
                (State.PENDING.value, _ts(now)),
            )
            if not rows:
                return None
            try:
                return self.get(rows[0][0])
            except OutboxError as exc:
                self.mark_failed(rows[0][0], exc.en, now, permanent=True)

    def next_attempt_at(self) -> datetime | None:
        """When the earliest pending item becomes due (None when nothing is pending)."""
        rows = self._query(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE state = ?", (State.PENDING.value,)
        )
        value = rows[0][0] if rows else None
        return _dt(float(value)) if value is not None else None

    def get(self, item_id: str) -> Item:
        rows = self._query(
            "SELECT id, kind, idempotency_key, state, created_at, attempts, next_attempt_at, "
            "last_error, payload FROM outbox WHERE id = ?",
            (item_id,),
        )
        if not rows:
            raise KeyError(item_id)
        row = rows[0]
        kind = str(row[1])
        payload: dict[str, Any] = {}
        if row[8] is not None:
            payload = json.loads(self._open(row[8], self._aad(item_id, kind, "payload"), item_id))
        attachments = []
        for seq, blob in self._query(
            "SELECT seq, blob FROM outbox_attachments WHERE item_id = ? ORDER BY seq", (item_id,)
        ):
            plain = self._open(blob, self._aad(item_id, kind, f"file{seq}"), item_id)
            size = int.from_bytes(plain[:2], "big")
            attachments.append(Attachment(plain[2 : 2 + size].decode(), plain[2 + size :]))
        return Item(
            id=item_id,
            kind=Kind(kind),
            idempotency_key=str(row[2]),
            state=State(row[3]),
            payload=payload,
            attachments=tuple(attachments),
            created_at=_dt(row[4]),
            attempts=int(row[5]),
            next_attempt_at=_dt(row[6]),
            last_error=str(row[7]),
        )

    def summaries(self, state: State | None = None) -> list[Summary]:
        sql = (
            "SELECT id, kind, idempotency_key, state, created_at, attempts, next_attempt_at, "
            "last_error, delivered_at, response FROM outbox"
        )
        args: tuple[Any, ...] = ()
        if state is not None:
            sql += " WHERE state = ?"
            args = (state.value,)
        result = []
        for row in self._query(sql + " ORDER BY created_at", args):
            response = None
            if row[9] is not None:
                response = json.loads(
                    self._open(row[9], self._aad(row[0], row[1], "response"), row[0])
                )
            result.append(
                Summary(
                    id=str(row[0]),
                    kind=Kind(row[1]),
                    idempotency_key=str(row[2]),
                    state=State(row[3]),
                    created_at=_dt(row[4]),
                    attempts=int(row[5]),
                    next_attempt_at=_dt(row[6]),
                    last_error=str(row[7]),
                    delivered_at=_dt(row[8]) if row[8] is not None else None,
                    response=response,
                )
            )
        return result

    def quick_check(self) -> str:
        rows = self._query("PRAGMA quick_check")
        return str(rows[0][0]) if rows else ""


def _storage_error(path: Path, exc: Exception) -> OutboxError:
    full = (
        isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL
    ) or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC)
    if full:
        return OutboxFull(
            f"磁盘已满，无法保存到发件箱 {path}：{exc}。本次内容未保存，之前排队的内容完好。"
            f"请释放磁盘空间后重试；若是安全事件且紧急，请直接联系信息安全部门。",
            f"The disk is full; nothing could be added to the outbox {path}: {exc}. This item "
            f"was NOT saved; everything queued before is intact. Free some disk space and try "
            f"again; if this is an urgent security incident, contact the information-security "
            f"department directly.",
        )
    return OutboxError(
        f"发件箱 {path} 读写失败：{exc}。请检查磁盘和权限；若问题持续，请联系 IT。",
        f"The outbox {path} could not be read or written: {exc}. Check the disk and its "
        f"permissions; if this persists, contact IT.",
    )
