"""`AgentClient`: the typed agent API over the local endpoint, for the tray and the CLI.

The endpoint is a Unix socket on Linux and macOS and a named pipe on Windows
(`agent.ipc_pipe`); the conversation is the same JSON lines either way."""

from __future__ import annotations

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
                    self._disconnect()
                    if attempt == 2:
                        raise AgentNotRunning(str(self._paths[0])) from None
            raise AssertionError("unreachable")

    def _roundtrip(self, op: str, args: dict[str, Any]) -> Any:
        msg_id = next(self._ids)
        payload = {"v": PROTOCOL_VERSION, "id": msg_id, "op": op, "args": args}
        self._file.write(json.dumps(payload, ensure_ascii=False).encode("utf-8") + b"\n")
        self._file.flush()
        line = self._file.readline()
        if not line:
            raise ConnectionError("the agent closed the connection")
        reply = json.loads(line)
        if not reply.get("ok"):
            err = reply.get("error") or {}
            raise AgentError(
                str(err.get("code", "error")), str(err.get("zh", "")), str(err.get("en", ""))
            )
        return reply.get("result")
