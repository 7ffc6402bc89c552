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
import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import heapq
import json
import logging
import os
import queue
import re
import select
import struct
import subprocess
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
    # The approved clients' install trees, as the guard process receives them (it has no
    # catalogue): a path equal to one or under one is never denied.
    approved_roots: tuple[str, ...] = ()

    @classmethod
    def from_catalogue(
        cls,
        catalogue: Any,
        platform: Any,
        approved_root: Callable[[str], bool] = lambda path: False,
        approved_roots: Iterable[str] = (),
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
        return cls(digests, _own_executables(), approved_root, tuple(approved_roots))

    def to_json(self) -> dict[str, Any]:
        """What the guard process needs (JSON): digests with their rules, the agent's own
        executables and the approved install trees."""
        return {
            "digests": {
                d: {"rule_id": e.rule_id, "title": dict(e.title)} for d, e in self.digests.items()
            },
            "own_executables": sorted(self.own_executables),
            "approved_roots": list(self.approved_roots),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> DenyList:
        digests = {
            str(d): DenyEntry(str(e["rule_id"]), {str(k): str(v) for k, v in e["title"].items()})
            for d, e in dict(doc.get("digests") or {}).items()
        }
        return cls(
            digests,
            frozenset(str(p) for p in doc.get("own_executables") or ()),
            approved_roots=tuple(str(r).rstrip("/") for r in doc.get("approved_roots") or ()),
        )

    def never_denied(self, path: str) -> bool:
        if path.startswith(SAFE_PREFIXES) or path in self.own_executables:
            return True
        if os.path.basename(path) in SAFE_NAMES:
            return True
        if any(path == root or path.startswith(root + "/") for root in self.approved_roots):
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
    uid: int = -1  # who started it, read while the exec waited (-1: unknown)

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
            "uid": self.uid,
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


MOUNTINFO = "/proc/self/mountinfo"


def _unescape_mount(field: str) -> str:
    """A mount point as mountinfo writes it: space, tab, newline and backslash as octal
    escapes (`\\040`); see proc_pid_mountinfo(5)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> dict[int, str]:
    """Mount id → mount point, from the text of /proc/PID/mountinfo (proc_pid_mountinfo(5):
    field 1 the mount id, field 5 the mount point). Lines that do not parse are skipped."""
    out: dict[int, str] = {}
    for line in text.splitlines():
        fields = line.split(" ", 5)
        if len(fields) < 5:
            continue
        try:
            out[int(fields[0])] = _unescape_mount(fields[4])
        except ValueError:
            continue
    return out


def under(path: str, roots: Iterable[str]) -> bool:
    """Whether `path` is one of `roots` or inside one (by path components, not prefix)."""
    for root in roots:
        top = root.rstrip("/")
        if not top or path == top or path.startswith(top + "/"):
            return True
    return False


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
        watch: Iterable[str] = (),
    ) -> None:
        if mode not in ("audit", "block"):
            raise ValueError(f"exec guard mode {mode!r}")
        self.deny = deny
        self.mode = mode
        self.mounts = list(mounts)
        # Mounts whose mount point is one of these paths or inside one are marked too, also
        # those mounted later (a USB stick under /media, /run/user/UID at login): the guard
        # watches the mount table (`_sync_mounts`).
        self.watch = [os.path.normpath(p) for p in watch if p]
        self._mount_ids: set[int] = set()  # mounts under `watch` marked (or refused) already
        self._mountinfo = -1
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
        if self.watch and sys.platform == "linux":
            try:
                self._mountinfo = os.open(MOUNTINFO, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                log.warning(
                    "exec guard: cannot watch the mount table (%s): new mounts stay unmarked", exc
                )
            self._sync_mounts()
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
            if self._mountinfo >= 0:
                os.close(self._mountinfo)
                self._mountinfo = -1
        os.close(self._stop_r)
        os.close(self._stop_w)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "mode": self.mode,
                "marked": list(self.marked),
                "deny_digests": len(self.deny.digests),
                **self.counts,
            }

    def set_rules(self, deny: DenyList, mode: str) -> None:
        """New rules or mode, on the marks already in place (cached digests stay valid)."""
        if mode not in ("audit", "block"):
            raise ValueError(f"exec guard mode {mode!r}")
        with self._lock:
            self.deny, self.mode = deny, mode

    # -- the reader: cache hits and safe paths at once, the rest to the hasher ---------------

    def _read_loop(self) -> None:
        if sys.platform != "linux":  # Linux-only calls below
            raise NotImplementedError
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._stop_r, select.POLLIN)
        if self._mountinfo >= 0:
            # The kernel signals a change of the mount table as POLLPRI (and POLLERR) on an
            # open mountinfo file (proc_pid_mountinfo(5)); reading it again re-arms it.
            poller.register(self._mountinfo, select.POLLPRI)
        while True:
            with self._lock:
                timeout = self._pending[0][0] - time.monotonic() if self._pending else None
            ready = poller.poll(None if timeout is None else max(0, int(timeout * 1000) + 1))
            if any(fd == self._stop_r for fd, _ in ready):
                return
            self._expire()
            if any(fd == self._mountinfo for fd, _ in ready):
                try:
                    self._sync_mounts()
                except Exception:
                    log.exception("exec guard: following the mount table failed")
                ready = [(fd, ev) for fd, ev in ready if fd != self._mountinfo]
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

    def _sync_mounts(self) -> None:
        """Mark every mount at or under a watched path not marked yet (at start, and each time
        the mount table changes): a filesystem mounted after the guard started is decided
        like the others from its first exec."""
        if sys.platform != "linux":  # Linux-only calls below
            raise NotImplementedError
        if self._mountinfo >= 0:
            chunks = []
            offset = 0
            while chunk := os.pread(self._mountinfo, 1 << 16, offset):
                chunks.append(chunk)
                offset += len(chunk)
            text = b"".join(chunks).decode("utf-8", "surrogateescape")
        else:
            try:
                with open(MOUNTINFO, encoding="utf-8", errors="surrogateescape") as fh:
                    text = fh.read()
            except OSError:
                return
        table = parse_mountinfo(text)
        added: list[str] = []
        for mount_id, point in table.items():
            if mount_id in self._mount_ids or not under(point, self.watch):
                continue
            self._mount_ids.add(mount_id)
            try:
                fanotify_mark_mount(self._fd, point)
            except OSError as exc:  # gone again, or a filesystem fanotify refuses
                log.warning("exec guard: cannot mark the new mount %s: %s", point, exc.strerror)
                continue
            added.append(point)
        with self._lock:
            self._mount_ids &= set(table)  # unmounted: the kernel dropped its mark
            live = set(table.values())
            self.marked = [m for m in self.marked if m in self.mounts or m in live]
            self.marked += [p for p in added if p not in self.marked]
        if added:
            log.info("exec guard (%s) marked new mount(s): %s", self.mode, ", ".join(added))

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
        # Who asked, while the process still waits (a refused one is gone a moment later).
        uid = _owner(pid) if denied else -1
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
        decision = Decision(time.time(), pid, path, digest, entry.rule_id, self.mode, uid)
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


def _owner(pid: int) -> int:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return -1


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


# -- the guard process ---------------------------------------------------------------------------
#
# The guard runs in a process of its own, started by the agent. In the agent's process a thread
# that holds the interpreter's lock while it starts a program from a marked mount
# (`os.posix_spawn`, and `subprocess` on some builds, suspend the caller in vfork until the
# exec is decided) would leave the guard's threads unable to answer that very exec: the agent
# would hang. The guard process never starts programs, so nothing it runs waits on itself.
#
# The conversation is JSON lines over two pipes. Agent → guard (stdin): a `config` message
# first, then again whenever the rules or the mode change:
#   {"op": "config", "mode": "block"|"audit", "mounts": [...], "deadline_s": 0.25,
#    "deny": DenyList.to_json()}
# Guard → agent (stdout):
#   {"type": "ready", "pid": N, "marked": [...]}       marks in place, deciding
#   {"type": "error", "errno": N, "message": "..."}    fanotify refused; the process exits
#   {"type": "decision", "decision": {...}, "title": {...}}   a block or a would-block
#   {"type": "counts", "counts": {...}}                at most once a second, when they change
#   {"type": "log", "level": "WARNING", "message": "..."}     for the agent's log
# The end of stdin (the agent stopped it, or died) ends the process; its fanotify descriptor
# closes and the kernel allows every exec still waiting.

_OUT_QUEUE = 1000
_COUNTS_EVERY_S = 1.0


class _PipeWriter:
    """Messages to the agent, written by one thread so a slow reader never delays a verdict;
    when the queue is full a message is dropped (and counted)."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.dropped = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=_OUT_QUEUE)
        self._thread = threading.Thread(target=self._loop, name="wxguard-exec-out", daemon=True)
        self._thread.start()

    def send(self, message: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while (message := self._queue.get()) is not None:
            try:
                self.out.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
                self.out.flush()
            except (OSError, ValueError):  # the agent is gone: stdin's end will stop us too
                return


class _PipeLogHandler(logging.Handler):
    def __init__(self, writer: _PipeWriter) -> None:
        super().__init__(logging.INFO)
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        self.writer.send({"type": "log", "level": record.levelname, "message": message})


def guard_main(stdin: Any = None, stdout: Any = None) -> int:
    """The guard process: `python -m agent.exec_guard` (started by `GuardProcess`)."""
    stdin = stdin if stdin is not None else sys.stdin.buffer
    stdout = stdout if stdout is not None else sys.stdout.buffer
    writer = _PipeWriter(stdout)
    log.handlers[:] = [_PipeLogHandler(writer)]
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        first = json.loads(stdin.readline() or b"null")
        if not isinstance(first, dict) or first.get("op") != "config":
            writer.send({"type": "error", "errno": errno.EINVAL, "message": "no configuration"})
            return 2

        def decided(decision: Decision, title: Mapping[str, str]) -> None:
            writer.send({"type": "decision", "decision": decision.to_json(title), "title": title})

        guard = ExecGuard(
            DenyList.from_json(first.get("deny") or {}),
            str(first.get("mode")),
            [str(m) for m in first.get("mounts") or ()],
            decided,
            deadline_s=float(first.get("deadline_s") or DEFAULT_DEADLINE_S),
            watch=[str(w) for w in first.get("watch") or ()],
        )
        try:
            guard.start()
        except OSError as exc:
            writer.send(
                {"type": "error", "errno": exc.errno or 0, "message": str(exc.strerror or exc)}
            )
            return 2
        writer.send({"type": "ready", "pid": os.getpid(), "marked": list(guard.marked)})
        stop = threading.Event()

        def counts_loop() -> None:
            last: dict[str, Any] = {}
            while not stop.wait(_COUNTS_EVERY_S):
                now = guard.status()
                if now != last:
                    writer.send({"type": "counts", "counts": now})
                    last = now

        counter = threading.Thread(target=counts_loop, name="wxguard-exec-counts", daemon=True)
        counter.start()
        try:
            for line in iter(stdin.readline, b""):
                try:
                    message = json.loads(line)
                    if message.get("op") == "config":
                        guard.set_rules(
                            DenyList.from_json(message.get("deny") or {}), str(message["mode"])
                        )
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    log.error("exec guard: bad message from the agent ignored: %s", exc)
        finally:
            stop.set()
            guard.stop()
        return 0
    finally:
        writer.close()


class GuardProcess:
    """The agent's handle on one guard process: starts it, sends it rules and mode, and turns
    its messages into calls (`on_decision(decision, title)`, `on_exit(returncode)` when it
    ends without being asked to). Callbacks run on the handle's reader thread."""

    def __init__(
        self,
        on_decision: Callable[[Decision, Mapping[str, str]], None],
        on_exit: Callable[[int], None],
        *,
        argv: list[str] | None = None,
    ) -> None:
        self.on_decision = on_decision
        self.on_exit = on_exit
        self.argv = argv if argv is not None else _guard_argv()
        self.proc: subprocess.Popen[bytes] | None = None
        self.marked: list[str] = []
        self.counts: dict[str, Any] = {}
        self._ready = threading.Event()
        self._error: tuple[int, str] | None = None
        self._stopping = False
        self._write_lock = threading.Lock()
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self, config: dict[str, Any], timeout: float = 15.0) -> None:
        """Start the process and wait until its marks are in place; raises FanotifyError when
        fanotify refuses (the kernel too old, no CAP_SYS_ADMIN) or the process fails."""
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True
        )
        self._reader = threading.Thread(
            target=self._read_loop, name="wxguard-exec-guard-reader", daemon=True
        )
        self._reader.start()
        self.send(config)
        if not self._ready.wait(timeout) or self._error is not None:
            err, message = self._error or (errno.ETIMEDOUT, "the guard process did not start")
            self.stop()
            raise FanotifyError(err, message)

    def send(self, config: dict[str, Any]) -> None:
        proc = self.proc
        if proc is None or proc.stdin is None:
            return
        with self._write_lock:
            try:
                proc.stdin.write(json.dumps(config).encode() + b"\n")
                proc.stdin.flush()
            except (OSError, ValueError) as exc:  # it died: the reader reports the exit
                log.warning("exec guard: could not reach the guard process: %s", exc)

    def stop(self) -> None:
        """Close its stdin (it answers what waits, closes its group and exits); SIGKILL after
        5 s. Either way the kernel releases every waiter."""
        self._stopping = True
        proc = self.proc
        if proc is None:
            return
        with self._write_lock, contextlib.suppress(OSError, ValueError):
            if proc.stdin is not None:
                proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=5)

    def _read_loop(self) -> None:
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        for line in iter(proc.stdout.readline, b""):
            try:
                self._message(json.loads(line))
            except Exception:
                log.exception("exec guard: a message from the guard process failed")
        code = proc.wait()
        proc.stdout.close()
        if not self._ready.is_set():
            self._error = self._error or (errno.ECHILD, f"the guard process exited ({code})")
            self._ready.set()
        elif not self._stopping:
            self.on_exit(code)

    def _message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "decision":
            d = message["decision"]
            decision = Decision(
                float(d["at"]),
                int(d["pid"]),
                str(d["path"]),
                str(d["sha256"]),
                str(d["rule_id"]),
                str(d["mode"]),
                int(d.get("uid", -1)),
            )
            self.on_decision(decision, message.get("title") or {})
        elif kind == "counts":
            self.counts = dict(message.get("counts") or {})
            if isinstance(self.counts.get("marked"), list):  # mounts marked since it started
                self.marked = [str(m) for m in self.counts["marked"]]
        elif kind == "log":
            level = logging.getLevelName(str(message.get("level", "INFO")))
            log.log(level if isinstance(level, int) else logging.INFO, "%s", message.get("message"))
        elif kind == "ready":
            self.marked = [str(m) for m in message.get("marked") or ()]
            self._ready.set()
        elif kind == "error":
            self._error = (int(message.get("errno") or 0), str(message.get("message")))
            self._ready.set()


def _guard_argv() -> list[str]:
    """This interpreter, isolated (no current folder or PYTHON* variables on its path: it
    runs as root), importing this package from where the agent imported it."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = "import sys; sys.path.insert(0, sys.argv[1]); from agent.exec_guard import guard_main; sys.exit(guard_main())"
    return [sys.executable, "-I", "-c", code, package_parent]


# -- the agent's side: which mode applies, and what a decision leaves behind ---------------------

RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 15.0, 60.0)
_STABLE_S = 60.0  # a guard up this long has its restart back-off reset


class ExecBlocking:
    """Keeps the guard process in the mode that applies (config and policy), sends it new
    rules, restarts it when it dies (and says so in status); publishes each decision to the
    employee and records it for IT.

    Wiring (agent.daemon): `policy_changed(policy)` from the exchange's policy listeners,
    `status` as a status provider, `on_report` queues an incident report for IT, `fallback()`
    names what applies when blocking does not (the policy's enforcement mode).
    """

    def __init__(
        self,
        service: Any,  # agent.service.AgentService (not imported: it imports this module's users)
        on_report: Callable[[dict[str, Any]], None] | None = None,
        fallback: Callable[[], str] | None = None,
        *,
        guard_argv: list[str] | None = None,
    ) -> None:
        from agent.store import LocalRecords

        self.service = service
        self.on_report = on_report
        self.fallback = fallback or (lambda: "enforcement")
        self.guard_argv = guard_argv
        self.records = LocalRecords(service.store)
        self.policy_value: object | None = None
        self.mode, self.source = resolve_mode(
            service.settings.exec_blocking, service.settings.is_managed("exec_blocking"), None
        )
        self.guard: GuardProcess | None = None
        self.reason = ""
        self.restarts = 0
        self.last_exit = ""
        self._mounts: list[str] = []
        self._started_at = 0.0
        self._failures = 0
        self._timer: threading.Timer | None = None
        self._stopped = False
        self._catalogue: object = None
        self._lock = threading.RLock()
        self._reported: dict[tuple[str, int], float] = {}
        # Decisions are recorded off the reader thread: a disk write never delays the next.
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
            self._stopped = True
            guard, self.guard = self.guard, None
            if self._timer is not None:
                self._timer.cancel()
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

    def _config(self, mode: str) -> dict[str, Any]:
        return {
            "op": "config",
            "mode": mode,
            "mounts": self._mounts,
            "watch": [p for p in self.service.settings.exec_guard_mounts.split(":") if p],
            "deadline_s": self.service.settings.exec_guard_deadline_s,
            "deny": self._deny_list().to_json(),
        }

    def _apply(self, force: bool = False) -> None:
        settings = self.service.settings
        mode, source = resolve_mode(
            settings.exec_blocking, settings.is_managed("exec_blocking"), self.policy_value
        )
        mounts = _mounts(settings.exec_guard_mounts)
        with self._lock:
            if self._stopped:
                return
            running = self.guard
            if mode == self.mode and not force and (running is not None or mode == "off"):
                self.source = source
                return
            self.mode, self.source = mode, source
            if running is not None and mode != "off" and mounts == self._mounts:
                # Same marks: the running process takes the new rules and mode in place.
                running.send(self._config(mode))
                return
            self.guard = None
            self._mounts = mounts
        if running is not None:
            running.stop()
        if mode == "off":
            self.reason = ""
            log.info("exec blocking off (%s)", source)
            return
        if sys.platform != "linux":
            self.reason = "blocking at exec exists only on Linux; enforcement applies instead"
            return
        if not mounts:  # a guard on nothing would look active and stop nothing
            self.reason = (
                "none of the paths in exec_guard_mounts exists; enforcement applies instead"
            )
            log.error("exec blocking (%s) unavailable: %s", mode, self.reason)
            return
        self._launch(mode)

    def _launch(self, mode: str) -> None:
        guard = GuardProcess(self._decided, self._guard_exited, argv=self.guard_argv)
        try:
            guard.start(self._config(mode))
        except OSError as exc:
            self.reason = f"fanotify unavailable: {exc.strerror or exc}"
            log.error("exec blocking (%s) unavailable: %s", mode, self.reason)
            return
        with self._lock:
            if self._stopped or self.mode != mode:
                stale = True
            else:
                stale = False
                self.guard = guard
                self.reason = ""
                self._started_at = time.monotonic()
        if stale:
            guard.stop()
            return
        log.info("exec guard process %d (%s) on %s", guard.pid, mode, ", ".join(guard.marked))

    def _guard_exited(self, code: int) -> None:
        """The guard process died (the kernel has already allowed whatever waited): say so
        and start another after a back-off."""
        how = f"signal {-code}" if code < 0 else f"exit status {code}"
        with self._lock:
            if self.guard is None or self._stopped:
                return
            pid = self.guard.pid
            self.guard = None
            self.restarts += 1
            self.last_exit = (
                f"guard process {pid} ended ({how}) at {time.strftime('%Y-%m-%d %H:%M:%S')}"
            )
            if time.monotonic() - self._started_at > _STABLE_S:
                self._failures = 0
            delay = RESTART_BACKOFF_S[min(self._failures, len(RESTART_BACKOFF_S) - 1)]
            self._failures += 1
            self.reason = f"{self.last_exit}; restarting in {delay:g} s"
            self._timer = threading.Timer(delay, self._restart)
            self._timer.daemon = True
            self._timer.start()
        log.error("exec guard: %s; restarting it in %g s", self.last_exit, delay)

    def _restart(self) -> None:
        with self._lock:
            if self._stopped or self.guard is not None or self.mode == "off":
                return
            mode = self.mode
        self._launch(mode)

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
            [root for roots in clients.roots.values() for root in roots],
        )

    def status(self) -> dict[str, Any]:
        """`exec_blocking` in the agent's status: the mode asked for, where it came from,
        which applies now (`block`, `audit`, or the policy's enforcement when blocking is off
        or unavailable), the guard process and its counts."""
        with self._lock:
            guard = self.guard
            out: dict[str, Any] = {
                "mode": self.mode,
                "source": self.source,
                "active": guard is not None,
                "applies": self.mode if guard is not None else self.fallback(),
                "restarts": self.restarts,
            }
            if self.reason:
                out["reason"] = self.reason
            if self.last_exit:
                out["last_exit"] = self.last_exit
        if guard is not None:
            out.update(guard.counts, mode=self.mode, marked=list(guard.marked), pid=guard.pid)
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

    def should_report(self, digest: str, uid: int) -> bool:
        """Whether IT still needs to hear of this digest run by this user (rate-limited)."""
        now = time.monotonic()
        with self._lock:
            last = self._reported.get((digest, uid))
            if last is not None and now - last < _REPORT_EVERY_S:
                return False
            self._reported[(digest, uid)] = now
            return True

    def _record(self, decision: Decision, title: Mapping[str, str]) -> None:
        from agent.principals import process_owner

        uid = decision.uid if decision.uid >= 0 else process_owner(decision.pid)
        data = decision.to_json(title)
        data["user"] = _user_name(uid)
        self.service.events.publish(decision.kind, data, uid=uid)
        self.records.record_termination(
            decision.at,
            decision.pid,
            data["name"],
            decision.path,
            decision.rule_id,
            f"{decision.kind}:{decision.sha256}",
        )
        owner = uid if isinstance(uid, int) else -1
        if self.on_report is not None and self.should_report(decision.sha256, owner):
            self.on_report(data)


def _user_name(uid: object) -> str:
    if not isinstance(uid, int) or sys.platform == "win32":
        return ""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


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


if __name__ == "__main__":
    sys.exit(guard_main())
