"""The one function that says whether a device is compliant: every state, its reasons."""

from __future__ import annotations

from dataclasses import replace

import pytest

from protocol.device_state import (
    Coverage,
    DeviceInputs,
    ScanOutcome,
    State,
    device_state,
    state_of_status,
)

OK = ScanOutcome.OK


@pytest.mark.parametrize(
    ("inputs", "state", "codes"),
    [
        (DeviceInputs(), State.UNKNOWN, ["never-scanned"]),
        (DeviceInputs(OK, 1000.0), State.COMPLIANT, ["all-clear"]),
        (DeviceInputs(ScanOutcome.FAILED, 1000.0), State.BLIND, ["scan-failed"]),
        (
            DeviceInputs(OK, 1000.0, Coverage(False, 0, ("packages",))),
            State.BLIND,
            ["probe-failed"],
        ),
        (DeviceInputs(OK, 1000.0, Coverage(False, 2)), State.BLIND, ["partial-coverage"]),
        # Known problems outrank doubt; the doubt is still said.
        (
            DeviceInputs(OK, 1000.0, Coverage(False, 1), open_findings=1, worst_severity="high"),
            State.NON_COMPLIANT,
            ["open-findings", "partial-coverage"],
        ),
        (DeviceInputs(OK, 1000.0, overdue_passwords=1), State.NON_COMPLIANT, ["password-overdue"]),
        (
            DeviceInputs(OK, 1000.0, now=1000.0 + 7200, max_scan_age_s=3600),
            State.UNKNOWN,
            ["scan-stale"],
        ),
    ],
)
def test_states_and_reasons(inputs: DeviceInputs, state: State, codes: list[str]) -> None:
    result = device_state(inputs)
    assert result.state is state and [r.code for r in result.reasons] == codes
    assert result.compliant is (state is State.COMPLIANT)
    assert all(r.zh and r.en for r in result.reasons)


def test_coverage_from_the_wire_is_lenient_but_never_complete_with_a_failed_probe() -> None:
    assert Coverage.from_json(None) == Coverage()
    assert Coverage.from_json({"complete": True, "failed_probes": ["apps"]}).complete is False
    assert Coverage.from_json({"blind_spots": "x"}).blind_spots == 0


def test_state_of_an_older_agents_status_is_computed_from_its_fields() -> None:
    legacy = {
        "compliant": True,
        "open_findings": 0,
        "last_scan": {"started_at": 1.0},
        "blind_spots": [{"probe": "packages", "what": "the whole probe", "reason": "failed"}],
    }
    assert state_of_status(legacy).state is State.BLIND
    assert state_of_status({"compliant": True, "last_scan": None}).state is State.UNKNOWN
    sent = device_state(DeviceInputs(ScanOutcome.FAILED, 1.0)).to_json()
    assert state_of_status(sent).state is State.BLIND


# --- issue 16: password age, keyring, policy acknowledgement -----------------------------


def test_keyring_policy_and_password_inputs_decide_with_next_steps() -> None:
    from protocol.device_state import state_for_person

    good = DeviceInputs(last_scan=ScanOutcome.OK, scanned_at=1.0)
    assert device_state(good).compliant
    no_keyring = device_state(replace(good, keyring_available=False))
    assert no_keyring.state is State.BLIND
    assert no_keyring.reasons[0].code == "keyring-unavailable"
    assert "gnome-keyring" in no_keyring.reasons[0].step_en
    unacked = device_state(replace(good, policy_unacknowledged=True, policy_text_version="v2"))
    assert unacked.state is State.NON_COMPLIANT
    assert unacked.to_json()["reasons"][0]["next_step"]["zh"].startswith("阅读并确认制度")
    # The agent's inputs travel in its status; the employee's session adds its own facts.
    status = {"state_inputs": good.to_json()}
    assert DeviceInputs.from_json(good.to_json()) == good
    overdue = state_for_person(status, 1, 0, True)
    assert overdue.state is State.NON_COMPLIANT and overdue.reasons[0].code == "password-overdue"
    unrecorded = state_for_person(status, 0, 2, True)
    assert unrecorded.state is State.BLIND and unrecorded.reasons[0].code == "password-unrecorded"
    assert state_for_person(status, 0, 0, True).compliant
    # Never compliant before a scan, whatever the passwords say.
    assert state_for_person({"state_inputs": DeviceInputs().to_json()}, 0, 0, True).state is (
        State.UNKNOWN
    )


CLEAN = DeviceInputs(OK, 1000.0)


def test_reasons_read_as_sentences_in_both_languages() -> None:
    """No raw severity id in Chinese, no "(s)" in English: the words a person reads."""
    one = device_state(replace(CLEAN, open_findings=1, worst_severity="critical"))
    three = device_state(
        replace(CLEAN, open_findings=3, worst_severity="high", overdue_passwords=2)
    )
    assert one.reasons[0].zh == "有 1 项待处理的发现（最高：严重）。"
    assert one.reasons[0].en == "1 open finding (worst: critical)."
    assert three.reasons[0].en == "3 open findings (worst: high)."
    assert three.reasons[1].en == "2 WeChat passwords overdue for a change."
    for reason in (*one.reasons, *three.reasons):
        assert "(s)" not in reason.en and "critical" not in reason.zh and "high" not in reason.zh
