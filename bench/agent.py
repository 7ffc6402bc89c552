"""Agent benchmarks on the live machine: plugin dropped → finding, process started → finding,
and the idle cost (CPU share of one core, RSS) of a running agent over a period."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

from agent.client import AgentClient


def _start(home: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, WXGUARD_HOME=str(home))
    wxguard = Path(sys.executable).parent / "wxguard"
    proc = subprocess.Popen(
        [str(wxguard), "agent", "run", "--mode", "user"], env=env, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while not (home / "agent.sock").exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("the agent did not start")
        time.sleep(0.05)
    return proc


def _wait(client: AgentClient, predicate: object, timeout: float = 10.0) -> float:
    start = time.perf_counter()
    since = client.status()["event_seq"]
    while True:
        if predicate(client.findings()):  # type: ignore[operator]
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            raise SystemExit("timed out waiting for a finding")
        since = client.wait_events(since, 0.5)["seq"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle-seconds", type=float, default=600.0, help="idle measurement period")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wxguard-bench-agent-"))
    project = Path.home() / f"wxguard-bench-{uuid.uuid4().hex[:8]}"
    site = project / ".venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    proc = _start(work / "home")
    try:
        with AgentClient(work / "home" / "agent.sock") as client:
            client.scan_now()
            drops, starts = [], []
            for i in range(args.rounds):
                dist = site / f"wcferry-39.{i}.0.dist-info"
                t0 = time.perf_counter()
                dist.mkdir()
                _wait(client, lambda fs: any(f["rule_id"] == "wechatferry" for f in fs))
                drops.append(time.perf_counter() - t0)
                shutil.rmtree(dist)
                _wait(client, lambda fs: not any(f["rule_id"] == "wechatferry" for f in fs))
                exe = work / f"WeChatMulti{i}"
                shutil.copy("/bin/sleep", exe)
                t0 = time.perf_counter()
                p = subprocess.Popen([str(exe), "60"])
                _wait(
                    client,
                    lambda fs, pid=p.pid: any(
                        ev.get("pid") == pid for f in fs for ev in f["evidence"]
                    ),
                )
                starts.append(time.perf_counter() - t0)
                p.kill()
                p.wait()
            print(
                f"plugin dropped → finding:   median {statistics.median(drops) * 1000:6.0f} ms, max {max(drops) * 1000:6.0f} ms (goal < 1000 ms)"
            )
            print(
                f"process started → finding:  median {statistics.median(starts) * 1000:6.0f} ms, max {max(starts) * 1000:6.0f} ms (goal < 2000 ms)"
            )
        agent = psutil.Process(proc.pid)
        time.sleep(5)  # let the last scan settle
        cpu0 = agent.cpu_times()
        t0 = time.monotonic()
        rss_max = 0
        while time.monotonic() - t0 < args.idle_seconds:
            rss_max = max(rss_max, agent.memory_info().rss)
            time.sleep(min(5.0, args.idle_seconds))
        cpu1 = agent.cpu_times()
        used = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        share = used / (time.monotonic() - t0) * 100
        print(
            f"idle {args.idle_seconds:.0f} s: CPU {share:.3f} % of one core (goal < 0.5 %), max RSS {rss_max / 2**20:.1f} MB (goal < 60 MB)"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(project, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
