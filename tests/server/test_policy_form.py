"""Policy authoring on the dashboard: the form starts from the current policy (a block left
alone keeps its values), unknown rule ids are refused in both languages, nothing is signed
before the diff is confirmed, and bad input loses nothing."""

from __future__ import annotations

import copy
import html
import json
import re
from typing import Any

from server import crud
from tests.server.conftest import Harness, run_cli
from tests.server.test_dashboard import audit_actions, csrf_of
from tests.server.test_policy import POLICY, publish


def current(harness: Harness) -> dict[str, Any]:
    with harness.sessions() as session:
        policy = crud.current_policy(session, harness.clock.now())
        assert policy is not None
        return dict(json.loads(policy.payload))


def form_of(page: str) -> dict[str, Any]:
    """The policy form's fields as the browser would send them unchanged."""
    form = page[
        page.index('id="policy-form"') : page.index("</form>", page.index('id="policy-form"'))
    ]
    data: dict[str, Any] = {"disable": []}
    for m in re.finditer(r"<input ([^>]*)>", form):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if "name" not in attrs:
            continue
        if attrs.get("type") == "checkbox":
            if " checked" in m.group(1):
                if attrs["name"] == "disable":
                    data["disable"].append(attrs["value"])
                else:
                    data[attrs["name"]] = attrs["value"]
            continue
        data[attrs["name"]] = html.unescape(attrs.get("value", ""))
    for m in re.finditer(r'<textarea id="(\w+)" name="(\w+)"[^>]*>(.*?)</textarea>', form, re.S):
        data[m.group(2)] = html.unescape(m.group(3))
    for m in re.finditer(r'<select id="(\w+)" name="(\w+)">(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]+)" selected', m.group(3))
        data[m.group(2)] = chosen.group(1) if chosen else ""
    return data


def test_the_form_keeps_what_it_does_not_change_and_shows_a_diff_first(
    harness: Harness,
) -> None:
    policy = copy.deepcopy(POLICY)
    policy["password"]["max_age_days"] = 60
    publish(harness, policy)
    harness.add_admin()
    harness.login()
    page = harness.client.get("/policy").text
    assert 'id="max_age_days" name="max_age_days" inputmode="numeric" value="60"' in page
    # the current policy as a person reads it: rule titles, not ids
    shown = page.split('id="current-policy"')[1].split("</dl>")[0]
    assert "<dd>itchat / itchat-uos WeChat web-protocol bot library detected</dd>" in shown
    form = form_of(page)
    assert form["disable"] == ["itchat"] and form["max_age_days"] == "60"
    form["enforcement"] = "enforce"
    review = harness.client.post("/policy", data=form)
    assert review.status_code == 200, review.text
    diff = re.findall(r'<span class="(add|del)">([^<]*)</span>', review.text)
    changed = [html.unescape(line) for _, line in diff]
    assert changed == ['-  "enforcement": "monitor",', '+  "enforcement": "enforce",'], changed
    assert "policy.publish" not in audit_actions(harness)[-1:]
    assert current(harness)["version"] == 1
    document = html.unescape(
        re.search(r"<textarea name=\"document\" hidden>(.*?)</textarea>", review.text, re.S).group(
            1
        )
    )  # type: ignore[union-attr]
    done = harness.client.post(
        "/policy",
        data={
            "csrf_token": form["csrf_token"],
            "mode": "json",
            "confirm": "1",
            "base_version": "1",
            "document": document,
        },
    )
    assert "Published v2" in done.text
    now = current(harness)
    assert now["enforcement"] == "enforce"
    assert now["password"]["max_age_days"] == 60  # not reset to 90
    assert now["rules"]["add"] and now["rules"]["disable"] == ["itchat"]
    assert now["approved_clients"] == POLICY["approved_clients"]
    assert now["text"]["version"] == "2026-03"


def test_unknown_rule_ids_are_refused_in_both_languages_and_nothing_is_lost(
    harness: Harness,
) -> None:
    publish(harness)
    harness.add_admin()
    harness.login()
    csrf = csrf_of(harness.client.get("/policy").text)
    typo = copy.deepcopy(POLICY)
    typo["rules"]["disable"] = ["itchat", "wechatfery"]
    typed = json.dumps(typo)
    refused = harness.client.post(
        "/policy", data={"csrf_token": csrf, "mode": "json", "document": typed}
    )
    assert refused.status_code == 422
    assert "unknown rule id &#39;wechatfery&#39;" in refused.text
    assert "未知的规则 ID “wechatfery”" in refused.text
    kept = re.search(r'<textarea id="document"[^>]*>(.*?)</textarea>', refused.text, re.S)
    assert kept and html.unescape(kept.group(1)) == typed  # what was typed is still there
    # the form: a bad number keeps every field as typed, nothing published
    form = form_of(harness.client.get("/policy").text)
    form["max_age_days"] = "sixty"
    form["text_en"] = "My careful new wording"
    bad = harness.client.post("/policy", data=form)
    assert bad.status_code == 422 and "must be a whole number" in bad.text
    assert "My careful new wording" in bad.text and 'value="sixty"' in bad.text
    form["max_age_days"] = "60"
    form["disable"] = ["no-such-rule"]
    bad = harness.client.post("/policy", data=form)
    assert bad.status_code == 422 and "no-such-rule" in bad.text
    assert current(harness)["version"] == 1
    assert audit_actions(harness).count("policy.publish") == 1  # the first, by the test


def test_a_version_published_meanwhile_is_shown_before_anything_is_signed(
    harness: Harness,
) -> None:
    publish(harness)
    harness.add_admin()
    harness.login()
    csrf = csrf_of(harness.client.get("/policy").text)
    publish(harness, {**POLICY, "heartbeat_interval_s": 900})  # someone else, meanwhile
    stale = harness.client.post(
        "/policy",
        data={
            "csrf_token": csrf,
            "mode": "json",
            "confirm": "1",
            "base_version": "1",
            "document": json.dumps(POLICY),
        },
    )
    assert stale.status_code == 200 and "was published while you were editing" in stale.text
    assert '-  "heartbeat_interval_s": 900,' in html.unescape(stale.text)
    assert current(harness)["version"] == 2


def test_the_cli_refuses_unknown_rule_ids_too(harness: Harness, tmp_path: Any) -> None:
    typo = copy.deepcopy(POLICY)
    typo["rules"]["disable"] = ["wechatfery"]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(typo))
    db = ["--database-url", harness.settings.database_url]
    result = run_cli(
        "policy", "publish", "--data", str(harness.settings.data_dir), *db, str(path), check=False
    )
    assert result.returncode == 2 and "wechatfery" in result.stderr
