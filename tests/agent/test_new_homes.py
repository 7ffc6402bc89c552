"""On this machine, for real: an account created while the agent runs, with its home outside
/home (`useradd -d /srv/…/alice -m`), has its home scanned at once — the agent watches the
user database — not at the next periodic scan an hour later."""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import Settings
from agent.paths import AgentPaths, Mode
from agent.service import AgentService
from checks.api import live_scanner
from tests.support.accounts import add_user, remove_user

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0,
    reason="needs root on Linux (useradd, scanning other users' homes)",
)


@pytest.fixture
def live_service(tmp_path: Path) -> Iterator[AgentService]:
    paths = AgentPaths.resolve(Mode.SYSTEM, tmp_path / "state")
    # No periodic scan during the test: only an event can find the new home.
    settings = Settings(watch_debounce_s=0.05, process_poll_s=0.5, scan_interval_s=3600)
    service = AgentService(settings, paths, live_scanner())
    service.start()
    try:
        assert service.wait_for_scans(1, 120)
        yield service
    finally:
        service.stop()


@pytest.fixture
def srv_people() -> Iterator[Path]:
    """An existing folder outside /home that nothing watches (as /srv/people would be)."""
    base = Path("/srv") / f"wxd-{uuid.uuid4().hex[:6]}" / "people"
    base.mkdir(parents=True)
    try:
        yield base
    finally:
        shutil.rmtree(base.parent, ignore_errors=True)


def _until(check: object, timeout: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if callable(check) and check():
            return time.monotonic() - start
        time.sleep(0.05)
    return None


def test_useradd_with_a_home_outside_home_is_scanned_without_waiting(
    live_service: AgentService, srv_people: Path, tmp_path: Path
) -> None:
    name = f"wxd{uuid.uuid4().hex[:8]}"
    home = srv_people / "alice"
    skel = tmp_path / "skel"
    (skel / "bots" / "wx").mkdir(parents=True)
    (skel / "bots" / "wx" / "itchat.pkl").write_bytes(b"session")  # the new hire's old laptop
    where = str(home.relative_to("/"))

    def found() -> bool:
        return any(
            f["rule_id"] == "itchat" and where in str(f.get("evidence", ""))
            for f in live_service.findings()
        )

    assert not found()
    periodic = live_service.scans_by_trigger.get("periodic", 0)
    started = time.monotonic()
    try:
        add_user(name, home=True, shell="/bin/bash", home_dir=str(home), skel=str(skel))
        added = time.monotonic() - started
        took = _until(found, 30)
    finally:
        remove_user(name, home=True)
    assert took is not None, [(f["rule_id"], f.get("evidence")) for f in live_service.findings()]
    assert live_service.scans_by_trigger.get("periodic", 0) == periodic  # an event found it
    print(f"useradd took {added:.2f} s; first finding in the new home {took:.2f} s after it began")
