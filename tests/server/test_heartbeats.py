"""Heartbeats under concurrency: grouped writes still answer each device on its own merits."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from server import crud
from server.db import session_scope
from tests.server.conftest import START, Harness, free_port


@pytest.fixture
def base_url(harness: Harness) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(harness.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_concurrent_heartbeats_are_each_authenticated_and_recorded(
    harness: Harness, base_url: str
) -> None:
    good = [harness.enroll(f"pc-{i}") for i in range(5)]
    revoked = harness.enroll("gone")
    with session_scope(harness.sessions) as session:
        crud.revoke_device(session, revoked.device_id, START, "test", "")

    async def beat(client: httpx.AsyncClient, headers: dict[str, str], n: int) -> int:
        body = {"agent_version": f"2.{n}", "users_seen": [f"u{n}"], "policy_version_seen": n}
        return (await client.post("/api/v1/heartbeat", json=body, headers=headers)).status_code

    async def storm() -> list[tuple[str, int]]:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            jobs = [
                (device.device_id, beat(client, device.headers, n))
                for n in range(10)
                for device in [*good, revoked]
            ]
            codes = await asyncio.gather(*(job for _, job in jobs))
            return [(device_id, code) for (device_id, _), code in zip(jobs, codes, strict=True)]

    def last_seen(device_id: str) -> object:
        with harness.engine.connect() as conn:
            return conn.execute(
                text("SELECT last_seen_at FROM devices WHERE id = :id"), {"id": device_id}
            ).scalar()

    # Enrolment counts as contact (a device that never beat is "offline since enrolment").
    enrolled_seen = last_seen(revoked.device_id)
    results = asyncio.run(storm())
    assert {code for device_id, code in results if device_id != revoked.device_id} == {200}
    assert {code for device_id, code in results if device_id == revoked.device_id} == {401}
    with harness.engine.connect() as conn:
        rows = {
            r[0]: (r[1], r[2])
            for r in conn.exec_driver_sql(
                "SELECT id, policy_version_seen, last_seen_at FROM devices"
            )
        }
    for device in good:
        # The highest version any of its heartbeats carried, whatever order they landed in.
        assert rows[device.device_id][0] == 9
        assert rows[device.device_id][1] is not None
    assert rows[revoked.device_id][1] == enrolled_seen  # refused heartbeats record nothing
