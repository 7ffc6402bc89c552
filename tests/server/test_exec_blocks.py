"""IT's page of programs blocked at exec and of employees' approval requests, over the real app
and database: admins only, every block and request with device, user, program, rule and the
employee's reason; incident reports stay on their own page."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from protocol import blocked
from tests.server.conftest import DeviceCreds, Harness
from tests.server.test_reports import REPORT

BLOCK = {
    "name": "chat-export",
    "path": "/home/alice/Downloads/chat-export",
    "sha256": "ab" * 32,
    "rule_id": "wechat-db-dumper",
    "mode": "block",
    "user": "alice",
    "pid": 4242,
}


def _post(harness: Harness, device: DeviceCreds, **fields: Any) -> str:
    report = dict(REPORT, idempotency_key=str(uuid.uuid4()), **fields)
    response = harness.client.post("/api/v1/reports", json=report, headers=device.headers)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["case"])


def test_it_sees_every_block_and_every_approval_request(harness: Harness) -> None:
    harness.add_admin()
    device = harness.enroll("finance-pc-07")
    block = _post(
        harness,
        device,
        category="exec-blocked",
        summary="wxguard blocked chat-export (rule wechat-db-dumper)",
        description=blocked.describe(BLOCK),
    )
    audit = _post(
        harness,
        device,
        category="exec-blocked",
        summary="wxguard would block (audit) wx-multi (rule wechat-multi-open)",
        description=blocked.describe(
            dict(BLOCK, name="wx-multi", path="/tmp/wx-multi", mode="audit")
        ),
    )
    request = _post(
        harness,
        device,
        category="approval-request",
        summary="Approval requested: chat-export (rule wechat-db-dumper)",
        description=blocked.describe(BLOCK, "Legal case <script>alert(1)</script>\nsecond line"),
    )
    incident = _post(harness, device)  # an ordinary incident report: not on this page

    anonymous = TestClient(harness.app).get("/exec-blocks", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"

    harness.login()
    page = harness.client.get("/exec-blocks")
    assert page.status_code == 200
    html = page.text
    assert 'href="/exec-blocks"' in harness.client.get("/fleet").text  # in the navigation
    for case in (block, audit, request):
        assert case in html
    assert incident not in html
    assert "finance-pc-07" in html and "alice" in html
    assert "/home/alice/Downloads/chat-export" in html and "wechat-db-dumper" in html
    assert "Program blocked at start" in html and "Request to approve a program" in html
    assert "audit mode, not stopped" in html  # the would-block says it ran
    assert "Legal case &lt;script&gt;" in html and "<script>alert" not in html

    only_requests = harness.client.get("/exec-blocks?kind=approval-request").text
    assert request in only_requests and block not in only_requests

    harness.client.get("/lang/zh?next=/exec-blocks")
    zh = harness.client.get("/exec-blocks").text
    assert "被阻止的程序与审批申请" in zh and "员工的理由" in zh and "软件使用审批申请" in zh
