"""The HTTP client: request shapes the server expects, and the error tree the agent acts on.

Faults a real server cannot be made to produce on demand (a 503 with Retry-After, a dropped
connection) come from httpx.MockTransport; the happy paths are in test_contract.py.
"""

from __future__ import annotations

import http.server
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.server_client import (
    Attachment,
    ServerClient,
    ServerError,
    ServerRejected,
    ServerUnavailable,
    Unauthorized,
    findings_batch,
)
from agent.store import FindingRecord

Handler = Callable[[httpx.Request], httpx.Response]
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Recorder:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


def client_with(handler: Handler, token: str | None = "tok") -> tuple[ServerClient, Recorder]:
    recorder = Recorder(handler)
    return (
        ServerClient("https://wxguard.example", token, transport=httpx.MockTransport(recorder)),
        recorder,
    )


def error(status: int, code: str, detail: str, **headers: str) -> Handler:
    return lambda _r: httpx.Response(
        status, json={"error": code, "detail": detail}, headers=headers
    )


def test_enroll_sends_the_servers_fields_and_no_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/enroll"
        assert "authorization" not in request.headers
        assert json.loads(request.content) == {
            "secret": "s3cret",
            "hostname": "pc-1",
            "os": "linux",
            "agent_version": "0.1.0",
        }
        body = {
            "device_id": "d-1",
            "device_token": "t-1",
            "policy_key_id": "abcd",
            "heartbeat_interval_s": 300,
        }
        return httpx.Response(201, json=body)

    client, _ = client_with(handler, token=None)
    enrollment = client.enroll("s3cret", "pc-1", "linux", "0.1.0")
    assert (enrollment.device_id, enrollment.device_token) == ("d-1", "t-1")
    assert enrollment.heartbeat_interval_s == 300


def test_enroll_sends_the_serial_number_when_known() -> None:
    sent: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        body = {"device_id": "d", "device_token": "t", "policy_key_id": "k",
                "heartbeat_interval_s": 300}  # fmt: skip
        return httpx.Response(201, json=body)

    client, _ = client_with(handler, token=None)
    client.enroll("s3cret", "pc-1", "linux", "0.1.0", serial_number="PF3ABCDE")
    assert sent[-1]["serial_number"] == "PF3ABCDE"


def test_heartbeat_times_carry_their_offset_and_naive_times_are_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert request.headers["authorization"] == "Bearer tok"
        assert body["last_scan_at"] == "2026-03-02T17:00:00+08:00"
        assert body["policy_version_seen"] == 4
        reply = {
            "server_time": "2026-03-02T09:00:01Z",
            "policy_version": 5,
            "heartbeat_interval_s": 600,
        }
        return httpx.Response(200, json=reply)

    client, _ = client_with(handler)
    shanghai = timezone(timedelta(hours=8))
    reply = client.heartbeat(
        "0.1.0", "linux", "pc", ["alice"], datetime(2026, 3, 2, 17, 0, tzinfo=shanghai), 4
    )
    assert reply.policy_version == 5 and reply.server_time.tzinfo is not None
    with pytest.raises(ValueError, match="timezone"):
        client.heartbeat("0.1.0", last_scan_at=datetime(2026, 3, 2, 9, 0))


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
def test_retryable_statuses_are_unavailable_with_retry_after(status: int) -> None:
    client, recorder = client_with(error(status, "busy", "later", **{"Retry-After": "120"}))
    with pytest.raises(ServerUnavailable) as info:
        client.heartbeat("0.1.0")
    assert info.value.status == status
    assert info.value.retry_after_s == 120
    assert len(recorder.requests) == 1  # the client itself never loops; Sync decides


def test_network_failure_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client, _ = client_with(handler)
    with pytest.raises(ServerUnavailable) as info:
        client.heartbeat("0.1.0")
    assert info.value.status is None and info.value.retry_after_s is None


@pytest.mark.parametrize("status", [400, 403, 404, 409, 413, 415, 422])
def test_other_4xx_are_rejected_with_the_servers_text(status: int) -> None:
    client, recorder = client_with(error(status, "bad_time", "last_scan_at is outside the window"))
    with pytest.raises(ServerRejected) as info:
        client.heartbeat("0.1.0")
    assert info.value.status == status
    assert info.value.code == "bad_time"
    assert "outside the window" in str(info.value)
    assert not isinstance(info.value, ServerUnavailable)
    assert len(recorder.requests) == 1


def test_401_means_reenroll() -> None:
    client, _ = client_with(error(401, "unauthorized", "missing, invalid or revoked device token"))
    with pytest.raises(Unauthorized) as info:
        client.my_reports()
    assert isinstance(info.value, ServerError) and not isinstance(info.value, ServerRejected)


def test_report_with_attachments_is_multipart_with_the_key_inside() -> None:
    seen: dict[str, object] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["content-type"].startswith("multipart/form-data")
        raw = request.content
        seen["raw"] = raw
        return httpx.Response(
            201,
            json={
                "case": "WXG-000001",
                "category": "other",
                "status": "new",
                "summary": "s",
                "created_at": "2026-03-02T09:00:00Z",
                "updated_at": "2026-03-02T09:00:00Z",
                "attachments": [],
                "replies": [],
            },
        )

    client, _ = client_with(handler)
    receipt = client.submit_report(
        {"category": "other", "summary": "s"},
        [Attachment("screen.png", b"\x89PNG\r\n\x1a\nxx")],
        idempotency_key="report-0001",
    )
    assert receipt.case == "WXG-000001" and receipt.created
    raw = seen["raw"]
    assert isinstance(raw, bytes)
    assert b'name="report"' in raw and b'name="attachment"; filename="screen.png"' in raw
    assert b'"idempotency_key": "report-0001"' in raw


def test_replayed_report_is_not_created() -> None:
    body = {
        "case": "WXG-000001",
        "category": "other",
        "status": "new",
        "summary": "s",
        "created_at": "2026-03-02T09:00:00Z",
        "updated_at": "2026-03-02T09:00:00Z",
        "attachments": [],
        "replies": [],
    }
    client, recorder = client_with(lambda _r: httpx.Response(200, json=body))
    receipt = client.submit_report(
        {"category": "other", "summary": "s", "idempotency_key": "report-0002"}
    )
    assert not receipt.created
    assert recorder.requests[0].headers["content-type"] == "application/json"


def test_no_policy_is_none_and_garbage_is_rejected() -> None:
    client, _ = client_with(error(404, "no_policy", "no policy has been published"))
    assert client.fetch_policy() is None
    client, _ = client_with(lambda _r: httpx.Response(200, text="<html>proxy login</html>"))
    with pytest.raises(ServerRejected) as info:
        client.fetch_policy()
    assert info.value.code == "protocol_mismatch"


def test_redirects_are_not_followed_with_the_token() -> None:
    client, recorder = client_with(
        lambda _r: httpx.Response(302, headers={"Location": "https://elsewhere.example/"})
    )
    with pytest.raises(ServerRejected):
        client.heartbeat("0.1.0")
    assert [str(r.url.host) for r in recorder.requests] == ["wxguard.example"]


def test_unreadable_pinned_ca_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ServerRejected, match="CA"):
        ServerClient("https://wxguard.example", ca_file=tmp_path / "missing.pem")


def test_requests_without_token_fail_before_sending() -> None:
    client, recorder = client_with(lambda _r: httpx.Response(200, json={}), token=None)
    with pytest.raises(Unauthorized):
        client.heartbeat("0.1.0")
    assert recorder.requests == []


def _cert_pair(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA and a certificate for 127.0.0.1 signed by it (CA pem, cert pem, key pem)."""

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wxguard test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(cert.public_bytes(pem))
    paths[2].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def test_tls_is_verified_and_a_pinned_ca_is_honoured(tmp_path: Path) -> None:

    ca, cert, key = _cert_pair(tmp_path)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the stdlib's naming
            body = b'{"reports": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{httpd.server_address[1]}"
    try:
        with ServerClient(url, "tok", ca_file=ca) as pinned:
            assert pinned.my_reports() == []
        # The system store does not know IT's private CA: refused, never silently accepted.
        with ServerClient(url, "tok") as default, pytest.raises(ServerUnavailable) as info:
            default.my_reports()
        assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
        # Pinning another CA (the server's own certificate is not a CA) fails too.
        with ServerClient(url, "tok", ca_file=cert) as wrong, pytest.raises(ServerUnavailable):
            wrong.my_reports()
    finally:
        httpd.shutdown()
        httpd.server_close()


def _record(key: str, **body: object) -> FindingRecord:
    base: dict[str, object] = {"title": "Bot framework", "subject": "npm:x", "evidence": []}
    return FindingRecord(
        key, "rule-x", "high", "bot-framework", {**base, **body}, 1e9, 1e9 + 5, None
    )


def test_findings_batch_fits_the_servers_limits() -> None:
    long_path = "/home/alice/" + "d/" * 3000
    rec = _record(
        "k1",
        evidence=[{"kind": "file", "matched": "x", "path": long_path, "pid": 42}] * 60,
        title_i18n={"zh": "机器人框架", "en": "Bot framework"},
    )
    batch = findings_batch([rec], [], [_record("k0")], NOW, complete=True)
    assert batch["complete"] is True and batch["scanned_at"] == "2026-03-02T09:00:00+00:00"
    assert [(f["key"], f["status"]) for f in batch["findings"]] == [
        ("k0", "resolved"),
        ("k1", "new"),
    ]
    item = batch["findings"][1]
    assert len(item["evidence"]) == 50 and len(item["evidence"][0]["path"]) == 4096
    assert item["first_seen"] == "2001-09-09T01:46:40+00:00"
    assert item["title_i18n"] == {"zh": "机器人框架", "en": "Bot framework"}
    # Past 1000 findings the batch is cut and no longer claims to be the whole picture.
    many = [_record(f"k{n}") for n in range(1001)]
    big = findings_batch(many, [], [], NOW, complete=True)
    assert len(big["findings"]) == 1000 and big["complete"] is False
