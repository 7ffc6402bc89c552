"""The self-governor: scans within the CPU budget run at once; an overrun is throttled, logged
once, and released as the window moves on."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from agent.config import Settings
from agent.governor import Governor
from agent.paths import AgentPaths, Mode
from agent.service import AgentService
from checks.api import image_scanner
from tests.agent.conftest import make_image


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


def test_start_up_and_requested_scans_do_not_hold_back_the_next_event_scan(
    tmp_path: Path,
) -> None:
    """The one start-up scan (cold: it reads every home) and a scan someone asked for are not
    charged to the budget: a plugin dropped right after start is found by the event's scan at
    once instead of waiting for the window to move on. Event scans are charged."""
    image = make_image(tmp_path / "image")
    paths = AgentPaths.resolve(Mode.SYSTEM, tmp_path / "state")
    settings = Settings(watch_debounce_s=0.05, process_poll_s=0.5, scan_interval_s=3600)
    service = AgentService(settings, paths, image_scanner(str(image), "linux"))
    service.start()
    try:
        assert service.wait_for_scans(1, 60)
        assert service.scan_now() is not None
        assert service.governor.used_s() == 0.0
        plugin = image / "home" / "alice" / ".cache"
        plugin.mkdir(parents=True, exist_ok=True)
        (plugin / "itchat.pkl").write_bytes(b"session")
        deadline = time.monotonic() + 20
        while not any(f["rule_id"] == "itchat" for f in service.findings()):
            assert time.monotonic() < deadline, service.status()
            time.sleep(0.05)
        assert service.scans_by_trigger.get("fs-event", 0) >= 1
        assert service.governor.used_s() > 0.0
    finally:
        service.stop()
