"""Live scan of one large home as root: the scan time of a home holding N files.

Creates a real account (`useradd`), fills its home with N files the way a workstation spreads
them (documents, downloads, projects, caches; 50 files a folder, 3 levels), owned by that
account, then scans the live machine as the agent does (root, the read policy of
`checks.fsview` in force): cold, warm re-validating, warm with file events. Removes the account
and its home afterwards. Linux, root only.

    python -m bench.home --files 200000
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from checks.api import live_scanner

USER = "wxgbenchhome"


def _fill(home: Path, files: int, uid: int, gid: int) -> int:
    written = folder_i = folders = 0
    top = ["Documents", "Downloads", "projects", ".cache", "Pictures"]
    while written < files:
        folder = home / top[folder_i % 5] / f"d{folder_i // 5}" / f"e{folder_i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        batch = min(50, files - written)
        for j in range(batch):
            (folder / f"file{j}.txt").write_bytes(b"x")
        written += batch
        folder_i += 1
    for dirpath, _dirnames, filenames in os.walk(home):
        folders += 1
        os.chown(dirpath, uid, gid)
        for name in filenames:
            os.chown(os.path.join(dirpath, name), uid, gid)
    return folders


def _rss_mib() -> tuple[float, float]:
    """(resident now, peak resident so far) of this process, in MiB (Linux)."""
    found = {"VmRSS:": 0.0, "VmHWM:": 0.0}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key = line.split(":", 1)[0] + ":"
            if key in found:
                found[key] = int(line.split()[1]) / 1024
    return found["VmRSS:"], found["VmHWM:"]


def _scan() -> None:
    scanner = live_scanner()
    rss0, _ = _rss_mib()
    print(f"before scanning: RSS {rss0:.0f} MiB")
    for label in ("cold", "warm", "warm"):
        t0, c0 = time.perf_counter(), time.process_time()
        result = scanner.scan()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        rss, peak = _rss_mib()
        print(
            f"{label:<12} {wall * 1000:9.1f} ms wall {cpu * 1000:9.1f} ms cpu, "
            f"{result.stats.get('dirs_listed', 0):,} folders listed, "
            f"{len(result.blind_spots)} blind spots, RSS {rss:.0f} MiB (peak {peak:.0f} MiB)"
        )
    scanner.fs.trust_listings = True
    t0 = time.perf_counter()
    scanner.scan()
    rss, peak = _rss_mib()
    print(
        f"{'warm+events':<12} {(time.perf_counter() - t0) * 1000:9.1f} ms wall, "
        f"RSS {rss:.0f} MiB (peak {peak:.0f} MiB), load {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=200_000)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench.home: run as root (it creates an account and scans as the agent)")
    if args.files == 0:
        _scan()
        return
    shutil.rmtree(f"/home/{USER}", ignore_errors=True)
    subprocess.run(["userdel", "-r", USER], capture_output=True, check=False)
    subprocess.run(["useradd", "-m", "-s", "/bin/bash", USER], check=True)
    try:
        entry = pwd.getpwnam(USER)
        home = Path(entry.pw_dir)
        folders = _fill(home, args.files, entry.pw_uid, entry.pw_gid)
        print(f"home {home}: {args.files:,} files in {folders:,} folders")
        _scan()
    finally:
        # The files first: `userdel -r` holds the passwd lock while it deletes a home, and
        # every other `useradd` on the machine fails meanwhile.
        shutil.rmtree(f"/home/{USER}", ignore_errors=True)
        subprocess.run(["userdel", "-r", USER], capture_output=True, check=False)


if __name__ == "__main__":
    main()
