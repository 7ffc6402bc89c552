"""Exec events and blocking at exec (Linux, root), with real processes.

fanotify is only ever marked on a tmpfs mount each test creates (never on `/` of the machine
running the tests): a deny-listed tool's binary (a copy of a system program whose digest a test
rule names) is refused with EPERM, before it runs, wherever it is copied or renamed; approved
and unrelated programs run; a slow verdict is allowed at the deadline; audit mode denies
nothing; a guard SIGKILLed while 1,000 execs wait leaves them all to complete.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from agent.config import Settings
from agent.exec_guard import (
    DenyEntry,
    DenyList,
    ExecBlocking,
    ExecGuard,
    parse_mountinfo,
    resolve_mode,
    under,
)
from agent.paths import AgentPaths, Mode
from agent.service import AgentService
from agent.store import LocalRecords
from checks.api import live_scanner
from checks.catalogue import Catalogue, load_builtin, parse_rule
from checks.engine import Scanner
from checks.layout import Layout, UserHome, current_platform
from checks.model import BlindSpot, Platform, ProcessFact
from checks.probes.processes import PsutilProcessSource

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0, reason="Linux, as root"
)

TOOL_SOURCE = "/usr/bin/true"  # the "deny-listed tool": its copies' digest is in the test rule
OTHER_SOURCE = "/usr/bin/echo"  # an unrelated program


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def tmpfs() -> Iterator[Path]:
    """A dedicated tmpfs mount: the only place these tests mark."""
    mount = Path(tempfile.mkdtemp(prefix="wxguard-exec-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", str(mount)],
        capture_output=True,
        timeout=30,
    )
    if done.returncode != 0:
        mount.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace')}")
    assert os.stat(mount).st_dev != os.stat("/").st_dev, "refusing to mark the root mount"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], timeout=30, check=False)
        mount.rmdir()


def _place(src: str, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    os.chmod(dst, 0o755)
    return dst


def _deny(tmpfs: Path) -> DenyList:
    approved = str(tmpfs / "approved") + "/"
    return DenyList(
        {_sha256(TOOL_SOURCE): DenyEntry("test-tool", {"zh": "测试工具", "en": "test tool"})},
        approved_root=lambda path: path.startswith(approved),
    )


def _run(path: Path) -> int:
    return subprocess.run([str(path)], capture_output=True, timeout=30).returncode


def test_block_refuses_denylisted_binary_with_eperm_wherever_it_is(tmpfs: Path) -> None:
    decisions: list[str] = []
    guard = ExecGuard(
        _deny(tmpfs), "block", [str(tmpfs)], lambda d, title: decisions.append(d.path)
    )
    guard.start()
    try:
        tool = _place(TOOL_SOURCE, tmpfs / "tools" / "dumper")
        renamed = tmpfs / "tools" / "notes-viewer"
        os.rename(tool, renamed)
        copied = _place(str(renamed), tmpfs / "elsewhere" / "deep" / "x")
        for path in (renamed, copied):
            with pytest.raises(PermissionError) as info:
                _run(path)
            assert info.value.errno == errno.EPERM
        # An approved client's tree and an unrelated program start normally.
        assert _run(_place(TOOL_SOURCE, tmpfs / "approved" / "wechat")) == 0
        assert _run(_place(OTHER_SOURCE, tmpfs / "tools" / "echo")) == 0
        assert sorted(decisions) == sorted([str(renamed), str(copied)])
        assert guard.status()["denied"] == 2
    finally:
        guard.stop()


def test_slow_verdict_is_allowed_at_the_deadline(tmpfs: Path) -> None:
    def slow(fd: int) -> str:
        time.sleep(3)
        return "0" * 64

    guard = ExecGuard(_deny(tmpfs), "block", [str(tmpfs)], deadline_s=0.2, digester=slow)
    guard.start()
    try:
        tool = _place(TOOL_SOURCE, tmpfs / "tool")
        started = time.monotonic()
        assert _run(tool) == 0
        assert time.monotonic() - started < 2.5
        assert guard.status()["deadline"] == 1
    finally:
        guard.stop()


_KILLED_GUARD = textwrap.dedent(
    """
    import sys, time
    from agent.exec_guard import DenyEntry, DenyList, ExecGuard
    def never(fd):
        time.sleep(3600)
    deny = DenyList({"0" * 64: DenyEntry("t", {"zh": "t", "en": "t"})})
    guard = ExecGuard(deny, "block", [sys.argv[1]], deadline_s=3600, digester=never)
    guard.start()
    print("ready", flush=True)
    while True:
        time.sleep(0.05)
        with open(sys.argv[2] + ".tmp", "w") as fh:
            fh.write(str(guard.status()["events"]))
        import os; os.replace(sys.argv[2] + ".tmp", sys.argv[2])
    """
)


def test_machine_stays_usable_when_the_guard_is_killed_with_1000_execs_waiting(
    tmpfs: Path, tmp_path: Path
) -> None:
    tool = _place(TOOL_SOURCE, tmpfs / "tool")
    count_file = tmp_path / "events"
    guard = subprocess.Popen(
        [sys.executable, "-c", _KILLED_GUARD, str(tmpfs), str(count_file)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    shell = None
    try:
        assert guard.stdout is not None and guard.stdout.readline().strip() == b"ready"
        script = f'i=0; while [ $i -lt 1000 ]; do "{tool}" & i=$((i+1)); done; wait; echo done'
        shell = subprocess.Popen(["/bin/sh", "-c", script], stdout=subprocess.PIPE)
        deadline = time.monotonic() + 90
        waiting = 0
        while waiting < 1000 and time.monotonic() < deadline:
            time.sleep(0.1)
            with contextlib.suppress(FileNotFoundError, ValueError):
                waiting = int(count_file.read_text() or 0)
        assert waiting >= 1000, f"only {waiting} execs reached the guard"
        assert shell.poll() is None  # they are all held
        guard.send_signal(signal.SIGKILL)
        guard.wait(timeout=10)
        out, _ = shell.communicate(timeout=60)  # every waiter released: the loop finishes
        assert out.strip() == b"done"
    finally:
        if guard.poll() is None:
            guard.kill()
            guard.wait()
        if shell is not None and shell.poll() is None:
            shell.kill()
            shell.wait()


def _test_catalogue() -> Catalogue:
    catalogue = load_builtin()
    rule = parse_rule(
        {
            "id": "test-exec-tool",
            "category": "db-dumper",
            "severity": "high",
            "platforms": ["linux"],
            "title": {"zh": "测试用数据库导出工具", "en": "test database dumper"},
            "remediation": {"zh": "删除它。", "en": "Delete it."},
            "match": [{"type": "sha256", "value": _sha256(TOOL_SOURCE), "path": "/nowhere/*"}],
        },
        "test",
    )
    catalogue.rules.append(rule)
    return catalogue


def test_deny_list_takes_only_digests_of_deny_listed_tools() -> None:
    deny = DenyList.from_catalogue(_test_catalogue(), Platform.LINUX)
    assert deny.digests[_sha256(TOOL_SOURCE)].rule_id == "test-exec-tool"
    assert deny.never_denied("/usr/bin/anything") and deny.never_denied("/opt/x/dpkg")


def test_mode_precedence_and_kill_switches() -> None:
    assert resolve_mode("off", False, None) == ("off", "default")
    assert resolve_mode("off", False, "block") == ("block", "policy")
    assert resolve_mode("audit", True, "block") == ("audit", "managed config")
    assert resolve_mode("off", True, "block")[0] == "off"  # IT's kill switch on the machine
    assert resolve_mode("block", True, "off")[0] == "off"  # the policy's kill switch
    assert resolve_mode("audit", False, "newer-mode") == ("audit", "agent config")


def test_audit_mode_records_would_block_and_denies_nothing(tmpfs: Path, tmp_path: Path) -> None:
    paths = AgentPaths.resolve(Mode.SYSTEM, tmp_path / "state")
    settings = Settings(exec_blocking="audit", exec_guard_mounts=str(tmpfs), process_poll_s=5)
    service = AgentService(settings, paths, live_scanner(_test_catalogue()))
    service.start()
    blocking = ExecBlocking(service)
    blocking.start()
    try:
        status = service.status()["exec_blocking"]
        assert status["mode"] == "audit" and status["active"], status
        tool = _place(TOOL_SOURCE, tmpfs / "dumper")
        assert _run(tool) == 0  # audit: it runs
        deadline = time.monotonic() + 10
        while not LocalRecords(service.store).terminations():
            assert time.monotonic() < deadline, "the would-block was not recorded"
            time.sleep(0.05)
        (record,) = LocalRecords(service.store).terminations()
        assert record["rule_id"] == "test-exec-tool" and record["exe"] == str(tool)
        assert record["finding_key"].startswith("exec-would-block:")
        _, events = service.events.wait(0, 0, uid=os.getuid())
        (event,) = [e.data for e in events if e.kind == "exec-would-block"]
        assert event["path"] == str(tool) and "would be blocked" in event["message_i18n"]["en"]
        # The policy's kill switch turns the guard off.
        blocking.policy_changed({"exec_blocking": "off"})
        assert service.status()["exec_blocking"]["active"] is False
    finally:
        blocking.stop()
        service.stop()


def test_exec_event_produces_a_finding_without_polling(tmp_path: Path) -> None:
    service = _small_live_service(tmp_path, PsutilProcessSource())
    # Polling every 60 s could not find it within the bound below: the exec event must.
    service.settings = replace(service.settings, process_poll_s=60)
    service.start()
    exe = tmp_path / "WeChatMultiOpen"
    shutil.copy("/bin/sleep", exe)
    proc = None
    try:
        assert service.wait_for_scans(1, 300)
        status = service.status()
        if status["process_events"] != "netlink":
            pytest.skip(f"no kernel process events here: {status['process_events_reason']}")
        proc = subprocess.Popen([str(exe), "60"])
        deadline = time.monotonic() + 15
        while not any(
            ev.get("pid") == proc.pid for f in service.findings() for ev in f["evidence"]
        ):
            assert time.monotonic() < deadline, "no finding for the new process"
            time.sleep(0.02)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        service.stop()


_AGENT_SPAWNS = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from agent.config import Settings
    from agent.exec_guard import ExecBlocking
    from agent.paths import AgentPaths, Mode
    from agent.service import AgentService
    from checks.api import live_scanner
    from tests.agent.test_exec import _test_catalogue

    mount, state = sys.argv[1], Path(sys.argv[2])
    settings = Settings(exec_blocking="block", exec_guard_mounts=mount, process_poll_s=60)
    service = AgentService(
        settings, AgentPaths.resolve(Mode.SYSTEM, state), live_scanner(_test_catalogue())
    )
    blocking = ExecBlocking(service)
    blocking.start()
    assert service.status()["exec_blocking"]["active"], service.status()["exec_blocking"]
    print("guard on", flush=True)
    # The agent itself starts programs from the guarded mount, the way a vfork-based spawn
    # does it: the calling thread waits in the kernel for the verdict on its own child.
    for name in ("fresh-1", "fresh-2", "tool"):
        path = os.path.join(mount, name)
        try:
            pid = os.posix_spawn(path, [path], {})
            _, status = os.waitpid(pid, 0)
            print(name, "ran", os.waitstatus_to_exitcode(status), flush=True)
        except PermissionError as exc:
            print(name, "refused", exc.errno, flush=True)
    blocking.stop()
    print("done", flush=True)
    """
)


def test_agent_starting_programs_from_a_guarded_mount_does_not_hang(
    tmpfs: Path, tmp_path: Path
) -> None:
    """The guard decides in its own process: the agent's own spawns (a thread holding the
    interpreter's lock in vfork) are answered instead of waiting for ever on themselves."""
    _place(OTHER_SOURCE, tmpfs / "fresh-1")
    _place(OTHER_SOURCE, tmpfs / "fresh-2")
    _place(TOOL_SOURCE, tmpfs / "tool")
    agent = subprocess.Popen(
        [sys.executable, "-c", _AGENT_SPAWNS, str(tmpfs), str(tmp_path / "state")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        out, err = agent.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        # The half-started child shares the agent's descriptors (vfork) until its exec is
        # decided: it goes first, then the agent, and the kernel releases the rest.
        for child in psutil.Process(agent.pid).children(recursive=True):
            child.kill()
        agent.kill()
        agent.wait(timeout=30)
        pytest.fail("the agent hung starting a program from the guarded mount")
    lines = [line for line in out.decode().splitlines() if line]  # echo prints a blank line
    assert agent.returncode == 0, err.decode()[-2000:]
    assert lines == [
        "guard on",
        "fresh-1 ran 0",
        "fresh-2 ran 0",
        f"tool refused {errno.EPERM}",
        "done",
    ], err.decode()[-2000:]


def test_a_killed_guard_process_is_restarted_and_status_says_so(
    tmpfs: Path, tmp_path: Path
) -> None:
    paths = AgentPaths.resolve(Mode.SYSTEM, tmp_path / "state")
    settings = Settings(exec_blocking="block", exec_guard_mounts=str(tmpfs), process_poll_s=60)
    service = AgentService(settings, paths, live_scanner(_test_catalogue()))
    blocking = ExecBlocking(service, fallback=lambda: "monitor")
    blocking.start()
    try:
        status = service.status()["exec_blocking"]
        assert status["active"] and status["applies"] == "block" and status["restarts"] == 0
        first = status["pid"]
        assert first != os.getpid()  # its own process
        tool = _place(TOOL_SOURCE, tmpfs / "dumper")
        with pytest.raises(PermissionError):
            _run(tool)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            status = service.status()["exec_blocking"]
            if status["active"] and status["pid"] != first:
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.05)
        assert status["restarts"] == 1
        assert f"guard process {first} ended (signal 9)" in status["last_exit"]
        with pytest.raises(PermissionError):
            _run(tool)  # blocking again, by the new process
        blocking.policy_changed({"exec_blocking": "off"})
        status = service.status()["exec_blocking"]
        assert status["active"] is False and status["applies"] == "monitor"
    finally:
        blocking.stop()


_AGENT_HOLDS = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from agent.config import Settings
    from agent.exec_guard import ExecBlocking
    from agent.paths import AgentPaths, Mode
    from agent.service import AgentService
    from checks.api import live_scanner
    from tests.agent.test_exec import _test_catalogue

    mount, state = sys.argv[1], Path(sys.argv[2])
    settings = Settings(exec_blocking="block", exec_guard_mounts=mount, process_poll_s=60)
    service = AgentService(
        settings, AgentPaths.resolve(Mode.SYSTEM, state), live_scanner(_test_catalogue())
    )
    blocking = ExecBlocking(service)
    blocking.start()
    status = service.status()["exec_blocking"]
    assert status["active"], status
    print(status["pid"], flush=True)
    time.sleep(600)  # killed by the test
    """
)


def test_machine_stays_usable_when_the_agent_is_killed_with_1000_execs_in_flight(
    tmpfs: Path, tmp_path: Path
) -> None:
    """Issue 18's safety test with the guard in its own process: the AGENT is SIGKILLed while
    a burst of 1,000 execs from the guarded mount is being decided. Every exec completes, the
    guard process does not outlive the agent, and the mount is not left marked."""
    _place(OTHER_SOURCE, tmpfs / "fresh")
    tool = _place(TOOL_SOURCE, tmpfs / "tool")
    agent = subprocess.Popen(
        [sys.executable, "-c", _AGENT_HOLDS, str(tmpfs), str(tmp_path / "state")],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    shell = None
    try:
        assert agent.stdout is not None
        guard_pid = int(agent.stdout.readline().strip())
        assert guard_pid != agent.pid
        with pytest.raises(PermissionError):
            _run(tool)  # blocking is on
        fresh = tmpfs / "fresh"
        script = f'i=0; while [ $i -lt 1000 ]; do "{fresh}" x >/dev/null & i=$((i+1)); done; wait; echo done'
        shell = subprocess.Popen(["/bin/sh", "-c", script], stdout=subprocess.PIPE)
        time.sleep(0.2)  # the burst is under way
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=10)
        out, _ = shell.communicate(timeout=90)  # every exec answered or released
        assert out.strip() == b"done"
        deadline = time.monotonic() + 15
        while psutil.pid_exists(guard_pid) and time.monotonic() < deadline:
            with contextlib.suppress(psutil.NoSuchProcess):
                if psutil.Process(guard_pid).status() == psutil.STATUS_ZOMBIE:
                    break
            time.sleep(0.1)
        alive = psutil.pid_exists(guard_pid) and (
            psutil.Process(guard_pid).status() != psutil.STATUS_ZOMBIE
        )
        assert not alive, "the guard process outlived the agent"
        assert _run(tool) == 0  # nobody guards the mount any more: programs run
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        if shell is not None and shell.poll() is None:
            shell.kill()
            shell.wait()


class _SlowProcessSource(PsutilProcessSource):
    """The machine's processes, listed at once, then held for `hold_s` while `slow` is set:
    a scan of processes as slow as on a loaded machine with thousands of them."""

    def __init__(self, hold_s: float) -> None:
        super().__init__()
        self.hold_s = hold_s
        self.slow = threading.Event()
        self.listed = threading.Event()  # a slowed scan has listed the processes

    def snapshot(self) -> tuple[list[ProcessFact], list[BlindSpot]]:
        got = super().snapshot()
        if self.slow.is_set():
            self.listed.set()
            time.sleep(self.hold_s)
        return got


def _small_live_service(tmp_path: Path, source: PsutilProcessSource) -> AgentService:
    """The agent on this machine's processes and system folders, with one empty home (not
    every home of the machine: its first scan is seconds, not minutes, on a loaded machine)."""
    home = tmp_path / "home"
    home.mkdir()
    layout = Layout(Path("/"), current_platform(), True, [UserHome("tester", home, 0)])
    scanner = Scanner(layout, load_builtin(), source)
    settings = Settings(process_poll_s=0.5, watch_debounce_s=0.05)
    return AgentService(settings, AgentPaths.resolve(Mode.SYSTEM, tmp_path / "state"), scanner)


def test_a_new_process_is_a_finding_before_the_scan_of_processes_ends(tmp_path: Path) -> None:
    """Issue 18's exec → finding latency: a process of interest is judged alone when it calls
    execve, not after a scan. Here every scan takes 8 s after listing the processes: the
    finding is visible within seconds all the same; the scan that listed the processes before
    the exec does not resolve it; the next confirms it under the same key (announced once to
    the employee, as new to the server's listener); its exit resolves it."""
    source = _SlowProcessSource(hold_s=8.0)
    service = _small_live_service(tmp_path, source)
    deltas: list[set[str]] = []
    service.scan_listeners.append(lambda result, delta: deltas.append({r.key for r in delta.new}))
    service.start()
    exe = tmp_path / "WeChatMultiOpen"
    shutil.copy("/bin/sleep", exe)
    proc = None
    try:
        assert service.wait_for_scans(1, 300)
        if service.status()["process_events"] != "netlink":
            pytest.skip(f"no kernel process events: {service.status()['process_events_reason']}")
        since = service.events.last_seq
        source.slow.set()
        service.request_scan("periodic")
        assert source.listed.wait(60), "the slowed scan did not start"
        scans = service.scan_count
        t0 = time.monotonic()
        proc = subprocess.Popen([str(exe), "60"])

        def mine() -> list[dict[str, object]]:
            return [
                f
                for f in service.findings()
                if any(ev.get("pid") == proc.pid for ev in f["evidence"])  # type: ignore[union-attr]
            ]

        while not mine():
            assert time.monotonic() - t0 < 4.0, "no finding before the scan of processes ended"
            time.sleep(0.01)
        (finding,) = mine()
        key = finding["key"]
        assert service.scan_count == scans  # the slowed scan is still running
        source.slow.clear()
        # The slowed scan ends without the new process (it listed them before): still open.
        assert service.wait_for_scans(scans + 1, 60)
        assert [f["key"] for f in mine()] == [key]
        # The next scan of processes confirms it: one finding, the same key, announced once.
        service.request_scan("process")
        deadline = time.monotonic() + 60
        while not any(key in new for new in deltas):
            assert time.monotonic() < deadline, "no scan confirmed the finding"
            time.sleep(0.05)
        assert [f["key"] for f in service.findings() if f["key"] == key] == [key]
        _, events = service.events.wait(since, 0)
        announced = [e for e in events if e.kind == "finding-new" and e.data["key"] == key]
        assert len(announced) == 1
        proc.kill()
        proc.wait()
        proc = None
        deadline = time.monotonic() + 60
        while any(f["key"] == key for f in service.findings()):
            assert time.monotonic() < deadline, "the finding stayed open after the process exited"
            time.sleep(0.05)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        service.stop()


def _mount(what: list[str], where: Path) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    return (
        subprocess.run(["mount", *what, str(where)], capture_output=True, timeout=60).returncode
        == 0
    )


def test_filesystems_mounted_after_the_guard_started_are_guarded(
    tmpfs: Path, tmp_path: Path
) -> None:
    """A USB stick or /run/user/UID is a new mount: the guard follows the mount table and
    marks each mount under its paths, so a deny-listed tool on a filesystem mounted after the
    guard started (a tmpfs and a loop-mounted ext4 image, both made by the test, inside the
    test's own tmpfs) is refused with EPERM, and an unrelated program there runs."""
    paths = AgentPaths.resolve(Mode.SYSTEM, tmp_path / "state")
    settings = Settings(exec_blocking="block", exec_guard_mounts=str(tmpfs), process_poll_s=60)
    service = AgentService(settings, paths, live_scanner(_test_catalogue()))
    blocking = ExecBlocking(service, fallback=lambda: "monitor")
    blocking.start()
    stick, image = tmpfs / "media" / "stick", tmpfs / "media" / "usb"
    mounted: list[Path] = []
    try:
        assert service.status()["exec_blocking"]["active"]
        assert _mount(["-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs"], stick)
        mounted.append(stick)
        disk = tmp_path / "usb.img"
        with disk.open("wb") as fh:
            fh.truncate(16 * 1024 * 1024)
        made = subprocess.run(["mkfs.ext4", "-q", "-F", str(disk)], capture_output=True, timeout=60)
        if made.returncode == 0 and _mount(["-o", "loop", str(disk)], image):
            mounted.append(image)
        for where in mounted:
            assert os.stat(where).st_dev != os.stat(tmpfs).st_dev  # a mount of its own
            tool = _place(TOOL_SOURCE, where / "tools" / "dumper")
            other = _place(OTHER_SOURCE, where / "echo")
            deadline = time.monotonic() + 30
            while str(where) not in service.status()["exec_blocking"]["marked"]:
                assert time.monotonic() < deadline, service.status()["exec_blocking"]
                time.sleep(0.05)
            with pytest.raises(PermissionError) as info:
                _run(tool)
            assert info.value.errno == errno.EPERM
            assert _run(other) == 0
        assert mounted == [stick, image] or made.returncode != 0, "no loop image: " + str(made)
    finally:
        for where in reversed(mounted):
            subprocess.run(["umount", "-l", str(where)], timeout=30, check=False)
        blocking.stop()


def test_mount_table_lines_and_paths_under_the_guarded_ones() -> None:
    text = (
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        "97 22 0:45 / /media/li\\040lei/U\\134disk rw,nosuid shared:50 - vfat /dev/sdb1 rw\n"
        "garbage\n"
    )
    assert parse_mountinfo(text) == {22: "/", 97: "/media/li lei/U\\disk"}
    assert under("/media/li lei/U\\disk", ["/media"]) and under("/media", ["/media/"])
    assert not under("/mediax/stick", ["/media"]) and not under("/", ["/media"])
    assert under("/anything", ["/"])


def test_a_program_started_again_while_its_finding_is_open_is_announced_at_once(
    tmp_path: Path,
) -> None:
    """The same forbidden program started a second time while the finding of its first run is
    still open: the finding stays the one finding, and the tray is told at once that it was
    started again (`finding-seen` naming the new process, within 2 s), once per process — the
    scan of processes that follows does not tell it again, nor about the first run."""
    service = _small_live_service(tmp_path, PsutilProcessSource())
    service.settings = replace(service.settings, process_poll_s=60)  # exec events, not polls
    service.start()
    exe = tmp_path / "WeChatMultiOpen"
    shutil.copy("/bin/sleep", exe)
    procs: list[subprocess.Popen[bytes]] = []

    def event_naming(pid: int, since: int, within: float) -> tuple[str, str] | None:
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            seq, events = service.events.wait(since, left)
            for e in events:
                if e.data.get("pid") == pid:
                    return e.kind, str(e.data["key"])
            since = seq
        return None

    try:
        assert service.wait_for_scans(1, 300)
        if service.status()["process_events"] != "netlink":
            pytest.skip(f"no kernel process events: {service.status()['process_events_reason']}")
        procs.append(subprocess.Popen([str(exe), "60"]))
        deadline = time.monotonic() + 15
        while not (
            keys := [
                f["key"]
                for f in service.findings()
                if any(ev.get("pid") == procs[0].pid for ev in f["evidence"])
            ]
        ):
            assert time.monotonic() < deadline, "no finding for the first start"
            time.sleep(0.02)
        (key,) = keys  # open: its program runs
        since = service.events.last_seq
        t0 = time.monotonic()
        procs.append(subprocess.Popen([str(exe), "60"]))
        again = event_naming(procs[1].pid, since, 2.0)
        elapsed = time.monotonic() - t0
        assert again == ("finding-seen", key), f"no event for the second start in {elapsed:.2f} s"
        assert [f["key"] for f in service.findings() if f["key"] == key] == [key]
        # A scan of the processes after both started: nothing is announced a second time.
        scans = service.scan_count
        service.request_scan("process")
        assert service.wait_for_scans(scans + 1, 60)
        _, events = service.events.wait(since, 0)
        mine = {p.pid for p in procs}  # other tests on this machine may start such programs
        seen = [e.data["pid"] for e in events if e.kind == "finding-seen"]
        assert [pid for pid in seen if pid in mine] == [procs[1].pid], seen
        assert not [e for e in events if e.kind == "finding-new" and e.data["key"] == key]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        service.stop()


def test_a_scan_that_listed_before_a_second_start_keeps_that_process_as_evidence(
    tmp_path: Path,
) -> None:
    """The program started again while a slow scan of processes runs (it listed them before
    the start): when that scan ends, the finding still names the new process (the scan does
    not overwrite evidence recorded after its listing); the tray reads it at once."""
    source = _SlowProcessSource(hold_s=4.0)
    service = _small_live_service(tmp_path, source)
    service.start()
    exe = tmp_path / "WeChatMultiOpen"
    shutil.copy("/bin/sleep", exe)
    procs: list[subprocess.Popen[bytes]] = []

    def names(pid: int) -> bool:
        return any(ev.get("pid") == pid for f in service.findings() for ev in f["evidence"])

    try:
        assert service.wait_for_scans(1, 300)
        if service.status()["process_events"] != "netlink":
            pytest.skip(f"no kernel process events: {service.status()['process_events_reason']}")
        procs.append(subprocess.Popen([str(exe), "60"]))
        deadline = time.monotonic() + 15
        while not names(procs[0].pid):
            assert time.monotonic() < deadline, "no finding for the first start"
            time.sleep(0.02)
        source.slow.set()
        scans = service.scan_count
        service.request_scan("periodic")
        assert source.listed.wait(60), "the slowed scan did not start"
        procs.append(subprocess.Popen([str(exe), "60"]))
        deadline = time.monotonic() + 3
        while not names(procs[1].pid):
            assert time.monotonic() < deadline, "no evidence of the second start"
            time.sleep(0.02)
        source.slow.clear()
        assert service.wait_for_scans(scans + 1, 60)  # the slowed scan has ended
        assert names(procs[1].pid), service.findings()
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        service.stop()
