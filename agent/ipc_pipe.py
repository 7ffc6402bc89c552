"""The agent's endpoint on Windows: a named pipe, one thread per connection (pywin32).

The same JSON-lines conversation as the Unix socket (`agent.ipc.Connection`). Security:

- The pipe's DACL (`agent.paths.pipe_security`) lets clients read and write but not create
  instances, and the first instance is created with FILE_FLAG_FIRST_PIPE_INSTANCE: nobody can
  squat the name before the service or serve a second instance beside it.
- Remote clients are rejected (PIPE_REJECT_REMOTE_CLIENTS).
- Who the client is comes from its token: the server impersonates it at identification level
  (the client opens with SECURITY_IDENTIFICATION, so the agent can read the token but cannot
  act as the user), reads the SID and the Administrators membership, and reverts. Windows
  allows that only after a first read from the pipe, so the first bytes are read before.
- A client connecting to the system pipe checks that the server process runs as LocalSystem,
  so a user-level process cannot pose as the agent even if the service is stopped.

Bounds (`agent.ipc.IpcLimits`, as on the Unix socket): a connection is counted against the
account that owns the client process (`GetNamedPipeClientProcessId`, then that process's
token) as soon as it connects, before any byte is read, so one account cannot hold more than
its quota, even with connections that never send; a refused client reads one error line.
Synchronous pipe reads and writes have no timeout of their own: `_Deadlines` cancels a
connection thread's blocking ReadFile / WriteFile (CancelSynchronousIo) when its deadline
passes, which is how the idle timeout reaches a client that connects and sends nothing.
"""

from __future__ import annotations

import sys

assert sys.platform == "win32"

import contextlib
import ctypes
import io
import logging
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import ntsecuritycon
import pywintypes
import win32api
import win32con
import win32file
import win32pipe
import win32security
import winerror

from agent import windows_security
from agent.api import AgentError
from agent.ipc import Admission, Connection, Dispatcher, IpcLimits, Peer, refusal_line
from agent.paths import SYSTEM_PIPE, pipe_security

if TYPE_CHECKING:
    from typing_extensions import Buffer

log = logging.getLogger("wxguard.agent.ipc")

PIPE_BUFFER = 64 * 1024
# What a client asks for: read, and write data. Not GENERIC_WRITE, which includes
# FILE_CREATE_PIPE_INSTANCE (= FILE_APPEND_DATA) that the pipe's DACL denies to clients.
CLIENT_ACCESS = win32file.GENERIC_READ | ntsecuritycon.FILE_WRITE_DATA
_EOF_ERRORS = (
    winerror.ERROR_BROKEN_PIPE,
    winerror.ERROR_PIPE_NOT_CONNECTED,
    winerror.ERROR_NO_DATA,
)


class PipeStream(io.RawIOBase):
    """A pipe handle as a raw byte stream, for io.BufferedReader / BufferedWriter.

    `prefix` holds bytes already read (the server reads before it may identify the client)."""

    def __init__(self, handle: int, prefix: bytes = b"") -> None:
        super().__init__()
        self.handle = handle
        self._prefix = prefix

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        try:
            _status, data = win32file.ReadFile(self.handle, len(buffer))
        except pywintypes.error as exc:
            if exc.winerror in _EOF_ERRORS:
                return 0  # the other end closed
            raise OSError(exc.winerror, exc.strerror) from exc
        buffer[: len(data)] = data
        return len(data)

    def write(self, data: Buffer, /) -> int:
        try:
            _status, written = win32file.WriteFile(self.handle, bytes(data))
        except pywintypes.error as exc:
            raise OSError(exc.winerror, exc.strerror) from exc
        return written


def _streams(stream: PipeStream) -> tuple[io.BufferedReader, io.BufferedWriter]:
    return io.BufferedReader(stream, PIPE_BUFFER), io.BufferedWriter(stream, PIPE_BUFFER)


def identify_client(handle: int) -> Peer:
    """The client's SID and rights from its own token (the caller must have read from the pipe
    first: Windows refuses to impersonate before)."""
    pid = int(win32pipe.GetNamedPipeClientProcessId(handle))
    win32security.ImpersonateNamedPipeClient(handle)
    try:
        # openAsSelf: the access check for opening the token uses the agent's own identity.
        token = win32security.OpenThreadToken(
            win32api.GetCurrentThread(), win32security.TOKEN_QUERY, True
        )
    finally:
        win32security.RevertToSelf()
    try:
        return Peer(
            windows_security.token_user_sid(token),
            pid,
            admin=windows_security.token_is_administrator(token),
        )
    finally:
        win32api.CloseHandle(token)


class _Deadlines:
    """Cancels a thread's blocking pipe I/O when its deadline passes (one watchdog thread)."""

    def __init__(self, stopping: threading.Event) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, float] = {}  # OpenThread handle -> deadline (monotonic s)
        self._stopping = stopping
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def within(self, thread: int, timeout: float) -> Iterator[None]:
        """The I/O `thread` (an OpenThread handle of the calling thread) does inside the block
        is cancelled (ERROR_OPERATION_ABORTED) once `timeout` s have passed."""
        with self._lock:
            self._waiting[thread] = time.monotonic() + max(timeout, 0.0)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="wxguard-ipc-deadlines", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._waiting.pop(thread, None)

    def _run(self) -> None:
        cancel = ctypes.windll.kernel32.CancelSynchronousIo
        while not self._stopping.wait(0.2):
            now = time.monotonic()
            with self._lock:
                for thread, deadline in list(self._waiting.items()):
                    # Zero (ERROR_NOT_FOUND) while the thread is not inside its I/O yet: tried
                    # again on the next round, until the thread leaves `within`.
                    if deadline <= now and cancel(thread):
                        self._waiting[thread] = float("inf")


class PipeChannel:
    """A server-side pipe handle as an `agent.ipc.Channel`. Made on the thread that uses it."""

    def __init__(self, handle: int, deadlines: _Deadlines) -> None:
        self.handle = handle
        self._deadlines = deadlines
        # Detached: a PyHANDLE would close itself when collected; `close` closes it.
        self._thread = int(
            win32api.OpenThread(
                win32con.THREAD_TERMINATE, False, threading.get_native_id()
            ).Detach()
        )
        self._prefix = b""

    def unread(self, data: bytes) -> None:
        self._prefix = data + self._prefix

    def recv(self, size: int, timeout: float, /) -> bytes:
        if self._prefix:
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        try:
            with self._deadlines.within(self._thread, timeout):
                _status, data = win32file.ReadFile(self.handle, size)
        except pywintypes.error as exc:
            if exc.winerror == winerror.ERROR_OPERATION_ABORTED:
                raise TimeoutError("the client sent no complete request in time") from exc
            if exc.winerror in _EOF_ERRORS:
                return b""  # the other end closed
            raise OSError(exc.winerror, exc.strerror) from exc
        return bytes(data)

    def send(self, data: bytes, timeout: float, /) -> None:
        try:
            with self._deadlines.within(self._thread, timeout):
                win32file.WriteFile(self.handle, data)
        except pywintypes.error as exc:
            if exc.winerror == winerror.ERROR_OPERATION_ABORTED:
                raise TimeoutError("the client does not read its replies") from exc
            raise OSError(exc.winerror, exc.strerror) from exc

    def close(self) -> None:
        win32api.CloseHandle(self._thread)


def client_process_peer(handle: int) -> Peer:
    """Whom a just-connected client counts against, before it sends anything: the owner of the
    client process. A process whose token the agent cannot read counts as one shared account."""
    pid = int(win32pipe.GetNamedPipeClientProcessId(handle))
    try:
        process = win32api.OpenProcess(win32con.PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    except pywintypes.error:
        return Peer("unknown", pid, admin=False)
    try:
        token = win32security.OpenProcessToken(process, win32con.TOKEN_QUERY)
    except pywintypes.error:
        return Peer("unknown", pid, admin=False)
    finally:
        win32api.CloseHandle(process)
    try:
        return Peer(
            windows_security.token_user_sid(token),
            pid,
            admin=windows_security.token_is_administrator(token),
        )
    finally:
        win32api.CloseHandle(token)


class PipeServer:
    """Accepts connections on `name` until closed; each gets a thread and a `Connection`."""

    def __init__(
        self,
        name: str,
        dispatcher: Dispatcher,
        world_connectable: bool,
        limits: IpcLimits | None = None,
    ) -> None:
        self.name = name
        self.dispatcher = dispatcher
        self.closing = False
        self.admission = Admission(limits or IpcLimits())
        self._stopping = threading.Event()
        self._deadlines = _Deadlines(self._stopping)
        owner = windows_security.current_user_sid()
        self._attributes = win32security.SECURITY_ATTRIBUTES()
        self._attributes.SECURITY_DESCRIPTOR = (
            win32security.ConvertStringSecurityDescriptorToSecurityDescriptor(
                pipe_security(world_connectable, owner), win32security.SDDL_REVISION_1
            )
        )
        self._listening = self._instance(first=True)

    def _instance(self, first: bool) -> int:
        open_mode = win32pipe.PIPE_ACCESS_DUPLEX
        if first:
            open_mode |= win32pipe.FILE_FLAG_FIRST_PIPE_INSTANCE
        try:
            return win32pipe.CreateNamedPipe(
                self.name,
                open_mode,
                win32pipe.PIPE_TYPE_BYTE
                | win32pipe.PIPE_READMODE_BYTE
                | win32pipe.PIPE_WAIT
                | win32pipe.PIPE_REJECT_REMOTE_CLIENTS,
                win32pipe.PIPE_UNLIMITED_INSTANCES,
                PIPE_BUFFER,
                PIPE_BUFFER,
                0,
                self._attributes,
            )
        except pywintypes.error as exc:
            if first and exc.winerror in (winerror.ERROR_ACCESS_DENIED, winerror.ERROR_PIPE_BUSY):
                raise AgentError(
                    "already-running",
                    f"另一个 wxguard 代理已在运行（{self.name}）。",
                    f"Another wxguard agent is already running ({self.name}).",
                ) from exc
            raise

    def serve_forever(self) -> None:
        while not self.closing:
            handle = self._listening
            try:
                win32pipe.ConnectNamedPipe(handle, None)
            except pywintypes.error as exc:
                # ERROR_PIPE_CONNECTED: the client came between CreateNamedPipe and now.
                if exc.winerror != winerror.ERROR_PIPE_CONNECTED:
                    log.warning("named pipe connect failed: %s", exc.strerror)
                    win32file.CloseHandle(handle)
                    self._listening = self._next_instance()
                    continue
            self._listening = self._next_instance()
            if self.closing:
                win32file.CloseHandle(handle)
                break
            try:
                owner = client_process_peer(handle)
                self.admission.enter(owner)
            except (AgentError, pywintypes.error) as refused:
                self._refuse(handle, refused)
                continue
            threading.Thread(
                target=self._serve_one,
                args=(handle, owner),
                name="wxguard-ipc-conn",
                daemon=True,
            ).start()
        win32file.CloseHandle(self._listening)

    def _next_instance(self) -> int:
        """The next listening instance. If Windows cannot make one (out of resources), keep
        trying: the tray reconnects by itself, and an endpoint that silently died would not."""
        delay = 0.1
        while True:
            try:
                return self._instance(first=False)
            except pywintypes.error as exc:
                log.error("cannot create a named pipe instance (%s); retrying", exc.strerror)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _refuse(self, handle: int, refused: AgentError | pywintypes.error) -> None:
        """Runs on the accepting thread: one line into the pipe's empty buffer (no wait), and
        close without DisconnectNamedPipe, which would discard the line before it is read."""
        if isinstance(refused, AgentError):
            with contextlib.suppress(pywintypes.error):
                win32file.WriteFile(handle, refusal_line(refused))
        else:
            log.warning("refused a pipe client that could not be identified: %s", refused)
        win32file.CloseHandle(handle)

    def _serve_one(self, handle: int, owner: Peer) -> None:
        channel: PipeChannel | None = None
        try:
            channel = PipeChannel(handle, self._deadlines)
            try:
                first = channel.recv(PIPE_BUFFER, self.admission.limits.idle_timeout_s)
                if not first:
                    return
                channel.unread(first)
                peer = identify_client(handle)
            except (OSError, pywintypes.error) as exc:
                # TimeoutError: connected and sent nothing; else the client left (or close()).
                if not isinstance(exc, OSError) and exc.winerror not in _EOF_ERRORS:
                    log.warning("refused a pipe client that could not be identified: %s", exc)
                return
            with contextlib.suppress(OSError):
                Connection(
                    channel, peer, self.dispatcher, lambda: self.closing, self.admission
                ).serve()
            # Let the client read the last reply before the pipe goes: DisconnectNamedPipe
            # would discard what it has not read yet.
            with contextlib.suppress(pywintypes.error):
                win32file.FlushFileBuffers(handle)
        finally:
            with contextlib.suppress(pywintypes.error):
                win32pipe.DisconnectNamedPipe(handle)
            win32file.CloseHandle(handle)
            if channel is not None:
                channel.close()
            self.admission.leave(owner)

    def close(self) -> None:
        self.closing = True
        self._stopping.set()
        # serve_forever sits in a blocking ConnectNamedPipe: one connection wakes it.
        with contextlib.suppress(OSError, pywintypes.error):
            win32file.CloseHandle(open_pipe(self.name, timeout=1.0, verify_server=False))


def open_pipe(name: str, timeout: float, verify_server: bool = True) -> int:
    """A client handle on the agent's pipe; OSError if there is none (or it is not the agent)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            handle = win32file.CreateFile(
                name,
                CLIENT_ACCESS,
                0,
                None,
                win32file.OPEN_EXISTING,
                win32con.SECURITY_SQOS_PRESENT | win32file.SECURITY_IDENTIFICATION,
                None,
            )
            break
        except pywintypes.error as exc:
            remaining = deadline - time.monotonic()
            if exc.winerror == winerror.ERROR_PIPE_BUSY and remaining > 0:
                with contextlib.suppress(pywintypes.error):
                    win32pipe.WaitNamedPipe(name, int(min(remaining, 5.0) * 1000))
                continue
            raise OSError(exc.winerror, exc.strerror, name) from exc
    raw = int(handle.Detach())
    if verify_server and name.lower() == SYSTEM_PIPE.lower():
        server_pid = int(win32pipe.GetNamedPipeServerProcessId(raw))
        owner = windows_security.process_owner_sid(server_pid)
        if owner != windows_security.LOCAL_SYSTEM:
            win32file.CloseHandle(raw)
            raise OSError(
                winerror.ERROR_ACCESS_DENIED,
                f"{name} is served by pid {server_pid} as {owner}, not by the wxguard service",
                name,
            )
    return raw


class PipeClientFile:
    """What `agent.client.AgentClient` needs of a connection: write, flush, readline, close."""

    def __init__(self, handle: int) -> None:
        self._handle = handle
        self._reader, self._writer = _streams(PipeStream(handle))

    def write(self, data: bytes) -> int:
        return self._writer.write(data)

    def flush(self) -> None:
        self._writer.flush()

    def readline(self, limit: int = -1) -> bytes:
        return self._reader.readline(limit)

    def close(self) -> None:
        win32file.CloseHandle(self._handle)
