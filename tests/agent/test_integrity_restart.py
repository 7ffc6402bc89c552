"""The agent keeps the results of whole-file integrity reads across restarts: after a restart
its first scan of a WeChat install reads no unchanged binary again, and a binary changed
while it was stopped is read again and judged (here: patched in place → a finding)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import Settings
from agent.paths import AgentPaths, Mode
from agent.service import AgentService
from bench.pefiles import signed_pe, signing_chain
from checks.api import image_scanner
from checks.catalogue import load_builtin
from checks.integrity import persist
from checks.integrity.filecache import RESULTS
from checks.model import ScanResult

TENCENT = "Tencent Technology (Shenzhen) Company Limited"
CORE = "Program Files/Tencent/WeChat/[3.9.12.51]"
# A signer counts only through a chain to a trust anchor: the scan trusts this test root.
CERT, KEY, ANCHOR = signing_chain(TENCENT)


@pytest.fixture
def install(tmp_path: Path) -> Iterator[Path]:
    cert, key = CERT, KEY
    root = tmp_path / "image"
    (root / CORE).mkdir(parents=True)
    (root / "Users" / "alice").mkdir(parents=True)
    body = b"\x90" * 4096 + b"if (msg.revoked) hide(msg);" + b"\x90" * 4096
    (root / CORE / "WeChatWin.dll").write_bytes(signed_pe(cert, key, body=body))
    (root / CORE / ".." / "WeChat.exe").write_bytes(signed_pe(cert, key))
    RESULTS.clear()
    yield root
    RESULTS.clear()


def _run_once(root: Path, state: Path) -> tuple[int, list[str]]:
    """Start an agent on the image, wait for its first scan, stop it: (files read, rules)."""
    paths = AgentPaths.resolve(Mode.SYSTEM, state)
    scanner = image_scanner(str(root), "windows", load_builtin().with_trust_anchors([ANCHOR]))
    service = AgentService(Settings(process_poll_s=0.5), paths, scanner)
    scans: list[ScanResult] = []
    service.scan_listeners.append(lambda result, _delta: scans.append(result))
    service.start()
    try:
        assert service.wait_for_scans(1, 60) and scans
        first = scans[0]
        return int(first.stats["files_hashed"]), sorted(f.rule_id for f in first.findings)
    finally:
        service.stop()


def test_first_scan_after_a_restart_reads_no_unchanged_binary(
    install: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    read, rules = _run_once(install, state)
    assert read >= 4 and rules == []  # two files: signer and image digest each
    saved = json.loads((state / "integrity-cache.json").read_text())
    assert {row[1] for row in saved["entries"]} == {"pe-signer", "pe-image"}

    RESULTS.clear()  # a new process
    read, rules = _run_once(install, state)
    assert read == 0 and rules == []

    dll = install / CORE / "WeChatWin.dll"
    data = dll.read_bytes()
    at = data.index(b"if (msg.revoked)")
    dll.write_bytes(data[:at] + b"if (0          )" + data[at + 16 :])  # patched while stopped
    RESULTS.clear()
    read, rules = _run_once(install, state)
    assert read == 2 and rules == ["windows-tampered-binary"]


def test_a_damaged_results_file_costs_a_slower_scan_only(install: Path, tmp_path: Path) -> None:
    cache = tmp_path / "integrity-cache.json"
    cache.write_text("{not json")
    assert persist.load(cache) == 0
    cache.write_text(json.dumps({"format": 1, "entries": [["x", "pe-image", [1], {}], "junk"]}))
    assert persist.load(cache) == 0
    cache.write_text(json.dumps({"format": 99, "entries": []}))
    assert persist.load(cache) == 0
    state = tmp_path / "state"
    state.mkdir()
    (state / "integrity-cache.json").write_text("\x00\x01garbage")
    read, rules = _run_once(install, state)
    assert read >= 4 and rules == []
