"""The Sync state machine under faults a real server cannot be made to produce on demand:
Retry-After, a 4xx that must not be retried, a revoked token, a refused enrollment, a forged
policy. The server is an httpx.MockTransport; outbox, credentials and policy guard are real."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.config import Settings
from agent.credentials import Credentials, FileCredentialStore
from agent.outbox import FileKeyProvider, Outbox
from agent.policy import PolicyGuard
from agent.sync import DeviceInfo, Sync
from server.policy import PolicyCreate, build_document, sign_document
from server.signing import b64, generate_key_pair

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
Route = Callable[[httpx.Request], httpx.Response]


class FakeServer:
    """Answers like the device API; each test overrides the routes it is about."""

    def __init__(self, tmp: Path) -> None:
        self.signer = generate_key_pair(tmp / "policy-private.pem", tmp / "policy-public.pem")
        self.public = tmp / "policy-public.pem"
        self.requests: list[httpx.Request] = []
        self.policy_version = 0
        self.envelope: dict[str, Any] | None = None
        self.enrollments = 0
        self.routes: dict[str, Route] = {
            "/api/v1/enroll": self.enroll,
            "/api/v1/heartbeat": self.heartbeat,
            "/api/v1/policy": self.policy,
            "/api/v1/reports": self.report,
            "/api/v1/findings": lambda r: httpx.Response(
                200, json={"received": 1, "new": 1, "updated": 0, "resolved": 0}
            ),
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.routes[request.url.path](request)

    def paths(self) -> list[str]:
        return [r.url.path.removeprefix("/api/v1") for r in self.requests]

    def enroll(self, _r: httpx.Request) -> httpx.Response:
        self.enrollments += 1
        return httpx.Response(
            201,
            json={
                "device_id": f"device-{self.enrollments}",
                "device_token": f"token-{self.enrollments}",
                "policy_key_id": self.signer.key_id,
                "heartbeat_interval_s": 300,
            },
        )

    def heartbeat(self, _r: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "server_time": "2026-03-02T09:00:00Z",
                "policy_version": self.policy_version,
                "heartbeat_interval_s": 300,
            },
        )

    def policy(self, _r: httpx.Request) -> httpx.Response:
        if self.envelope is None:
            return httpx.Response(404, json={"error": "no_policy", "detail": "none"})
        return httpx.Response(200, json=self.envelope)

    def report(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        return httpx.Response(
            201,
            json={
                "case": "WXG-000007",
                "category": body["category"],
                "status": "new",
                "summary": body["summary"],
                "created_at": "2026-03-02T09:00:00Z",
                "updated_at": "2026-03-02T09:00:00Z",
                "attachments": [],
                "replies": [],
            },
        )

    def publish(self, version: int, **body: Any) -> None:
        create = PolicyCreate.model_validate(body)
        document = build_document(create, version, NOW - timedelta(hours=1), self.signer.key_id)
        payload, signature = sign_document(document, self.signer)
        self.policy_version = version
        self.envelope = {
            "version": version,
            "key_id": self.signer.key_id,
            "issued_at": document.issued_at.isoformat(),
            "expires_at": document.expires_at.isoformat(),
            "payload": b64(payload),
            "signature": b64(signature),
        }


@pytest.fixture
def fake(tmp_path: Path) -> FakeServer:
    return FakeServer(tmp_path)


def make_sync(
    fake: FakeServer, tmp_path: Path, secret: str = "enroll-me", rand: float = 0.5
) -> Sync:
    folder = tmp_path / "agent"
    settings = Settings(
        server_url="https://wx.corp", enrollment_secret=secret, policy_public_key=str(fake.public)
    )
    return Sync(
        settings=settings,
        device=DeviceInfo("pc", "linux", "0.1.0"),
        credentials=FileCredentialStore(folder / "credentials.json"),
        outbox=Outbox(folder / "outbox.db", FileKeyProvider(folder / "outbox.key")),
        policy=PolicyGuard(fake.public, folder / "policy.json"),
        transport=httpx.MockTransport(fake),
        rand=lambda: rand,
    )


REPORT = {"category": "other", "summary": "something odd"}


def test_first_step_enrolls_heartbeats_and_fetches_policy(fake: FakeServer, tmp_path: Path) -> None:
    fake.publish(3, enforcement="enforce")
    sync = make_sync(fake, tmp_path, rand=1.0)
    wake = sync.step(NOW)
    assert fake.paths() == ["/enroll", "/heartbeat", "/policy"]
    assert json.loads(fake.requests[1].content)["policy_version_seen"] == 0
    status = sync.status(NOW)
    assert status["enrolled"] and status["device_id"] == "device-1"
    assert (status["policy_version"], status["policy_mode"]) == (3, "enforce")
    assert wake == NOW + timedelta(seconds=330)  # 300 s + 10 % splay at the top of the range
    json.dumps(status)
    # Next heartbeat reports the version now in force; nothing else is due.
    sync.step(wake)
    assert fake.paths()[3:] == ["/heartbeat"]
    assert json.loads(fake.requests[3].content)["policy_version_seen"] == 3


def test_heartbeat_splay_stays_within_ten_percent(fake: FakeServer, tmp_path: Path) -> None:
    for rand, expected in ((0.0, 270), (0.5, 300), (1.0, 330)):
        sync = make_sync(fake, tmp_path / str(rand), rand=rand)
        assert sync.step(NOW) == NOW + timedelta(seconds=expected)


def test_not_configured_sends_nothing(fake: FakeServer, tmp_path: Path) -> None:
    sync = make_sync(fake, tmp_path, secret="")
    wake = sync.step(NOW)
    assert fake.requests == []
    assert sync.status(NOW)["enrolled"] is False and sync.status(NOW)["configured"] is False
    assert wake > NOW


def test_retry_after_is_honoured_and_nothing_is_sent_meanwhile(
    fake: FakeServer, tmp_path: Path
) -> None:
    sync = make_sync(fake, tmp_path, rand=0.0)
    sync.step(NOW)
    fake.routes["/api/v1/heartbeat"] = lambda _r: httpx.Response(
        503, json={"error": "busy", "detail": "overloaded"}, headers={"Retry-After": "120"}
    )
    t = NOW + timedelta(hours=1)
    sent = len(fake.requests)
    wake = sync.step(t)
    assert wake == t + timedelta(seconds=120)
    status = sync.status(t)
    assert status["server_reachable"] is False and status["last_error"]["retryable"] is True
    assert status["last_error"]["status"] == 503
    sync.queue_findings({"scanned_at": t.isoformat(), "findings": []}, t)
    assert sync.step(t + timedelta(seconds=60)) == wake
    assert len(fake.requests) == sent + 1  # the one failed heartbeat, nothing during the wait


def test_backoff_doubles_with_full_jitter_up_to_one_hour(fake: FakeServer, tmp_path: Path) -> None:
    sync = make_sync(fake, tmp_path, rand=1.0)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    fake.routes["/api/v1/enroll"] = down
    t = NOW
    waits = []
    for _ in range(14):
        wake = sync.step(t)
        waits.append((wake - t).total_seconds())
        t = wake
    assert waits[:5] == [1, 2, 4, 8, 16]
    assert waits[-1] == 3600 and max(waits) == 3600


def test_rejected_report_is_kept_shown_and_not_retried(fake: FakeServer, tmp_path: Path) -> None:
    sync = make_sync(fake, tmp_path)
    sync.step(NOW)
    fake.routes["/api/v1/reports"] = lambda _r: httpx.Response(
        415, json={"error": "unsupported_attachment", "detail": "only PNG, JPEG … are accepted"}
    )
    sync.queue_report(REPORT, NOW)
    sync.step(NOW)
    status = sync.status(NOW)
    error = status["last_error"]
    assert error["rejected"] is True and error["retryable"] is False
    assert error["status"] == 415 and "only PNG" in error["message"]
    assert status["outbox_depth"]["report"] == 1  # never dropped
    assert status["outbox_rejected"][0]["error"].startswith("HTTP 415")
    assert status["server_reachable"] is True
    attempts = fake.paths().count("/reports")
    for hours in (1, 2, 5):
        sync.step(NOW + timedelta(hours=hours))
    assert fake.paths().count("/reports") == attempts == 1


def test_revoked_token_reenrolls_and_delivers_the_queue(fake: FakeServer, tmp_path: Path) -> None:
    sync = make_sync(fake, tmp_path)
    sync.step(NOW)

    def revoked_then_ok(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer token-1":
            return httpx.Response(401, json={"error": "unauthorized", "detail": "revoked"})
        return fake.report(request)

    fake.routes["/api/v1/reports"] = revoked_then_ok
    sync.queue_report(REPORT, NOW)
    sync.step(NOW)
    status = sync.status(NOW)
    assert status["enrolled"] is False and status["last_error"]["needs_reenrollment"] is True
    assert FileCredentialStore(tmp_path / "agent" / "credentials.json").load() is None
    assert status["outbox_depth"]["report"] == 1
    sync.step(NOW)
    status = sync.status(NOW)
    assert status["enrolled"] and status["device_id"] == "device-2"
    assert status["outbox_depth"]["report"] == 0


def test_refused_enrollment_is_not_retried_with_the_same_secret(
    fake: FakeServer, tmp_path: Path
) -> None:
    fake.routes["/api/v1/enroll"] = lambda _r: httpx.Response(
        403, json={"error": "enrollment_refused", "detail": "secret unknown, used up or expired"}
    )
    sync = make_sync(fake, tmp_path)
    for hours in range(3):
        sync.step(NOW + timedelta(hours=hours))
    assert fake.paths() == ["/enroll"]
    error = sync.status(NOW)["last_error"]
    assert error["code"] == "enrollment_refused" and error["rejected"] is True


def test_forged_policy_is_refused_reported_and_not_refetched_each_heartbeat(
    fake: FakeServer, tmp_path: Path
) -> None:
    fake.publish(2, enforcement="enforce")
    events: list[tuple[str, dict[str, Any]]] = []
    sync = make_sync(fake, tmp_path)
    sync._on_event = lambda name, data: events.append((name, data))
    sync.step(NOW)
    assert sync.status(NOW)["policy_version"] == 2

    fake.publish(3, enforcement="monitor")
    assert fake.envelope is not None
    raw = bytearray(base64.b64decode(fake.envelope["payload"]))
    raw[raw.index(b"monitor")] = ord("M")
    fake.envelope["payload"] = base64.b64encode(bytes(raw)).decode()
    t = NOW + timedelta(minutes=6)
    sync.step(t)
    status = sync.status(t)
    assert (status["policy_version"], status["policy_mode"]) == (2, "enforce")  # last good
    assert [r["reason"] for r in status["policy_refusals"]] == ["forged"]
    assert (
        "policy-refused",
        {"reason": "forged", "detail": events[-1][1]["detail"], "version": 3},
    ) in events
    fetches = fake.paths().count("/policy")
    sync.step(t + timedelta(minutes=6))  # another heartbeat announcing the same version
    assert fake.paths().count("/policy") == fetches


def test_credentials_left_by_a_previous_run_are_used(fake: FakeServer, tmp_path: Path) -> None:
    store = FileCredentialStore(tmp_path / "agent" / "credentials.json")
    store.save(Credentials("device-9", "token-9", "https://wx.corp"))
    sync = make_sync(fake, tmp_path)
    sync.step(NOW)
    assert "/enroll" not in fake.paths()
    assert fake.requests[0].headers["authorization"] == "Bearer token-9"


def test_last_good_policy_is_in_force_after_restart_before_any_contact(
    fake: FakeServer, tmp_path: Path
) -> None:
    fake.publish(4, enforcement="enforce")
    make_sync(fake, tmp_path).step(NOW)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    for route in list(fake.routes):
        fake.routes[route] = down
    restarted = make_sync(fake, tmp_path)
    status = restarted.status(NOW)
    assert (status["policy_version"], status["policy_mode"]) == (4, "enforce")
    restarted.step(NOW)
    assert restarted.effective_policy().version == 4


def test_missing_policy_key_does_not_stop_reports(fake: FakeServer, tmp_path: Path) -> None:
    fake.publish(1)
    fake.public.unlink()  # the installer did not pin a key
    sync = make_sync(fake, tmp_path)
    sync.queue_report(REPORT, NOW)
    sync.step(NOW)
    status = sync.status(NOW)
    assert status["outbox_depth"]["report"] == 0
    assert status["policy_version"] == 0
    assert "policy public key" in status["last_error"]["message"]


def test_an_unsendable_item_does_not_block_the_queue(fake: FakeServer, tmp_path: Path) -> None:
    sync = make_sync(fake, tmp_path)
    sync.step(NOW)
    # A password-status item without its accounts list (say, from an older agent version).
    sync.outbox.put("password-status", {"unexpected": True}, "password-legacy-1", NOW)
    sync.queue_report(REPORT, NOW + timedelta(seconds=1))
    sync.step(NOW + timedelta(seconds=2))
    status = sync.status(NOW)
    assert status["outbox_depth"]["report"] == 0
    assert status["outbox_depth"]["password-status"] == 1
    assert "cannot be sent" in status["outbox_rejected"][0]["error"]


def test_news_fast_lane_and_upgrade_from_the_heartbeat_answer(
    fake: FakeServer, tmp_path: Path
) -> None:
    """The heartbeat answer drives timeliness (issue 11): a changed `news` is taken once, an
    open report shortens the next heartbeat to 45 s, and `upgrade` shows in status."""
    answer = {"news": 3, "upgrade": False}

    def heartbeat(request: httpx.Request) -> httpx.Response:
        assert request.headers["Wxguard-Protocol"] == "1"
        return httpx.Response(
            200,
            json={
                "server_time": "2026-03-02T09:00:00Z",
                "policy_version": 0,
                "heartbeat_interval_s": 300,
                "protocol": 1,
                **answer,
            },
        )

    fake.routes["/api/v1/heartbeat"] = heartbeat
    sync = make_sync(fake, tmp_path)
    sync.step(NOW)
    assert sync.take_news() is False  # the first answer is the baseline
    status = sync.status(NOW)
    assert status["upgrade_required"] is False
    assert status["next_heartbeat"] == (NOW + timedelta(seconds=300)).timestamp()
    sync.set_fast(True)
    answer.update(news=4, upgrade=True)
    sync.refresh_now()
    sync.step(NOW + timedelta(seconds=1))
    assert sync.take_news() is True and sync.take_news() is False
    status = sync.status(NOW)
    assert status["upgrade_required"] is True
    assert status["next_heartbeat"] == (NOW + timedelta(seconds=46)).timestamp()
