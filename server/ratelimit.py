"""Fixed-window rate limits per key (device, address), held in the memory of one process."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from server.clock import Clock


@dataclass
class _Window:
    start: float
    count: int


class RateLimited(Exception):
    """Too many requests; `retry_after` is whole seconds until the window reopens."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited, retry after {retry_after} s")
        self.retry_after = retry_after


class RateLimiter:
    """At most `limit` hits per `period` seconds per key.

    Each server process keeps its own counters: with N worker processes the effective limit is
    at most N times higher, which is acceptable for abuse protection (documented in server.md).
    """

    def __init__(self, clock: Clock, limit: int, period: float = 60.0, max_keys: int = 100_000):
        self._clock = clock
        self.limit = limit
        self.period = period
        self._max_keys = max_keys
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        """Count one request for `key`, or raise RateLimited."""
        now = self._clock.now().timestamp()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window.start >= self.period:
                if len(self._windows) >= self._max_keys:
                    self._evict(now)
                self._windows[key] = _Window(now, 1)
                return
            if window.count >= self.limit:
                raise RateLimited(max(1, math.ceil(window.start + self.period - now)))
            window.count += 1

    def _evict(self, now: float) -> None:
        # Expired windows carry no information; drop them so memory stays bounded.
        stale = [k for k, w in self._windows.items() if now - w.start >= self.period]
        for k in stale:
            del self._windows[k]
        if len(self._windows) >= self._max_keys:
            self._windows.clear()
