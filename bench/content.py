"""Content-matching benchmark: the 100k-file image plus a home holding 2 GB of mixed
binaries, scripts, configurations and documents, scanned with and without content rules.

What it reports (run `python -m bench.content`):
- read-once: the least any content matcher must do, reading every candidate file once
  (from a dropped page cache, and again from a warm one);
- the scan without content rules and with them, cold (nothing cached by the scanner,
  page cache dropped for the bench's files), so "added" is the cost of content matching;
- the warm rescan with content rules: its bytes read (must be 0) and its time;
- the same scans with the agent's content worker (checks/content/worker.py), whose CPU time
  is read from /proc and added, since the agent on Linux matches there;
- stages, over the same candidates, cold and warm, one after the other so that a loaded
  machine weighs on each alike: `cat`, a plain read, the session-4 way of matching
  (chunked reads joined into one buffer, then scanned), today's in-process way (one read
  into one buffer), and the worker's way (yara-x maps the descriptor it was handed, the
  kernel reading the file ahead while it is scanned).

The page cache is dropped for the bench's own files only (sync, then posix_fadvise
DONTNEED), so other programs on the machine are not disturbed. Everything lives in a
temporary folder under /tmp and is deleted at the end. CPU seconds are the figures to
compare on a shared machine: wall seconds there include waiting for the other programs.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bench.synthetic import build_linux_image
from checks.api import image_scanner
from checks.catalogue import Catalogue, load_builtin
from checks.content import yara
from checks.content.worker import WorkerMatcher
from checks.content.yara import (
    BINARY_LIMIT,
    InProcessMatcher,
    compile_sources,
    match_bytes,
    match_open_file,
    new_scanner,
)
from checks.model import Platform

if TYPE_CHECKING:
    import yara_x

MiB = 1024 * 1024
_MAGICS = (b"\x7fELF\x02\x01\x01\0", b"MZ\x90\0\x03\0\0\0", b"\xcf\xfa\xed\xfe\x07\0\0\x01")


def _blob(rng: random.Random, size: int, magic: bytes, marker: bytes = b"") -> bytes:
    # Random bytes are a hard case for a pattern matcher (no long runs it can skip), with a
    # sprinkling of text so that atoms of the rules' strings occur as they would in programs.
    body = bytearray(rng.randbytes(size - len(magic)))
    words = b"kernel32.dll\0LoadLibraryW\0GetProcAddress\0malloc\0free\0sqlite3_open\0"
    for at in range(4096, len(body) - 256, 256 * 1024):
        body[at : at + len(words)] = words
    if marker:
        body[len(body) // 2 : len(body) // 2 + len(marker)] = marker
    return magic + bytes(body)


def build_binary_home(home: Path, total: int, seed: int = 15) -> dict[str, int]:
    """`total` bytes in a home: programs and libraries (ELF/PE/Mach-O, 256 KiB-48 MiB) in
    Downloads, Desktop, ~/.local/bin and a virtual environment; scripts and configurations;
    documents and archives that are not candidates; two programs over the size bound; two
    tools that the rules must find. Returns counts by kind."""
    rng = random.Random(seed)
    counts = {"programs": 0, "scripts": 0, "configs": 0, "documents": 0, "too_large": 0}
    site = home / ".venv/lib/python3.11/site-packages"
    places = [home / "Downloads", home / "Desktop/tools", home / ".local/bin", site / "toolpkg"]
    for p in places:
        p.mkdir(parents=True, exist_ok=True)
    dist = site / "toolpkg-1.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toolpkg\nVersion: 1.0\n")
    (dist / "top_level.txt").write_text("toolpkg\n")
    written = 0
    for i in range(2):  # over the 64 MiB bound: counted as a blind spot, not read
        (home / "Downloads" / f"installer{i}.exe").write_bytes(_blob(rng, 80 * MiB, _MAGICS[1]))
        written += 80 * MiB
        counts["too_large"] += 1
    (home / "Downloads/helper.exe").write_bytes(
        _blob(rng, 3 * MiB, _MAGICS[1], b"WeChatWin.dll\0CreateRemoteThread\0")
    )
    (site / "toolpkg/core.py").write_text("import pymem\n# MicroMsg.db PBKDF2 WeChatWin.dll\n")
    i = 0
    while written < total:
        place = places[i % len(places)]
        roll = rng.random()
        if roll < 0.55:
            size = rng.choice((256 * 1024, 2 * MiB, 8 * MiB, 24 * MiB, 48 * MiB))
            name = rng.choice(("prog{}", "lib{}.so", "tool{}.exe", "mod{}.dll", "x{}.dylib"))
            (place / name.format(i)).write_bytes(_blob(rng, size, rng.choice(_MAGICS)))
            counts["programs"] += 1
        elif roll < 0.75:
            size = rng.choice((4 * 1024, 64 * 1024, 512 * 1024))
            ext = rng.choice((".py", ".js", ".sh"))
            (place / f"script{i}{ext}").write_bytes(rng.randbytes(size).hex().encode()[:size])
            counts["scripts"] += 1
        elif roll < 0.85:
            size = rng.choice((2 * 1024, 32 * 1024))
            text = '{"k": "' + rng.randbytes(size // 2).hex() + '"}'
            (place / f"conf{i}.json").write_text(text)
            counts["configs"] += 1
        else:
            size = rng.choice((1 * MiB, 16 * MiB))
            ext = rng.choice((".zip", ".pdf", ".jpg", ".mp4"))
            (home / "Documents").mkdir(exist_ok=True)
            (home / "Documents" / f"doc{i}{ext}").write_bytes(rng.randbytes(size))
            counts["documents"] += 1
        written += size
        i += 1
    counts["bytes"] = written
    return counts


def _drop_cache(root: Path) -> None:
    """Drop the page cache of the bench's own files (no effect on the rest of the machine;
    written pages are flushed first, since the kernel keeps dirty pages whatever it is told)."""
    os.sync()
    for dirpath, _, names in os.walk(root):
        for name in names:
            try:
                fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def _read_once(paths: list[str]) -> tuple[float, float, int]:
    """(wall s, cpu s, bytes) of reading every path once, in 1 MiB chunks."""
    t0, c0 = time.perf_counter(), time.process_time()
    total = 0
    for path in paths:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                total += len(chunk)
    return time.perf_counter() - t0, time.process_time() - c0, total


def _cat(paths: list[str]) -> float:
    """Wall seconds of `cat` copying every path to /dev/null."""
    t0 = time.perf_counter()
    for at in range(0, len(paths), 200):
        subprocess.run(["cat", *paths[at : at + 200]], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def _worker_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) the content worker `pid` has used so far (Linux /proc)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _session4_match(scanner: yara_x.Scanner, fd: int, kind: str) -> None:
    """Session 4's way: 1 MiB reads joined into one buffer, then scanned."""
    chunks: list[bytes] = []
    got = 0
    while chunk := os.pread(fd, 1 << 20, got):
        chunks.append(chunk)
        got += len(chunk)
    match_bytes(scanner, b"".join(chunks), kind)


def _stages(root: Path, candidates: dict[str, str], sources: tuple[tuple[str, str], ...]) -> None:
    """Cold and warm (wall s, cpu s) of each way of reading or matching the candidates."""
    paths = sorted(candidates)
    rules = compile_sources(sources)
    ways: dict[str, Callable[[yara_x.Scanner, int, str], object]] = {
        "session 4: chunks joined + scan": _session4_match,
        "in-process: one read + scan": lambda sc, fd, kind: match_open_file(
            sc, fd, kind, BINARY_LIMIT
        ),
        "worker: mapped fd + scan": lambda sc, fd, kind: match_open_file(
            sc, fd, kind, BINARY_LIMIT, mapped=True
        ),
    }
    nbytes = sum(os.path.getsize(p) for p in paths) / MiB
    print(f"stages over {len(paths)} candidates ({nbytes:,.0f} MiB), cold | warm:")
    _drop_cache(root)
    cold_cat = _cat(paths)
    warm_cat = _cat(paths)
    print(f"  {'cat':<34} {cold_cat:6.2f} s wall            | {warm_cat:6.2f} s wall")
    for label, way in ways.items():
        scanner = new_scanner(rules)
        row: list[str] = []
        for _ in ("cold", "warm"):
            if not row:
                _drop_cache(root)
            w0, c0 = time.perf_counter(), time.process_time()
            for path in paths:
                fd = os.open(path, os.O_RDONLY)
                try:
                    way(scanner, fd, candidates[path])
                finally:
                    os.close(fd)
            w, c = time.perf_counter() - w0, time.process_time() - c0
            row.append(f"{w:6.2f} s wall {c:6.2f} s cpu ({nbytes / c:5.0f} MiB/s)")
        print(
            f"  {label:<34} {row[0]} | {row[1]}  = {float(row[0].split()[0]) / cold_cat:.2f}x cat cold"
        )


def _without_content(catalogue: Catalogue) -> Catalogue:
    rules = [r for r in catalogue.rules if not any(m.type == "content" for m in r.matches)]
    return Catalogue(rules, list(catalogue.clients), set(catalogue.disabled), yara=[])


def _timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    w0, c0 = time.perf_counter(), time.process_time()
    value = fn()
    return time.perf_counter() - w0, time.process_time() - c0, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument(
        "--stages-only",
        action="store_true",
        help="only the home of binaries (no 100k-file image) and the per-stage table",
    )
    parser.add_argument(
        "--no-stages", dest="stages", action="store_false", help="skip the per-stage table"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wxguard-bench-content-", dir="/tmp"))
    try:
        if args.stages_only:
            home = work / "home"
            counts = build_binary_home(home, int(args.gigabytes * 1024 * MiB))
            print(f"home of {counts['bytes'] / MiB:,.0f} MiB {counts}")
            programs = {}
            for dirpath, _, names in os.walk(home):
                for name in names:
                    path = os.path.join(dirpath, name)
                    with open(path, "rb") as fh:
                        magic = fh.read(4)
                    if os.path.getsize(path) <= BINARY_LIMIT and magic[:2] in (
                        b"MZ",
                        b"\x7fE",
                        b"\xcf\xfa",
                    ):
                        programs[path] = "binary"
            _stages(home, programs, load_builtin().yara_sources())
            return
        t0 = time.perf_counter()
        root = build_linux_image(work / "img", args.files)
        counts = build_binary_home(root / "home/binuser", int(args.gigabytes * 1024 * MiB))
        print(f"image: {args.files:,} files + home of {counts['bytes'] / MiB:,.0f} MiB {counts}")
        print(f"built in {time.perf_counter() - t0:.1f} s")
        full = load_builtin()
        plain = _without_content(full)

        # The candidates the content probe chooses, read once: the least any matcher must do.
        probe_scan = image_scanner(str(root), Platform.LINUX, full)
        probe_scan.scan()
        state = probe_scan._content
        assert state is not None
        candidates = sorted(state.scanner.results)
        kinds = {path: item[2] for path, item in state.scanner.results.items()}
        _drop_cache(root)
        cold_read, cold_read_cpu, nbytes = _read_once(candidates)
        warm_read, _, _ = _read_once(candidates)
        print(
            f"read-once of {len(candidates):,} candidates ({nbytes / MiB:,.0f} MiB): "
            f"{cold_read:.2f} s wall ({cold_read_cpu:.2f} s cpu) from disk, "
            f"{warm_read:.2f} s from page cache"
        )

        _drop_cache(root)
        cat_cold = _cat(candidates)
        print(f"cat of the same candidates: {cat_cold:.2f} s wall from disk")

        runs = (
            ("without content rules", plain, None),
            ("with rules, in-process", full, InProcessMatcher()),
            ("with rules, worker", full, WorkerMatcher()),
        )
        for label, catalogue, chosen in runs:
            if chosen is not None:
                yara.use_matcher(chosen)
            scanner = image_scanner(str(root), Platform.LINUX, catalogue)
            _drop_cache(root)
            start = ""
            if isinstance(chosen, WorkerMatcher):  # started, yara-x loaded, rules compiled
                t0 = time.perf_counter()
                chosen.names(catalogue.yara_sources())
                start = (
                    f" (worker start and rule compile before it: "
                    f"{time.perf_counter() - t0:.2f} s wall {_worker_cpu(chosen.pid):.2f} s cpu)"
                )
            before = _worker_cpu(getattr(chosen, "pid", None))  # 0: none running yet
            cold_w, cold_c, cold = _timed(scanner.scan)
            pid = getattr(chosen, "pid", None)
            mid = _worker_cpu(pid)
            warm_w, warm_c, warm = _timed(scanner.scan)
            after = _worker_cpu(pid)
            cold_c += mid - before
            warm_c += after - mid
            cs, ws = cold.stats, warm.stats  # type: ignore[attr-defined]
            ids = sorted({f.rule_id for f in cold.findings})  # type: ignore[attr-defined]
            print(
                f"{label:<24} cold {cold_w:6.2f} s wall {cold_c:6.2f} s cpu "
                f"(content read {cs.get('content_bytes_scanned', 0) / MiB:,.0f} MiB in "
                f"{cs.get('content_files_scanned', 0):,} files) | warm {warm_w:6.2f} s wall "
                f"{warm_c:6.2f} s cpu (content read {ws.get('content_bytes_scanned', 0)} B, "
                f"{ws.get('content_results_reused', 0):,} results reused) | findings {ids}"
            )
            if chosen is None:
                base_cold, base_cpu, base_warm = cold_w, cold_c, warm_w
            else:
                added, added_cpu = cold_w - base_cold, cold_c - base_cpu
                print(
                    f"  content matching adds {added:.2f} s wall / {added_cpu:.2f} s cpu cold "
                    f"({nbytes / MiB / max(added_cpu, 1e-6):,.0f} MiB/s of cpu) = "
                    f"{added / cold_read:.2f}x the wall time of read-once from disk "
                    f"({added / max(cat_cold, 1e-6):.2f}x cat), cpu {added_cpu / cold_read:.2f}x "
                    f"its wall; warm rescan adds {warm_w - base_warm:+.3f} s{start}"
                )
            if isinstance(chosen, WorkerMatcher):
                chosen.stop()
        yara.use_matcher(InProcessMatcher())
        if args.stages:
            _stages(root, kinds, full.yara_sources())
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
