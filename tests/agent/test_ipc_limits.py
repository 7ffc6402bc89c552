"""What one local account may hold of the agent's endpoint: connections, time, bytes, elements.

Each test reproduces the attack for real against a real system-mode agent process: an
unprivileged account (`nobody`, and a second account made with `useradd -r`) opening idle
connections through `setpriv`, a client that never finishes its line, a 16 MiB JSON bomb while
the agent's peak RSS is read from /proc, and `wxguard report --attach` on /dev/zero and a FIFO.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pwd
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from agent.api import AgentError
from agent.client import AgentClient
from agent.ipc import MAX_MESSAGE, Admission, IpcLimits, Peer
from agent.outbox import MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS
from tests.conftest import script
from tests.support.accounts import add_user, remove_user
from tests.support.real_agent import AgentUnderTest

SECOND_USER = "wxguard-ipc-test"

# Opens N connections to the socket as whoever runs it, then reports which ones the agent
# answered at once (a refusal line, or a bare close) and which it holds open; keeps them all
# open until its stdin closes.
_HOLDER = r"""
import json, select, socket, sys
path, n = sys.argv[1], int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    socks.append(s)
answers, waiting = [], list(socks)
while True:  # until the agent has said nothing more for 3 s (it may be busy scanning)
    ready, _, _ = select.select(waiting, [], [], 3.0)
    if not ready:
        break
    for s in ready:
        data = s.recv(65536)
        answers.append(json.loads(data) if data.strip() else None)
        waiting.remove(s)
print(json.dumps({"held": len(waiting), "answers": answers}), flush=True)
sys.stdin.read()
"""


@pytest.fixture
def system_agent() -> Iterator[AgentUnderTest]:
    """A real `wxguard agent run --mode system`, its socket reachable by every local user."""
    home = Path(tempfile.mkdtemp(prefix="wxguard-ipc-limits-", dir="/tmp"))
    agent = AgentUnderTest(home)
    agent.start()
    home.chmod(0o755)  # WXGUARD_HOME puts the socket in the (root-only) state folder
    try:
        yield agent
    finally:
        agent.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def agent_with_short_idle_timeout() -> Iterator[AgentUnderTest]:
    home = Path(tempfile.mkdtemp(prefix="wxguard-ipc-idle-", dir="/tmp"))
    (home / "agent.toml").write_text("ipc_idle_timeout_s = 2\n")
    agent = AgentUnderTest(home)
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def second_user() -> Iterator[pwd.struct_passwd]:
    """A second unprivileged account, made for the test and removed after it."""
    made = False
    try:
        pwd.getpwnam(SECOND_USER)
    except KeyError:
        add_user(SECOND_USER, system=True)
        made = True
    try:
        yield pwd.getpwnam(SECOND_USER)
    finally:
        if made:
            remove_user(SECOND_USER)


def _as_user(user: pwd.struct_passwd, *argv: str) -> list[str]:
    return [
        "setpriv",
        f"--reuid={user.pw_uid}",
        f"--regid={user.pw_gid}",
        "--clear-groups",
        *argv,
    ]


def _cli_as(
    user: pwd.struct_passwd, agent: AgentUnderTest, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _as_user(user, script("wxguard"), *args),
        capture_output=True,
        text=True,
        timeout=60,
        env={**agent.env(), "HOME": "/tmp"},
    )


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _request(path: Path, data: bytes, timeout: float = 60) -> dict[str, Any]:
    """Send raw bytes, read one reply line."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        with sock.makefile("rb") as replies:
            # Refused before it was all read: the reason is still there to read.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(data)
            reply: dict[str, Any] = json.loads(replies.readline())
            return reply


def test_idle_connections_from_one_account_lock_out_no_one_else(
    system_agent: AgentUnderTest, second_user: pwd.struct_passwd
) -> None:
    """`nobody` opens 64 idle connections (the old agent's whole pool): it gets its quota and
    is told, in both languages, why not more; root and another account are still served; and
    nobody's own CLI says "too many connections", not "agent not running"."""
    nobody = pwd.getpwnam("nobody")
    holder = subprocess.Popen(
        _as_user(nobody, sys.executable, "-c", _HOLDER, str(system_agent.socket), "64"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        report = json.loads(holder.stdout.readline())
        assert report["held"] == IpcLimits().per_user == 8
        assert len(report["answers"]) == 56
        for answer in report["answers"]:
            assert answer is not None, "closed without saying why"
            error = answer["error"]
            assert error["code"] == "too-many-connections"
            assert "太多连接" in error["zh"]
            assert "Too many connections from your account" in error["en"]

        # Root: the CLI and the typed client both get answers at once.
        started = time.monotonic()
        status = system_agent.cli("status", "--format", "json")
        assert status.returncode in (0, 1), status.stderr
        assert json.loads(status.stdout)["mode"] == "system"
        with AgentClient(system_agent.socket, timeout=10) as client:
            assert client.hello()["uid"] == 0
        # Another ordinary account is not starved by nobody either.
        other = _cli_as(second_user, system_agent, "status", "--format", "json")
        assert other.returncode in (0, 1), other.stderr
        assert json.loads(other.stdout)["mode"] == "system"
        assert time.monotonic() - started < 30

        # nobody's own ninth connection: the truth, in both languages.
        own = _cli_as(nobody, system_agent, "status")
        assert own.returncode == 2
        assert "太多连接" in own.stderr and "Too many connections" in own.stderr, own.stderr
        assert "not running" not in own.stderr and "未运行" not in own.stderr
    finally:
        holder.kill()
        holder.wait(timeout=10)
    # Once nobody's connections close, its quota is free again.
    deadline = time.monotonic() + 10
    while True:
        own = _cli_as(nobody, system_agent, "status", "--format", "json")
        if own.returncode in (0, 1):
            break
        assert time.monotonic() < deadline, own.stderr
        time.sleep(0.2)


def test_administrators_and_each_account_keep_their_own_slots() -> None:
    """With every shared slot taken by other accounts, root is still admitted (its slots are
    reserved) and a full account is told it is the agent, not its own quota, that is full."""
    admission = Admission(IpcLimits(per_user=2, shared=4, admin_reserved=2))
    for uid in (1001, 1001, 1002, 1002):
        admission.enter(Peer(uid, 1, admin=False))
    with pytest.raises(AgentError) as own:
        admission.enter(Peer(1001, 1, admin=False))
    assert "your account" in own.value.en
    with pytest.raises(AgentError) as shared:
        admission.enter(Peer(1003, 1, admin=False))
    assert "your account" not in shared.value.en and shared.value.code == "too-many-connections"
    admission.enter(Peer(0, 1, admin=True))
    admission.enter(Peer(0, 1, admin=True))
    with pytest.raises(AgentError):
        admission.enter(Peer(0, 1, admin=True))
    admission.leave(Peer(1002, 1, admin=False))
    admission.enter(Peer(1003, 1, admin=False))


def test_the_logged_in_employee_does_not_queue_behind_other_accounts_large_requests() -> None:
    """Two other accounts hold both shared large-request slots (a large line trickled in,
    again and again): the employee with a login session, like root, is served at once; an
    account without a session waits and is told the agent is busy."""
    employee, others = 1500, (1601, 1602)
    admission = Admission(IpcLimits(large_requests=2), session_users=lambda: {employee})
    with contextlib.ExitStack() as held:
        for uid in others:
            held.enter_context(admission.large_request(Peer(uid, 1, admin=False), 0))
        with admission.large_request(Peer(employee, 1, admin=False), 0):
            pass
        with (
            pytest.raises(AgentError) as busy,
            admission.large_request(Peer(1603, 1, admin=False), 0.05),
        ):
            pass
        assert busy.value.code == "busy"


def test_a_client_that_sends_nothing_or_half_a_line_is_dropped(
    agent_with_short_idle_timeout: AgentUnderTest,
) -> None:
    """Idle timeout 2 s (agent.toml): a silent connection and one stopped mid-line are closed
    with a `timeout` line; the `events` long poll, the agent's own wait, is not cut short."""
    path = str(agent_with_short_idle_timeout.socket)
    for sent in (b"", b'{"v": 1, "op": "sta'):
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(15)
            sock.connect(path)
            sock.sendall(sent)
            started = time.monotonic()
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
            waited = time.monotonic() - started
        assert 1.5 < waited < 8, waited
        assert json.loads(data)["error"]["code"] == "timeout"

    with AgentClient(agent_with_short_idle_timeout.socket, timeout=30) as client:
        seq = client.status()["event_seq"]
        got = client.wait_events(seq + 1000, 0)  # answers at once: `since` is ahead
        # The agent scans this machine meanwhile: a wait that an event answered early says
        # nothing about the idle timeout; the first wait nothing answered must last its 4 s.
        for _ in range(10):
            started = time.monotonic()
            got = client.wait_events(got["seq"], 4)
            if not got["events"]:
                break
        assert not got["events"], "the agent never went 4 s without an event"
        assert time.monotonic() - started >= 3.5  # not cut at the 2 s idle timeout
        time.sleep(3)  # now idle past the timeout: the agent closes, the client reconnects
        assert client.status()["mode"] == "system"


def test_json_bomb_is_refused_before_parsing_and_rss_stays_bounded(
    system_agent: AgentUnderTest,
) -> None:
    """A 16 MiB line of `[{},{},…]` made the old agent allocate ~420 MB (5.6 million dicts).
    Now it is refused from a count of its structural characters, before json.loads."""
    assert system_agent.proc is not None
    pid = system_agent.proc.pid
    before = _peak_rss_kib(pid)
    bomb = b"[" + b"{}," * (16 * 1024 * 1024 // 3 - 2) + b"{}]\n"
    reply = _request(system_agent.socket, bomb)
    grown_mib = (_peak_rss_kib(pid) - before) / 1024
    print(f"16 MiB JSON bomb: agent peak RSS grew {grown_mib:.1f} MiB")
    assert reply["error"]["code"] == "too-complex"
    assert reply["error"]["zh"] and reply["error"]["en"]
    assert grown_mib < 64
    deep = _request(system_agent.socket, b"[" * 30_000 + b"]" * 30_000 + b"\n")
    assert deep["error"]["code"] == "too-complex"

    # Eight at once (only now that one is known to be refused: the old agent would need GBs).
    # Lines over 1 MiB wait for one of two slots, one per account, and their buffers go back to
    # the OS after each, so the agent's peak stays near one request's.
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: _request(system_agent.socket, bomb), range(8)))
    grown_mib = (_peak_rss_kib(pid) - before) / 1024
    print(f"then 8 JSON bombs at once: agent peak RSS grew {grown_mib:.1f} MiB in all")
    assert {c["error"]["code"] for c in codes} == {"too-complex"}
    assert grown_mib < 96
    with AgentClient(system_agent.socket, timeout=10) as client:
        assert client.status()["mode"] == "system"


def test_the_largest_real_report_fits_and_one_byte_more_does_not(
    system_agent: AgentUnderTest,
) -> None:
    """A report with every attachment at its limit is the largest real request: the endpoint
    must take it whole and queue it (in the encrypted outbox, to send once enrolled)."""
    assert system_agent.proc is not None
    before = _peak_rss_kib(system_agent.proc.pid)
    # A PNG header: the agent, like the server, refuses bytes of no accepted type.
    png = b"\x89PNG\r\n\x1a\n"
    attachment = base64.b64encode(png + b"\0" * (MAX_ATTACHMENT_BYTES - len(png))).decode("ascii")
    args = {
        "category": "other",
        "summary": "s",
        "description": "d",
        "attachments": [
            {"name": f"{i}.png", "content_b64": attachment} for i in range(MAX_ATTACHMENTS)
        ],
    }
    line = json.dumps({"v": 1, "id": 1, "op": "submit_report", "args": args}).encode() + b"\n"
    assert len(line) <= MAX_MESSAGE
    reply = _request(system_agent.socket, line)
    assert reply["id"] == 1 and reply["ok"] is True, reply
    assert reply["result"]["state"] == "queued"
    grown_mib = (_peak_rss_kib(system_agent.proc.pid) - before) / 1024
    print(f"largest real report ({len(line)} bytes): agent peak RSS grew {grown_mib:.1f} MiB")
    over = b'{"v": 1, "op": "status", "args": {"x": "' + b"a" * MAX_MESSAGE + b'"}}\n'
    assert _request(system_agent.socket, over)["error"]["code"] == "too-large"


def _limit_memory() -> None:
    # The old CLI read /dev/zero until MemoryError: keep that bounded on a shared machine.
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "too-large"])
def test_report_attach_refuses_what_is_not_a_small_regular_file(tmp_path: Path, kind: str) -> None:
    """`wxguard report --attach` on /dev/zero, on a FIFO nobody writes to, or on a sparse file
    past the limit ends at once with a bilingual error, before it reads (or asks the agent)."""
    if kind == "dev-zero":
        target = "/dev/zero"
    elif kind == "fifo":
        target = str(tmp_path / "pipe")
        os.mkfifo(target)
    else:
        target = str(tmp_path / "big.bin")
        with open(target, "wb") as fh:
            fh.truncate(MAX_ATTACHMENT_BYTES + 1)
    started = time.monotonic()
    run = subprocess.run(
        [
            script("wxguard"),
            "report",
            "--category",
            "other",
            "--description",
            "x",
            *["--attach", target],
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "WXGUARD_HOME": str(tmp_path / "home")},
        preexec_fn=_limit_memory,
    )
    assert time.monotonic() - started < 20
    assert run.returncode == 2, run.stderr
    if kind == "too-large":
        assert "larger than 10 MiB" in run.stderr and "超过 10 MiB" in run.stderr
    else:
        assert "not a regular file" in run.stderr and "不是普通文件" in run.stderr
    assert "not running" not in run.stderr  # refused before the agent was asked


# Sends one line just over the small-message size without its newline (so it holds a large
# request slot until the agent's deadline), says so, then waits for its stdin to close.
_SLOT_HOLDER = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"pad": "' + b"x" * (1024 * 1024 + 16))
print("sent", flush=True)
sys.stdin.read()
"""


def test_two_other_accounts_holding_the_large_slots_do_not_starve_root(
    system_agent: AgentUnderTest, second_user: pwd.struct_passwd
) -> None:
    """attack: the two large-request slots were shared with root: `nobody` and a second account
    each trickling a line over 1 MiB kept root's report with attachments waiting until their
    deadlines ran out (30 s), and again after each reconnect."""
    holders = []
    try:
        for user in (pwd.getpwnam("nobody"), second_user):
            proc = subprocess.Popen(
                _as_user(user, sys.executable, "-c", _SLOT_HOLDER, str(system_agent.socket)),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            holders.append(proc)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "sent"
        time.sleep(1.0)  # the agent has read past 1 MiB of each: both slots are held
        pad = "x" * (1024 * 1024 + 16)
        line = json.dumps({"v": 1, "id": 1, "op": "hello", "args": {}, "pad": pad}) + "\n"
        started = time.monotonic()
        try:
            reply = _request(system_agent.socket, line.encode(), timeout=10)
        except TimeoutError:
            pytest.fail("root's large request waited for the other accounts' slots")
        assert reply.get("error", {}).get("code") != "busy", reply
        assert time.monotonic() - started < 10
    finally:
        for proc in holders:
            with contextlib.suppress(Exception):
                proc.communicate(timeout=10)
