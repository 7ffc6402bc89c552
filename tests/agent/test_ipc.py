"""The local socket: typed client calls, events, and bad input that must not disturb the agent."""

from __future__ import annotations

import json
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from agent.api import AgentError
from agent.client import AgentClient
from agent.ipc import MAX_MESSAGE
from tests.agent.conftest import InProcessAgent
from tests.support.real_agent import AgentUnderTest


def _raw(path: str, data: bytes, read: bool = True) -> list[dict[str, object]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(path)
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the agent stopped reading an oversized request; its reply is still there
    chunks = b""
    while read:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks += chunk
    sock.close()
    return [json.loads(line) for line in chunks.splitlines() if line.strip()]


def test_typed_client_status_findings_and_events(in_process_agent: InProcessAgent) -> None:
    with AgentClient(in_process_agent.socket) as client:
        hello = client.hello()
        assert hello["protocol"] == 1 and "status" in hello["ops"]
        status = client.status()
        assert status["compliant"] is True and status["last_scan"]["trigger"] == "startup"
        since = status["event_seq"]
        # A plugin package appears in a watched folder: a finding and an event, unprompted.
        site = in_process_agent.image / "home/alice/.local/lib/python3.11/site-packages"
        (site / "wcferry-39.6.0.0.dist-info").mkdir()
        events = []
        deadline = time.monotonic() + 10
        while not any(e["kind"] == "finding-new" for e in events):
            assert time.monotonic() < deadline, events
            got = client.wait_events(since, 5)
            since = got["seq"]
            events += got["events"]
        assert [f["rule_id"] for f in client.findings()] == ["wechatferry"]
        assert client.status()["compliant"] is False


def test_scan_now_runs_a_full_scan(in_process_agent: InProcessAgent) -> None:
    with AgentClient(in_process_agent.socket) as client:
        summary = client.scan_now()
        assert summary is not None and summary["trigger"] == "manual"
        assert client.status()["last_scan"]["trigger"] == "manual"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"this is not json\n", "bad-json"),
        (b"[1, 2, 3]\n", "bad-request"),
        (b'{"v": 99, "op": "status"}\n', "bad-version"),
        (b'{"v": 1, "op": "format_disk"}\n', "unknown-op"),
        (b'{"v": 1, "op": "status", "args": {"uid": 0}}\n', "bad-request"),
        (b'{"v": 1, "op": "events", "args": {"since": "zero"}}\n', "bad-request"),
        (b'{"v": 1, "op": "status", "user": "root"}\n', "bad-request"),
        (b"\xff\xfe\x00\n", "bad-json"),
    ],
)
def test_bad_requests_get_errors_and_the_agent_carries_on(
    in_process_agent: InProcessAgent, payload: bytes, code: str
) -> None:
    replies = _raw(str(in_process_agent.socket), payload + b'{"v": 1, "id": 7, "op": "status"}\n')
    assert replies[0]["ok"] is False and replies[0]["error"]["code"] == code  # type: ignore[index]
    assert replies[0]["error"]["zh"] and replies[0]["error"]["en"]  # type: ignore[index]
    assert replies[1]["ok"] is True and replies[1]["id"] == 7


def test_huge_message_is_refused_without_harm(in_process_agent: InProcessAgent) -> None:
    blob = b'{"v": 1, "op": "status", "args": {"x": "' + b"a" * (MAX_MESSAGE + 1) + b'"}}\n'
    try:
        replies = _raw(str(in_process_agent.socket), blob)
    except ConnectionResetError:
        replies = []  # the kernel may reset a connection whose sender is still writing
    if replies:
        assert replies[0]["error"]["code"] == "too-large"  # type: ignore[index]
        assert len(replies) == 1  # nothing in the oversized line was executed
    with AgentClient(in_process_agent.socket) as client:
        assert client.status()["agent_version"]


def _as_nobody(socket_path: Path, request: dict[str, object]) -> dict[str, Any]:
    """Send one request from a process of the unprivileged user `nobody`; its reply."""
    nobody = pwd.getpwnam("nobody")
    code = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
        "s.sendall(sys.argv[2].encode() + b'\\n')\n"
        "print(s.makefile().readline())\n"
    )
    run = subprocess.run(
        [
            "setpriv",
            f"--reuid={nobody.pw_uid}",
            f"--regid={nobody.pw_gid}",
            "--clear-groups",
            sys.executable,
            "-c",
            code,
            str(socket_path),
            json.dumps(request),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr
    reply: dict[str, Any] = json.loads(run.stdout)
    return reply


def test_identity_comes_from_the_kernel_not_the_message(in_process_agent: InProcessAgent) -> None:
    """Another user connects: the agent sees that user's uid, whatever the message claims."""
    reply = _as_nobody(
        in_process_agent.socket, {"v": 1, "op": "hello", "args": {}, "uid": 0, "admin": True}
    )
    assert reply["error"]["code"] == "bad-request"  # claims about oneself are not even read
    reply = _as_nobody(in_process_agent.socket, {"v": 1, "op": "hello", "args": {}})
    assert reply["result"]["uid"] == pwd.getpwnam("nobody").pw_uid
    assert reply["result"]["admin"] is False
    with AgentClient(in_process_agent.socket) as client:
        assert client.hello()["admin"] is True  # this test runs as root


def test_only_an_administrator_may_enroll_the_machine() -> None:
    """A user who is not root asks the system agent to report to a server of theirs: refused,
    in both languages, and the agent keeps no trace of that server."""
    home = Path(tempfile.mkdtemp(prefix="wxguard-enroll-", dir="/tmp"))
    agent = AgentUnderTest(home)
    agent.start()
    # WXGUARD_HOME puts the socket inside the state folder, which the agent locks to root;
    # an installed agent's socket is in /run/wxguard. Open the folder so `nobody` reaches it.
    home.chmod(0o755)
    try:
        reply = _as_nobody(
            agent.socket,
            {
                "v": 1,
                "op": "enroll",
                "args": {"server": "https://attacker.invalid", "secret": "s3cret"},
            },
        )
        assert reply["ok"] is False
        assert reply["error"]["code"] == "forbidden"
        assert "管理员" in reply["error"]["zh"] and "administrator" in reply["error"]["en"]
        stored = [f for f in home.rglob("*") if f.is_file() and b"attacker" in f.read_bytes()]
        assert stored == []
        assert "attacker.invalid" not in agent.cli("status", "--format", "json").stdout
    finally:
        agent.stop()
        shutil.rmtree(home, ignore_errors=True)


def test_client_reports_a_missing_agent_in_both_languages(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AgentError) as info:
        AgentClient(tmp_path / "nothing.sock").status()
    assert info.value.code == "not-running"
    assert "未运行" in info.value.zh and "not running" in info.value.en
