"""The fix of a finding as people read it, from the JSON of a new agent and of an older one,
and the structured steps on the wire to the server (additive: old fields kept)."""

from __future__ import annotations

from agent.server_client import wire_finding
from agent.store import FindingRecord
from checks.catalogue import load_builtin
from checks.model import Evidence, Finding
from protocol.finding_text import fix_lines, fix_of
from protocol.messages import FindingIn

RULE = next(r for r in load_builtin().rules if r.id == "electronic-wechat")
FINDING = Finding(
    rule_id=RULE.id,
    title=RULE.title,
    category=RULE.category,
    severity=RULE.severity,
    remediation=RULE.remediation,
    steps=RULE.steps,
    evidence=(Evidence("file", "file .ew.json", path="home/alice/.ew.json"),),
    subject=RULE.id,
)


def test_new_agent_steps_are_numbered_whole_sentences() -> None:
    intro, steps = fix_of(FINDING.to_json(), "en")
    assert intro.startswith("Electronic WeChat is a third-party wrapper")
    assert steps[1] == "Delete ~/.ew.json and its data folder."
    lines = fix_lines(FINDING.to_json(), "zh")
    assert (
        lines[1].startswith("1. 退出并卸载它")
        and lines[2] == "2. 删除 ~/.ew.json 和它的数据文件夹。"
    )


def test_flat_text_for_older_readers_keeps_the_numbers() -> None:
    body = FINDING.to_json("en")
    assert "\n1. Quit and uninstall it" in body["remediation"]
    assert "\n2. Delete ~/.ew.json and its data folder." in body["remediation_i18n"]["en"]


def test_older_agents_flat_text_is_one_paragraph_never_cut_at_dots() -> None:
    old = {"remediation": "Quit it; delete ~/.ew.json and its data folder; report it."}
    assert fix_of(old, "en") == (old["remediation"], [])


def test_steps_travel_to_the_server_and_validate() -> None:
    record = FindingRecord(FINDING.key, RULE.id, "high", "unofficial-client",
                           FINDING.to_json(), 1795000000.0, 1795000000.0, None)  # fmt: skip
    wire = FindingIn.model_validate(wire_finding(record, "new"))
    assert wire.remediation_steps is not None
    assert wire.remediation_steps.en[1] == "Delete ~/.ew.json and its data folder."
    assert wire.remediation_intro_i18n is not None
    assert wire.remediation_i18n is not None and "\n4. " in wire.remediation_i18n.en
