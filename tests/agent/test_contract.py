"""Contract: the agent's real ServerClient and Sync against the real `wxguard-server` process
(SQLite in a temp folder, 127.0.0.1): enroll, heartbeat, findings, a report with an attachment
stored once even when sent twice, signed policy fetched and verified, the device's reports; and
an outage: reports queue while the server is down and are all delivered exactly once after."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.config import Settings
from agent.credentials import FileCredentialStore
from agent.outbox import Attachment, FileKeyProvider, Outbox
from agent.policy import PolicyGuard
from agent.server_client import ServerClient, findings_batch
from agent.store import Store
from agent.sync import DeviceInfo, Sync
from checks.model import Category, Evidence, Finding, Platform, ScanResult, Severity, Text
from server.models import Device, Report
from server.models import Finding as ServerFinding
from tests.server.conftest import pg_cluster
from tests.support.real_server import RealServer, database_for

__all__ = ["pg_cluster"]

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
DEVICE = DeviceInfo(hostname="pc-contract", os="linux", agent_version="0.1.0")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[RealServer]:
    for url in database_for(request, request.param):
        srv = RealServer(tmp_path_factory.mktemp("contract") / "server", url)
        srv.start()
        yield srv
        srv.stop()
        srv.engine.dispose()


class LosingTransport(httpx.HTTPTransport):
    """A real connection whose answer to the first report uploads is lost on the way back: the
    server stored the report, the agent never heard so. The fault at-least-once exists for."""

    def __init__(self, lose: int) -> None:
        super().__init__()
        self.lose = lose

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/reports") and self.lose:
            self.lose -= 1
            response.read()
            response.close()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


def make_sync(
    srv: RealServer, folder: Path, secret: str, transport: httpx.BaseTransport | None = None
) -> Sync:
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
        transport=transport,
    )


WECHATY = Finding(
    rule_id="bot-framework-wechaty",
    title=Text("检测到机器人框架", "Bot framework detected"),
    category=Category.BOT_FRAMEWORK,
    severity=Severity.HIGH,
    remediation=Text("请卸载", "Uninstall it"),
    evidence=(Evidence("package", "npm package wechaty", package="wechaty"),),
    subject="npm:wechaty",
)


def scan_batch(store: Store, now: datetime, *findings: Finding) -> dict[str, Any]:
    """A full scan recorded in the agent's real store, turned into the wire batch."""
    result = ScanResult("/", Platform.LINUX, True, now.timestamp(), 0.1, list(findings), [])
    delta = store.apply_scan(result, "full", now.timestamp())
    return findings_batch(delta.new, delta.present, delta.resolved, now, complete=True)


REPORT = {
    "category": "account-compromise",
    "summary": "有人用我的账号发消息 / someone posts from my account",
    "description": "Friends received links I never sent.",
    "affected_account": "wxid_alice",
}


def test_full_exchange_against_the_real_server(server: RealServer, tmp_path: Path) -> None:
    first = server.publish(
        {
            "enforcement": "enforce",
            "heartbeat_interval_s": 600,
            "text": {"version": "v1", "zh": "规定", "en": "Policy"},
        }
    )
    sync = make_sync(server, tmp_path / "agent", server.secret())
    now = datetime.now(UTC)

    sync.step(now)
    status = sync.status(now)
    assert status["enrolled"] and status["server_reachable"], status
    assert status["last_error"] is None
    assert (status["policy_version"], status["policy_mode"]) == (first, "enforce")
    assert status["heartbeat_interval_s"] == 600
    device_id = status["device_id"]
    device = [d for d in server.rows(Device) if d.id == device_id]
    assert device and device[0].hostname == "pc-contract" and device[0].agent_version == "0.1.0"
    assert (tmp_path / "agent" / "credentials.json").stat().st_mode & 0o777 == 0o600

    # A policy scoped to this device, published while the agent runs: announced by a heartbeat.
    second = server.publish({"enforcement": "monitor", "devices": [device_id]})

    store = Store(tmp_path / "agent" / "state.db")
    sync.queue_findings(scan_batch(store, now, WECHATY), now)
    key = sync.queue_report(REPORT, now, attachments=[Attachment("screen.png", PNG)])
    sync.queue_password_status(
        [{"account_type": "enterprise", "state": "ok", "last_changed": now.isoformat()}], now
    )
    sync.queue_policy_ack(first, now, now, text_version="v1", user="alice")
    sync.step(now)
    status = sync.status(now)
    assert status["outbox_depth"] == {
        "report": 0,
        "findings": 0,
        "password-status": 0,
        "policy-ack": 0,
    }, status
    assert status["last_error"] is None, status
    delivered = {s.kind: s.response for s in sync.outbox.summaries()}
    assert delivered["password-status"] == {"accepted": 1}
    assert delivered["policy-ack"] == {"accepted": 1}
    case = delivered["report"]["case"]  # type: ignore[index]
    assert case.startswith("WXG-")
    stored = [f for f in server.rows(ServerFinding) if f.device_id == device_id]
    assert [(f.key, f.state, f.title) for f in stored] == [
        (WECHATY.key, "open", "Bot framework detected")
    ]
    # The next full scan no longer sees it: resolved on the server too.
    sync.queue_findings(scan_batch(store, now + timedelta(seconds=1)), now)
    sync.step(now)
    stored = [f for f in server.rows(ServerFinding) if f.device_id == device_id]
    assert [(f.key, f.state) for f in stored] == [(WECHATY.key, "resolved")]
    store.close()

    # At least once: the same report sent again (an answer lost on the way) is stored once.
    creds = sync.credentials.load()
    assert creds is not None
    with ServerClient(server.url, creds.token) as client:
        again = client.submit_report(REPORT, [Attachment("screen.png", PNG)], idempotency_key=key)
        assert (again.case, again.created) == (case, False)
        mine = client.my_reports()
    assert [r.case for r in mine] == [case]
    assert mine[0].attachments[0]["size"] == len(PNG)
    assert mine[0].attachments[0]["content_type"] == "image/png"
    assert len([r for r in server.rows(Report) if r.device_id == device_id]) == 1

    # The scoped version reaches the agent through a heartbeat (the server caches scopes ~5 s).
    deadline = time.monotonic() + 15
    later = now
    while sync.status(later)["policy_version"] != second and time.monotonic() < deadline:
        time.sleep(0.5)
        later = later + timedelta(hours=1)
        sync.step(later)
    status = sync.status(later)
    assert (status["policy_version"], status["policy_mode"]) == (second, "monitor"), status
    assert status["server_policy_version"] == second
    assert status["policy_refusals"] == []
    sync.close()


def test_outage_reports_queue_and_are_delivered_exactly_once(
    server: RealServer, tmp_path: Path
) -> None:
    lossy = LosingTransport(lose=2)
    sync = make_sync(server, tmp_path / "agent", server.secret(), transport=lossy)
    now = datetime.now(UTC)
    sync.step(now)
    status = sync.status(now)
    assert status["enrolled"], status
    device_id = status["device_id"]

    server.stop()
    try:
        for n in range(3):
            sync.queue_report({**REPORT, "summary": f"report {n}"}, now)
        wake = sync.step(now)
        status = sync.status(now)
        assert status["server_reachable"] is False
        assert status["last_error"]["retryable"] is True
        assert status["outbox_depth"]["report"] == 3
        assert now < wake <= now + timedelta(hours=1, seconds=1)  # backing off, within the cap
        assert sync.step(now) == wake  # no hammering while backing off
    finally:
        server.start()

    # Back online; the first two answers are lost after the server stored the reports, so the
    # agent retries them; the idempotency keys make the server store each report once.
    t = wake
    for _ in range(10):
        if sync.status(t)["outbox_depth"]["report"] == 0:
            break
        t = max(sync.step(t), t + timedelta(seconds=1))
    assert sync.status(t)["outbox_depth"]["report"] == 0
    assert lossy.lose == 0
    reports = [r for r in server.rows(Report) if r.device_id == device_id]
    assert sorted(r.summary for r in reports) == ["report 0", "report 1", "report 2"]
    receipts = [s.response for s in sync.outbox.summaries() if s.response]
    assert sorted(r["created"] for r in receipts) == [False, False, True]
    sync.close()
