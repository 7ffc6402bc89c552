"""What an employee's folders cost the real agent: threads, inotify instances and RSS with N
empty folders in a home, the cap's state, and a plugin dropped into one of them → finding.

The agent runs as on a machine (user mode, state in a temporary folder) inside a private
mount namespace where a temporary folder is /home, so the folders are real to it and no other
process meets them. Needs root (the mount namespace), Linux.

    python -m bench.watch                      # 15,000 and 100,000 folders, default cap
    python -m bench.watch --folders 15000 --max-watches 20000
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from agent.client import AgentClient


def build(home: Path, count: int) -> list[Path]:
    """`count` empty folders under `home`, a thousand to a group (depth 3, what the `**`
    probes walk)."""
    made = []
    for i in range(count):
        folder = home / "junk" / f"g{i // 1000:03d}" / f"d{i:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        made.append(folder)
    return made


def _start(state: Path, homes: Path) -> subprocess.Popen[bytes]:
    wxguard = str(Path(sys.executable).parent / "wxguard")
    mount = 'mount --bind "$0" /home && exec "$@"'
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount]
    command += [str(homes), wxguard, "agent", "run", "--mode", "user"]
    env = dict(os.environ, WXGUARD_HOME=str(state))
    proc = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (state / "agent.sock").exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("the agent did not start")
        time.sleep(0.05)
    return proc


def _inotify_instances(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify"
    return count


def measure(count: int, max_watches: int | None) -> None:
    work = Path(tempfile.mkdtemp(prefix="wxguard-bench-watch-"))
    try:
        homes, state = work / "homes", work / "agent"
        state.mkdir()
        if max_watches:
            (state / "agent.toml").write_text(f"max_watches = {max_watches}\n")
        t0 = time.perf_counter()
        folders = build(homes / "employee", count)
        built = time.perf_counter() - t0
        proc = _start(state, homes)
        try:
            with AgentClient(state / "agent.sock", timeout=600) as client:
                t0 = time.perf_counter()
                client.scan_now()  # returns once the folders it listed are watched
                scan = time.perf_counter() - t0
                time.sleep(2)  # let any scan the start-up caused settle
                agent = psutil.Process(proc.pid)
                status = client.status()
                threads, rss = agent.num_threads(), agent.memory_info().rss
                instances = _inotify_instances(proc.pid)
                # A plugin dropped into a watched folder (the first; the last if all are).
                target = folders[-1] if not status["watching_capped"] else folders[0]
                since = status["event_seq"]
                t0 = time.perf_counter()
                (target / "itchat.pkl").write_bytes(b"session")
                while not any(f["rule_id"] == "itchat" for f in client.findings()):
                    # The self-governor may hold the scan back (5 % of a core over 60 s).
                    if time.perf_counter() - t0 > 300:
                        raise SystemExit("no finding 300 s after the drop")
                    since = client.wait_events(since, 0.5)["seq"]
                found = time.perf_counter() - t0
                throttled = client.status()["throttled_scans"]
            print(
                f"{count:>7,} folders (built in {built:.1f} s): {threads} threads, "
                f"{instances} inotify instance(s), RSS {rss / 2**20:.0f} MB; "
                f"watching {status['watching']:,}, capped {status['watching_capped']}, "
                f"unwatched {status['unwatched_folders']:,}, healthy {status['watching_healthy']}; "
                f"manual scan {scan:.1f} s; plugin dropped → finding {found:.1f} s "
                f"(throttled scans: {throttled})"
            )
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folders", type=int, nargs="+", default=[15_000, 100_000])
    parser.add_argument(
        "--max-watches", type=int, default=None, help="the agent's cap (default: its own)"
    )
    args = parser.parse_args()
    if sys.platform != "linux" or os.geteuid() != 0:
        raise SystemExit("bench.watch needs root on Linux (a private /home for the agent)")
    for count in args.folders:
        measure(count, args.max_watches)


if __name__ == "__main__":
    main()
