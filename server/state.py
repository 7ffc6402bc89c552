"""The per-app runtime state (settings, clock, database, signer, limiters) that routes depend on."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from server.clock import Clock
from server.config import Settings
from server.heartbeats import HeartbeatBatcher
from server.policy_index import PolicyIndex
from server.ratelimit import RateLimiter
from server.signing import PolicySigner


@dataclass
class Limiters:
    enroll_ip: RateLimiter
    login_ip: RateLimiter
    api_ip: RateLimiter
    device: RateLimiter


@dataclass
class AppState:
    settings: Settings
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    # For lookups that never write (device tokens): on SQLite they skip the write lock.
    read_sessions: sessionmaker[Session]
    signer: PolicySigner
    limiters: Limiters
    policies: PolicyIndex
    read_engine: Engine | None = None
    heartbeat_engine: Engine | None = None
    # How many request sessions may be open at once in this process (see deps.get_session).
    session_slots: int = 16
    extra: dict[str, object] = field(default_factory=dict)

    @functools.cached_property
    def session_gate(self) -> asyncio.Semaphore:
        # Created on first use, inside the server's event loop.
        return asyncio.Semaphore(self.session_slots)

    @functools.cached_property
    def heartbeats(self) -> HeartbeatBatcher:
        return HeartbeatBatcher(
            self.heartbeat_engine or self.engine, self.policies, self.session_gate
        )

    def dispose(self) -> None:
        self.engine.dispose()
        for extra in (self.read_engine, self.heartbeat_engine):
            if extra is not None:
                extra.dispose()
