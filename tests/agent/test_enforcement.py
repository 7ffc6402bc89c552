"""Enforcement on the live machine: an unapproved client is warned about, then terminated after
the grace period; an official client (even one with a plugin injected) is never touched; in
monitor mode nothing is terminated."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import Settings
from agent.enforcement import Enforcer
from agent.paths import AgentPaths, Mode
from agent.service import AgentService
from agent.store import LocalRecords
from checks.api import live_scanner

_HOOK_C = "int wxguard_enforce_hook(void) { return 1; }\n"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[AgentService]:
    paths = AgentPaths.resolve(Mode.SYSTEM, tmp_path / "state")
    svc = AgentService(Settings(process_poll_s=0.2, watch_debounce_s=0.05), paths, live_scanner())
    svc.start()
    assert svc.wait_for_scans(1, 60)
    yield svc
    svc.stop()


def _events(service: AgentService, kind: str) -> list[dict[str, object]]:
    _, events = service.events.wait(0, 0, uid=os.getuid())
    return [e.data for e in events if e.kind == kind]


def _wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


def test_unapproved_client_is_warned_then_terminated(service: AgentService, tmp_path: Path) -> None:
    enforcer = Enforcer(service, grace_s=1.5)
    enforcer.set_mode("enforce")
    enforcer.start()
    exe = tmp_path / "WeChatMultiOpen"
    shutil.copy("/bin/sleep", exe)
    proc = subprocess.Popen([str(exe), "120"])
    try:
        started = time.monotonic()
        assert _wait_exit(proc, 20), "the unapproved client was not terminated"
        took = time.monotonic() - started
        assert took >= 1.5  # the employee had the grace period
        deadline = time.monotonic() + 30  # generous: a loaded CI machine; bench.agent times it
        while not any(w["state"] == "terminated" for w in _events(service, "enforcement")):
            assert time.monotonic() < deadline, _events(service, "enforcement")
            time.sleep(0.1)
        warnings = _events(service, "enforcement")
        assert any(w["state"] == "warning" and w["pid"] == proc.pid for w in warnings)
        assert any(w["state"] == "terminated" and w["pid"] == proc.pid for w in warnings)
        recorded = LocalRecords(service.store).terminations()
        assert [r["pid"] for r in recorded] == [proc.pid]
        assert recorded[0]["rule_id"] == "unrecognised-wechat-process"
    finally:
        proc.kill()
        proc.wait()
        enforcer.stop()


def test_monitor_mode_terminates_nothing(service: AgentService, tmp_path: Path) -> None:
    enforcer = Enforcer(service, grace_s=0.5)
    enforcer.start()
    exe = tmp_path / "WeixinHelper"
    shutil.copy("/bin/sleep", exe)
    proc = subprocess.Popen([str(exe), "120"])
    try:
        deadline = time.monotonic() + 30  # generous: a loaded CI machine; bench.agent times it
        while not any(
            proc.pid == ev.get("pid") for f in service.findings() for ev in f["evidence"]
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert not _wait_exit(proc, 2.0)
        assert LocalRecords(service.store).terminations() == []
    finally:
        proc.kill()
        proc.wait()
        enforcer.stop()


def test_official_client_with_injected_plugin_is_never_terminated(
    service: AgentService, tmp_path: Path
) -> None:
    folder = Path("/opt/wechat")
    if folder.exists():
        pytest.fail("/opt/wechat already exists; this test needs it for itself")
    folder.mkdir(parents=True)
    shutil.copy("/bin/sleep", folder / "wechat")
    source = tmp_path / "hook.c"
    source.write_text(_HOOK_C)
    library = tmp_path / "libplugin.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    enforcer = Enforcer(service, grace_s=0.5)
    enforcer.set_mode("enforce")
    enforcer.start()
    proc = subprocess.Popen(
        [str(folder / "wechat"), "120"], env=dict(os.environ, LD_PRELOAD=str(library))
    )
    try:
        deadline = time.monotonic() + 30  # generous: a loaded CI machine; bench.agent times it
        while not any(f["rule_id"] == "injected-module" for f in service.findings()):
            assert time.monotonic() < deadline, service.findings()
            time.sleep(0.1)
        assert not _wait_exit(proc, 2.5), "an official client was terminated"
        assert LocalRecords(service.store).terminations() == []
    finally:
        proc.kill()
        proc.wait()
        enforcer.stop()
        shutil.rmtree(folder, ignore_errors=True)
