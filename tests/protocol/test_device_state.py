"""The one function that says whether a device is compliant: every state, its reasons."""

from __future__ import annotations

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
