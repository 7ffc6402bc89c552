"""Device credentials: a 0600 file in system mode, the real OS keyring in user mode, and never a
silent plaintext fallback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keyring.backend
import keyring.backends.fail
import pytest

from agent.credentials import (
    AgentKeyring,
    Credentials,
    CredentialsError,
    FileCredentialStore,
    KeyringCredentialStore,
)

ROOT = Path(__file__).resolve().parents[2]
CREDS = Credentials("3f9b7c1e-0000-4000-8000-000000000001", "tok-very-secret", "https://wx.corp")


def test_file_store_round_trip_with_mode_0600(tmp_path: Path) -> None:
    store = FileCredentialStore(tmp_path / "state" / "credentials.json")
    assert store.load() is None
    store.save(CREDS)
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.load() == CREDS
    store.save(Credentials(CREDS.device_id, "tok-rotated", CREDS.server_url))
    assert store.load().token == "tok-rotated"  # type: ignore[union-attr]
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["credentials.json"]
    assert "tok-" not in repr(store.load())
    store.clear()
    assert store.load() is None


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    store = FileCredentialStore(tmp_path / "credentials.json")
    store.save(CREDS)
    os.chmod(store.path, mode)
    with pytest.raises(CredentialsError) as info:
        store.load()
    assert "chmod 600" in info.value.en and "chmod 600" in info.value.zh
    assert "吊销" in info.value.zh  # tells the employee/IT what to do, in both languages


def test_file_of_another_owner_is_refused(tmp_path: Path) -> None:
    store = FileCredentialStore(tmp_path / "credentials.json")
    store.save(CREDS)
    if os.geteuid() == 0:
        os.chown(store.path, 65534, 65534)  # planted by someone else
    else:
        os.chmod(store.path, 0o600)
        store.path.unlink()
        os.symlink("/etc/passwd", store.path)  # a symlink is never followed either
    with pytest.raises(CredentialsError):
        store.load()


def test_corrupt_file_says_what_to_do(tmp_path: Path) -> None:
    store = FileCredentialStore(tmp_path / "credentials.json")
    store.save(CREDS)
    store.path.write_text("{not json")
    with pytest.raises(CredentialsError, match="enroll again"):
        store.load()


class PlaintextBackend(keyring.backend.KeyringBackend):
    """Stands in for keyrings.alt's plaintext file: a store wxguard must refuse."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.data.pop((service, username), None)


def test_refused_backends_raise_one_bilingual_error_and_store_nothing() -> None:
    plain = PlaintextBackend()
    for backend in (plain, keyring.backends.fail.Keyring()):
        store = KeyringCredentialStore(AgentKeyring(backend))
        with pytest.raises(CredentialsError) as info:
            store.save(CREDS)
        assert "明文" in info.value.zh and "plain text" in info.value.en
        with pytest.raises(CredentialsError):
            store.load()
    assert plain.data == {}

    def discover() -> keyring.backend.KeyringBackend:
        return plain

    with pytest.raises(CredentialsError, match="no secure backend"):
        AgentKeyring(discover=discover).get("device-id")


SESSION_CHECK = textwrap.dedent(
    """
    import json, secretstorage
    from datetime import UTC, datetime
    from pathlib import Path
    from agent.credentials import (AgentKeyring, Credentials, CredentialsError,
                                   KeyringCredentialStore, backend_name)
    from agent.outbox import KeyringKeyProvider, Kind, Outbox

    out = {}
    ring = AgentKeyring()
    store = KeyringCredentialStore(ring)
    out["backend"] = backend_name(ring.backend())
    out["before"] = store.load() is None
    creds = Credentials("dev-1", "tok-in-keyring", "https://wx.corp")
    store.save(creds)
    # A fresh wrapper (a restarted agent) finds the same credentials.
    out["reloaded"] = KeyringCredentialStore(AgentKeyring()).load() == creds
    out["token_entry"] = AgentKeyring().get("device-token")

    folder = Path.cwd()
    box = Outbox(folder / "outbox.db", KeyringKeyProvider(AgentKeyring()))
    item = box.put(Kind.REPORT, {"summary": "keyring-secret-text"}, "report-00000001",
                   datetime.now(UTC))
    box.close()
    box = Outbox(folder / "outbox.db", KeyringKeyProvider(AgentKeyring()))
    out["outbox_readable"] = box.get(item).payload == {"summary": "keyring-secret-text"}
    out["outbox_key_entry"] = AgentKeyring().get("outbox-key") is not None

    store.clear()
    out["cleared"] = store.load() is None
    store.save(creds)

    # Lock the collection: a locked keyring is an error, never a fallback.
    bus = secretstorage.dbus_init()
    secretstorage.get_default_collection(bus).lock()
    try:
        KeyringCredentialStore(AgentKeyring()).load()
        out["locked"] = "no error"
    except CredentialsError as exc:
        out["locked"] = exc.en
    print(json.dumps(out))
    """
)


def run_in_keyring_session(tmp_path: Path, script: str, unlock: bool = True) -> dict[str, object]:
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "check.py").write_text(script)
    start = (
        "echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; "
        if unlock
        else ""
    )
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "LANG": "C.UTF-8",
    }
    proc = subprocess.run(
        [
            "timeout",
            "60",
            "dbus-run-session",
            "--",
            "sh",
            "-c",
            f'{start}exec "{sys.executable}" check.py',
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_user_mode_against_a_real_secret_service(tmp_path: Path) -> None:
    out = run_in_keyring_session(tmp_path, SESSION_CHECK)
    assert out["backend"] == "keyring.backends.SecretService.Keyring"
    assert out["before"] is True
    assert out["reloaded"] is True
    assert out["token_entry"] == "tok-in-keyring"
    assert out["outbox_readable"] is True and out["outbox_key_entry"] is True
    assert out["cleared"] is True
    assert isinstance(out["locked"], str) and "never stores secrets in plain text" in out["locked"]


NO_KEYRING_CHECK = textwrap.dedent(
    """
    import json
    from agent.credentials import AgentKeyring, CredentialsError, KeyringCredentialStore
    try:
        KeyringCredentialStore(AgentKeyring()).load()
        print(json.dumps({"error": None}))
    except CredentialsError as exc:
        print(json.dumps({"error": exc.en, "zh": exc.zh}))
    """
)


def test_session_without_an_unlocked_keyring_is_an_error_not_a_hang(tmp_path: Path) -> None:
    out = run_in_keyring_session(tmp_path, NO_KEYRING_CHECK, unlock=False)
    assert isinstance(out["error"], str) and "unlock the keyring" in out["error"]
    assert isinstance(out["zh"], str) and "钥匙串" in out["zh"]
