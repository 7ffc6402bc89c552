"""The local endpoint the tray and the CLI talk to: versioned JSON lines, bounded per user.

A Unix socket on Linux and macOS; on Windows a named pipe (`agent.ipc_pipe`). The caller's
identity comes from the kernel (SO_PEERCRED / getpeereid, or the pipe client's token), never
from the message. Malformed, oversized or unknown requests get an error reply and do not
disturb the agent. What one local account may hold (connections, time to send a request, bytes
and JSON elements per request) is bounded by `IpcLimits` and enforced by `Admission` and
`Connection`, the same on every transport. The wire format and limits are in docs/ipc.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psutil

from agent import __version__
from agent.api import PROTOCOL_VERSION, AgentError
from agent.credentials import CredentialsError
from agent.exchange import Caller, Exchange
from agent.outbox import OutboxError, OutboxFull
from agent.principals import UserId
from agent.service import AgentService
from protocol.ipc_answers import build_answer
from protocol.limits import MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS

log = logging.getLogger("wxguard.agent.ipc")

MIB = 1024 * 1024


def _base64_len(n: int) -> int:
    return 4 * ((n + 2) // 3)


# The largest real request is a report with every attachment at its limit, base64-encoded,
# plus room for the text fields (description ≤ 10,000 characters, at most 6 bytes each when
# JSON escapes a control character) and the attachments' names.
MAX_MESSAGE = MAX_ATTACHMENTS * _base64_len(MAX_ATTACHMENT_BYTES) + 256 * 1024  # 70,167,224
# Every other request, and a report without attachments, fits in this; a longer line needs one
# of the few "large request" slots before the agent buffers more of it.
SMALL_MESSAGE = 1 * MIB
# JSON structural characters ({ [ , :) per request, counted before parsing: each JSON value
# needs one, so this bounds the number of Python objects json.loads can make (a 16 MiB
# `[{},{},…]` made 5.6 million dicts, ~420 MB). A real report has at most ~11,000 (a
# description made only of commas); 65,536 objects cost a few MB.
MAX_TOKENS = 65_536
MAX_EVENT_WAIT_S = 60.0
_STRUCTURAL = (b"{", b"[", b",", b":")
_CHUNK = 64 * 1024
_LARGE_CHUNK = 1 * MIB


@dataclass(frozen=True, slots=True)
class IpcLimits:
    """What the local endpoint grants: connection counts, seconds, bytes and JSON elements.

    Each account (uid / SID) may hold `per_user` connections; all non-administrator accounts
    together `shared`; administrators (root, elevated Windows administrators, LocalSystem)
    have `admin_reserved` connections of their own that no other account can take. A request
    line must arrive whole within `idle_timeout_s` of the agent starting to wait for it (the
    agent's own wait, e.g. the `events` long poll, does not count); a reply must be taken within
    the same time. Lines over `small_message` bytes need one of `large_requests` slots (one per
    account at a time); none may exceed `max_message` bytes or `max_tokens` JSON elements.
    """

    per_user: int = 8
    shared: int = 64
    admin_reserved: int = 16
    idle_timeout_s: float = 30.0
    small_message: int = SMALL_MESSAGE
    max_message: int = MAX_MESSAGE
    max_tokens: int = MAX_TOKENS
    large_requests: int = 2


@dataclass(frozen=True, slots=True)
class Peer:
    uid: UserId  # POSIX uid, or Windows account SID
    pid: int
    admin: bool  # root, or an elevated Windows administrator / LocalSystem


class Channel(Protocol):
    """A connection's byte stream with deadlines: a Unix socket or a named pipe."""

    def recv(self, size: int, timeout: float, /) -> bytes:
        """Up to `size` bytes; b"" when the client closed. TimeoutError after `timeout` s."""
        ...

    def send(self, data: bytes, timeout: float, /) -> None:
        """All of `data`, or OSError / TimeoutError (after `timeout` s: the client is not reading)."""
        ...


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
            not isinstance(args[key], kind)
            # True is an int to Python: refused where a number is wanted. `object` (`_any`):
            # the request model checks the value itself.
            or (isinstance(args[key], bool) and kind not in (bool, object))
        ):
            raise _bad(
                "bad-request", f"参数 {key} 类型错误。", f"argument {key} has the wrong type."
            )
    return args


def _any(model: str) -> dict[str, type | tuple[type, ...]]:
    """The field names of `protocol.ipc`'s request model `model`, each of any type: the model
    itself checks the values. Imported on the first such request: the requests are pydantic
    models (the server's limits), which an idle agent does not load."""
    from protocol import ipc

    return dict.fromkeys(getattr(ipc, model).model_fields, object)


class Dispatcher:
    """Maps operations to the service. Used by every endpoint (Unix socket, named pipe)."""

    def __init__(self, service: AgentService) -> None:
        self.service = service
        self._ops: dict[str, Callable[[dict[str, Any], Peer], Any]] = {
            "hello": self._hello,
            "status": self._status,
            "findings": self._findings,
            "scan_now": self._scan_now,
            "events": self._events,
        }
        self._policy_of: Callable[[Peer], dict[str, Any]] | None = None

    def register(self, op: str, handler: Callable[[dict[str, Any], Peer], Any]) -> None:
        self._ops[op] = handler

    def attach_unavailable(self, error: AgentError) -> None:
        """Without a server exchange, its operations answer with the reason, not 'unknown'."""

        def unavailable(args: dict[str, Any], peer: Peer) -> Any:
            raise error

        for op in (
            "submit_report",
            "my_reports",
            "refresh",
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
            # Checked field by field with protocol.ipc.ReportSubmission and the server's own
            # ReportCreate (agent.exchange.validated): refused here, never after "queued".
            return exchange.submit_report(caller(peer), _args(args, _any("ReportSubmission")))

        def reports(args: dict[str, Any], peer: Peer) -> Any:
            _args(args, {})
            return exchange.my_reports(caller(peer))

        def refresh(args: dict[str, Any], peer: Peer) -> Any:
            _args(args, {})
            return exchange.refresh(caller(peer))

        def password(args: dict[str, Any], peer: Peer) -> Any:
            a = _args(args, _any("PasswordStatusArgs"))
            return exchange.report_password_status(
                caller(peer), a.get("accounts"), a.get("keyring_available")
            )

        def policy(args: dict[str, Any], peer: Peer) -> Any:
            _args(args, {})
            return exchange.policy(caller(peer))

        def ack(args: dict[str, Any], peer: Peer) -> Any:
            a = _args(args, _any("AcknowledgeArgs"))
            return exchange.acknowledge_policy(caller(peer), a.get("text_version"))

        self._policy_of = lambda peer: exchange.policy(caller(peer))
        self._ops.update(
            submit_report=submit,
            my_reports=reports,
            refresh=refresh,
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
            # Every answer through its model (protocol.ipc.ANSWERS): a wrong shape fails here.
            return build_answer(op, handler(args if args is not None else {}, peer))
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
        if self._policy_of is None or peer.uid == 0:  # root is no employee: nothing to confirm
            return self.service.status()
        # The asker's own open action: the current policy text they have not confirmed.
        try:
            policy = self._policy_of(peer)
        except AgentError:
            return self.service.status()
        version = str(policy.get("text_version") or "")
        acknowledged = bool(policy.get("acknowledged"))
        status = self.service.status(
            policy_unacknowledged=not acknowledged, policy_text_version=version
        )
        status["policy_acknowledged"] = acknowledged
        status["policy_text_version"] = version
        return status

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


def too_many_connections(own: bool) -> AgentError:
    """The refusal a client reads before the agent closes a connection it cannot admit."""
    if own:
        return AgentError(
            "too-many-connections",
            "太多连接：您的账户已打开太多与 wxguard 代理的连接。请关闭多余的 wxguard 窗口或程序后重试。",
            "Too many connections from your account to the wxguard agent. Close other wxguard "
            "windows or programs and try again.",
        )
    return AgentError(
        "too-many-connections",
        "太多连接：wxguard 代理此刻连接已满。请稍后重试；如持续出现，请联系 IT。",
        "The wxguard agent has too many connections right now. Try again shortly; contact IT "
        "if this persists.",
    )


_SESSION_CACHE_S = 10.0
_session_cache: tuple[float, set[UserId]] = (-_SESSION_CACHE_S, set())


def logged_in_users() -> set[UserId]:
    """Accounts with a login session (utmp, via psutil), as uids; re-read every 10 s.

    POSIX only: on Windows the pipe's peers are SIDs and this returns no one (administrators
    keep their reserved slots)."""
    global _session_cache
    now = time.monotonic()
    if now - _session_cache[0] < _SESSION_CACHE_S:
        return _session_cache[1]
    found: set[UserId] = set()
    if sys.platform != "win32":
        import pwd

        try:
            names = {u.name for u in psutil.users()}
        except OSError:
            names = set()
        for name in names:
            try:
                found.add(pwd.getpwnam(name).pw_uid)
            except KeyError:
                continue
    _session_cache = (now, found)
    return found


class Admission:
    """Counts open connections and large requests per account, so no account starves another.

    Thread-safe. `enter` admits a connection or raises the `too-many-connections` AgentError
    the client is sent; `leave` must follow every successful `enter`."""

    def __init__(
        self, limits: IpcLimits, session_users: Callable[[], set[UserId]] | None = None
    ) -> None:
        self.limits = limits
        # Accounts with a login session now (the employee at the machine): like root, they do
        # not queue behind other accounts for the large-request slots.
        self._session_users = session_users or logged_in_users
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._open: Counter[UserId] = Counter()
        self._shared = 0
        self._admin = 0
        self._large: Counter[UserId] = Counter()
        self._large_total = 0
        # large requests of administrators and session users (one per such account)
        self._large_reserved = 0
        self._last_warning: dict[UserId, float] = {}

    def enter(self, peer: Peer) -> None:
        with self._lock:
            if peer.admin:
                if self._admin >= self.limits.admin_reserved:
                    raise self._refuse(peer, own=True)
                self._admin += 1
            else:
                if self._open[peer.uid] >= self.limits.per_user:
                    raise self._refuse(peer, own=True)
                if self._shared >= self.limits.shared:
                    raise self._refuse(peer, own=False)
                self._shared += 1
            self._open[peer.uid] += 1

    def leave(self, peer: Peer) -> None:
        with self._lock:
            if peer.admin:
                self._admin -= 1
            else:
                self._shared -= 1
            self._open[peer.uid] -= 1
            if self._open[peer.uid] <= 0:
                del self._open[peer.uid]

    def open_connections(self, uid: UserId) -> int:
        with self._lock:
            return self._open[uid]

    @contextlib.contextmanager
    def large_request(self, peer: Peer, timeout: float) -> Iterator[None]:
        """Hold one of the few slots for a request over `small_message` bytes (one per account),
        waiting at most `timeout` s; AgentError `busy` if none comes free."""

        # Administrators and the logged-in employee do not count against the shared slots:
        # two other accounts holding both (a large line trickled in until the deadline, again
        # and again) must not keep them from sending a report with attachments. Memory stays
        # bounded: one large request per such account, and they are few.
        reserved = peer.admin or peer.uid in self._session_users()

        def free() -> bool:
            shared = self._large_total - self._large_reserved
            return self._large[peer.uid] < 1 and (reserved or shared < self.limits.large_requests)

        with self._changed:
            if not self._changed.wait_for(free, max(timeout, 0.0)):
                raise AgentError(
                    "busy",
                    "代理正在处理其他大型请求（例如带附件的报告），请稍后重试。",
                    "The agent is busy with other large requests (such as reports with "
                    "attachments); try again shortly.",
                )
            self._large[peer.uid] += 1
            self._large_total += 1
            self._large_reserved += reserved
        try:
            yield
        finally:
            with self._changed:
                self._large[peer.uid] -= 1
                if self._large[peer.uid] <= 0:
                    del self._large[peer.uid]
                self._large_total -= 1
                self._large_reserved -= reserved
                self._changed.notify_all()

    def _refuse(self, peer: Peer, own: bool) -> AgentError:
        # One line per account a minute: a client that reconnects in a loop must not flood the log.
        now = time.monotonic()
        if now - self._last_warning.get(peer.uid, -3600.0) >= 60.0:
            self._last_warning[peer.uid] = now
            log.warning(
                "refusing IPC connections from %s (pid %d): %s",
                peer.uid,
                peer.pid,
                "its quota is used" if own else "all shared connections are in use",
            )
        return too_many_connections(own)


class _Close(Exception):
    """The conversation cannot go on (oversized or unreadable line): tell the client, close."""

    def __init__(self, error: AgentError) -> None:
        super().__init__(error.en)
        self.error = error


def _too_large(limit: int) -> AgentError:
    return _bad(
        "too-large", f"请求过大（上限 {limit} 字节）。", f"request larger than {limit} bytes."
    )


_IDLE = AgentError(
    "timeout",
    "连接空闲过久，代理已关闭它。",
    "The connection was idle too long (no complete request); the agent closed it.",
)


class Connection:
    """One client's conversation over any `Channel`: a Unix socket or a named pipe.

    Reads one request line at a time, each within the idle timeout; refuses lines over the
    size or element limits before json.loads sees them."""

    def __init__(
        self,
        channel: Channel,
        peer: Peer,
        dispatcher: Dispatcher,
        closing: Callable[[], bool],
        admission: Admission,
    ) -> None:
        self.channel = channel
        self.peer = peer
        self.dispatcher = dispatcher
        self.closing = closing
        self.admission = admission
        self.limits = admission.limits
        self._buffer = bytearray()

    def serve(self) -> None:
        while not self.closing():
            with contextlib.ExitStack() as held:
                try:
                    line = self._read_line(held)
                except TimeoutError:
                    log.info(
                        "closing an idle IPC connection of %s (pid %d)",
                        self.peer.uid,
                        self.peer.pid,
                    )
                    self._reply(None, error=_IDLE)
                    return
                except _Close as close:
                    self._reply(None, error=close.error)
                    return  # the rest of the stream cannot be trusted to be messages
                except AgentError as busy:
                    self._reply(None, error=busy)
                    return
                if line is None:
                    return
                msg = line if isinstance(line, AgentError) else self._parse(line)
                del line  # a large request's text is not kept while it is handled
                done = (
                    not self._reply(None, error=msg)
                    if isinstance(msg, AgentError)
                    else not self._one(msg)
                )
                del msg  # before the large request slot is given back
                if done:
                    return

    def _read_line(self, held: contextlib.ExitStack) -> str | AgentError | None:
        """The next request line as text; an AgentError for a whole line that may not be parsed
        (too many elements, not UTF-8); None when the client closed. Raises TimeoutError, or
        `_Close` for a line over the size limit."""
        limits = self.limits
        deadline = time.monotonic() + limits.idle_timeout_s
        buf = self._buffer
        scanned = 0
        large = False
        while True:
            newline = buf.find(b"\n", scanned)
            length = newline if newline >= 0 else len(buf)
            if length > limits.max_message:
                raise _Close(_too_large(limits.max_message))
            if length > limits.small_message and not large:
                held.enter_context(
                    self.admission.large_request(self.peer, deadline - time.monotonic())
                )
                large = True
            if newline >= 0:
                break
            scanned = len(buf)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            chunk = self.channel.recv(_LARGE_CHUNK if large else _CHUNK, remaining)
            if not chunk:
                return None
            buf += chunk
        tokens = sum(buf.count(c, 0, newline) for c in _STRUCTURAL)
        # What follows the line goes to a fresh buffer; the line is cut in place and decoded
        # from the buffer itself (a slice would be one more copy of a 70 MB line).
        self._buffer = bytearray(buf[newline + 1 :])
        del buf[newline:]
        if tokens > limits.max_tokens:
            return _bad(
                "too-complex",
                f"请求包含的 JSON 元素过多（上限 {limits.max_tokens}）。",
                f"the request has too many JSON elements (limit {limits.max_tokens}).",
            )
        try:
            return buf.decode("utf-8")
        except UnicodeDecodeError:
            return _bad("bad-json", "请求不是有效的 JSON。", "the request is not valid JSON.")

    @staticmethod
    def _parse(line: str) -> dict[str, Any] | AgentError:
        try:
            msg = json.loads(line)
        except ValueError:
            return _bad("bad-json", "请求不是有效的 JSON。", "the request is not valid JSON.")
        except RecursionError:
            return _bad(
                "too-complex", "请求的 JSON 嵌套过深。", "the request's JSON is nested too deeply."
            )
        if not isinstance(msg, dict):
            return _bad(
                "bad-request", "请求必须是 JSON 对象。", "the request must be a JSON object."
            )
        return msg

    def _one(self, msg: dict[str, Any]) -> bool:
        msg_id: Any = None
        try:
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
            return self._reply(msg_id, result=result)
        except AgentError as exc:
            return self._reply(msg_id, error=exc)
        except Exception:
            log.exception("IPC request failed")
            return self._reply(
                msg_id,
                error=_bad(
                    "internal", "代理内部错误，已记录日志。", "internal agent error (logged)."
                ),
            )

    def _reply(self, msg_id: Any, result: Any = None, error: AgentError | None = None) -> bool:
        """Send one reply; False when the client is gone or does not take it in time."""
        body: dict[str, Any] = {"v": PROTOCOL_VERSION, "id": msg_id, "ok": error is None}
        if error is None:
            body["result"] = result
        else:
            body["error"] = error.to_json()
        data = json.dumps(body, ensure_ascii=False).encode("utf-8") + b"\n"
        try:
            self.channel.send(data, self.limits.idle_timeout_s)
        except OSError:  # TimeoutError included: a client that does not read is dropped
            return False
        return True


def refusal_line(error: AgentError) -> bytes:
    """The one line a refused client reads (the reply to whatever it sends first)."""
    body = {"v": PROTOCOL_VERSION, "id": None, "ok": False, "error": error.to_json()}
    return json.dumps(body, ensure_ascii=False).encode("utf-8") + b"\n"


def listen(
    path: Path,
    dispatcher: Dispatcher,
    world_connectable: bool,
    limits: IpcLimits | None = None,
) -> Endpoint:
    """The agent's endpoint for this platform. `world_connectable`: every local user may
    connect (system mode; who they are still comes from the kernel); else only the owner."""
    if sys.platform == "win32":
        from agent.ipc_pipe import PipeServer

        return PipeServer(str(path), dispatcher, world_connectable, limits or IpcLimits())
    else:
        from agent.ipc_unix import IpcServer

        return IpcServer(path, dispatcher, world_connectable, limits or IpcLimits())
