"""Which published policy applies to which device, cached for the heartbeat path."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.clock import Clock
from server.models import Device, Policy


@dataclass(frozen=True)
class PolicyEntry:
    version: int
    scope: frozenset[str] | None  # device ids; None: every device (unless `groups`)
    expires_at: datetime
    heartbeat_interval_s: int
    # A group-scoped policy: its groups, and their devices when the index was loaded.
    groups: frozenset[str] | None = None
    members: frozenset[str] = frozenset()

    def applies(self, device_id: str) -> bool:
        if self.groups is not None:
            return device_id in self.members
        return self.scope is None or device_id in self.scope


class PolicyIndex:
    """Which policy version applies to which device, cached for a few seconds.

    Heartbeats ask this on every call; policies change rarely, and a few seconds of delay before a
    new version is announced (also across worker processes) is harmless.
    """

    def __init__(self, factory: sessionmaker[Session], clock: Clock, ttl_s: float = 5.0) -> None:
        self._factory = factory
        self._clock = clock
        self._ttl = ttl_s
        self._entries: list[PolicyEntry] = []
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = None

    def for_device(self, device_id: str) -> PolicyEntry | None:
        now = self._clock.now()
        with self._lock:
            if self._loaded_at is None or now.timestamp() - self._loaded_at > self._ttl:
                self._entries = self._load(now)
                self._loaded_at = now.timestamp()
            entries = self._entries
        for entry in entries:
            if entry.expires_at > now and entry.applies(device_id):
                return entry
        return None

    def _load(self, now: datetime) -> list[PolicyEntry]:
        with self._factory() as session:
            rows = session.scalars(
                select(Policy)
                .where(Policy.expires_at > now)
                .order_by(Policy.version.desc())
                .limit(200)
            )
            entries = []
            for row in rows:
                interval = int(json.loads(row.payload).get("heartbeat_interval_s", 300))
                scope = frozenset(row.device_scope) if row.device_scope is not None else None
                groups = frozenset(row.group_scope) if row.group_scope is not None else None
                members: frozenset[str] = frozenset()
                if groups:
                    # Group membership as the server knows it now (IT may move a device).
                    members = frozenset(
                        session.scalars(select(Device.id).where(Device.group_label.in_(groups)))
                    )
                entries.append(
                    PolicyEntry(row.version, scope, row.expires_at, interval, groups, members)
                )
            return entries
