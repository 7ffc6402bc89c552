"""Windows integrity benchmark: what verifying the Authenticode image digest of every signed
program file in a WeChat install costs, cold and warm.

A synthetic install (WeChat 3.x layout) holds one large core DLL and many small signed DLLs,
all signed by osslsigncode. Cold = a fresh process (no cached results); warm = the next scan.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

from bench.pefiles import signed_pe, signing_chain
from checks.api import image_scanner
from checks.catalogue import load_builtin
from checks.integrity import authenticode, persist
from checks.integrity.filecache import RESULTS

TENCENT = "Tencent Technology (Shenzhen) Company Limited"
CORE = "Program Files/Tencent/WeChat/[3.9.12.51]"


def build(root: Path, core_mb: int, small: int, small_mb: int) -> tuple[int, str]:
    """The install, its size, and the signing root to trust (the scan verifies chains)."""
    cert, key, anchor = signing_chain(TENCENT)
    folder = root / CORE
    folder.mkdir(parents=True)
    (root / "Users" / "alice").mkdir(parents=True)
    big = signed_pe(cert, key, body=b"\x90" * (core_mb << 20))
    (folder / "WeChatWin.dll").write_bytes(big)
    (folder.parent / "WeChat.exe").write_bytes(signed_pe(cert, key))
    total = len(big)
    piece = signed_pe(cert, key, body=b"\xcc" * (small_mb << 20))
    for i in range(small):
        (folder / f"module{i:03}.dll").write_bytes(piece)
        total += len(piece)
    return total, anchor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--core-mb", type=int, default=200)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--small-mb", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        total, anchor = build(root, args.core_mb, args.small, args.small_mb)
        catalogue = load_builtin().with_trust_anchors([anchor])
        data = (root / CORE / "WeChatWin.dll").read_bytes()
        t0 = time.perf_counter()
        check = authenticode.verify_image(io.BytesIO(data), len(data))
        one = time.perf_counter() - t0
        assert check.intact, check
        print(
            f"verify_image, one {len(data) >> 20} MB DLL: {one * 1000:.0f} ms "
            f"({len(data) / one / 1e6:.0f} MB/s)"
        )
        del data
        for label, verify in (("signer only (before)", False), ("signer + image digest", True)):
            RESULTS.clear()
            scanner = image_scanner(str(root), "windows", catalogue)
            if not verify:
                original = authenticode.verify_image
                authenticode.verify_image = lambda fh, size: authenticode.ImageCheck(True, True)
            try:
                c0, w0 = time.process_time(), time.perf_counter()
                cold = scanner.scan()
                cold_w, cold_c = time.perf_counter() - w0, time.process_time() - c0
                w0 = time.perf_counter()
                warm = scanner.scan()
                warm_w = time.perf_counter() - w0
            finally:
                if not verify:
                    authenticode.verify_image = original
            assert not [f for f in cold.findings if f.rule_id.startswith("windows-")]
            print(
                f"install of {args.small + 2} signed files, {total >> 20} MB, {label:<22}: "
                f"cold {cold_w * 1000:7.0f} ms wall {cold_c * 1000:7.0f} ms cpu | "
                f"warm {warm_w * 1000:5.0f} ms (files re-read: {warm.stats['files_hashed']})"
            )
            if verify:
                saved = root / "integrity-cache.json"
                persist.save(saved)
                RESULTS.clear()  # as in a new agent process
                t0 = time.perf_counter()
                persist.load(saved)
                restarted = image_scanner(str(root), "windows").scan()
                after = time.perf_counter() - t0
                print(
                    f"  after an agent restart with saved results: first scan {after * 1000:.0f} ms"
                    f" (files re-read: {restarted.stats['files_hashed']})"
                )


if __name__ == "__main__":
    main()
