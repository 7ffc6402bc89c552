"""Test doubles for faults and facts that cannot be produced for real in a test.

- `RecordedProcessSource`: processes of another platform (a Windows WeChat with injected DLLs)
  replayed into the real scanner.
- `ManualClock`: the server's clock, moved by the test (expiry, overdue passwords).
- `FakeRegistryKey`: a Windows registry key's change notifications (RegNotifyChangeKeyValue),
  for `agent.watch_registry.RegistryWatcher` on a machine without a registry.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from checks.model import BlindSpot, ModuleFact, ProcessFact


@dataclass(slots=True)
class RecordedProcessSource:
    """Processes replayed from a recording (tests, or facts collected elsewhere)."""

    processes: list[ProcessFact]
    mapped: dict[int, list[str]] = field(default_factory=dict)

    def snapshot(self) -> tuple[list[ProcessFact], list[BlindSpot]]:
        return list(self.processes), []

    def modules(self, proc: ProcessFact) -> tuple[list[ModuleFact], list[BlindSpot]]:
        paths = self.mapped.get(proc.pid, [])
        return [ModuleFact(proc.pid, proc.name, proc.exe, p) for p in paths], []


class ManualClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **kwargs: float) -> None:
        self._now += timedelta(**kwargs)

    def set(self, when: datetime) -> None:
        self._now = when


class FakeRegistryKey:
    """A registry key whose changes the test makes (`change`); `notifier` is the maker a
    `RegistryWatcher` takes. The first `fail_opens` opens raise OSError (a key not there yet)."""

    def __init__(self, fail_opens: int = 0) -> None:
        self._changed = threading.Event()
        self.fail_opens = fail_opens
        self.opens = 0
        self.closed = 0

    def change(self) -> None:
        self._changed.set()

    def notifier(self) -> FakeRegistryKey:
        self.opens += 1
        if self.opens <= self.fail_opens:
            raise OSError("the system cannot find the file specified")
        return self

    def wait(self, timeout_s: float) -> bool:
        if not self._changed.wait(timeout_s):
            return False
        self._changed.clear()  # re-armed
        return True

    def close(self) -> None:
        self.closed += 1
