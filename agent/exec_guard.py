"""Blocking mode (Linux): decide at `execve`, through fanotify permission events, whether a
deny-listed tool's binary may run.

Modes (`exec_blocking`): `off` (nothing is marked), `audit` ("would block" is recorded and
published, every exec is allowed), `block` (a deny-listed binary's exec fails with EPERM).
Agents that do not know the field, and macOS and Windows agents, ignore it: they keep the
policy's `enforcement` (monitor / enforce) as before.

What is denied, and only that: a file whose SHA-256 digest is a `sha256` indicator of a rule
about a tool whose running is itself the violation (`agent.enforcement.DENY_CATEGORIES`).
Names, places and look-alikes never deny. Never denied whatever their digest: the agent's own
executables, the package and service managers, everything under the system folders, and
anything inside an approved client's install tree.

The decision path bounds its I/O: a verdict comes from a cache keyed on (st_dev, st_ino,
st_ctime_ns, st_size) when it can; otherwise a worker hashes the file through the event's own
descriptor, and a verdict not reached within `deadline_s` is *allow* (logged). If the agent
dies, the kernel closes the fanotify descriptor and releases every waiter with *allow*.

Kernel interface: fanotify(7), `fanotify_init(2)`, `fanotify_mark(2)`; constants and layouts
from https://github.com/torvalds/linux/blob/master/include/uapi/linux/fanotify.h
(FAN_OPEN_EXEC_PERM needs Linux 5.0).
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import errno
import hashlib
import heapq
import logging
import os
import queue
import select
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("wxguard.agent.exec_guard")

MODES = ("off", "audit", "block")

FAN_CLOEXEC = 0x00000001
FAN_NONBLOCK = 0x00000002
FAN_CLASS_CONTENT = 0x00000004
FAN_UNLIMITED_QUEUE = 0x00000010
FAN_MARK_ADD = 0x00000001
FAN_MARK_MOUNT = 0x00000010
FAN_OPEN_EXEC_PERM = 0x00040000
FAN_ALLOW = 0x01
FAN_DENY = 0x02
FAN_NOFD = -1
FAN_Q_OVERFLOW = 0x00004000
FANOTIFY_METADATA_VERSION = 3
AT_FDCWD = -100

_METADATA = struct.Struct("=IBBHQii")  # event_len, vers, reserved, metadata_len, mask, fd, pid
_RESPONSE = struct.Struct("=iI")  # fd, response

DEFAULT_DEADLINE_S = 0.25
MAX_HASH_BYTES = 512 * 1024 * 1024  # a larger file is allowed unhashed (and logged)
_CACHE_SIZE = 8192
_REPORT_EVERY_S = 3600.0  # one report to IT per (digest, user) per hour, however often it is tried

# Never denied, whatever their digest: the system's own programs and libraries.
SAFE_PREFIXES = (
    "/usr/bin/",
    "/usr/sbin/",
    "/bin/",
    "/sbin/",
    "/usr/lib/",
    "/usr/lib64/",
    "/usr/libexec/",
    "/lib/",
    "/lib64/",
)
# The package and service managers, wherever a distribution puts them.
SAFE_NAMES = frozenset(
    {
        "dpkg",
        "apt",
        "apt-get",
        "rpm",
        "dnf",
        "yum",
        "systemd",
        "systemctl",
        "init",
    }
)

BLOCKED_TEXT = {
    "zh": "已阻止运行：{name}（规则 {rule}）。该程序不符合公司微信使用规定。"
    "如工作需要，请在托盘菜单中“报告安全事件”申请审批，或联系 IT。",
    "en": "blocked: {name} (rule {rule}) is not allowed by the company's WeChat policy — to get "
    "it approved, ask IT (tray menu: Report a security incident).",
}
WOULD_BLOCK_TEXT = {
    "zh": "审计模式：{name}（规则 {rule}）将来会被阻止运行。",
    "en": "audit: {name} (rule {rule}) would be blocked.",
}


def resolve_mode(setting: str, managed: bool, policy_value: object | None) -> tuple[str, str]:
    """The mode in force and where it came from: `(mode, source)`.

    `off` from IT's managed config or from the policy is a kill switch that always wins.
    Otherwise a value in the managed config wins over the policy's (IT on the machine has the
    last word), the policy's over the agent's own config, and the default is `off`. An unknown
    policy value (a newer server) counts as absent.
    """
    from_policy = policy_value if isinstance(policy_value, str) and policy_value in MODES else None
    if managed and setting == "off":
        return "off", "managed config (kill switch)"
    if from_policy == "off":
        return "off", "policy (kill switch)"
    if managed:
        return setting, "managed config"
    if from_policy is not None:
        return from_policy, "policy"
    return setting, "agent config" if setting != "off" else "default"


def policy_field(policy: object) -> object | None:
    """The policy document's optional `exec_blocking` field, read without depending on how
    the policy is parsed: an attribute of the typed policy, or a key of a raw document."""
    if isinstance(policy, Mapping):
        return policy.get("exec_blocking")
    return getattr(policy, "exec_blocking", None)


@dataclass(frozen=True, slots=True)
class DenyEntry:
    rule_id: str
    title: Mapping[str, str]


@dataclass(slots=True)
class DenyList:
    """What may be denied (digests of deny-listed tools) and what never is."""

    digests: dict[str, DenyEntry] = field(default_factory=dict)
    own_executables: frozenset[str] = frozenset()
    approved_root: Callable[[str], bool] = lambda path: False

    @classmethod
    def from_catalogue(
        cls,
        catalogue: Any,
        platform: Any,
        approved_root: Callable[[str], bool] = lambda path: False,
    ) -> DenyList:
        """The sha256 indicators of deny-category rules for `platform` (checks.catalogue)."""
        from agent.enforcement import DENY_CATEGORIES

        digests: dict[str, DenyEntry] = {}
        for rule in catalogue.rules_for(platform):
            if rule.category not in DENY_CATEGORIES:
                continue
            for m in rule.matches:
                if m.type == "sha256" and m.sha256 and m.applies_to(platform, rule.platforms):
                    digests[m.sha256.lower()] = DenyEntry(
                        rule.id, {"zh": rule.title.zh, "en": rule.title.en}
                    )
        return cls(digests, _own_executables(), approved_root)

    def never_denied(self, path: str) -> bool:
        if path.startswith(SAFE_PREFIXES) or path in self.own_executables:
            return True
        if os.path.basename(path) in SAFE_NAMES:
            return True
        try:
            return self.approved_root(path)
        except Exception:  # an identity check that fails must not deny
            log.exception("approved-client check failed for %s; allowing", path)
            return True


def _own_executables() -> frozenset[str]:
    found = {sys.executable, os.path.realpath(sys.executable)}
    bindir = os.path.dirname(sys.executable)
    for name in ("wxguard", "wxguard-tray"):
        found.add(os.path.join(bindir, name))
    return frozenset(p for p in found if p)


@dataclass(frozen=True, slots=True)
class Decision:
    """One exec the guard acted on (or, in audit mode, would have)."""

    at: float
    pid: int
    path: str
    sha256: str
    rule_id: str
    mode: str  # "block": denied; "audit": allowed, would have been denied

    @property
    def kind(self) -> str:
        return "exec-blocked" if self.mode == "block" else "exec-would-block"

    def to_json(self, title: Mapping[str, str]) -> dict[str, Any]:
        name = os.path.basename(self.path)
        texts = BLOCKED_TEXT if self.mode == "block" else WOULD_BLOCK_TEXT
        return {
            "at": self.at,
            "pid": self.pid,
            "path": self.path,
            "name": name,
            "sha256": self.sha256,
            "rule_id": self.rule_id,
            "mode": self.mode,
            "title_i18n": dict(title),
            "message_i18n": {k: v.format(name=name, rule=self.rule_id) for k, v in texts.items()},
        }


def hash_fd(fd: int, limit: int = MAX_HASH_BYTES) -> str | None:
    """SHA-256 of the file open as `fd` (read with pread: the offset is not shared), or None
    when it is larger than `limit` bytes."""
    if sys.platform != "linux":  # Linux-only calls below
        raise NotImplementedError
    digest = hashlib.sha256()
    offset = 0
    while True:
        chunk = os.pread(fd, 1 << 20, offset)
        if not chunk:
            return digest.hexdigest()
        offset += len(chunk)
        if offset > limit:
            return None
        digest.update(chunk)


# -- the kernel interface ----------------------------------------------------------------------


class FanotifyError(OSError):
    """fanotify is unavailable or refused a mark; `strerror` says why."""


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.fanotify_init.argtypes = [ctypes.c_uint, ctypes.c_uint]
    libc.fanotify_init.restype = ctypes.c_int
    libc.fanotify_mark.argtypes = [
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint64,
        ctypes.c_int,
        ctypes.c_char_p,
    ]
    libc.fanotify_mark.restype = ctypes.c_int
    return libc


def fanotify_open() -> int:
    """A fanotify group for permission decisions (FAN_CLASS_CONTENT), non-blocking."""
    if sys.platform != "linux":
        raise FanotifyError(errno.ENOSYS, "fanotify exists only on Linux")
    libc = _libc()
    flags = FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE
    fd = int(libc.fanotify_init(flags, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_LARGEFILE", 0)))
    if fd < 0:
        err = ctypes.get_errno()
        raise FanotifyError(err, f"fanotify_init: {os.strerror(err)}")
    return fd


def fanotify_mark_mount(fd: int, path: str) -> None:
    """Ask for exec permission events on the whole mount that holds `path`."""
    libc = _libc()
    rc = libc.fanotify_mark(
        fd, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_OPEN_EXEC_PERM, AT_FDCWD, os.fsencode(path)
    )
    if rc != 0:
        err = ctypes.get_errno()
        raise FanotifyError(err, f"fanotify_mark {path}: {os.strerror(err)}")


# -- the guard -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    fd: int
    pid: int
    path: str
    key: tuple[int, int, int, int]
    deadline: float
    answered: bool = False


Digester = Callable[[int], str | None]


class ExecGuard:
    """Answers every exec permission event on the marked mounts; denies only deny-listed
    digests, and only in `block` mode.

    `on_decision` is called (on the guard's threads; keep it short) for every block or
    would-block, with the decision and the rule's title; it publishes the employee's event
    and records the action for IT.
    """

    def __init__(
        self,
        deny: DenyList,
        mode: str,
        mounts: Iterable[str],
        on_decision: Callable[[Decision, Mapping[str, str]], None] | None = None,
        *,
        deadline_s: float = DEFAULT_DEADLINE_S,
        digester: Digester = hash_fd,
    ) -> None:
        if mode not in ("audit", "block"):
            raise ValueError(f"exec guard mode {mode!r}")
        self.deny = deny
        self.mode = mode
        self.mounts = list(mounts)
        self.on_decision = on_decision
        self.deadline_s = deadline_s
        self.digester = digester
        self._fd = -1
        self._stop_r, self._stop_w = os.pipe()
        self._lock = threading.Lock()
        self._cache: collections.OrderedDict[tuple[int, int, int, int], str] = (
            collections.OrderedDict()
        )
        self._pending: list[tuple[float, int, _Pending]] = []  # heap by deadline
        self._work: queue.Queue[_Pending | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._own_pid = os.getpid()
        self._seq = 0
        self._reported: dict[tuple[str, int], float] = {}
        self.counts = {"events": 0, "allowed": 0, "denied": 0, "would_block": 0, "deadline": 0}
        self.marked: list[str] = []

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Open the group and mark the mounts (raises FanotifyError); then serve events."""
        self._fd = fanotify_open()
        try:
            for path in self.mounts:
                fanotify_mark_mount(self._fd, path)
                self.marked.append(path)
        except OSError:
            os.close(self._fd)
            self._fd = -1
            raise
        for name, target in (("reader", self._read_loop), ("hasher", self._hash_loop)):
            thread = threading.Thread(target=target, name=f"wxguard-exec-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("exec guard (%s) on %s", self.mode, ", ".join(self.marked))

    def stop(self) -> None:
        """Stop deciding; closing the group releases every waiter with allow."""
        os.write(self._stop_w, b"x")
        self._work.put(None)
        for thread in self._threads:
            thread.join(timeout=5)
        with self._lock:
            for _, _, pending in self._pending:
                self._answer_locked(pending, FAN_ALLOW)
            self._pending.clear()
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        os.close(self._stop_r)
        os.close(self._stop_w)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"mode": self.mode, "marked": list(self.marked), **self.counts}

    # -- the reader: cache hits and safe paths at once, the rest to the hasher ---------------

    def _read_loop(self) -> None:
        if sys.platform != "linux":  # Linux-only calls below
            raise NotImplementedError
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._stop_r, select.POLLIN)
        while True:
            with self._lock:
                timeout = self._pending[0][0] - time.monotonic() if self._pending else None
            ready = poller.poll(None if timeout is None else max(0, int(timeout * 1000) + 1))
            if any(fd == self._stop_r for fd, _ in ready):
                return
            self._expire()
            if ready:
                try:
                    data = os.read(self._fd, 64 * _METADATA.size)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    log.error("exec guard: reading events failed: %s", exc)
                    continue
                for offset in range(0, len(data) - _METADATA.size + 1, _METADATA.size):
                    event_len, vers, _, _meta_len, mask, fd, pid = _METADATA.unpack_from(
                        data, offset
                    )
                    if vers != FANOTIFY_METADATA_VERSION or event_len != _METADATA.size:
                        log.error("exec guard: unexpected fanotify event layout; stopping")
                        return  # closing the group (stop) allows everything
                    if fd == FAN_NOFD or mask & FAN_Q_OVERFLOW:
                        continue
                    try:
                        self._event(fd, pid)
                    except Exception:
                        log.exception("exec guard: event failed; allowing")
                        self._respond(fd, FAN_ALLOW)
                        os.close(fd)

    def _event(self, fd: int, pid: int) -> None:
        with self._lock:
            self.counts["events"] += 1
        if pid == self._own_pid or not self.deny.digests:
            self._finish(fd, FAN_ALLOW)
            return
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino, st.st_ctime_ns, st.st_size)
        with self._lock:
            digest = self._cache.get(key)
            if digest is not None:
                self._cache.move_to_end(key)
        path = _fd_path(fd)
        if digest is None and self.deny.never_denied(path):
            self._finish(fd, FAN_ALLOW)
            return
        if digest is not None:
            self._verdict(fd, pid, path, digest)
            return
        pending = _Pending(fd, pid, path, key, time.monotonic() + self.deadline_s)
        with self._lock:
            self._seq += 1
            heapq.heappush(self._pending, (pending.deadline, self._seq, pending))
        self._work.put(pending)

    def _expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            while self._pending and self._pending[0][0] <= now:
                _, _, pending = heapq.heappop(self._pending)
                if not pending.answered:
                    self.counts["deadline"] += 1
                    log.warning(
                        "exec guard: no verdict for %s (pid %d) within %.0f ms; allowed",
                        pending.path,
                        pending.pid,
                        self.deadline_s * 1000,
                    )
                    self._answer_locked(pending, FAN_ALLOW)

    # -- the hasher: one file at a time, answers if the deadline has not ---------------------

    def _hash_loop(self) -> None:
        while True:
            pending = self._work.get()
            if pending is None:
                return
            try:
                digest = self.digester(pending.fd)
            except OSError as exc:
                log.warning("exec guard: cannot hash %s: %s; allowed", pending.path, exc)
                digest = None
            with self._lock:
                if digest is not None:
                    self._cache[pending.key] = digest
                    while len(self._cache) > _CACHE_SIZE:
                        self._cache.popitem(last=False)
                late = pending.answered
                if late:
                    os.close(pending.fd)
            if late:
                continue
            if digest is None:
                with self._lock:
                    self._answer_locked(pending, FAN_ALLOW)
                    os.close(pending.fd)
                continue
            self._verdict(pending.fd, pending.pid, pending.path, digest, pending)

    # -- verdicts -----------------------------------------------------------------------------

    def _verdict(
        self, fd: int, pid: int, path: str, digest: str, pending: _Pending | None = None
    ) -> None:
        entry = self.deny.digests.get(digest)
        denied = entry is not None and not self.deny.never_denied(path)
        response = FAN_DENY if denied and self.mode == "block" else FAN_ALLOW
        with self._lock:
            if pending is not None:
                if pending.answered:  # the deadline won: allowed already
                    os.close(fd)
                    return
                self._answer_locked(pending, response)
            else:
                self._respond_locked(fd, response)
            os.close(fd)
            if entry is None or not denied:
                return
            self.counts["denied" if response == FAN_DENY else "would_block"] += 1
        decision = Decision(time.time(), pid, path, digest, entry.rule_id, self.mode)
        log.warning(
            "exec guard: %s %s (pid %d, sha256 %s, rule %s)",
            "denied" if self.mode == "block" else "would deny (audit)",
            path,
            pid,
            digest[:16],
            entry.rule_id,
        )
        if self.on_decision is not None:
            try:
                self.on_decision(decision, entry.title)
            except Exception:
                log.exception("exec guard: decision listener failed")

    def should_report(self, digest: str, uid: int) -> bool:
        """Whether IT still needs to hear of this digest run by this user (rate-limited)."""
        now = time.monotonic()
        with self._lock:
            last = self._reported.get((digest, uid))
            if last is not None and now - last < _REPORT_EVERY_S:
                return False
            self._reported[(digest, uid)] = now
            return True

    def _finish(self, fd: int, response: int) -> None:
        with self._lock:
            self._respond_locked(fd, response)
        os.close(fd)

    def _answer_locked(self, pending: _Pending, response: int) -> None:
        if not pending.answered:
            pending.answered = True
            self._respond_locked(pending.fd, response)

    def _respond_locked(self, fd: int, response: int) -> None:
        if response == FAN_ALLOW:
            self.counts["allowed"] += 1
        self._respond(fd, response)

    def _respond(self, fd: int, response: int) -> None:
        if self._fd < 0:
            return
        try:
            os.write(self._fd, _RESPONSE.pack(fd, response))
        except OSError as exc:  # the waiter is gone (killed): nothing to answer
            if exc.errno not in (errno.ENOENT, errno.EINVAL):
                log.warning("exec guard: answering failed: %s", exc)


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


# -- the agent's side: which mode applies, and what a decision leaves behind ---------------------


class ExecBlocking:
    """Keeps the guard in the mode that applies (config and policy), rebuilt when the rules
    change; publishes each decision to the employee and records it for IT.

    Wiring (agent.daemon): `policy_changed(policy)` from the exchange's policy listeners,
    `status` as a status provider, `on_report` queues an incident report for IT.
    """

    def __init__(
        self,
        service: Any,  # agent.service.AgentService (not imported: it imports this module's users)
        on_report: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        from agent.store import LocalRecords

        self.service = service
        self.on_report = on_report
        self.records = LocalRecords(service.store)
        self.policy_value: object | None = None
        self.mode, self.source = resolve_mode(
            service.settings.exec_blocking, service.settings.is_managed("exec_blocking"), None
        )
        self.guard: ExecGuard | None = None
        self.reason = ""
        self._catalogue: object = None
        self._lock = threading.Lock()
        # Decisions are recorded off the guard's threads: a disk write must never slow an exec.
        self._decisions: queue.Queue[tuple[Decision, Mapping[str, str]] | None] = queue.Queue(
            maxsize=1000
        )
        self.dropped = 0
        self._recorder = threading.Thread(
            target=self._record_loop, name="wxguard-exec-record", daemon=True
        )
        service.status_providers.append(self.status)
        service.scan_listeners.append(lambda result, delta: self._rules_maybe_changed())

    def start(self) -> None:
        self._recorder.start()
        self._apply()

    def stop(self) -> None:
        with self._lock:
            guard, self.guard = self.guard, None
        if guard is not None:
            guard.stop()
        if self._recorder.is_alive():
            self._decisions.put(None)
            self._recorder.join(timeout=5)

    def policy_changed(self, policy: object) -> None:
        """A new policy: its optional `exec_blocking` field (absent means "not set")."""
        self.policy_value = policy_field(policy)
        self._apply()

    def _rules_maybe_changed(self) -> None:
        if self.service.scanner.catalogue is not self._catalogue and self.mode != "off":
            self._apply(force=True)

    def _apply(self, force: bool = False) -> None:
        settings = self.service.settings
        mode, source = resolve_mode(
            settings.exec_blocking, settings.is_managed("exec_blocking"), self.policy_value
        )
        with self._lock:
            if mode == self.mode and not force and (self.guard is not None or mode == "off"):
                self.source = source
                return
            old, self.guard = self.guard, None
            self.mode, self.source = mode, source
        if old is not None:
            old.stop()
        if mode == "off":
            self.reason = ""
            log.info("exec blocking off (%s)", source)
            return
        if sys.platform != "linux":
            self.reason = "blocking at exec exists only on Linux; enforcement applies instead"
            return
        guard = ExecGuard(
            self._deny_list(),
            mode,
            _mounts(settings.exec_guard_mounts),
            self._decided,
            deadline_s=settings.exec_guard_deadline_s,
        )
        try:
            guard.start()
        except OSError as exc:
            self.reason = f"fanotify unavailable: {exc.strerror or exc}"
            log.error("exec blocking (%s) unavailable: %s", mode, self.reason)
            return
        with self._lock:
            self.guard = guard
            self.reason = ""

    def _deny_list(self) -> DenyList:
        from checks.identity import ClientIndex

        scanner = self.service.scanner
        catalogue = scanner.catalogue
        self._catalogue = catalogue
        clients = ClientIndex.build(
            catalogue.clients_for(scanner.layout.platform), scanner.layout, scanner.fs
        )
        return DenyList.from_catalogue(
            catalogue,
            scanner.layout.platform,
            lambda path: clients.install_root_of(path) is not None,
        )

    def status(self) -> dict[str, Any]:
        with self._lock:
            guard = self.guard
        out: dict[str, Any] = {
            "mode": self.mode,
            "source": self.source,
            "active": guard is not None,
        }
        if self.reason:
            out["reason"] = self.reason
        if guard is not None:
            out.update(guard.status(), mode=self.mode)
        return {"exec_blocking": out}

    def _decided(self, decision: Decision, title: Mapping[str, str]) -> None:
        try:
            self._decisions.put_nowait((decision, title))
        except queue.Full:
            self.dropped += 1

    def _record_loop(self) -> None:
        while (item := self._decisions.get()) is not None:
            try:
                self._record(*item)
            except Exception:
                log.exception("exec guard: recording a decision failed")

    def _record(self, decision: Decision, title: Mapping[str, str]) -> None:
        from agent.principals import process_owner

        uid = process_owner(decision.pid)
        data = decision.to_json(title)
        self.service.events.publish(decision.kind, data, uid=uid)
        self.records.record_termination(
            decision.at,
            decision.pid,
            data["name"],
            decision.path,
            decision.rule_id,
            f"{decision.kind}:{decision.sha256}",
        )
        guard = self.guard
        owner = uid if isinstance(uid, int) else -1
        if (
            self.on_report is not None
            and guard is not None
            and guard.should_report(decision.sha256, owner)
        ):
            self.on_report(data)


def _mounts(spec: str) -> list[str]:
    """The configured paths that exist, one per mount (the mark covers the whole mount)."""
    seen: set[int] = set()
    out: list[str] = []
    for path in spec.split(":"):
        if not path:
            continue
        try:
            dev = os.stat(path).st_dev
        except OSError:
            continue
        if dev not in seen:
            seen.add(dev)
            out.append(path)
    return out
