"""File watching at a bounded cost: an employee's 15,000 folders cost the agent one inotify
instance and a few threads; past the cap on watches, status says so and rescans find what
events cannot; a folder deleted and re-created is watched again; lost events force a rescan."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.client import AgentClient
from agent.config import Settings
from agent.paths import AgentPaths, Mode
from agent.service import AgentService
from agent.watchers import FolderWatcher, FsChange, open_watcher
from checks.api import image_scanner
from tests.agent.conftest import make_image, start_agent

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="inotify is Linux's")


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _inotify_instances(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile
            count += os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify"
    return count


def _until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _folders(base: Path, count: int) -> list[Path]:
    made = [base / f"d{i:05d}" for i in range(count)]
    for path in made:
        path.mkdir(parents=True)
    return made


@pytest.mark.live
@pytest.mark.skipif(os.geteuid() != 0, reason="a private /home needs root (mount namespace)")
def test_15000_folders_cost_one_inotify_instance_and_a_few_threads(tmp_path: Path) -> None:
    homes = tmp_path / "homes"
    employee = homes / "employee"
    folders = _folders(employee / "junk", 15_000)
    state = tmp_path / "agent"
    state.mkdir()
    # Every folder, the employees' and root's own home (walked whole since discovery by marker):
    # no cap here.
    (state / "agent.toml").write_text("max_watches = 150000\n")
    agent = start_agent(state, homes=homes)
    try:
        with AgentClient(agent.socket, timeout=120) as client:
            client.scan_now()  # returns once the folders it listed are watched
            status = client.status()
            threads, instances = _threads(agent.proc.pid), _inotify_instances(agent.proc.pid)
            print(f"15,000 folders: {threads} threads, {instances} inotify instance(s)")
            # Before: one thread and one inotify instance per folder (15,000+ threads, or
            # as many as root's inotify instances allowed).
            assert threads < 20
            assert instances == 1
            assert status["watching"] >= 15_000
            assert status["watching_healthy"] is True
            assert status["watching_capped"] is False
            assert status["unwatched_folders"] == 0

            # Still an event, in the last of those folders: a finding without any rescan.
            (folders[-1] / "itchat.pkl").write_bytes(b"session")
            deadline = time.monotonic() + 15
            since = client.status()["event_seq"]
            while not any(f["rule_id"] == "itchat" for f in client.findings()):
                assert time.monotonic() < deadline, client.status()
                since = client.wait_events(since, 1.0)["seq"]
            _until(
                lambda: client.status()["scans_by_trigger"].get("fs-event", 0) >= 1,
                10,
                "the scan the event caused to be counted",
            )
    finally:
        agent.proc.terminate()
        assert agent.proc.wait(timeout=30) == 0


@pytest.fixture
def capped_service(tmp_path: Path) -> Iterator[tuple[AgentService, Path]]:
    image = make_image(tmp_path / "image")
    home = image / "home" / "alice"
    _folders(home, 500)
    # Past the racy window: a listing read in the tick its folder changed is rescanned as a
    # file change, which would race the test's count of file-change scans.
    time.sleep(0.2)
    paths = AgentPaths.resolve(Mode.SYSTEM, tmp_path / "state")
    settings = Settings(
        max_watches=100, watch_debounce_s=0.05, process_poll_s=0.5, scan_interval_s=2
    )
    service = AgentService(settings, paths, image_scanner(str(image), "linux"))
    service.start()
    try:
        assert service.wait_for_scans(1, 60)
        yield service, home
    finally:
        service.stop()


def test_past_the_cap_status_says_so_and_periodic_scans_find_what_events_miss(
    capped_service: tuple[AgentService, Path],
) -> None:
    service, home = capped_service
    status = service.status()
    assert status["watching"] == 100
    assert status["watching_capped"] is True
    assert status["watching_healthy"] is False
    assert status["unwatched_folders"] >= 400
    # Shallow folders first: the home stays watched, the employee's last folders do not.
    assert service.watcher.count == 100
    fs_events = service.scans_by_trigger.get("fs-event", 0)

    (home / "d00499" / "itchat.pkl").write_bytes(b"session")
    _until(
        lambda: any(f["rule_id"] == "itchat" for f in service.findings()),
        20,
        "a periodic scan to find the plugin in an unwatched folder",
    )
    _until(lambda: service.scans_by_trigger.get("periodic", 0) >= 1, 10, "the scan counted")
    assert service.scans_by_trigger.get("fs-event", 0) == fs_events  # no event: unwatched


def test_status_text_says_watching_is_capped(capped_service: tuple[AgentService, Path]) -> None:
    from agent.commands import _status_text
    from checks.model import Lang

    text = _status_text(capped_service[0].status(), Lang.EN)
    assert re.search(
        r"Folders watched:\s+100 \(capped: \d+ folders left to periodic rescans\)", text
    )


class _Collector:
    def __init__(self) -> None:
        self.changes: list[FsChange] = []
        self.cond = threading.Condition()

    def __call__(self, changes: list[FsChange]) -> None:
        with self.cond:
            self.changes.extend(changes)
            self.cond.notify_all()

    def wait_for(self, path: Path, timeout: float = 5.0) -> None:
        with self.cond:
            ok = self.cond.wait_for(lambda: any(c.path == str(path) for c in self.changes), timeout)
        assert ok, f"no event for {path}: {self.changes[-5:]}"


@pytest.fixture
def watcher() -> Iterator[tuple[FolderWatcher, _Collector, list[int]]]:
    sink = _Collector()
    lost: list[int] = []
    watcher = open_watcher(sink, on_lost=lambda: lost.append(1))
    watcher.start()
    try:
        yield watcher, sink, lost
    finally:
        watcher.stop()


def test_a_folder_deleted_and_recreated_is_watched_again(
    watcher: tuple[FolderWatcher, _Collector, list[int]], tmp_path: Path
) -> None:
    w, sink, _ = watcher
    folder = tmp_path / "plugins"
    folder.mkdir()
    assert w.update({str(tmp_path), str(folder)}) == {str(tmp_path), str(folder)}
    shutil.rmtree(folder)
    sink.wait_for(folder)
    _until(lambda: w.count == 1, 5, "the deleted folder's watch to go")
    folder.mkdir()
    _until(lambda: w.count == 2, 5, "the re-created folder to be watched again")
    (folder / "itchat.pkl").write_bytes(b"x")  # before any rescan: still an event
    sink.wait_for(folder / "itchat.pkl")
    # The next update reports it as newly watched, so the service checks it for changes.
    assert str(folder) in w.update({str(tmp_path), str(folder)})
    assert w.healthy


def test_undecodable_names_and_symlinks_to_other_owners_folders(
    watcher: tuple[FolderWatcher, _Collector, list[int]], tmp_path: Path
) -> None:
    w, sink, _ = watcher
    odd = os.path.join(os.fsencode(tmp_path), b"a\xff\xfeb")
    os.mkdir(odd)
    w.update({str(tmp_path), os.fsdecode(odd)})
    dropped = os.path.join(odd, b"itchat\xff.pkl")
    with open(dropped, "wb"):
        pass
    sink.wait_for(Path(os.fsdecode(dropped)))
    assert w.healthy
    # A folder swapped for a link to a folder of another owner (root's /etc, the link an
    # employee's) is not followed: that folder is left to rescans, visibly.
    link = tmp_path / "swapped"
    link.symlink_to("/etc")
    os.lchown(link, 65534, 65534)
    w.update({str(tmp_path), str(link)})
    assert str(link) in w.failed
    assert not w.healthy


def test_lost_events_make_the_watcher_unhealthy_until_a_rescan(
    watcher: tuple[FolderWatcher, _Collector, list[int]], tmp_path: Path
) -> None:
    w, _, lost = watcher
    w.update({str(tmp_path)})
    assert w.healthy
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    # Hold the reader off (it waits for the watcher's lock) while more events than the
    # kernel queues pile up: the queue overflows for real.
    with w._lock:
        for i in range(limit // 2 + 1000):
            (tmp_path / f"f{i}").touch()
    _until(lambda: bool(lost), 10, "the overflow to be reported")
    assert not w.healthy  # the rescan it asked for must not trust any listing
    w.update({str(tmp_path)})  # ...that rescan is done
    assert w.healthy


def test_roots_cover_the_wanted_folders_with_a_few_watches() -> None:
    """macOS and Windows: a recursive watch per root, never on a drive or `/Users` itself."""
    from agent.watch_roots import plan_roots

    sep = os.sep
    home = f"{sep}Users{sep}alice"
    wanted = {f"{sep}Users", home, *(f"{home}{sep}d{i}{sep}x" for i in range(1000))}
    wanted |= {f"{sep}Applications{sep}WeChat.app", f"{sep}Applications{sep}WeChat.app{sep}C"}
    assert plan_roots(wanted) == [
        (f"{sep}Users", False),
        (f"{sep}Applications{sep}WeChat.app", True),
        (home, True),
    ]


def test_root_watcher_costs_one_watch_for_a_home_of_500_folders(tmp_path: Path) -> None:
    """The watchdog side, run here on watchdog's Linux backend: events from deep folders
    arrive through the home's one recursive watch, and the cap still applies."""
    from agent.watch_roots import RootWatcher

    home = tmp_path / "Users" / "alice"
    folders = _folders(home, 500)
    sink = _Collector()
    w = RootWatcher(sink)
    w.start()
    try:
        before = threading.active_count()
        wanted = {str(home), *map(str, folders)}
        assert len(w.update(wanted)) == 501
        assert threading.active_count() - before <= 2  # one emitter, not 501
        assert w.healthy and w.count == 501
        (folders[-1] / "itchat.pkl").write_bytes(b"x")
        sink.wait_for(folders[-1] / "itchat.pkl")
    finally:
        w.stop()
    capped = RootWatcher(_Collector(), max_watches=100)
    capped.start()
    try:
        capped.update(wanted)
        assert capped.capped and not capped.healthy and capped.unwatched == 401
    finally:
        capped.stop()
