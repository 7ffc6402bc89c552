"""macOS nested-code benchmark: what judging each nested framework's own signature adds to
the scan of a WeChat.app, cold (a fresh process's first scan) and warm (the next scan).

The bundle is the test fixture's (tests/checks/test_integrity_macos.py: a Tencent-signed app
whose CMS chains to a test root passed as a trust anchor) with `--frameworks` extra nested
frameworks, each a signed Mach-O of `--mb` MiB. `--without-nested` scans with the nested
check switched off, for the figure before it existed.
"""

from __future__ import annotations

import argparse
import plistlib
import tempfile
import time
from pathlib import Path

from checks.api import image_scanner
from checks.integrity import macos_bundle
from tests.checks import test_integrity_macos as fx


def build(root: Path, frameworks: int, mb: int) -> None:
    files2: dict[str, object] = {}
    binaries: dict[str, bytes] = {}
    code = fx.code_bytes(mb << 20)
    for i in range(frameworks):
        rel = f"Frameworks/F{i:03}.framework"
        files2[rel] = {"cdhash": b"\5" * 20, "requirement": f'identifier "f{i}"'}
        binaries[f"{rel}/Versions/A/F{i:03}"] = fx.macho_slice(code, fx.Sig(signer=fx.TENCENT_ID))
    fx.build_bundle(root, fx.Sig(signer=fx.TENCENT_ID), extra_files2=files2)
    contents = root / fx.APP / "Contents"
    for rel, data in binaries.items():
        (contents / rel).parent.mkdir(parents=True, exist_ok=True)
        (contents / rel).write_bytes(data)
        (contents / rel).parent.joinpath("Resources").mkdir(exist_ok=True)
        (contents / rel).parent.joinpath("Resources", "Info.plist").write_bytes(plistlib.dumps({}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frameworks", type=int, default=40)
    parser.add_argument("--mb", type=int, default=4)
    parser.add_argument("--without-nested", action="store_true")
    args = parser.parse_args()
    if args.without_nested:
        macos_bundle.check_nested_code = lambda *a, **k: None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "img"
        build(root, args.frameworks, args.mb)
        scanner = image_scanner(str(root), "macos", fx.APPLE_LIKE)
        t0 = time.perf_counter()
        cold = scanner.scan()
        t1 = time.perf_counter()
        warm = scanner.scan()
        t2 = time.perf_counter()
        assert cold.findings == [] and warm.findings == [], [f.rule_id for f in cold.findings]
        print(
            f"{args.frameworks} nested frameworks × {args.mb} MiB, nested check "
            f"{'off' if args.without_nested else 'on'}: cold {1000 * (t1 - t0):.0f} ms, "
            f"warm {1000 * (t2 - t1):.0f} ms"
        )


if __name__ == "__main__":
    main()
