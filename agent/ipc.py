"""The local endpoint the tray and the CLI talk to: versioned JSON lines.

A Unix socket on Linux and macOS; on Windows a named pipe (`agent.ipc_pipe`). The caller's
identity comes from the kernel (SO_PEERCRED / getpeereid, or the pipe client's token), never
from the message. Malformed, oversized or unknown requests get an error reply and do not
disturb the agent. The wire format is documented in docs/ipc.md.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agent import __version__
from agent.api import PROTOCOL_VERSION, AgentError, TypedCalls
from agent.credentials import CredentialsError
from agent.exchange import Caller, Exchange
from agent.outbox import OutboxError, OutboxFull
from agent.principals import UserId, current_user, current_user_is_administrator
from agent.service import AgentService

log = logging.getLogger("wxguard.agent.ipc")

MAX_MESSAGE = 16 * 1024 * 1024  # room for a report's attachments, base64-encoded
MAX_CONNECTIONS = 64
MAX_EVENT_WAIT_S = 60.0


@dataclass(frozen=True, slots=True)
class Peer:
    uid: UserId  # POSIX uid, or Windows account SID
    pid: int
    admin: bool  # root, or an elevated Windows administrator / LocalSystem


class LineReader(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


class ByteWriter(Protocol):
    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


class Endpoint(Protocol):
    """What the daemon needs of a listening endpoint, whatever its transport."""

    def serve_forever(self) -> None: ...

    def close(self) -> None: ...


def _bad(code: str, zh: str, en: str) -> AgentError:
    return AgentError(code, zh, en)


def _args(args: Any, allowed: dict[str, type | tuple[type, ...]]) -> dict[str, Any]:
    if not isinstance(args, dict):
        raise _bad("bad-request", "参数必须是对象。", "args must be an object.")
    unknown = set(args) - set(allowed)
    if unknown:
        raise _bad(
            "bad-request",
            f"未知参数：{', '.join(sorted(unknown))}。",
            f"unknown arguments: {', '.join(sorted(unknown))}.",
        )
    for key, kind in allowed.items():
        if key in args and (
            not isinstance(args[key], kind) or (isinstance(args[key], bool) and kind is not bool)
        ):
            raise _bad(
                "bad-request", f"参数 {key} 类型错误。", f"argument {key} has the wrong type."
            )
    return args


class Dispatcher:
    """Maps operations to the service. Used by the socket server and by `LocalAgent` alike."""

    def __init__(self, service: AgentService) -> None:
        self.service = service
        self._ops: dict[str, Callable[[dict[str, Any], Peer], Any]] = {
            "hello": self._hello,
            "status": self._status,
            "findings": self._findings,
            "scan_now": self._scan_now,
            "events": self._events,
        }

    def register(self, op: str, handler: Callable[[dict[str, Any], Peer], Any]) -> None:
        self._ops[op] = handler

    def attach_unavailable(self, error: AgentError) -> None:
        """Without a server exchange, its operations answer with the reason, not 'unknown'."""

        def unavailable(args: dict[str, Any], peer: Peer) -> Any:
            raise error

        for op in (
            "submit_report",
            "my_reports",
            "report_password_status",
            "policy",
            "acknowledge_policy",
        ):
            self._ops[op] = unavailable

    def attach_exchange(self, exchange: Exchange) -> None:
        """The operations that reach the server: reports, password status, policy."""

        def caller(peer: Peer) -> Caller:
            return Caller.of(peer.uid)

        def submit(args: dict[str, Any], peer: Peer) -> Any:
            a = _args(
                args,
                {
                    "category": str,
                    "summary": str,
                    "description": str,
                    "occurred_at": (str, type(None)),
                    "affected_account": str,
                    "contact": str,
                    "attachments": list,
                },
            )
            return exchange.submit_report(caller(peer), a)

        def reports(args: dict[str, Any], peer: Peer) -> Any:
            _args(args, {})
            return exchange.my_reports(caller(peer))

        def password(args: dict[str, Any], peer: Peer) -> Any:
            a = _args(args, {"accounts": list})
            return exchange.report_password_status(caller(peer), a.get("accounts"))

        def policy(args: dict[str, Any], peer: Peer) -> Any:
            _args(args, {})
            return exchange.policy(caller(peer))

        def ack(args: dict[str, Any], peer: Peer) -> Any:
            a = _args(args, {"text_version": str})
            return exchange.acknowledge_policy(caller(peer), a.get("text_version"))

        self._ops.update(
            submit_report=submit,
            my_reports=reports,
            report_password_status=password,
            policy=policy,
            acknowledge_policy=ack,
        )

    @property
    def ops(self) -> list[str]:
        return sorted(self._ops)

    def call(self, op: str, args: Any, peer: Peer) -> Any:
        handler = self._ops.get(op)
        if handler is None:
            raise _bad("unknown-op", f"未知操作：{op!r}。", f"unknown operation {op!r}.")
        try:
            return handler(args if args is not None else {}, peer)
        except OutboxFull as exc:
            raise AgentError("disk-full", exc.zh, exc.en) from exc
        except (OutboxError, CredentialsError) as exc:
            raise AgentError("storage", exc.zh, exc.en) from exc

    def _hello(self, args: Any, peer: Peer) -> dict[str, Any]:
        _args(args, {})
        return {
            "agent_version": __version__,
            "protocol": PROTOCOL_VERSION,
            "uid": peer.uid,
            "admin": peer.admin,
            "ops": self.ops,
        }

    def _status(self, args: Any, peer: Peer) -> dict[str, Any]:
        _args(args, {})
        return self.service.status()

    def _findings(self, args: Any, peer: Peer) -> list[dict[str, Any]]:
        _args(args, {})
        return self.service.findings()

    def _scan_now(self, args: Any, peer: Peer) -> dict[str, Any] | None:
        _args(args, {})
        summary = self.service.scan_now()
        return summary.to_json() if summary else None

    def _events(self, args: Any, peer: Peer) -> dict[str, Any]:
        a = _args(args, {"since": int, "timeout": (int, float)})
        timeout = min(float(a.get("timeout", 25.0)), MAX_EVENT_WAIT_S)
        seq, events = self.service.events.wait(int(a.get("since", 0)), timeout, uid=peer.uid)
        return {"seq": seq, "events": [e.to_json() for e in events]}


class Connection:
    """One client's conversation over any byte stream: a Unix socket or a named pipe."""

    def __init__(
        self,
        rfile: LineReader,
        wfile: ByteWriter,
        peer: Peer,
        dispatcher: Dispatcher,
        closing: Callable[[], bool],
    ) -> None:
        self.rfile = rfile
        self.wfile = wfile
        self.peer = peer
        self.dispatcher = dispatcher
        self.closing = closing

    def serve(self) -> None:
        while not self.closing():
            line = self.rfile.readline(MAX_MESSAGE + 1)
            if not line:
                return
            if len(line) > MAX_MESSAGE:
                self._reply(
                    None,
                    error=_bad(
                        "too-large", "请求过大。", f"request larger than {MAX_MESSAGE} bytes."
                    ),
                )
                return  # the rest of an oversized line cannot be trusted to be a message
            self._one(line)

    def _one(self, line: bytes) -> None:
        msg_id: Any = None
        try:
            try:
                msg = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                raise _bad(
                    "bad-json", "请求不是有效的 JSON。", "the request is not valid JSON."
                ) from None
            if not isinstance(msg, dict):
                raise _bad(
                    "bad-request", "请求必须是 JSON 对象。", "the request must be a JSON object."
                )
            msg_id = msg.get("id")
            if msg.get("v") != PROTOCOL_VERSION:
                raise _bad(
                    "bad-version",
                    f"不支持的协议版本 {msg.get('v')!r}，代理使用版本 {PROTOCOL_VERSION}。请更新 wxguard。",
                    f"unsupported protocol version {msg.get('v')!r}; the agent speaks {PROTOCOL_VERSION}. Update wxguard.",
                )
            unknown = set(msg) - {"v", "id", "op", "args"}
            if unknown:
                raise _bad(
                    "bad-request", "请求含有未知字段。", f"unknown fields {sorted(unknown)}."
                )
            op = msg.get("op")
            if not isinstance(op, str):
                raise _bad("bad-request", "缺少 op。", "missing op.")
            result = self.dispatcher.call(op, msg.get("args"), self.peer)
            self._reply(msg_id, result=result)
        except AgentError as exc:
            self._reply(msg_id, error=exc)
        except Exception:
            log.exception("IPC request failed")
            self._reply(
                msg_id,
                error=_bad(
                    "internal", "代理内部错误，已记录日志。", "internal agent error (logged)."
                ),
            )

    def _reply(self, msg_id: Any, result: Any = None, error: AgentError | None = None) -> None:
        body: dict[str, Any] = {"v": PROTOCOL_VERSION, "id": msg_id, "ok": error is None}
        if error is None:
            body["result"] = result
        else:
            body["error"] = error.to_json()
        try:
            self.wfile.write(json.dumps(body, ensure_ascii=False).encode("utf-8") + b"\n")
            self.wfile.flush()
        except OSError:
            pass  # the client went away; nothing to tell it


def listen(path: Path, dispatcher: Dispatcher, world_connectable: bool) -> Endpoint:
    """The agent's endpoint for this platform. `world_connectable`: every local user may
    connect (system mode; who they are still comes from the kernel); else only the owner."""
    if sys.platform == "win32":
        from agent.ipc_pipe import PipeServer

        return PipeServer(str(path), dispatcher, world_connectable)
    else:
        from agent.ipc_unix import IpcServer

        return IpcServer(path, dispatcher, world_connectable)


class LocalAgent(TypedCalls):
    """The typed API in-process: the same dispatcher the endpoint uses, as the current user."""

    def __init__(
        self, service: AgentService, uid: UserId | None = None, exchange: Exchange | None = None
    ) -> None:
        self._dispatcher = Dispatcher(service)
        if exchange is not None:
            self._dispatcher.attach_exchange(exchange)
        me = current_user()
        who = me if uid is None else uid
        admin = current_user_is_administrator() if who == me else who == 0
        self._peer = Peer(who, os.getpid(), admin)

    def call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        return self._dispatcher.call(op, args or {}, self._peer)
