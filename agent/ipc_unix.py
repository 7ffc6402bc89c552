"""The agent's endpoint on Linux and macOS: a Unix socket, one thread per connection.

Who connects comes from the socket's peer credentials; the conversation itself is
`agent.ipc.Connection`, shared with the Windows named pipe.
"""

from __future__ import annotations

import sys

assert sys.platform != "win32"

import contextlib
import logging
import os
import socket
import socketserver
import struct
import threading
from pathlib import Path
from typing import Any

from agent.api import AgentError
from agent.ipc import MAX_CONNECTIONS, Connection, Dispatcher, Peer

log = logging.getLogger("wxguard.agent.ipc")


# macOS <sys/un.h>, <sys/ucred.h>: getsockopt(SOL_LOCAL, LOCAL_PEERCRED) gives a struct xucred
# {u_int cr_version; uid_t cr_uid; short cr_ngroups; gid_t cr_groups[16]}; LOCAL_PEERPID, a pid.
_SOL_LOCAL = 0
_LOCAL_PEERCRED = 1
_LOCAL_PEERPID = 2
_XUCRED_SIZE = 76


def peer_of(sock: socket.socket) -> Peer:
    """Who is on the other end of a Unix socket, as the kernel says (never as the message says)."""
    if hasattr(socket, "SO_PEERCRED"):
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _gid = struct.unpack("3i", raw)
        return Peer(uid, pid, admin=uid == 0)
    if sys.platform == "darwin":  # pragma: no cover - macOS
        raw = sock.getsockopt(_SOL_LOCAL, _LOCAL_PEERCRED, _XUCRED_SIZE)
        _version, uid = struct.unpack_from("=II", raw)
        pid = struct.unpack("=i", sock.getsockopt(_SOL_LOCAL, _LOCAL_PEERPID, 4))[0]
        return Peer(uid, pid, admin=uid == 0)
    raise OSError("peer credentials are not available on this platform")


class _Handler(socketserver.StreamRequestHandler):
    server: IpcServer

    def handle(self) -> None:
        try:
            peer = peer_of(self.request)
        except OSError as exc:
            log.warning("refused a connection without peer credentials: %s", exc)
            return
        Connection(
            self.rfile, self.wfile, peer, self.server.dispatcher, lambda: self.server.closing
        ).serve()


class IpcServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The Unix-socket endpoint (Linux, macOS)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, path: Path, dispatcher: Dispatcher, world_connectable: bool) -> None:
        self.dispatcher = dispatcher
        self.closing = False
        self.socket_path = path
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        _prepare_socket_path(path)
        super().__init__(str(path), _Handler)
        # System mode: every local user may connect (the uid comes from the kernel);
        # user mode: only the owner.
        os.chmod(path, 0o666 if world_connectable else 0o600)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning("too many IPC connections; refusing one")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def close(self) -> None:
        self.closing = True
        self.shutdown()
        self.server_close()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()


def _prepare_socket_path(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except OSError:
        path.unlink()  # a stale socket from an agent that died
        return
    finally:
        probe.close()
    raise AgentError(
        "already-running",
        f"另一个 wxguard 代理已在运行（{path}）。",
        f"Another wxguard agent is already running ({path}).",
    )
