"""Size and rate limits: 413 before an oversized body is read, 429 with Retry-After per device."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from tests.server.conftest import Harness, free_port


@pytest.fixture
def served(harness: Harness) -> Iterator[tuple[str, int]]:
    """The harness app behind a real uvicorn on loopback, for raw-socket requests."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(harness.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield "127.0.0.1", port
    server.should_exit = True
    thread.join(timeout=10)


def _status(sock: socket.socket) -> int:
    sock.settimeout(5)
    head = sock.recv(4096).split(b"\r\n", 1)[0]
    return int(head.split()[1])


def test_declared_oversized_body_is_refused_without_reading_it(
    harness: Harness, served: tuple[str, int]
) -> None:
    device = harness.enroll()
    with socket.create_connection(served) as sock:
        sock.sendall(
            b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + device.token.encode() + b"\r\n"
            b"Content-Length: 104857600\r\n\r\n"
        )
        # Not one byte of the 100 MiB body was sent, yet the answer comes at once.
        assert _status(sock) == 413


def test_streamed_oversized_body_is_cut_off(harness: Harness, served: tuple[str, int]) -> None:
    device = harness.enroll()
    with socket.create_connection(served) as sock:
        sock.sendall(
            b"POST /api/v1/findings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + device.token.encode() + b"\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"x" * 65536
        sent = 0
        sock.settimeout(5)
        try:
            while sent < 8 * 1024 * 1024:  # far more than the 1 MiB limit, far less than forever
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
        except OSError:
            pass  # the server closed the connection after answering
        assert _status(sock) == 413
    assert harness.row_counts()["findings"] == 0


def test_oversized_request_through_the_app_is_413(harness: Harness) -> None:
    device = harness.enroll()
    big = {"agent_version": "1", "users_seen": ["u" * 100] * 20000}
    response = harness.client.post("/api/v1/heartbeat", json=big, headers=device.headers)
    assert response.status_code == 413


def test_per_device_rate_limit_answers_429_with_retry_after(harness: Harness) -> None:
    noisy = harness.enroll("noisy")
    quiet = harness.enroll("quiet")
    codes = [
        harness.client.post(
            "/api/v1/heartbeat", json={"agent_version": "1"}, headers=noisy.headers
        ).status_code
        for _ in range(harness.settings.device_per_minute)
    ]
    assert set(codes) == {200}
    limited = harness.client.post(
        "/api/v1/heartbeat", json={"agent_version": "1"}, headers=noisy.headers
    )
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    ok = harness.client.post(
        "/api/v1/heartbeat", json={"agent_version": "1"}, headers=quiet.headers
    )
    assert ok.status_code == 200
    harness.clock.advance(seconds=60)
    again = harness.client.post(
        "/api/v1/heartbeat", json={"agent_version": "1"}, headers=noisy.headers
    )
    assert again.status_code == 200
