"""`AgentClient`: the typed agent API over the local endpoint, for the tray and the CLI.

The endpoint is a Unix socket on Linux and macOS and a named pipe on Windows
(`agent.ipc_pipe`); the conversation is the same JSON lines either way."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.api import PROTOCOL_VERSION, AgentError, AgentNotRunning, TypedCalls
from agent.paths import socket_candidates


class AgentDisconnected(AgentError):
    """The agent accepted the connection but closed it without answering, twice."""

    def __init__(self, where: str) -> None:
        super().__init__(
            "disconnected",
            f"wxguard 代理（{where}）接受了连接但未作答就关闭了它。请重试；如持续出现，请联系 IT。",
            f"The wxguard agent ({where}) accepted the connection but closed it without "
            "answering. Try again; contact IT if this persists.",
        )


class AgentClient(TypedCalls):
    """One connection to the running agent; reconnects once if the agent restarted."""

    def __init__(self, socket_path: Path | None = None, timeout: float = 130.0) -> None:
        self._paths = [socket_path] if socket_path else socket_candidates()
        self._timeout = timeout
        self._file: Any = None  # write/flush/readline over the connection; None if closed
        self._close: Callable[[], None] | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._disconnect()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _disconnect(self) -> None:
        if self._close is not None:
            try:
                # Closing flushes: a request the agent never read must not raise here.
                with contextlib.suppress(OSError):
                    self._close()
            finally:
                self._close = None
                self._file = None

    def _open(self, path: Path) -> None:
        if sys.platform == "win32":
            from agent.ipc_pipe import PipeClientFile, open_pipe

            pipe = PipeClientFile(open_pipe(str(path), timeout=min(self._timeout, 5.0)))
            self._file, self._close = pipe, pipe.close
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self._timeout)
        try:
            sock.connect(str(path))
        except OSError:
            sock.close()
            raise
        stream = sock.makefile("rwb")

        def close() -> None:
            stream.close()
            sock.close()

        self._file, self._close = stream, close

    def _connect(self) -> None:
        last: OSError | None = None
        for path in self._paths:
            try:
                self._open(path)
            except OSError as exc:
                last = exc
                continue
            return
        where = ", ".join(str(p) for p in self._paths)
        raise AgentNotRunning(where if last is None else f"{where}: {last.strerror or last}")

    def call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        with self._lock:
            for attempt in (1, 2):
                if self._file is None:
                    self._connect()
                try:
                    return self._roundtrip(op, args or {})
                except (OSError, ConnectionError):
                    # The agent closes idle connections: reconnect once. Connected twice and
                    # closed twice without an answer is not "not running", and is said so.
                    self._disconnect()
                    if attempt == 2:
                        raise AgentDisconnected(str(self._paths[0])) from None
            raise AssertionError("unreachable")

    def _roundtrip(self, op: str, args: dict[str, Any]) -> Any:
        msg_id = next(self._ids)
        payload = {"v": PROTOCOL_VERSION, "id": msg_id, "op": op, "args": args}
        try:
            self._file.write(json.dumps(payload, ensure_ascii=False).encode("utf-8") + b"\n")
            self._file.flush()
        except OSError:
            # An agent that refuses the connection (too many from this account) writes why
            # and closes before reading: the reason is waiting to be read.
            line = self._pending_line()
            if line is None:
                raise
        else:
            line = self._file.readline()
        if not line:
            raise ConnectionError("the agent closed the connection")
        reply = json.loads(line)
        if not reply.get("ok"):
            err = reply.get("error") or {}
            if reply.get("id") is None and err.get("code") == "timeout":
                # Closed as idle before this request was read: the request was not run.
                raise ConnectionError("the agent closed an idle connection")
            if reply.get("id") is None:
                self._disconnect()  # refused: the agent has closed the connection
            raise AgentError(
                str(err.get("code", "error")), str(err.get("zh", "")), str(err.get("en", ""))
            )
        return reply.get("result")

    def _pending_line(self) -> bytes | None:
        try:
            line: bytes = self._file.readline()
        except (OSError, ValueError):
            return None
        return line or None
