"""An exception IT granted ends on time on the device: the agent scans when it expires (the
periodic scan may be an hour away and nothing changes on disk), so the finding is open again
within a second or so, and the status says which scan did it."""

from __future__ import annotations

import time

from tests.agent.conftest import InProcessAgent

REASON = {"zh": "开发测试机", "en": "developer test machine"}


def _wait(check: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_the_agent_rescans_when_an_exception_ends(in_process_agent: InProcessAgent) -> None:
    service = in_process_agent.service
    site = in_process_agent.image / "home/alice/.local/lib/python3.11/site-packages"
    (site / "wcferry-39.6.0.0.dist-info").mkdir()
    service.request_scan("manual")
    assert _wait(lambda: any(f["rule_id"] == "wechatferry" for f in service.findings()), 30)
    (finding,) = [f for f in service.findings() if f["rule_id"] == "wechatferry"]
    service.scan_interval_s = 3600.0  # no periodic scan during the test
    expires = time.time() + 4.0
    grant = {
        "rule_id": "wechatferry",
        "key": finding["key"],
        "reason": REASON,
        "expires": expires,
        "group": "研发测试机",
    }
    service.apply_catalogue(service.scanner.catalogue.with_exceptions([grant]))
    assert _wait(lambda: bool(service.status()["excepted"]), 10)
    (shown,) = service.status()["excepted"]
    assert shown["exception"]["group"] == "研发测试机" and shown["exception"]["expires"] == expires
    assert not [f for f in service.findings() if f["rule_id"] == "wechatferry"]
    assert service.status()["open_findings"] == 0

    assert _wait(lambda: bool(service.findings()), expires - time.time() + 5.0)
    reopened = time.time() - expires
    status = service.status()
    assert status["excepted"] == [] and status["scans_by_trigger"]["exception-expired"] == 1
    assert status["last_scan"]["trigger"] == "exception-expired"
    print(f"exception ended → finding open again after {reopened:.2f} s")
