"""`wxguard agent run`: wires settings, logging, the service and the socket, runs until a signal."""

from __future__ import annotations

import logging
import logging.handlers
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from agent import config
from agent.ipc import Dispatcher, IpcServer
from agent.paths import AgentPaths, Mode
from agent.service import AgentService
from checks.api import live_scanner
from checks.catalogue import load_builtin

log = logging.getLogger("wxguard.agent")


def setup_logging(paths: AgentPaths, level: str) -> None:
    """Rotating log file for IT (5 × 5 MB) plus stderr for the service manager's journal."""
    paths.logs.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    file_handler = logging.handlers.RotatingFileHandler(
        paths.logs / "agent.log", maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8"
    )
    file_handler.setFormatter(fmt)
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    root = logging.getLogger("wxguard")
    root.handlers[:] = [file_handler, stream]
    root.setLevel(level)
    root.propagate = False


def run(
    mode: Mode | None = None, home: Path | None = None, ready: threading.Event | None = None
) -> int:
    paths = AgentPaths.resolve(mode, home)
    paths.state.mkdir(parents=True, exist_ok=True)
    if paths.mode is Mode.SYSTEM:
        os.chmod(paths.state, 0o700)
    managed = config.default_managed_path() if paths.mode is Mode.SYSTEM or home is None else None
    settings = config.load(
        managed_path=managed or Path("/nonexistent/agent.toml"), user_path=paths.user_config
    )
    setup_logging(paths, settings.log_level)
    service = AgentService(settings, paths, live_scanner(load_builtin()))
    server = IpcServer(
        paths.socket, Dispatcher(service), world_connectable=paths.mode is Mode.SYSTEM
    )
    stop = threading.Event()

    def _signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    service.start()
    server_thread = threading.Thread(target=server.serve_forever, name="wxguard-ipc", daemon=True)
    server_thread.start()
    log.info("listening on %s", paths.socket)
    if ready is not None:
        ready.set()
    stop.wait()
    server.close()
    service.stop()
    return 0
