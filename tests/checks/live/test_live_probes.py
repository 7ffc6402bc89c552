"""Live probes against the real machine: real processes, a real LD_PRELOAD injection, real
package folders. Each test creates what it needs and removes it afterwards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks.api import live_scanner
from checks.model import ScanResult
from tests.conftest import script

pytestmark = pytest.mark.live

_HOOK_C = r"""
#include <stdio.h>
__attribute__((constructor)) static void wxguard_test_hook(void) { }
int wxguard_test_hooked(void) { return 42; }
"""


def _start(exe: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([str(exe), *args], env=env)
    # Wait until the dynamic loader has mapped everything and the process is visible.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            maps = Path(f"/proc/{proc.pid}/maps").read_text()
            if "sleep" in maps or str(exe) in maps:
                break
        except OSError:
            pass
        time.sleep(0.02)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(timeout=5)


def _by_rule(result: ScanResult, rule_id: str) -> list[dict[str, object]]:
    return [f.to_json() for f in result.findings if f.rule_id == rule_id]


@pytest.fixture
def home_project() -> Iterator[Path]:
    """A project folder in the real home of the user running the tests."""
    path = Path.home() / f"wxguard-test-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_process_named_like_wechat_outside_any_install_is_unrecognised(tmp_path: Path) -> None:
    exe = tmp_path / "WeChatHelper"
    shutil.copy("/bin/sleep", exe)
    proc = _start(exe, "30")
    try:
        result = live_scanner().scan()
    finally:
        _stop(proc)
    hits = _by_rule(result, "unrecognised-wechat-process")
    pids = [ev["pid"] for f in hits for ev in f["evidence"]]  # type: ignore[index, union-attr]
    assert proc.pid in pids, hits
    shown = [ev for f in hits for ev in f["evidence"] if ev["pid"] == proc.pid]  # type: ignore[index, union-attr]
    assert shown[0]["path"] == str(exe)


def test_vanished_process_is_simply_gone_on_the_next_scan(tmp_path: Path) -> None:
    exe = tmp_path / "weixin-mod"
    shutil.copy("/bin/sleep", exe)
    scanner = live_scanner()
    proc = _start(exe, "30")
    first = scanner.scan()
    _stop(proc)
    second = scanner.scan()
    key = [
        f.key
        for f in first.findings
        if f.rule_id == "unrecognised-wechat-process" and f.subject.endswith("weixin-mod")
    ]
    assert key, first.findings
    assert all(f.key != key[0] for f in second.findings)


@pytest.fixture
def official_install() -> Iterator[Path]:
    """The official Linux client's install folder, /opt/wechat, holding a stand-in program."""
    folder = Path("/opt/wechat")
    if folder.exists():
        pytest.fail("/opt/wechat already exists on this machine; this test needs it for itself")
    folder.mkdir(parents=True)
    shutil.copy("/bin/sleep", folder / "wechat")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_ld_preload_into_official_client_is_an_injection(
    tmp_path: Path, official_install: Path
) -> None:
    source = tmp_path / "hook.c"
    source.write_text(_HOOK_C)
    library = tmp_path / "libwxhook.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    env = dict(os.environ, LD_PRELOAD=str(library))
    proc = _start(official_install / "wechat", "30", env=env)
    try:
        deadline = time.monotonic() + 5
        while str(library) not in Path(f"/proc/{proc.pid}/maps").read_text():
            assert time.monotonic() < deadline, "the preload library never got mapped"
            time.sleep(0.02)
        result = live_scanner().scan()
    finally:
        _stop(proc)
    injected = _by_rule(result, "injected-module")
    paths = [ev["path"] for f in injected for ev in f["evidence"]]  # type: ignore[index, union-attr]
    assert str(library) in paths, result.findings
    # The official program itself is approved: not "unrecognised", and libc is not "injected".
    assert not any(
        ev["pid"] == proc.pid
        for f in _by_rule(result, "unrecognised-wechat-process")
        for ev in f["evidence"]  # type: ignore[union-attr]
    )
    assert not any("libc.so" in str(p) for p in paths)


def test_official_client_without_injection_is_clean(official_install: Path) -> None:
    proc = _start(official_install / "wechat", "30")
    try:
        result = live_scanner().scan()
    finally:
        _stop(proc)
    mine = [f for f in result.findings for ev in f.evidence if ev.pid == proc.pid]
    assert mine == []


def test_python_package_in_a_project_venv_is_found(home_project: Path) -> None:
    site = (
        home_project
        / ".venv"
        / "lib"
        / f"python{sys.version_info.major}.{sys.version_info.minor}"
        / "site-packages"
    )
    (site / "wcferry-39.6.0.0.dist-info").mkdir(parents=True)
    (site / "wcferry").mkdir()
    result = live_scanner().scan()
    hits = _by_rule(result, "wechatferry")
    assert hits, result.findings
    evidence = hits[0]["evidence"]
    assert any(str(ev.get("path", "")).endswith("wcferry-39.6.0.0.dist-info") for ev in evidence)  # type: ignore[union-attr]


def test_cli_json_on_live_machine_reports_and_exits_1(home_project: Path) -> None:
    site = home_project / "venv" / "lib" / "python3.11" / "site-packages"
    (site / "wcferry-39.5.1.dist-info").mkdir(parents=True)
    run = subprocess.run(
        [script("wxguard"), "check", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout)
    assert doc["summary"]["compliant"] is False
    assert "wechatferry" in {f["rule_id"] for f in doc["findings"]}
    # Once the package is gone, the machine is compliant again as far as this rule goes.
    shutil.rmtree(home_project / "venv")
    run = subprocess.run(
        [script("wxguard"), "check", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "wechatferry" not in {f["rule_id"] for f in json.loads(run.stdout)["findings"]}
