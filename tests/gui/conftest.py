"""GUI tests run headless (offscreen) against a FakeAgent and an in-memory keyring."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("QT_QPA_FONTDIR", "/usr/share/fonts")

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from agent import password_age as pa
from gui.tray import Tray
from tests.gui.fake_agent import FakeAgent, MemorySecrets

TZ = timezone(timedelta(hours=8))


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 25, 10, 0, tzinfo=TZ))  # a Wednesday


@pytest.fixture
def agent() -> FakeAgent:
    return FakeAgent()


def recorded(secrets: MemorySecrets, changed_on, accounts=("enterprise", "personal"), **kw):  # type: ignore[no-untyped-def]
    """Put password-change records into the (in-memory) keyring, as the tray would."""
    store = pa.PasswordAgeStore(secrets_=secrets)
    for account in accounts:
        store.save(pa.PasswordRecord(account_type=account, changed_on=changed_on, **kw))


@pytest.fixture
def secrets(clock: Clock) -> MemorySecrets:
    """Both accounts recorded as changed today, unless a test clears them."""
    s = MemorySecrets()
    recorded(s, clock().date())
    return s


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    s = QSettings(str(tmp_path / "tray.ini"), QSettings.Format.IniFormat)
    s.setValue("language", "en")
    return s


@pytest.fixture
def make_tray(qtbot, agent, secrets, settings, clock) -> Iterator:  # type: ignore[no-untyped-def]
    made: list[Tray] = []

    def make(start: bool = True, **kw) -> Tray:  # type: ignore[no-untyped-def]
        tray = Tray(
            agent,
            kw.pop("settings", settings),
            password_store=pa.PasswordAgeStore(secrets_=secrets),
            clock=clock,
            poll_timeout=0.2,
            retry_min=0.05,
            retry_max=0.2,
            **kw,
        )
        made.append(tray)
        if start:
            tray.start()
        return tray

    yield make
    for tray in made:
        tray.stop()
        tray.pump.stop(wait=2.0)
        tray.bridge.wait_idle(5000)
        tray.lang.install("en")  # translators are per application: leave it in English
        for w in list(tray.windows.values()):
            w.close()
            w.deleteLater()
