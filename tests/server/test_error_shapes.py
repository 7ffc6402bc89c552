"""Every refusal of the device API has the documented shape `{"error", "detail"}`, and a body
not declared JSON is refused with 415 as docs/protocol.md promises."""

from __future__ import annotations

import json
import socket

import pytest

from protocol.messages import ErrorPublic
from tests.server.conftest import Harness
from tests.server.test_limits import served

__all__ = ["served"]


def assert_error(body: bytes | str) -> ErrorPublic:
    data = json.loads(body)
    assert set(data) >= {"error", "detail"}, data
    assert data["error"] and data["detail"], data
    return ErrorPublic.model_validate(data)


def test_six_attachments_are_refused_with_the_error_shape(harness: Harness) -> None:
    device = harness.enroll()
    report = {"idempotency_key": "report-six-files", "category": "other", "summary": "six"}
    files = [("attachment", (f"f{i}.txt", b"hello", "text/plain")) for i in range(6)]
    answer = harness.client.post(
        "/api/v1/reports",
        data={"report": json.dumps(report)},
        files=files,
        headers=device.headers,
    )
    assert 400 <= answer.status_code < 500
    assert_error(answer.content)


def test_an_oversized_chunked_report_is_413_with_the_error_shape(
    harness: Harness, served: tuple[str, int]
) -> None:
    device = harness.enroll()
    with socket.create_connection(served) as sock:
        sock.sendall(
            b"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=BOUNDARY\r\n"
            b"Authorization: Bearer " + device.token.encode() + b"\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        head = (
            b'--BOUNDARY\r\nContent-Disposition: form-data; name="attachment"; '
            b'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        sock.sendall(b"%x\r\n" % len(head) + head + b"\r\n")
        chunk = b"x" * 65536
        sock.settimeout(10)
        sent = 0
        limit = harness.settings.max_report_body_bytes
        try:
            while sent < limit + 4 * 1024 * 1024:
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
        except OSError:
            pass  # the server answered and closed
        answer = b""
        try:
            while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
                part = sock.recv(65536)
                if not part:
                    break
                answer += part
        except OSError:
            pass
    head_part, _, body = answer.partition(b"\r\n\r\n")
    assert b" 413 " in head_part.split(b"\r\n")[0]
    if b"chunked" in head_part.lower():
        body = body.split(b"\r\n")[1]
    assert assert_error(body).error == "too_large"


@pytest.mark.parametrize(
    "path",
    ["/api/v1/heartbeat", "/api/v1/findings", "/api/v1/password-status", "/api/v1/policy/ack"],
)
def test_a_body_not_declared_json_is_415(harness: Harness, path: str) -> None:
    device = harness.enroll()
    answer = harness.client.post(
        path,
        content=json.dumps({"agent_version": "1"}).encode(),
        headers={**device.headers, "content-type": "text/plain"},
    )
    assert answer.status_code == 415, answer.text
    assert assert_error(answer.content).error == "unsupported_media_type"


def test_enroll_not_declared_json_is_415(harness: Harness) -> None:
    answer = harness.client.post(
        "/api/v1/enroll",
        content=json.dumps({"secret": harness.secret()}).encode(),
        headers={"content-type": "text/plain"},
    )
    assert answer.status_code == 415, answer.text
    assert_error(answer.content)


def test_unknown_api_routes_use_the_error_shape(harness: Harness) -> None:
    answer = harness.client.get("/api/v1/nothing-here")
    assert answer.status_code == 404
    assert assert_error(answer.content).error == "not_found"


def test_the_protocol_version_is_answered_and_too_old_agents_are_told_to_upgrade(
    harness: Harness,
) -> None:
    device = harness.enroll()
    body = {"agent_version": "1"}
    current = harness.client.post("/api/v1/heartbeat", json=body, headers=device.headers)
    assert current.status_code == 200
    assert current.json()["protocol"] == 1 and current.json()["upgrade"] is False
    old = harness.client.post(
        "/api/v1/heartbeat", json=body, headers={**device.headers, "Wxguard-Protocol": "0"}
    )
    assert old.status_code == 426
    assert assert_error(old.content).error == "upgrade_required"
