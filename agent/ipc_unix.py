"""The agent's endpoint on Linux and macOS: a Unix socket, one thread per admitted connection.

Who connects comes from the socket's peer credentials, read at accept time, so a connection
over its account's quota is refused at once (one error line, then closed) without a thread;
the conversation itself is `agent.ipc.Connection`, shared with the Windows named pipe.
"""

from __future__ import annotations

import sys

assert sys.platform != "win32"

import contextlib
import ctypes
import logging
import os
import socket
import socketserver
import struct
import threading
from pathlib import Path
from typing import Any

from agent.api import AgentError
from agent.ipc import Admission, Connection, Dispatcher, IpcLimits, Peer, refusal_line

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


class SocketChannel:
    """A connected Unix socket as an `agent.ipc.Channel`: every read and write has a deadline."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def recv(self, size: int, timeout: float, /) -> bytes:
        self.sock.settimeout(max(timeout, 0.001))
        return self.sock.recv(size)

    def send(self, data: bytes, timeout: float, /) -> None:
        self.sock.settimeout(max(timeout, 0.001))  # for the whole sendall, not per chunk
        self.sock.sendall(data)


class IpcServer(socketserver.UnixStreamServer):
    """The Unix-socket endpoint (Linux, macOS)."""

    allow_reuse_address = True
    # Refusals are answered on the accepting thread at once; a deeper backlog keeps a burst of
    # them from making a legitimate connect() wait behind it.
    request_queue_size = 128

    def __init__(
        self,
        path: Path,
        dispatcher: Dispatcher,
        world_connectable: bool,
        limits: IpcLimits | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.closing = False
        self.socket_path = path
        self.admission = Admission(limits or IpcLimits())
        return_large_buffers_to_the_os()
        _prepare_socket_path(path)
        super().__init__(str(path), socketserver.BaseRequestHandler)
        # System mode: every local user may connect (the uid comes from the kernel);
        # user mode: only the owner.
        os.chmod(path, 0o666 if world_connectable else 0o600)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Runs on the accepting thread: nothing here may wait on the client.
        sock: socket.socket = request
        try:
            peer = peer_of(sock)
        except OSError as exc:
            log.warning("refused a connection without peer credentials: %s", exc)
            self.shutdown_request(sock)
            return
        try:
            self.admission.enter(peer)
        except AgentError as refused:
            with contextlib.suppress(OSError):
                sock.setblocking(False)  # a fresh socket's buffer takes one line at once
                sock.send(refusal_line(refused))
            self.shutdown_request(sock)
            return
        try:
            threading.Thread(
                target=self._serve_one, args=(sock, peer), name="wxguard-ipc-conn", daemon=True
            ).start()
        except RuntimeError:  # no thread to be had: refuse rather than die
            self.admission.leave(peer)
            self.shutdown_request(sock)

    def _serve_one(self, sock: socket.socket, peer: Peer) -> None:
        try:
            Connection(
                SocketChannel(sock), peer, self.dispatcher, lambda: self.closing, self.admission
            ).serve()
        except OSError:
            pass  # the client went away mid-read
        finally:
            self.admission.leave(peer)
            self.shutdown_request(sock)

    def close(self) -> None:
        self.closing = True
        self.shutdown()
        self.server_close()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()


# glibc <malloc.h>: mallopt(M_MMAP_THRESHOLD, bytes).
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 256 * 1024


def return_large_buffers_to_the_os() -> bool:
    """Have glibc's malloc serve every block of 256 KiB or more with its own mmap, so that a
    large request's buffers go back to the OS when freed. Process-wide; True if it took effect.

    Why: glibc raises its mmap threshold to the size of each large block freed (up to 32 MiB),
    after which such blocks come from per-thread arenas that keep their memory. Eight 16 MiB
    requests on eight connection threads then left ~150 MiB resident, one after another, though
    only one was ever alive; with a fixed threshold, ~24 MiB."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD))
    except (OSError, AttributeError):  # not glibc (e.g. no mallopt): nothing to tune
        return False


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
