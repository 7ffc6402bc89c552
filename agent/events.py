"""The agent's event feed: numbered events that the tray long-polls to update on change."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from agent.principals import UserId
from protocol.ipc_answers import build_event


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    kind: str  # "scan", "finding-new", "finding-seen", "finding-resolved", "status", "report", ... (EVENT_DATA)
    at: float
    data: dict[str, Any]
    uid: UserId | None = None  # only this user's clients see it (their reports); None = everyone

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "at": self.at, "data": self.data}


@dataclass(slots=True)
class EventFeed:
    capacity: int = 1000
    _events: deque[Event] = field(default_factory=deque)
    _seq: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def publish(self, kind: str, data: dict[str, Any], uid: UserId | None = None) -> Event:
        """Publish `data` of `kind`, checked against its model (protocol.ipc.EVENT_DATA):
        protocol.ipc_answers.AnswerError when it does not fit (a bug in the agent)."""
        data = build_event(kind, data)
        with self._cond:
            self._seq += 1
            event = Event(self._seq, kind, time.time(), data, uid)
            self._events.append(event)
            while len(self._events) > self.capacity:
                self._events.popleft()
            self._cond.notify_all()
            return event

    @property
    def last_seq(self) -> int:
        with self._cond:
            return self._seq

    def wait(
        self, since: int, timeout: float, uid: UserId | None = None
    ) -> tuple[int, list[Event]]:
        """Events after `since` visible to `uid`, waiting up to `timeout` s for the first one."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            if since > self._seq:
                return self._seq, []  # the agent restarted: the client starts over from here
            while True:
                found = [
                    e for e in self._events if e.seq > since and (e.uid is None or e.uid == uid)
                ]
                if found:
                    return self._seq, found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return self._seq, []
                self._cond.wait(remaining)
