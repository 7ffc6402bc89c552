"""Serve any AgentAPI object over the agent's real wire format (JSON lines on a Unix socket),
so the tray can run in a separate process with the real `AgentClient`."""

from __future__ import annotations

import json
import socketserver
import sys
import threading
from pathlib import Path
from typing import Any

from agent.api import PROTOCOL_VERSION, AgentError


class _Handler(socketserver.StreamRequestHandler):
    server: WireServer

    def handle(self) -> None:
        while True:
            line = self.rfile.readline()
            if not line:
                return
            msg = json.loads(line)
            body: dict[str, Any] = {"v": PROTOCOL_VERSION, "id": msg.get("id")}
            try:
                body["result"] = self.server.dispatch(msg["op"], msg.get("args") or {})
                body["ok"] = True
            except AgentError as exc:
                body["ok"] = False
                body["error"] = exc.to_json()
            self.wfile.write(json.dumps(body, ensure_ascii=False).encode() + b"\n")
            self.wfile.flush()


class WireServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, agent: Any) -> None:
        self.agent = agent
        super().__init__(str(path), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            return  # the tray went away in the middle of a long poll: not an error
        super().handle_error(request, client_address)

    def dispatch(self, op: str, args: dict[str, Any]) -> Any:
        if op == "events":
            return self.agent.wait_events(int(args.get("since", 0)), float(args.get("timeout", 1)))
        method = getattr(self.agent, op, None)
        if method is None:
            raise AgentError("unknown-op", f"未知操作：{op!r}。", f"unknown operation {op!r}.")
        return method(**args)

    def close(self) -> None:
        self.shutdown()
        self.server_close()
