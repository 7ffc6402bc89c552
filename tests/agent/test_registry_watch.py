"""Windows' profile list watched: a profile made outside C:\\Users is scanned when the registry
changes, not at the next periodic scan. Windows cannot run here: the registry key is a fake
notifier (tests/support/doubles.py) and the profile list a stand-in for winreg's answer; the
layout, the scanner and the watcher thread are the real ones."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from agent.watch_registry import RegistryWatcher
from checks import windows_registry
from checks.catalogue import load_builtin
from checks.engine import Scanner
from checks.layout import Layout
from checks.model import Platform
from tests.support.doubles import FakeRegistryKey

SID_ALICE = "S-1-5-21-1-2-3-1001"
SID_BOB = "S-1-5-21-1-2-3-1002"


def _wait(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_each_change_of_the_key_calls_back_and_a_missing_key_is_retried() -> None:
    key = FakeRegistryKey(fail_opens=2)
    calls: list[float] = []
    watcher = RegistryWatcher("ProfileList", key.notifier, lambda: calls.append(1), retry_s=0.05)
    watcher.start()
    try:
        assert _wait(lambda: watcher.watching), watcher.error
        assert key.opens == 3  # two failed opens, retried
        key.change()
        assert _wait(lambda: len(calls) == 1)
        key.change()  # re-armed: a second change is seen too
        assert _wait(lambda: len(calls) == 2)
    finally:
        watcher.stop()
    assert key.closed == 1 and not watcher.watching


@pytest.fixture
def profiles(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The live profile list (SID -> ProfileImagePath), as winreg would read it."""
    listed: dict[str, str] = {}
    monkeypatch.setattr(windows_registry, "profile_list", lambda: sorted(listed.items()))
    return listed


def test_a_profile_outside_users_is_scanned_when_the_profile_list_changes(
    tmp_path: Path, profiles: dict[str, str]
) -> None:
    root = tmp_path / "c"
    (root / "Users" / "alice").mkdir(parents=True)
    profiles[SID_ALICE] = str(root / "Users" / "alice")
    layout = Layout(root=root, platform=Platform.WINDOWS, live=True, refreshable=True)
    layout.users = layout._discover_users()
    scanner = Scanner(layout, load_builtin(), None)
    assert layout.user_database_keys() == [windows_registry.PROFILE_LIST]
    first = scanner.scan()
    assert not [f for f in first.findings if f.rule_id == "itchat"]

    # A new account's profile on another folder: Windows writes the list at first logon,
    # before the profile's folder exists (pending, watched where it will appear) ...
    bob = tmp_path / "d" / "Profiles" / "bob"
    bob.parent.mkdir(parents=True)
    profiles[SID_BOB] = str(bob)
    scans: list[list[str]] = []
    done = threading.Event()

    def rescan() -> None:  # what the agent's "accounts" trigger does: a scan
        result = scanner.scan()
        scans.append([e.path for f in result.findings if f.rule_id == "itchat" for e in f.evidence])
        done.set()

    key = FakeRegistryKey()
    watcher = RegistryWatcher("ProfileList", key.notifier, rescan)
    watcher.start()
    try:
        assert _wait(lambda: watcher.watching)
        key.change()
        assert done.wait(60)
        assert str(bob) in layout.pending_homes
        assert str(bob.parent) in scanner.fs.watch_dirs()  # where the folder will appear
        # ... then the folder, with a bot's session file in it; the list changes again.
        (bob / "Documents" / "wx").mkdir(parents=True)
        (bob / "Documents" / "wx" / "itchat.pkl").write_bytes(b"session")
        done.clear()
        key.change()
        assert done.wait(60)
    finally:
        watcher.stop()
    assert [u.name for u in layout.users] == ["alice", "bob"]
    assert any(p.endswith("bob/Documents/wx/itchat.pkl") for p in scans[-1]), scans
