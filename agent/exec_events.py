"""Process start events from the Linux kernel (the netlink proc connector), or a named fallback.

The kernel's process connector multicasts an event for every fork, exec, exit and id change to
root listeners of `NETLINK_CONNECTOR`, group `CN_IDX_PROC`. The agent only needs execs: a
classic BPF filter attached to the socket drops every other event inside the kernel, so a busy
machine (a build forking thousands of times a second) wakes the agent only for execs, and each
exec costs one `recv` and one `struct.unpack`.

Layouts, from the kernel's UAPI headers (stable ABI):

- `struct nlmsghdr` (16 bytes): len u32, type u16, flags u16, seq u32, pid u32
  (https://github.com/torvalds/linux/blob/master/include/uapi/linux/netlink.h)
- `struct cn_msg` (20 bytes + data): id {idx u32, val u32}, seq u32, ack u32, len u16, flags u16
  (https://github.com/torvalds/linux/blob/master/include/uapi/linux/connector.h)
- `struct proc_event`: what u32, cpu u32, timestamp_ns u64, then the event's union; for
  `PROC_EVENT_EXEC` (2) `struct exec_proc_event` {process_pid, process_tgid}
  (https://github.com/torvalds/linux/blob/master/include/uapi/linux/cn_proc.h)

A maintained library covers this (pyroute2's `netlink.connector.cn_proc`), but it parses every
message through its general marshal and adds several MB of modules to a process whose budget is
60 MB; the part needed here is one subscribe message and one fixed-offset read, so it is written
out (see docs/exec.md).

Where the kernel or a sandbox refuses (no CAP_NET_ADMIN, a container without the connector,
not Linux), `open_exec_events` says why, and the caller keeps polling the PID list.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import logging
import os
import select
import socket
import struct
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from checks.catalogue import Catalogue
from checks.model import Platform, ProcessFact

log = logging.getLogger("wxguard.agent.exec_events")

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
NLMSG_DONE = 3
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2
PROC_EVENT_EXEC = 0x00000002

_NLMSGHDR = struct.Struct("=IHHII")
_CN_MSG = struct.Struct("=IIIIHH")
_EVENT_HEAD = struct.Struct("=IIQ")  # what, cpu, timestamp_ns
_EXEC = struct.Struct("=ii")  # process_pid, process_tgid
_WHAT_OFFSET = _NLMSGHDR.size + _CN_MSG.size  # 36
_EXEC_OFFSET = _WHAT_OFFSET + _EVENT_HEAD.size  # 52
_MIN_EXEC_LEN = _EXEC_OFFSET + _EXEC.size

SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
_RCVBUF = 4 * 1024 * 1024  # a burst of ~100k execs before the kernel drops (ENOBUFS)

ExecSink = Callable[[int], None]
"""Called with the PID (thread group id) of each process that has just called execve."""


def subscribe_message(op: int = PROC_CN_MCAST_LISTEN) -> bytes:
    """The netlink message that starts (or stops, `PROC_CN_MCAST_IGNORE`) the event stream."""
    payload = struct.pack("=I", op)
    cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0) + payload
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(cn), NLMSG_DONE, 0, 0, os.getpid()) + cn


def parse_exec(message: bytes) -> int | None:
    """The PID of an exec event in one netlink message, or None for any other message."""
    if len(message) < _MIN_EXEC_LEN:
        return None
    _, msg_type, _, _, _ = _NLMSGHDR.unpack_from(message, 0)
    if msg_type != NLMSG_DONE:
        return None
    idx, val, _, _, _, _ = _CN_MSG.unpack_from(message, _NLMSGHDR.size)
    if (idx, val) != (CN_IDX_PROC, CN_VAL_PROC):
        return None
    what, _, _ = _EVENT_HEAD.unpack_from(message, _WHAT_OFFSET)
    if what != PROC_EVENT_EXEC:
        return None
    _, tgid = _EXEC.unpack_from(message, _EXEC_OFFSET)
    return int(tgid)


def _exec_filter() -> tuple[bytes, ctypes.Array[ctypes.c_char]]:
    """A classic BPF program that keeps exec events and drops the rest (in the kernel).

    BPF absolute loads read in network byte order, while the connector writes `what` in host
    order: the constant is converted the same way. Returns the `struct sock_fprog` and the
    buffer it points to (keep it alive until the filter is attached).
    """
    exec_as_loaded = int.from_bytes(struct.pack("=I", PROC_EVENT_EXEC), "big")
    insns = [
        (0x20, 0, 0, _WHAT_OFFSET),  # ld [36]            (BPF_LD | BPF_W | BPF_ABS)
        (0x15, 0, 1, exec_as_loaded),  # jeq #EXEC, 0, 1  (BPF_JMP | BPF_JEQ | BPF_K)
        (0x06, 0, 0, 0xFFFFFFFF),  # ret #-1: keep the whole message
        (0x06, 0, 0, 0),  # ret #0: drop
    ]
    code = b"".join(struct.pack("=HBBI", *insn) for insn in insns)
    buf = ctypes.create_string_buffer(code, len(code))
    prog = struct.pack("@HP", len(insns), ctypes.addressof(buf))
    return prog, buf


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why the kernel's exec events cannot be used here (the agent polls instead)."""

    reason: str


class ExecEvents:
    """A reader thread delivering exec events to `sink`, until `stop`.

    `lost` is called when the kernel dropped events (the socket's buffer overflowed): the
    caller should look at the PID list once, as a poll would.
    """

    def __init__(self, sock: socket.socket, sink: ExecSink, lost: Callable[[], None]) -> None:
        self._sock = sock
        self._sink = sink
        self._lost = lost
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="wxguard-exec-events", daemon=True)
        self.received = 0
        self.overruns = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self._sock.send(subscribe_message(PROC_CN_MCAST_IGNORE))
        self._sock.close()
        os.close(self._stop_r)
        os.close(self._stop_w)

    def _run(self) -> None:
        if sys.platform != "linux":  # Linux-only calls below
            raise NotImplementedError
        sock = self._sock
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        poller.register(self._stop_r, select.POLLIN)
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if self._stop_r in ready:
                return
            while True:
                try:
                    data = sock.recv(4096, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno == errno.ENOBUFS:
                        self.overruns += 1
                        log.warning("process events lost (kernel buffer full); polling once")
                        self._lost()
                        continue
                    log.error("process event socket failed: %s", exc)
                    self._lost()
                    return
                pid = parse_exec(data)
                if pid is None:
                    continue
                self.received += 1
                try:
                    self._sink(pid)
                except Exception:
                    log.exception("exec event handler failed (pid %d)", pid)


def open_exec_events(sink: ExecSink, lost: Callable[[], None]) -> ExecEvents | Unavailable:
    """Subscribe to the kernel's exec events, or say why not (the caller polls instead)."""
    if sys.platform != "linux":
        return Unavailable("the netlink process connector exists only on Linux")
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
    except OSError as exc:
        return Unavailable(f"no netlink connector socket: {exc.strerror or exc}")
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, _RCVBUF)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        prog, _buf = _exec_filter()
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, prog)
        sock.bind((0, CN_IDX_PROC))
        sock.send(subscribe_message())
    except OSError as exc:
        sock.close()
        why = exc.strerror or str(exc)
        if exc.errno == errno.EPERM:
            why += " (needs root: CAP_NET_ADMIN)"
        return Unavailable(f"the kernel refused process events: {why}")
    return ExecEvents(sock, sink, lost)


def quick_fact(pid: int) -> ProcessFact | None:
    """A new process's name, executable and command line from three reads of /proc (about a
    fifth of psutil's full look): enough for `ProcessInterest.matters`. None if it is gone."""
    base = f"/proc/{pid}"
    try:
        with open(f"{base}/comm", "rb") as fh:
            comm = fh.read().rstrip(b"\n")
        try:
            exe = os.readlink(f"{base}/exe")
        except PermissionError:
            exe = ""
        with open(f"{base}/cmdline", "rb") as fh:
            raw = fh.read(64 * 1024)
    except OSError:
        return None
    args = tuple(os.fsdecode(a) for a in raw.split(b"\0")[:-1]) if raw else ()
    if exe.endswith(" (deleted)"):
        exe = exe[: -len(" (deleted)")]
    return ProcessFact(pid, os.fsdecode(comm), exe, args, "", 0, 0.0)


@dataclass(slots=True)
class DigestMatcher:
    """Whether a new process runs a binary whose SHA-256 some rule names: digests cached per
    file (st_dev, st_ino, st_ctime_ns, st_size), system folders skipped, size bounded."""

    digests: frozenset[str] = frozenset()
    max_bytes: int = 64 * 1024 * 1024
    _cache: dict[tuple[int, int, int, int], str | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_catalogue(cls, catalogue: Catalogue, platform: Platform) -> DigestMatcher:
        digests = {
            m.sha256.lower()
            for rule in catalogue.rules_for(platform)
            for m in rule.matches
            if m.type == "sha256" and m.sha256 and m.applies_to(platform, rule.platforms)
        }
        return cls(frozenset(digests))

    def matches(self, pid: int, exe: str) -> bool:
        digest = self.digest(pid, exe)
        return digest is not None and digest in self.digests

    def digest(self, pid: int, exe: str) -> str | None:
        """The SHA-256 of the executable process `pid` runs (`exe`: its path), or None: no
        rule names a digest, a system folder, too large, or gone."""
        if sys.platform != "linux":  # Linux-only calls below
            raise NotImplementedError
        if not self.digests or not exe or exe.startswith(_SYSTEM_PREFIXES):
            return None
        try:
            # Through /proc/PID/exe: the very file the process runs, even if renamed or deleted.
            fd = os.open(f"/proc/{pid}/exe", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            key = (st.st_dev, st.st_ino, st.st_ctime_ns, st.st_size)
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            if st.st_size > self.max_bytes:
                return None
            hasher = hashlib.sha256()
            offset = 0
            while chunk := os.pread(fd, 1 << 20, offset):
                hasher.update(chunk)
                offset += len(chunk)
            digest = hasher.hexdigest()
            with self._lock:
                if len(self._cache) > 4096:
                    self._cache.clear()
                self._cache[key] = digest
            return digest
        except OSError:
            return None
        finally:
            os.close(fd)


_SYSTEM_PREFIXES = ("/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/", "/usr/lib/", "/usr/libexec/")
