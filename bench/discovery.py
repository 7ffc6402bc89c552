"""Discovery benchmark: cold and warm scans against the least work any scanner must do.

The baseline is what any scanner of the same image has to do at least: walk it (`find`) and
read every metadata file it judges (`cat` of every package.json, METADATA, .desktop,
pyvenv.cfg, Info.plist and the dpkg status). Images: the synthetic 10k/100k-file Linux
images of bench/scan.py, and a home of 500,000 files 20 levels deep with tools at the bottom.
Goal (issue 14): cold scan ≤ 1.5x the baseline; a warm rescan reads no unchanged file.
Both wall time and CPU time (user + system, the scan's process against `find`/`cat`'s) are
printed: on a shared machine the wall times carry other processes' load.

    python -m bench.discovery [--sizes 10000,100000] [--deep 500000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.synthetic import build_linux_image
from checks.api import image_scanner

_METADATA = ("package.json", "METADATA", "*.desktop", "pyvenv.cfg", "Info.plist", "status")


def build_deep_home(root: Path, total_files: int, depth: int = 20, per_folder: int = 20) -> Path:
    """A Linux image whose one home holds `total_files` files in folders `depth` levels deep
    (a binary tree of folders below a fixed stem), with a venv holding a tool, npm packages
    and a bot's session file at the bottom."""
    home = root / "home" / "deep"
    folders = max(1, total_files // per_folder)
    bits = max(1, (folders - 1).bit_length())
    stem = ["work"] + [f"s{i}" for i in range(max(0, depth - bits - 1))]
    made = 0
    for i in range(folders):
        parts = stem + [f"n{(i >> k) & 1}" for k in range(bits)]
        parts[-1] = f"{parts[-1]}_{i}"
        folder = home.joinpath(*parts)
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(per_folder):
            (folder / f"f{j}.dat").write_bytes(b"x")
        made += per_folder
    bottom = home.joinpath(*stem, *(["n0"] * (bits - 1)), "n0_0")
    venv = bottom / "envx"
    (venv / "pyvenv.cfg").parent.mkdir(parents=True, exist_ok=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    dist = venv / "lib/python3.11/site-packages/itchat_uos-1.4.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: itchat-uos\nVersion: 1.4.1\n")
    nm = bottom / "node_modules"
    for name in ("wechaty", *[f"dep{k}" for k in range(50)]):
        (nm / name).mkdir(parents=True)
        (nm / name / "package.json").write_text(json.dumps({"name": name, "version": "1.0.0"}))
    (bottom / "itchat.pkl").write_bytes(b"session")
    return root


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def baseline_cpu(root: Path) -> float:
    """CPU seconds (user + system) of `baseline`: unlike its wall time, not inflated by
    other processes on a shared machine."""
    before = _children_cpu()
    baseline(root)
    return _children_cpu() - before


def baseline(root: Path) -> float:
    """Seconds for `find` over the image plus `cat` of every metadata file it judges."""
    names: list[str] = []
    for pattern in _METADATA:
        names += ["-o", "-name", pattern] if names else ["-name", pattern]
    script = (
        f"find {shlex.quote(str(root))} -type f \\( {' '.join(shlex.quote(n) for n in names)} \\)"
        " -print0 | xargs -0 -r cat > /dev/null"
    )
    t0 = time.perf_counter()
    subprocess.run(["sh", "-c", script], check=True)
    return time.perf_counter() - t0


def measure(root: Path, label: str) -> None:
    subprocess.run(["find", str(root)], check=True, capture_output=True)  # same page cache
    base = min(baseline(root) for _ in range(3))
    base_cpu = min(baseline_cpu(root) for _ in range(3))
    cold_s = cold_cpu = float("inf")
    for _ in range(3):  # the best of three fresh scanners: the machine is shared
        scanner = image_scanner(str(root), "linux")
        t0, c0 = time.perf_counter(), time.process_time()
        cold = scanner.scan()
        cold_s = min(cold_s, time.perf_counter() - t0)
        cold_cpu = min(cold_cpu, time.process_time() - c0)
    t0 = time.perf_counter()
    warm = scanner.scan()
    warm_s = time.perf_counter() - t0
    scanner.fs.trust_listings = True
    scanner.scan()  # the first trusted scan still validates; then events decide
    t0 = time.perf_counter()
    scanner.scan()
    trusted_s = time.perf_counter() - t0
    rules = sorted({f.rule_id for f in cold.findings})
    print(
        f"{label:<34} baseline {base * 1000:8.0f} ms | cold {cold_s * 1000:8.0f} ms "
        f"({cold_s / base:4.2f}x; CPU {cold_cpu * 1000:.0f} vs {base_cpu * 1000:.0f} ms, "
        f"{cold_cpu / base_cpu:4.2f}x) | warm {warm_s * 1000:7.0f} ms "
        f"(dirs listed {warm.stats['dirs_listed']}, files read {warm.stats['files_read']}) | "
        f"warm+events {trusted_s * 1000:6.1f} ms | cold listed {cold.stats['dirs_listed']} "
        f"dirs, read {cold.stats['files_read']} files | {','.join(rules) or '-'} | "
        f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB | "
        f"load {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--deep", type=int, default=500_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wxguard-discovery-"))
    try:
        for size in [int(s) for s in args.sizes.split(",") if s]:
            root = build_linux_image(work / f"img{size}", size)
            measure(root, f"linux image, {size:>7,} files")
        if args.deep:
            t0 = time.perf_counter()
            root = build_deep_home(work / "deep", args.deep)
            built = time.perf_counter() - t0
            print(f"(built the {args.deep:,}-file deep home in {built:.0f} s)")
            measure(root, f"home, {args.deep:>7,} files 20 deep")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
