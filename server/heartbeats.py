"""Heartbeat group commit: the heartbeats that arrive together are written in one go."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from server import crud
from server.policy_index import PolicyEntry, PolicyIndex
from server.schemas import HeartbeatRequest

# (device id or None when refused, its news counter, the policy that applies to it)
Outcome = tuple[str | None, int, PolicyEntry | None]


@dataclass
class _Pending:
    hashed: str
    body: HeartbeatRequest
    now: datetime
    done: asyncio.Future[Outcome]


class HeartbeatBatcher:
    """Queues heartbeats; one flusher writes whatever has gathered while the last write ran.

    There is no timer: a lone heartbeat is written at once, and under load each database round
    trip (and each worker-thread hop) carries every heartbeat that arrived meanwhile. Answers
    still wait for their own write, so "200" means recorded and a revoked token is refused.
    """

    def __init__(
        self, engine: Engine, policies: PolicyIndex, gate: asyncio.Semaphore, max_batch: int = 500
    ) -> None:
        self._engine = engine
        self._policies = policies
        self._gate = gate
        self._max_batch = max_batch
        self._queue: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, hashed: str, body: HeartbeatRequest, now: datetime) -> Outcome:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Outcome] = loop.create_future()
        self._queue.append(_Pending(hashed, body, now, done))
        flusher = self._flusher
        # A flusher of another event loop (test clients run one loop per request) cannot help.
        if flusher is None or flusher.done() or flusher.get_loop() is not loop:
            self._flusher = loop.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        while self._queue:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            try:
                async with self._gate:
                    outcomes = await run_in_threadpool(self._write, batch)
            except Exception as exc:  # every waiting request learns of it, none hangs
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(exc)
                continue
            for item, outcome in zip(batch, outcomes, strict=True):
                if not item.done.done():
                    item.done.set_result(outcome)

    def _write(self, batch: list[_Pending]) -> list[Outcome]:
        with self._engine.begin() as conn:
            ids = crud.record_heartbeats(conn, [(p.hashed, p.body, p.now) for p in batch])
        return [
            (i[0], i[1], self._policies.for_device(i[0])) if i else (None, 0, None) for i in ids
        ]
