"""How often an employee may ask IT to approve a program blocked at exec (docs/exec.md).

A request (`approval-request` report, from the tray's Blocked programs window or
`wxguard report`) reaches IT like any report. Without a limit one account could bury IT's
queue: each account has a token bucket of `PER_HOUR` requests, refilled evenly over the hour
(a burst of up to `PER_HOUR` at once, then one every 3600 / `PER_HOUR` s), and a second request
for the same program (same SHA-256, or same path when no digest is given) by the same account
within `DUPLICATE_S` is folded into the first: refused, spending no token, with an answer
saying when it was asked and where IT's answer will appear. Each refusal is an AgentError
in both languages (`rate-limited`, `already-requested`). Per agent run, in memory: the agent
runs as root, so a restart is not in an employee's hands.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from agent.api import AgentError
from agent.principals import UserId
from protocol import blocked

PER_HOUR = 5
DUPLICATE_S = 24 * 3600.0


def program_key(description: str) -> str:
    """What identifies the program a request is about (protocol.blocked's fields): its
    digest, else its path, else its name; "" when the request names none."""
    fields = blocked.parse(description)
    for name in ("sha256", "path", "program"):
        value = fields.get(name, "").strip()
        if value:
            return f"{name}:{value.casefold() if name == 'sha256' else value}"
    return ""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


@dataclass(slots=True)
class ApprovalLimiter:
    """Token bucket per account (`per_hour`, refilled evenly) and duplicates folded for
    `duplicate_s`; `clock` is monotonic seconds."""

    per_hour: int = PER_HOUR
    duplicate_s: float = DUPLICATE_S
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    _buckets: dict[UserId, _Bucket] = field(default_factory=dict)
    _asked: dict[tuple[UserId, str], tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextlib.contextmanager
    def admission(self, uid: UserId, description: str) -> Iterator[None]:
        """Admit one request by `uid` about the program `description` names, or raise the
        AgentError that says why not; the block queues it. If queuing fails (raises), the
        token and the duplicate mark are given back."""
        program = program_key(description)
        self._admit(uid, program)
        try:
            yield
        except BaseException:
            with self._lock:
                bucket = self._buckets.get(uid)
                if bucket is not None:
                    bucket.tokens = min(float(self.per_hour), bucket.tokens + 1)
                if program:
                    self._asked.pop((uid, program), None)
            raise

    def _admit(self, uid: UserId, program: str) -> None:
        now = self.clock()
        with self._lock:
            self._asked = {k: v for k, v in self._asked.items() if now - v[0] < self.duplicate_s}
            if program and (uid, program) in self._asked:
                raise _already(self._asked[(uid, program)][1])
            bucket = self._buckets.setdefault(uid, _Bucket(float(self.per_hour), now))
            rate = self.per_hour / 3600.0
            bucket.tokens = min(float(self.per_hour), bucket.tokens + (now - bucket.at) * rate)
            bucket.at = now
            if bucket.tokens < 1.0:
                raise _limited(self.per_hour, (1.0 - bucket.tokens) / rate)
            bucket.tokens -= 1.0
            if program:
                self._asked[(uid, program)] = (now, self.wall())


def _already(asked_at: float) -> AgentError:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(asked_at))
    return AgentError(
        "already-requested",
        f"您已在 {when} 申请审批这个程序，无需重复申请。IT 的答复会显示在“我的报告”中。",
        f"You already asked IT to approve this program at {when}; there is no need to ask "
        "again. IT's answer will appear in My reports.",
    )


def _limited(per_hour: int, wait_s: float) -> AgentError:
    minutes = max(1, int(wait_s // 60) + (1 if wait_s % 60 else 0))
    return AgentError(
        "rate-limited",
        f"审批申请太频繁：每个账户每小时最多 {per_hour} 个。请 {minutes} 分钟后再试；"
        "紧急情况请直接联系 IT。",
        f"Too many approval requests: at most {per_hour} per hour for each account. Try "
        f"again in {minutes} min; if it is urgent, contact IT directly.",
    )
