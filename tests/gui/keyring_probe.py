"""Run inside a private D-Bus session by test_keyring_real.py: exercises PasswordAgeStore
against whatever Secret Service the session offers and prints one JSON line of results."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone

import keyring

from agent import password_age as pa


def scenario() -> dict[str, object]:
    now = datetime(2026, 11, 25, 10, 0, tzinfo=timezone(timedelta(hours=8)))
    store = pa.PasswordAgeStore()
    record = pa.record_change("enterprise", date(2026, 11, 20), now)
    store.save(record)
    fresh = pa.PasswordAgeStore()  # a new process would start like this: nothing cached
    back = fresh.load("enterprise")
    raw = subprocess.run(
        ["secret-tool", "lookup", "service", pa.SERVICE, "username", "enterprise"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # Someone edits the stored date by hand to silence the reminders.
    keyring.set_password(pa.SERVICE, "enterprise", raw.replace("2026-11-20", "2026-11-24"))
    edited = pa.PasswordAgeStore().load("enterprise")
    status = pa.assess("enterprise", edited, pa.PasswordPolicy(), now)
    return {
        "backend": type(keyring.get_keyring()).__module__,
        "round_trip": back == pa.Loaded(record),
        "secret_tool_sees": "2026-11-20" in raw and '"tag"' in raw,
        "key_entry": bool(keyring.get_password(pa.SERVICE, pa.KEY_INTEGRITY)),
        "modified": edited.modified,
        "state": status.state,
        "personal": pa.PasswordAgeStore().load("personal").record is None,
    }


def no_service() -> dict[str, object]:
    try:
        pa.PasswordAgeStore().save(pa.PasswordRecord("enterprise", changed_on=date(2026, 11, 20)))
    except pa.KeyringUnavailable as exc:
        return {"error": exc.code, "zh": exc.zh, "en": exc.en}
    return {"error": None}


if __name__ == "__main__":
    result = scenario() if sys.argv[1] == "scenario" else no_service()
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
