"""Retry timing: full jitter within an exponential ceiling capped at one hour; Retry-After floors."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from agent.backoff import Backoff, full_jitter, parse_retry_after

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_ceiling_doubles_then_stops_at_one_hour() -> None:
    top = lambda: 1.0  # noqa: E731  # the largest value a jitter draw can give
    assert [full_jitter(n, top) for n in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert full_jitter(11, top) == 2048.0
    assert full_jitter(12, top) == 3600.0
    assert full_jitter(10_000, top) == 3600.0  # no overflow for absurd attempt counts


def test_full_jitter_spreads_over_the_whole_range() -> None:
    rng = random.Random(7)
    draws = [full_jitter(10, rng.random) for _ in range(2000)]
    assert min(draws) >= 0.0 and max(draws) <= 1024.0
    # Full jitter, not "equal jitter": a good share of waits are in the lower half.
    assert sum(d < 512 for d in draws) > 800
    assert min(draws) < 20


def test_retry_after_is_a_floor_not_a_ceiling() -> None:
    zero = lambda: 0.0  # noqa: E731
    assert full_jitter(0, zero, retry_after_s=120) == 120
    assert full_jitter(3, lambda: 1.0, retry_after_s=2) == 8.0
    # An absurd Retry-After is bounded to a day so the agent is never silenced for good.
    assert full_jitter(0, zero, retry_after_s=10**9) == 86400


def test_parse_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("30", NOW) == 30
    later = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, NOW) == pytest.approx(90)
    past = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(past, NOW) == 0
    assert parse_retry_after(None, NOW) is None
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after("", NOW) is None


def test_backoff_counts_failures_and_resets() -> None:
    backoff = Backoff(rand=lambda: 1.0)
    assert [backoff.failure() for _ in range(3)] == [1.0, 2.0, 4.0]
    backoff.reset()
    assert backoff.failure() == 1.0
    assert backoff.failure(retry_after_s=60) == 60
