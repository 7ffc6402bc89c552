"""Revocation means revoked (issue 11): a device whose token the real server refuses as revoked
stops, says so, does not enroll itself again with the secret it still has, and enrolls again
only when IT gives another secret; the server then links it to its earlier record."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.config import Settings
from agent.credentials import FileCredentialStore
from agent.outbox import FileKeyProvider, Outbox
from agent.policy import PolicyGuard
from agent.sync import DeviceInfo, Sync
from server import crud
from server.db import session_scope
from server.models import Device
from tests.server.conftest import pg_cluster
from tests.support.real_server import RealServer, database_for

__all__ = ["pg_cluster"]

DEVICE = DeviceInfo("pc-revoked", "linux", "0.1.0", machine_id="m" * 64)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[RealServer]:
    for url in database_for(request, request.param):
        srv = RealServer(tmp_path_factory.mktemp("revocation") / "server", url)
        srv.start()
        yield srv
        srv.stop()
        srv.engine.dispose()


def make_sync(srv: RealServer, folder: Path, secret: str) -> Sync:
    folder.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        server_url=srv.url,
        enrollment_secret=secret,
        policy_public_key=str(srv.data / "policy-public.pem"),
    )
    return Sync(
        settings=settings,
        device=DEVICE,
        credentials=FileCredentialStore(folder / "credentials.json"),
        outbox=Outbox(folder / "outbox.db", FileKeyProvider(folder / "outbox.key")),
        policy=PolicyGuard(Path(settings.policy_public_key), folder / "policy.json"),
    )


def revoke(srv: RealServer, device_id: str) -> None:
    with session_scope(srv.sessions) as session:
        crud.revoke_device(session, device_id, datetime.now(UTC), "test", "")


def test_a_revoked_device_stops_and_enrolls_again_only_with_a_new_secret(
    server: RealServer, tmp_path: Path
) -> None:
    secret = server.secret(uses=5)  # a secret that could enroll it again, silently
    sync = make_sync(server, tmp_path / "agent", secret)
    now = datetime.now(UTC)
    sync.step(now)
    first = sync.status(now)
    assert first["enrolled"] and not first["revoked"]
    device_id = first["device_id"]

    revoke(server, device_id)
    later = now + timedelta(seconds=400)  # the next heartbeat is due
    sync.step(later)
    status = sync.status(later)
    assert status["revoked"] is True and status["enrolled"] is False
    assert status["last_error"]["code"] == "revoked"
    # Minutes later, and after a restart of the agent (a new Sync on the same state): still
    # revoked, and no second device on the server.
    for minutes in (1, 5, 60):
        sync.step(later + timedelta(minutes=minutes))
    sync.close()
    restarted = make_sync(server, tmp_path / "agent", secret)
    restarted.step(later + timedelta(hours=2))
    assert restarted.status(later)["revoked"] is True
    assert [d.id for d in server.rows(Device)] == [device_id]
    restarted.close()

    # IT enrolls it again on purpose, with a new secret: the same record comes back.
    again = make_sync(server, tmp_path / "agent", server.secret())
    again.step(later + timedelta(hours=3))
    status = again.status(later)
    assert status["enrolled"] and not status["revoked"], status
    assert status["device_id"] == device_id
    devices = server.rows(Device)
    assert len(devices) == 1 and devices[0].revoked_at is None
    again.close()


def test_a_machine_without_a_machine_id_gets_a_new_record(
    server: RealServer, tmp_path: Path
) -> None:
    sync = make_sync(server, tmp_path / "a", server.secret())
    sync.device = dataclasses.replace(DEVICE, machine_id="")
    now = datetime.now(UTC)
    sync.step(now)
    old_id = sync.status(now)["device_id"]
    revoke(server, old_id)
    sync.step(now + timedelta(seconds=400))
    sync.close()
    again = make_sync(server, tmp_path / "a", server.secret())
    again.device = dataclasses.replace(DEVICE, machine_id="")
    again.step(now + timedelta(hours=1))
    assert again.status(now)["device_id"] != old_id
    again.close()
