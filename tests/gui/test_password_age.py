"""agent.password_age: dates, states, the reminder schedule, snoozes, deferrals, integrity."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from agent import password_age as pa
from tests.gui.fake_agent import MemorySecrets

TZ = timezone(timedelta(hours=8))
POLICY = pa.PasswordPolicy()  # 90 days; 14, 7, 3, 1 days before; 3 deferrals


def at(y: int, m: int, d: int, h: int = 10, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=TZ)


def loaded(changed: date | None, **kw) -> pa.Loaded:  # type: ignore[no-untyped-def]
    return pa.Loaded(pa.PasswordRecord("enterprise", changed_on=changed, **kw))


def test_states_follow_the_days_left() -> None:
    changed = date(2026, 9, 1)  # due 2026-11-30
    assert pa.assess("enterprise", loaded(changed), POLICY, at(2026, 9, 2)).state == "ok"
    s = pa.assess("enterprise", loaded(changed), POLICY, at(2026, 11, 23))
    assert (s.state, s.days_left, s.days_since) == ("due-soon", 7, 83)
    assert s.due_on == date(2026, 11, 30)
    s = pa.assess("enterprise", loaded(changed), POLICY, at(2026, 12, 3))
    assert (s.state, s.days_left) == ("overdue", -3)
    assert pa.assess("enterprise", pa.Loaded(None), POLICY, at(2026, 12, 3)).state == "unknown"
    s = pa.assess("enterprise", loaded(changed, no_expiry=True), POLICY, at(2027, 12, 3))
    assert (s.state, s.next_reminder, s.due_on) == ("no-expiry", None, None)


def test_day_counts_are_clamped() -> None:
    s = pa.assess("enterprise", loaded(date(2011, 1, 21)), POLICY, at(2200, 1, 1))
    assert s.days_since == pa.MAX_DAYS and s.days_left == -pa.MAX_DAYS


def test_future_and_absurd_dates_are_refused_in_both_languages() -> None:
    with pytest.raises(pa.PasswordAgeError) as err:
        pa.record_change("enterprise", date(2026, 11, 26), at(2026, 11, 25))
    assert "after today" in err.value.en and "晚于今天" in err.value.zh
    with pytest.raises(pa.PasswordAgeError):
        pa.record_change("enterprise", date(1999, 1, 1), at(2026, 11, 25))
    with pytest.raises(pa.PasswordAgeError):
        pa.record_change("wechat", date(2026, 11, 1), at(2026, 11, 25))


def test_reminder_schedule_is_14_7_3_1_days_then_daily() -> None:
    changed = date(2026, 9, 1)  # due 2026-11-30
    record = loaded(changed)
    now = at(2026, 9, 2)
    fired = []
    for _ in range(8):
        nxt = pa.next_reminder(record, POLICY, now)
        assert nxt is not None
        fired.append(nxt)
        now = nxt
        record = pa.Loaded(pa.reminded(record, "enterprise", nxt))
    assert [f.strftime("%m-%d %H:%M") for f in fired] == [
        "11-16 09:00",
        "11-23 09:00",
        "11-27 09:00",
        "11-29 09:00",
        "11-30 09:00",
        "12-01 09:00",
        "12-02 09:00",
        "12-03 09:00",
    ]


def test_without_daily_after_last_the_due_date_is_the_last_reminder() -> None:
    policy = pa.PasswordPolicy.from_json({"reminder_days": [7], "daily_after_last": False})
    record = loaded(date(2026, 9, 1))  # due 2026-11-30
    first = pa.next_reminder(record, policy, at(2026, 9, 2))
    assert first == at(2026, 11, 23, 9)
    second = pa.next_reminder(pa.Loaded(pa.reminded(record, "enterprise", first)), policy, first)
    assert second == at(2026, 11, 30, 9)
    done = pa.Loaded(pa.reminded(record, "enterprise", second))
    assert pa.next_reminder(done, policy, second) is None


def test_a_missed_reminder_fires_once_on_start() -> None:
    record = loaded(date(2026, 9, 1))
    now = at(2026, 11, 24, 15, 30)  # the 11-23 reminder was missed
    assert pa.next_reminder(record, POLICY, now) == now
    after = pa.Loaded(pa.reminded(record, "enterprise", now))
    assert pa.next_reminder(after, POLICY, now) == at(2026, 11, 27, 9)


def test_snooze_choices_are_concrete_times() -> None:
    wednesday = at(2026, 11, 25, 10)
    choices = pa.snooze_choices(wednesday)
    assert [(c.key, c.at) for c in choices] == [
        ("tomorrow", at(2026, 11, 26, 9)),
        ("monday", at(2026, 11, 30, 9)),
    ]
    sunday = at(2026, 11, 29, 18)
    assert [c.key for c in pa.snooze_choices(sunday)] == ["tomorrow"]  # tomorrow is Monday


def test_snooze_postpones_and_deferrals_are_bounded() -> None:
    record = loaded(date(2026, 8, 1))  # overdue since 10-30
    now = at(2026, 11, 25, 9, 5)
    for n in range(3):
        until = now.replace(hour=9, minute=0) + timedelta(days=1)
        record = pa.Loaded(pa.defer(record, "enterprise", until, POLICY, now))
        assert record.record is not None and record.record.deferrals == n + 1
        assert pa.next_reminder(record, POLICY, now) == until
        now = until
    assert not pa.deferral_allowed(record, POLICY)
    with pytest.raises(pa.PasswordAgeError) as err:
        pa.defer(record, "enterprise", now + timedelta(days=1), POLICY, now)
    assert err.value.code == "deferral-limit"


def test_recording_a_change_stops_reminders_and_resets_deferrals() -> None:
    now = at(2026, 11, 25, 9, 5)
    fresh = pa.Loaded(pa.record_change("enterprise", now.date(), now))
    assert fresh.record is not None and fresh.record.deferrals == 0
    status = pa.assess("enterprise", fresh, POLICY, now)
    assert status.state == "ok"
    assert status.next_reminder == at(2027, 2, 9, 9)  # 14 days before the new due date


def test_policy_from_json_takes_defaults_for_nonsense() -> None:
    assert pa.PasswordPolicy.from_json(None) == POLICY
    p = pa.PasswordPolicy.from_json(
        {"max_age_days": 30, "reminder_days": [3, 10], "max_deferrals": 1}
    )
    assert p == pa.PasswordPolicy(30, (10, 3), 1)
    bad = pa.PasswordPolicy.from_json(
        {"max_age_days": -5, "reminder_days": "x", "max_deferrals": True}
    )
    assert bad == POLICY


def test_store_round_trip_and_tamper_detection() -> None:
    secrets = MemorySecrets()
    store = pa.PasswordAgeStore(secrets_=secrets)
    record = pa.record_change("personal", date(2026, 11, 1), at(2026, 11, 25))
    store.save(record)
    assert store.load("personal") == pa.Loaded(record)
    assert store.load("enterprise") == pa.Loaded(None)
    secrets.values["personal"] = secrets.values["personal"].replace("2026-11-01", "2026-11-20")
    assert store.load("personal").modified
    # A record copied from the other account is not accepted either.
    store.save(pa.record_change("enterprise", date(2026, 11, 2), at(2026, 11, 25)))
    secrets.values["personal"] = secrets.values["enterprise"]
    assert store.load("personal").modified
    status = pa.assess("personal", store.load("personal"), POLICY, at(2026, 11, 25))
    assert status.state == "unknown" and status.modified
    assert "2026" not in str(status.to_report().get("last_changed"))


def test_report_holds_dates_and_states_only() -> None:
    status = pa.assess("enterprise", loaded(date(2026, 9, 1)), POLICY, at(2026, 11, 23))
    assert status.to_report() == {
        "account_type": "enterprise",
        "state": "due-soon",
        "last_changed": "2026-09-01",
        "due_at": "2026-11-30",
        "deferrals": 0,
        "no_expiry": False,
    }


def test_a_failing_keyring_raises_one_error_type() -> None:
    secrets = MemorySecrets()
    secrets.fail = RuntimeError("org.freedesktop.secrets was not provided")
    store = pa.PasswordAgeStore(secrets_=secrets)
    with pytest.raises(pa.KeyringUnavailable) as err:
        store.load("enterprise")
    assert "钥匙串" in err.value.zh and "keyring" in err.value.en
