"""Retry timing for the server exchange: exponential backoff with full jitter and Retry-After.

Full jitter (a uniformly random delay between 0 and the exponential ceiling) spreads a fleet of
agents that all lost the server at the same moment, so they do not come back in lock-step and
knock it over again. A server's `Retry-After` is a floor: it knows its own load better than we do.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

DEFAULT_BASE_S = 1.0
DEFAULT_CAP_S = 3600.0
# A Retry-After beyond a day is a server bug, not advice; obeying it would silence the agent.
MAX_RETRY_AFTER_S = 86400.0


def full_jitter(
    attempt: int,
    rand: Callable[[], float],
    base_s: float = DEFAULT_BASE_S,
    cap_s: float = DEFAULT_CAP_S,
    retry_after_s: float | None = None,
) -> float:
    """Seconds to wait before retry number `attempt` (0 for the first retry).

    Uniform in [0, min(cap, base * 2**attempt)], then raised to `retry_after_s` if that is larger.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    # 2**attempt overflows float for absurd counts; past 64 doublings the cap has long won.
    ceiling = min(cap_s, base_s * 2.0 ** min(attempt, 64))
    delay = rand() * ceiling
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, MAX_RETRY_AFTER_S))
    return delay


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """A `Retry-After` header as seconds from `now`: delta-seconds or an HTTP date; None if absent
    or unreadable (an unreadable header is ignored rather than trusted)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(min(int(text), int(MAX_RETRY_AFTER_S)))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; the parser leaves "-0000" naive
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER_S)


class Backoff:
    """Consecutive-failure counter that turns failures into waits; `reset()` after a success."""

    def __init__(
        self,
        rand: Callable[[], float] | None = None,
        base_s: float = DEFAULT_BASE_S,
        cap_s: float = DEFAULT_CAP_S,
    ) -> None:
        if base_s <= 0 or cap_s < base_s:
            raise ValueError("need 0 < base_s <= cap_s")
        self._rand = rand if rand is not None else random.SystemRandom().random
        self.base_s = base_s
        self.cap_s = cap_s
        self.failures = 0

    def failure(self, retry_after_s: float | None = None) -> float:
        """Record one failure; the seconds to wait before the next attempt."""
        delay = full_jitter(self.failures, self._rand, self.base_s, self.cap_s, retry_after_s)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0
