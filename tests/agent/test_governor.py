"""The self-governor: scans within the CPU budget run at once; an overrun is throttled, logged
once, and released as the window moves on."""

from __future__ import annotations

import logging

import pytest

from agent.governor import Governor


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_within_budget_runs_at_once() -> None:
    clock = FakeClock()
    gov = Governor(budget_percent=5.0, window_s=60.0, clock=clock)  # 3 s of CPU per minute
    gov.record(1.0)
    clock.now += 10
    gov.record(1.0)
    assert gov.delay() == 0.0 and gov.throttled == 0


def test_overrun_is_throttled_logged_and_released(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    gov = Governor(budget_percent=5.0, window_s=60.0, clock=clock)
    gov.record(2.5)
    clock.now += 20
    gov.record(2.0)  # 4.5 s of CPU in 20 s: over the 3 s allowance
    with caplog.at_level(logging.WARNING, logger="wxguard.agent.governor"):
        first = gov.delay()
        second = gov.delay()
    # The first 2.5 s leave the window 60 s after they were spent, i.e. 40 s from now.
    assert first == pytest.approx(40.0) and second == pytest.approx(40.0)
    assert gov.throttled == 1
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "exceeds the budget" in messages[0]
    clock.now += 41
    assert gov.delay() == 0.0
