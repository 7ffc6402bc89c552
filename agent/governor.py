"""The self-governor: scans may use a bounded share of one core; an overrun is throttled.

In the spirit of osquery's watchdog, but the budget is a share of CPU over a sliding window:
if scans used more than `budget_percent` of a core in the last `window_s` seconds, the next
triggered scan waits until the window has room, and the reason is logged once per episode.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("wxguard.agent.governor")


@dataclass(slots=True)
class Governor:
    budget_percent: float = 5.0
    window_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _spent: deque[tuple[float, float]] = field(default_factory=deque)  # (when, cpu seconds)
    throttled: int = 0
    _throttling: bool = False

    @property
    def allowance_s(self) -> float:
        return self.window_s * self.budget_percent / 100.0

    def used_s(self) -> float:
        now = self.clock()
        while self._spent and self._spent[0][0] < now - self.window_s:
            self._spent.popleft()
        return sum(cpu for _, cpu in self._spent)

    def record(self, cpu_s: float) -> None:
        self._spent.append((self.clock(), cpu_s))

    def delay(self) -> float:
        """Seconds to wait before the next scan may run (0 when within budget)."""
        used = self.used_s()
        if used <= self.allowance_s:
            if self._throttling:
                log.info(
                    "scan throttling ended: %.2f s CPU in the last %.0f s", used, self.window_s
                )
            self._throttling = False
            return 0.0
        # Wait until enough of the oldest spending has left the window.
        excess = used - self.allowance_s
        now = self.clock()
        freed = 0.0
        wait = self.window_s
        for when, cpu in self._spent:
            freed += cpu
            if freed >= excess:
                wait = max(0.0, when + self.window_s - now)
                break
        if not self._throttling:
            self.throttled += 1
            log.warning(
                "scans throttled: %.2f s CPU in the last %.0f s exceeds the budget of %.2f s "
                "(%.1f %% of one core); next scan in %.1f s",
                used,
                self.window_s,
                self.allowance_s,
                self.budget_percent,
                wait,
            )
        self._throttling = True
        return wait
