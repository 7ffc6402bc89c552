"""What an employee reads about a real finding in the status window: the steps of the real
rule, numbered 1., 2., … in the chosen language, and evidence without rule templates."""

from __future__ import annotations

import re
from pathlib import Path

from checks.api import scan_image
from checks.catalogue import load_builtin
from checks.model import Lang, Platform
from tests.checks.images import build
from tests.checks.rule_fixtures import fixture_for
from tests.gui.fake_agent import status


def _real_finding(tmp_path: Path, rule_id: str, lang: Lang, live: bool = False) -> dict:  # type: ignore[type-arg]
    """The finding the real engine makes on an image holding the tool; `live`: as the agent
    stores it for this running machine (root "/")."""
    root = build(tmp_path / "img", Platform.LINUX, *fixture_for(rule_id, Platform.LINUX))
    result = scan_image(str(root), Platform.LINUX, load_builtin())
    (finding,) = [f for f in result.findings if f.rule_id == rule_id]
    body = finding.to_json(lang, "/", True) if live else finding.to_json(lang, result.root, False)
    body.update(first_seen=1795000000.0, last_seen=1795000100.0)
    return body


def _plain(window) -> str:  # type: ignore[no-untyped-def]
    # toMarkdown keeps the list numbers Qt draws for <ol> (toPlainText drops them).
    return re.sub(r"(?m)^(\d+\.)\s+", r"\1 ", window.detail.document().toMarkdown())


def test_status_window_numbers_the_real_rules_steps(qtbot, make_tray, agent, tmp_path) -> None:
    agent.set("status", status(compliant=False))
    agent.set("findings", [_real_finding(tmp_path, "electronic-wechat", Lang.EN)])
    w = make_tray().open_status()
    qtbot.waitUntil(lambda: "How to fix it" in w.detail.toPlainText(), timeout=3000)
    text = _plain(w)
    assert "1. Quit and uninstall it" in text
    assert "2. Delete ~/.ew.json and its data folder." in text
    assert "4. Report it to the information-security department." in text
    # Never the fragments of a text cut at every "." and ";".
    assert "json and its data folder;" not in text and "2. 1." not in text


def test_status_window_steps_in_chinese(qtbot, make_tray, agent, settings, tmp_path) -> None:
    settings.setValue("language", "zh_CN")
    agent.set("status", status(compliant=False))
    agent.set("findings", [_real_finding(tmp_path, "electronic-wechat", Lang.ZH)])
    w = make_tray().open_status()
    qtbot.waitUntil(lambda: "~/.ew.json" in w.detail.toPlainText(), timeout=3000)
    text = _plain(w)
    assert "1. 退出并卸载它" in text
    assert "2. 删除 ~/.ew.json 和它的数据文件夹。" in text
    assert "Delete" not in text


def test_live_evidence_shows_the_absolute_path_without_templates(
    qtbot, make_tray, agent, tmp_path
) -> None:
    agent.set("status", status(compliant=False))
    agent.set("findings", [_real_finding(tmp_path, "electronic-wechat", Lang.EN, live=True)])
    w = make_tray().open_status()
    qtbot.waitUntil(lambda: "What was found" in w.detail.toPlainText(), timeout=3000)
    text = w.detail.toPlainText()
    assert "file .ew.json — at /home/alice/.ew.json" in text
    assert "{" not in text and "}" not in text


def test_offline_evidence_is_labelled_as_the_image_path_in_chinese(
    qtbot, make_tray, agent, settings, tmp_path
) -> None:
    settings.setValue("language", "zh_CN")
    agent.set("status", status(compliant=False))
    agent.set("findings", [_real_finding(tmp_path, "electronic-wechat", Lang.ZH)])
    w = make_tray().open_status()
    qtbot.waitUntil(lambda: "镜像内路径" in w.detail.toPlainText(), timeout=3000)
    text = w.detail.toPlainText()
    assert "文件 .ew.json — 镜像内路径：home/alice/.ew.json" in text
    assert "{" not in text and " at " not in text
