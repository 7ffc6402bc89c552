"""Scan benchmarks: live machine, synthetic images (10k/100k files), processes (100/1000),
warm vs cold, and the process probe's cost against plain psutil.process_iter."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from bench.synthetic import build_linux_image
from checks.api import image_scanner, live_scanner
from checks.engine import Scanner
from checks.probes.processes import PsutilProcessSource


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def _cold_warm(scanner: Scanner, label: str, repeats: int = 3) -> None:
    cold_w, cold_c = _timed(scanner.scan)
    warm = [_timed(scanner.scan) for _ in range(repeats)]
    warm_w = min(w for w, _ in warm)
    scanner.fs.trust_listings = True
    trusted = [_timed(scanner.scan) for _ in range(repeats)]
    scanner.fs.trust_listings = False
    tr_w = min(w for w, _ in trusted)
    tr_c = min(c for _, c in trusted)
    print(
        f"{label:<34} cold {cold_w * 1000:8.1f} ms wall {cold_c * 1000:8.1f} ms cpu | "
        f"warm {warm_w * 1000:7.1f} ms ({cold_w / warm_w:5.1f}x) | "
        f"warm+events {tr_w * 1000:6.1f} ms ({cold_w / tr_w:5.1f}x, cpu {cold_c / max(tr_c, 1e-6):5.1f}x)"
    )


def _spawn(n: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen(["sleep", "120"]) for _ in range(n)]


def _process_probe(n_extra: int) -> None:
    procs = _spawn(n_extra)
    try:
        time.sleep(0.3)
        count = len(psutil.pids())
        attrs = ["pid", "name", "exe", "cmdline", "username", "ppid", "create_time"]

        def plain() -> None:
            for p in psutil.process_iter(attrs):
                _ = p.info

        source = PsutilProcessSource()
        base_w, _ = min((_timed(plain) for _ in range(3)), key=lambda t: t[0])
        ours_w, _ = _timed(source.snapshot)
        ours_cold_ratio = ours_w / base_w
        warm_w, _ = min((_timed(source.snapshot) for _ in range(3)), key=lambda t: t[0])
        print(
            f"process probe, {count:5d} processes      psutil.process_iter {base_w * 1000:7.1f} ms | "
            f"probe cold {ours_w * 1000:7.1f} ms ({ours_cold_ratio:4.2f}x of psutil) | "
            f"probe warm {warm_w * 1000:6.1f} ms ({warm_w / base_w:4.2f}x)"
        )
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--processes", default="100,1000")
    args = parser.parse_args()
    print(f"machine: {psutil.cpu_count()} cores, {psutil.virtual_memory().total >> 30} GiB")
    _cold_warm(live_scanner(), f"live machine ({len(psutil.pids())} procs)")
    work = Path(tempfile.mkdtemp(prefix="wxguard-bench-"))
    try:
        for size in [int(s) for s in args.sizes.split(",") if s]:
            root = build_linux_image(work / f"img{size}", size)
            _cold_warm(image_scanner(str(root), "linux"), f"linux image, {size:>7,} files")
        for n in [int(s) for s in args.processes.split(",") if s]:
            procs = _spawn(n)
            try:
                time.sleep(0.5)
                _cold_warm(live_scanner(), f"live + {n} extra processes")
            finally:
                for p in procs:
                    p.kill()
                for p in procs:
                    p.wait()
            _process_probe(n)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
