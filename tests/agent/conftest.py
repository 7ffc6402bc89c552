"""Agent test helpers: an in-process service over an image, and a real agent process."""

from __future__ import annotations

import os
import shutil
import socket as socket_module
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.config import Settings
from agent.ipc import Dispatcher
from agent.ipc_unix import IpcServer
from agent.paths import AgentPaths, Mode
from agent.service import AgentService
from checks.api import image_scanner
from tests.conftest import script


@dataclass
class InProcessAgent:
    service: AgentService
    server: IpcServer
    socket: Path
    image: Path


def make_image(root: Path) -> Path:
    site = root / "home" / "alice" / ".local" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (root / "var" / "lib" / "dpkg").mkdir(parents=True)
    (root / "var" / "lib" / "dpkg" / "status").write_text("")
    return root


@pytest.fixture
def in_process_agent(tmp_path: Path) -> Iterator[InProcessAgent]:
    image = make_image(tmp_path / "image")
    # Outside pytest's private tmp folder, so that another local user can reach the socket.
    shared = Path(tempfile.mkdtemp(prefix="wxguard-ipc-", dir="/tmp"))
    paths = AgentPaths.resolve(Mode.SYSTEM, shared / "state")
    settings = Settings(watch_debounce_s=0.05, process_poll_s=0.5)
    service = AgentService(settings, paths, image_scanner(str(image), "linux"))
    server = IpcServer(paths.socket, Dispatcher(service), world_connectable=True)
    # The socket's folder must be reachable by the unprivileged user in the peer test.
    for folder in (shared, paths.state):
        folder.chmod(0o755)
    service.start()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    assert service.wait_for_scans(1, 30)
    try:
        yield InProcessAgent(service, server, paths.socket, image)
    finally:
        server.close()
        service.stop()
        shutil.rmtree(shared, ignore_errors=True)


@dataclass
class AgentProcess:
    proc: subprocess.Popen[bytes]
    home: Path
    socket: Path
    log: Path


def start_agent(
    home: Path, extra_env: dict[str, str] | None = None, homes: Path | None = None
) -> AgentProcess:
    """A real agent process in user mode, its state in `home`. With `homes`, the agent alone
    sees that folder as /home (a private mount namespace; needs root): the employees' folders
    there are real to it, and no other process on the machine meets them."""
    home.mkdir(parents=True, exist_ok=True)
    log = home / "agent.stderr"
    env = dict(os.environ, WXGUARD_HOME=str(home), **(extra_env or {}))
    command = [script("wxguard"), "agent", "run", "--mode", "user"]
    if homes is not None:
        mount = 'mount --bind "$0" /home && exec "$@"'
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount]
        command += [str(homes), script("wxguard"), "agent", "run", "--mode", "user"]
    with log.open("wb") as fh:
        proc = subprocess.Popen(command, env=env, stderr=fh, stdout=fh)
    socket = home / "agent.sock"
    deadline = time.monotonic() + 30
    # Ready when it accepts a connection: the socket file appears at bind(), before listen().
    while not _accepts(socket):
        if proc.poll() is not None:
            raise AssertionError(f"agent exited: {log.read_text()}")
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return AgentProcess(proc, home, socket, log)


def _accepts(path: Path) -> bool:
    if not path.exists():
        return False
    probe = socket_module.socket(socket_module.AF_UNIX, socket_module.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


@pytest.fixture
def agent_process(tmp_path: Path) -> Iterator[AgentProcess]:
    agent = start_agent(tmp_path / "agent-home")
    try:
        yield agent
    finally:
        if agent.proc.poll() is None:
            agent.proc.terminate()
            try:
                agent.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                agent.proc.kill()
                agent.proc.wait()
