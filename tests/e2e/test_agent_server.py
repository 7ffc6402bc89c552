"""End to end: a real `wxguard-server` (SQLite) and a real `wxguard agent run` process on this
machine. Enroll → scan → the finding is on the server; a plugin dropped → on the server within
seconds; removed → resolved there; reports filed from the shell arrive once; and chaos: the
agent killed with SIGKILL and the server restarted while reports are filed and delivered."""

from __future__ import annotations

import random
import shutil
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.api import AgentError
from agent.client import AgentClient
from server.models import Finding as ServerFinding
from server.models import Report
from tests.support.real_agent import AgentUnderTest
from tests.support.real_server import RealServer, running_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RealServer]:
    with running_server(tmp_path / "server") as srv:
        yield srv


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentUnderTest]:
    under_test = AgentUnderTest(tmp_path / "agent")
    under_test.start()
    yield under_test
    under_test.stop()


@pytest.fixture
def project_venv() -> Iterator[Path]:
    project = Path.home() / f"wxguard-e2e-{uuid.uuid4().hex[:8]}"
    site = (
        project
        / ".venv"
        / "lib"
        / f"python{sys.version_info.major}.{sys.version_info.minor}"
        / "site-packages"
    )
    site.mkdir(parents=True)
    try:
        yield site
    finally:
        shutil.rmtree(project, ignore_errors=True)


def eventually(
    check: Callable[[], bool], timeout: float, what: str, agent: AgentUnderTest | None = None
) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start >= timeout:
            detail = ""
            if agent is not None:
                detail = agent.cli("status", "--format", "json").stdout
                log = agent.home / "logs" / "agent.log"
                detail += "\n" + (log.read_text()[-4000:] if log.exists() else "")
            raise AssertionError(f"not within {timeout} s: {what}\n{detail}")
        time.sleep(0.1)
    return time.monotonic() - start


def test_enroll_scan_drop_and_resolve_reach_the_server(
    server: RealServer, agent: AgentUnderTest, project_venv: Path
) -> None:
    agent.enroll(server)
    status = agent.cli("status", "--format", "json")
    assert '"enrolled": true' in status.stdout, status.stdout

    def on_server(rule: str, resolved: bool) -> bool:
        return any(
            f.rule_id == rule and (f.resolved_at is not None) == resolved
            for f in server.rows(ServerFinding)
        )

    dist = project_venv / "wcferry-39.6.0.0.dist-info"
    dist.mkdir()
    # Goal: a few seconds; the bound is generous for a loaded CI machine.
    took = eventually(
        lambda: on_server("wechatferry", resolved=False), 45, "finding on the server", agent
    )
    print(f"plugin dropped → finding on the server in {took:.2f} s")
    shutil.rmtree(dist)
    took = eventually(
        lambda: on_server("wechatferry", resolved=True), 45, "resolved on the server", agent
    )
    print(f"plugin removed → resolved on the server in {took:.2f} s")


def test_report_from_the_shell_arrives_once_with_attachment(
    server: RealServer, agent: AgentUnderTest, tmp_path: Path
) -> None:
    agent.enroll(server)
    shot = tmp_path / "shot.png"
    shot.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    run = agent.cli(
        "report",
        "--category",
        "suspicious-message",
        "--description",
        "A colleague's account sent me a login link 可疑链接",
        "--attach",
        str(shot),
        "--format",
        "json",
    )
    assert run.returncode == 0, run.stderr
    eventually(lambda: len(server.rows(Report)) == 1, 15, "the report on the server")
    report = server.rows(Report)[0]
    assert report.category == "suspicious-message"
    mine = agent.cli("reports", "--format", "json")
    eventually(
        lambda: '"WXG-' in agent.cli("reports", "--format", "json").stdout,
        15,
        "case number in the agent",
    )
    assert mine.returncode == 0


def test_bad_report_is_refused_with_a_clear_message(agent: AgentUnderTest, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (10 * 1024 * 1024 + 1))
    run = agent.cli("report", "--category", "other", "--description", "x", "--attach", str(big))
    assert run.returncode == 2
    assert "10 MiB" in run.stderr
    run = agent.cli(
        "report", "--category", "other", "--description", "x", "--when", "2999-01-01T00:00"
    )
    assert run.returncode == 2 and "future" in run.stderr and "不能晚于现在" in run.stderr


def test_chaos_kill_agent_and_restart_server_while_reporting(
    server: RealServer, agent: AgentUnderTest
) -> None:
    """200+ reports while the agent is SIGKILLed at random moments and the server restarts:
    every report the agent acknowledged as queued is on the server exactly once."""
    agent.enroll(server)
    rng = random.Random(20261128)
    acknowledged: list[str] = []
    attempted = 0
    stop = threading.Event()
    lock = threading.Lock()

    def chaos() -> None:
        restarts = 0
        while not stop.wait(rng.uniform(0.3, 1.2)):
            with lock:
                agent.kill()
                if restarts % 4 == 1:
                    server.stop()
                    time.sleep(rng.uniform(0.1, 0.6))
                    server.start()
                agent.start()
            restarts += 1

    chaos_thread = threading.Thread(target=chaos, daemon=True)
    chaos_thread.start()
    deadline = time.monotonic() + 120
    try:
        while len(acknowledged) < 200 and time.monotonic() < deadline:
            attempted += 1
            tag = f"chaos-{attempted:04d}"
            try:
                with AgentClient(agent.socket, timeout=10) as client:
                    result = client.submit_report("other", tag, "chaos test", None, "", "", [])
            except (AgentError, OSError, ValueError):
                time.sleep(0.05)
                continue
            assert result["state"] == "queued"
            acknowledged.append(tag)
    finally:
        stop.set()
        chaos_thread.join(timeout=30)
    with lock:
        if agent.proc is None or agent.proc.poll() is not None:
            agent.start()
        if server.proc is None:
            server.start()
    assert len(acknowledged) >= 200, f"only {len(acknowledged)} of {attempted} acknowledged in time"

    def delivered() -> bool:
        summaries = [r.summary for r in server.rows(Report)]
        return set(acknowledged) <= set(summaries)

    eventually(delivered, 120, "every acknowledged report on the server")
    summaries = [r.summary for r in server.rows(Report)]
    duplicates = {s for s in summaries if summaries.count(s) > 1}
    assert not duplicates, f"stored more than once: {sorted(duplicates)[:5]}"
    agent.stop()
    for db in ("state.db", "outbox.db"):
        with sqlite3.connect(agent.home / db) as conn:
            assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    print(
        f"chaos: {attempted} attempts, {len(acknowledged)} acknowledged, {len(summaries)} stored, 0 duplicates"
    )
