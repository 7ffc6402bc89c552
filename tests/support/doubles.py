"""Test doubles for faults and facts that cannot be produced for real in a test.

- `RecordedProcessSource`: processes of another platform (a Windows WeChat with injected DLLs)
  replayed into the real scanner.
- `ManualClock`: the server's clock, moved by the test (expiry, overdue passwords).
"""

from __future__ import annotations

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
