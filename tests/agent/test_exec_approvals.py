"""The approval-request limiter on its own, with a clock the test moves (agent.exec_approvals):
the bucket refills evenly over the hour, accounts do not share it, a duplicate spends nothing,
and a request that fails to queue gives its token back."""

from __future__ import annotations

import pytest

from agent.api import AgentError
from agent.exec_approvals import ApprovalLimiter, program_key
from protocol import blocked


def _about(n: int) -> str:
    return blocked.describe({"name": f"tool{n}", "path": f"/tmp/tool{n}"}, "work")


def test_refills_evenly_per_account_and_folds_duplicates() -> None:
    now = [1000.0]
    limiter = ApprovalLimiter(per_hour=3, clock=lambda: now[0], wall=lambda: 0.0)
    for n in range(3):
        with limiter.admission(1000, _about(n)):
            pass
    with pytest.raises(AgentError) as info:
        limiter.admission(1000, _about(0)).__enter__()
    assert info.value.code == "already-requested"
    with pytest.raises(AgentError) as info:
        limiter.admission(1000, _about(3)).__enter__()
    assert info.value.code == "rate-limited" and "Try again in 20 min" in info.value.en
    with limiter.admission(1001, _about(3)):  # another account has its own bucket
        pass
    now[0] += 1200  # a third of an hour: one token back
    with limiter.admission(1000, _about(3)):
        pass
    with pytest.raises(AgentError):
        limiter.admission(1000, _about(4)).__enter__()


def test_a_request_that_fails_to_queue_gives_its_token_back() -> None:
    limiter = ApprovalLimiter(per_hour=1, clock=lambda: 0.0)
    with pytest.raises(OSError), limiter.admission(7, _about(1)):
        raise OSError("disk full")
    with limiter.admission(7, _about(1)):  # neither a duplicate nor over the limit
        pass


def test_program_key_prefers_the_digest() -> None:
    text = blocked.describe({"name": "x", "path": "/a/x", "sha256": "AB" * 32}, "")
    assert program_key(text) == "sha256:" + "ab" * 32
    assert program_key(_about(2)) == "path:/tmp/tool2"
    assert program_key("no fields at all") == ""
