"""The dashboard's policy page names each policy by its one label, the one the tray and
`wxguard status` show (protocol.policy.policy_label; issue 11)."""

from __future__ import annotations

import html
import json
import re

from protocol.policy import policy_label
from tests.server.conftest import Harness
from tests.server.test_dashboard import csrf_of
from tests.server.test_policy import POLICY


def _cells(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [html.unescape(c) for c in re.findall(r"<tr><td>(.*?)</td>", body)]


def test_the_policy_page_shows_each_policy_by_the_label_the_tray_shows(harness: Harness) -> None:
    harness.add_admin()
    harness.login()
    text_version = POLICY["text"]["version"]  # type: ignore[index]
    csrf = csrf_of(harness.client.get("/policy").text)
    # The form's last step: the reviewed document, confirmed against the version it saw.
    first = harness.client.post(
        "/policy",
        data={
            "document": json.dumps(POLICY),
            "csrf_token": csrf,
            "confirm": "1",
            "base_version": "0",
        },
    )
    assert f"Published {policy_label(1, text_version)}." in html.unescape(first.text)
    csrf = csrf_of(first.text)
    second = {**POLICY, "text": {**POLICY["text"], "version": "2026-12"}}  # type: ignore[dict-item]
    harness.client.post(
        "/policy",
        data={
            "document": json.dumps(second),
            "csrf_token": csrf,
            "confirm": "1",
            "base_version": "1",
        },
    )
    page = html.unescape(harness.client.get("/policy").text)
    assert f'<p id="current-version">{policy_label(2, "2026-12")} · ' in page
    assert policy_label(2, "2026-12") == "v2 · 2026-12"
    # the history: newest first or not, every row by its label, never a bare number
    assert sorted(_cells(page)) == sorted([policy_label(1, text_version), "v2 · 2026-12"])
    assert "<td>1</td>" not in page and "<td>2</td>" not in page
