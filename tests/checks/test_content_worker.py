"""The agent's content worker (checks/content/worker.py), a real process: a file is handed over
open (a link swapped in afterwards changes nothing), and a worker killed or hung mid-scan makes
that file a blind spot, never a clean file; the next scan starts a new worker."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from checks.catalogue import load_builtin
from checks.content import yara
from checks.engine import Scanner
from checks.fsview import FsView
from checks.layout import Layout
from checks.model import Platform, ScanResult
from tests.checks.images import File, build
from tests.checks.test_content import FRIDA_SCRIPT, INJECTOR

if sys.platform != "linux":
    pytest.skip("the content worker runs on Linux", allow_module_level=True)

from checks.content.worker import WorkerMatcher

CATALOGUE = load_builtin()
L = Platform.LINUX
SOURCES = CATALOGUE.yara_sources()


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkerMatcher]:
    matcher = WorkerMatcher()
    monkeypatch.setattr(yara, "_matcher", matcher)
    yield matcher
    matcher.stop()


def _injector_image(tmp_path: Path) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    src = tmp_path / "i.c"
    src.write_text(INJECTOR)
    subprocess.run(["gcc", "-O0", "-o", str(tmp_path / "i"), str(src)], check=True, timeout=60)
    return build(
        tmp_path / "img", L, File("{downloads}/tools/helper", (tmp_path / "i").read_bytes())
    )


def _ids(result: ScanResult) -> set[str]:
    return {f.rule_id for f in result.findings}


def _spots(result: ScanResult) -> list[str]:
    return [b.reason for b in result.blind_spots if b.what.endswith("tools/helper")]


def test_a_link_swapped_in_after_open_cannot_redirect_the_worker(
    tmp_path: Path, worker: WorkerMatcher
) -> None:
    hostile = tmp_path / "hook.py"
    hostile.write_text(FRIDA_SCRIPT)
    with hostile.open("rb") as fh:
        assert worker.match(SOURCES, fh, "script", yara.TEXT_LIMIT)  # the rules do find it
    home = tmp_path / "home"
    home.mkdir()
    path = home / "run.py"
    path.write_text("print('hello')\n")
    fs = FsView()
    opened = fs.open_content(str(path), "content")
    assert opened is not None
    fh, _st = opened
    with fh:
        link = home / "swap"
        link.symlink_to(hostile)
        os.replace(link, path)  # the path now leads to the hostile script
        assert worker.match(SOURCES, fh, "script", yara.TEXT_LIMIT) == ()


def test_a_worker_killed_mid_scan_is_a_blind_spot_and_is_restarted(
    tmp_path: Path, worker: WorkerMatcher
) -> None:
    root = _injector_image(tmp_path)
    scanner = Scanner(Layout.image(root, L), CATALOGUE)
    worker.names(SOURCES)  # started, rules compiled
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # it takes the file and never answers ...
    timer = threading.Timer(1.0, os.kill, (pid, signal.SIGKILL))  # ... until it is killed
    timer.start()
    try:
        result = scanner.scan()
    finally:
        timer.cancel()
    assert "wechat-hook-injector-code" not in _ids(result)
    assert _spots(result) == ["content not matched: the content worker ended before answering"]
    again = scanner.scan()
    assert "wechat-hook-injector-code" in _ids(again)
    assert _spots(again) == []
    assert worker.pid not in (None, pid)


def test_a_hung_worker_is_a_blind_spot_past_the_deadline_and_is_killed(
    tmp_path: Path, worker: WorkerMatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    from checks.content import worker as worker_mod

    monkeypatch.setattr(worker_mod, "FILE_DEADLINE_S", 2.0)
    root = _injector_image(tmp_path)
    scanner = Scanner(Layout.image(root, L), CATALOGUE)
    worker.names(SOURCES)
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    result = scanner.scan()
    assert "wechat-hook-injector-code" not in _ids(result)
    assert _spots(result) == ["content not matched: the content worker gave no answer within 2 s"]
    assert not psutil.pid_exists(pid)
    assert "wechat-hook-injector-code" in _ids(scanner.scan())


def test_the_worker_reads_only_what_it_is_handed_as_nobody(worker: WorkerMatcher) -> None:
    worker.names(SOURCES)
    assert worker.pid is not None
    proc = psutil.Process(worker.pid)
    if os.getuid() == 0:
        assert proc.uids().effective == 65534


def test_an_idle_worker_exits_and_the_next_file_starts_a_new_one(
    tmp_path: Path, worker: WorkerMatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    from checks.content import worker as worker_mod

    monkeypatch.setattr(worker_mod, "IDLE_S", 1.0)
    worker.names(SOURCES)
    pid = worker.pid
    assert pid is not None
    deadline = time.monotonic() + 20
    while psutil.pid_exists(pid):  # exited by itself, and reaped (no <defunct> child left)
        assert time.monotonic() < deadline, psutil.Process(pid).status()
        time.sleep(0.1)
    script = tmp_path / "hook.py"
    script.write_text(FRIDA_SCRIPT)
    with script.open("rb") as fh:
        hits = worker.match(SOURCES, fh, "script", yara.TEXT_LIMIT)
    assert "WeChat_Hook_Injector" in {h.rule for h in hits}
    assert worker.pid not in (None, pid)


def test_a_nonsense_answer_is_a_blind_spot_and_the_worker_is_killed(
    tmp_path: Path, worker: WorkerMatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    from checks.content import worker as worker_mod

    worker.names(SOURCES)
    pid = worker.pid
    assert pid is not None
    real = worker_mod._recv_frame

    def forged(sock: object, deadline: float | None) -> tuple[object, list[int]]:
        real(sock, deadline)  # type: ignore[arg-type]
        return {"hits": [["No_Such_Rule", "x"]]}, []

    monkeypatch.setattr(worker_mod, "_recv_frame", forged)
    script = tmp_path / "home" / "hook.py"
    script.parent.mkdir()
    script.write_text(FRIDA_SCRIPT)
    fs = FsView()
    scanner = yara.ContentScanner(SOURCES)
    assert scanner.scan_file(fs, str(script), "script") is None
    assert [b.reason for b in fs.blind_spots.values()] == [
        "content not matched: the content worker's answer makes no sense"
    ]
    assert not psutil.pid_exists(pid)


def test_files_only_their_owner_may_read_are_matched_as_well_as_public_ones(
    tmp_path: Path, worker: WorkerMatcher
) -> None:
    """The worker (user nobody) lets yara-x map a file it may open itself through the
    descriptor's /proc link (no copy); a file only its owner may read (0600 in a 0700 home)
    it cannot open so, and reads through the descriptor it was handed: both are matched."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    public, private = home / "public.py", home / "private.py"
    for path, mode in ((public, 0o644), (private, 0o600)):
        path.write_text(FRIDA_SCRIPT)
        path.chmod(mode)
    fs = FsView()
    scanner = yara.ContentScanner(SOURCES)
    for path in (public, private):
        hits = scanner.scan_file(fs, str(path), "script")
        assert hits is not None and "WeChat_Hook_Injector" in {h.rule for h in hits}, path
        assert "WeChatWin.dll" in " ".join(h.detail for h in hits)
    assert not fs.blind_spots
    if os.getuid() == 0:
        assert worker.pid is not None and psutil.Process(worker.pid).uids().effective == 65534
