"""Every shipped rule fires on an image of a machine that holds the tool it is about.

The rule list comes from the shipped catalogue, so a new rule without a fixture in
rule_fixtures.py fails here; each indicator is also exercised on its own, so a typo in a
path template or package name (which would silently match nothing) fails too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from checks.api import scan_image
from checks.catalogue import Catalogue, Matcher, Rule, load_builtin
from checks.engine import Scanner
from checks.layout import Layout
from checks.model import Platform, ProcessFact, ScanResult
from protocol.finding_text import evidence_lines
from tests.checks.images import OFFLINE_TYPES, artefact, build, concrete
from tests.checks.rule_fixtures import FIXTURES, fixture_for
from tests.support.doubles import RecordedProcessSource

CATALOGUE = load_builtin()
CATCH_ALL_TYPES = {"integrity", "unrecognised"}


def _indicator_rules() -> list[Rule]:
    """Rules judged on indicators (not only on the built-in integrity/unrecognised checks)."""
    return [r for r in CATALOGUE.rules if any(m.type not in CATCH_ALL_TYPES for m in r.matches)]


RULE_PLATFORMS = [(r.id, p) for r in _indicator_rules() for p in r.platforms]


def _ids(result: ScanResult) -> set[str]:
    return {f.rule_id for f in result.findings}


def test_rules_exist_for_every_category_of_tool() -> None:
    categories = {str(r.category) for r in _indicator_rules()}
    assert {
        "plugin-injection",
        "binary-patcher",
        "multi-open",
        "bot-framework",
        "db-dumper",
        "unofficial-client",
        "browser-extension",
    } <= categories
    assert len(_indicator_rules()) >= 40


@pytest.mark.parametrize(("rule_id", "platform"), RULE_PLATFORMS, ids=lambda v: str(v))
def test_rule_fires_on_its_fixture(tmp_path: Path, rule_id: str, platform: Platform) -> None:
    items = fixture_for(rule_id, platform)
    assert items, f"rule {rule_id} has no fixture for {platform} in tests/checks/rule_fixtures.py"
    root = build(tmp_path / "img", platform, *items)
    result = scan_image(str(root), platform, CATALOGUE)
    findings = [f for f in result.findings if f.rule_id == rule_id]
    assert findings, f"{rule_id} did not fire on {platform}; got {sorted(_ids(result))}"
    for finding in findings:
        assert finding.evidence
        # What a person reads (tray, CLI, log): no rule templates such as {home}, the path
        # inside the image labelled as such, and the words in the reader's language.
        body = finding.to_json("en", result.root, result.live)
        for lang, label in (("en", "path in the image: "), ("zh", "镜像内路径：")):
            for line in evidence_lines(body, lang):
                assert "{" not in line and "}" not in line, line
                assert label in line or not any(e.path for e in finding.evidence), line
            if lang == "zh":
                assert all(re.search(r"[\u4e00-\u9fff]", ln) for ln in evidence_lines(body, lang))
        for ev in finding.evidence:
            if ev.path:
                assert not os.path.isabs(ev.path), ev.path
                assert not ev.path.startswith(".."), ev.path
                assert str(tmp_path) not in ev.path
                assert (root / ev.path).exists() or ev.kind == "extension", ev.path


def test_fixtures_name_only_real_rules() -> None:
    known = {r.id for r in CATALOGUE.rules}
    assert set(FIXTURES) <= known, sorted(set(FIXTURES) - known)


# --- each indicator on its own ------------------------------------------------------------


def _offline_indicators() -> list[tuple[str, Platform, int]]:
    out = []
    for rule in _indicator_rules():
        for i, m in enumerate(rule.matches):
            if m.type not in OFFLINE_TYPES:
                continue
            for platform in m.platforms or rule.platforms:
                if platform in rule.platforms:
                    out.append((rule.id, platform, i))
    return out


@pytest.mark.parametrize(("rule_id", "platform", "index"), _offline_indicators(), ids=str)
def test_each_offline_indicator_fires_alone(
    tmp_path: Path, rule_id: str, platform: Platform, index: int
) -> None:
    rule = CATALOGUE.rule(rule_id)
    matcher = rule.matches[index]
    root = build(tmp_path / "img", platform, *artefact(matcher, platform))
    result = scan_image(str(root), platform, CATALOGUE)
    assert rule_id in _ids(result), f"{matcher} did not make {rule_id} fire on {platform}"


def _live_indicators() -> list[tuple[str, Platform, int]]:
    out = []
    for rule in _indicator_rules():
        for i, m in enumerate(rule.matches):
            if m.type in ("process", "module"):
                for platform in m.platforms or rule.platforms:
                    if platform in rule.platforms:
                        out.append((rule.id, platform, i))
    return out


_WECHAT_PROCESS = {
    Platform.WINDOWS: ("WeChat.exe", "C:/Program Files (x86)/Tencent/WeChat/WeChat.exe"),
    Platform.MACOS: ("WeChat", "/Applications/WeChat.app/Contents/MacOS/WeChat"),
    Platform.LINUX: ("wechat", "/opt/wechat/wechat"),
}


def _process_for(m: Matcher, platform: Platform) -> tuple[ProcessFact, dict[int, list[str]]]:
    if m.type == "module":
        name, exe = _WECHAT_PROCESS[platform]
        proc = ProcessFact(4242, name, exe, (exe,), "alice", 1, 1.0)
        return proc, {4242: [f"/home/alice/tools/{concrete(m.name)}"]}
    name = concrete(m.name) if m.name else "tool"
    cmd = (f"/home/alice/tools/{name}",)
    if m.cmdline:
        cmd += (_example_for(m.cmdline),)
    return ProcessFact(4242, name, cmd[0], cmd, "alice", 1, 1.0), {}


def _example_for(regex: str) -> str:
    """A literal string a simple regular expression matches (escapes and anchors removed)."""
    return re.sub(r"\\(.)", r"\1", regex.strip("^$"))


@pytest.mark.parametrize(("rule_id", "platform", "index"), _live_indicators(), ids=str)
def test_each_process_and_module_indicator_fires(
    tmp_path: Path, rule_id: str, platform: Platform, index: int
) -> None:
    rule = CATALOGUE.rule(rule_id)
    matcher = rule.matches[index]
    proc, mapped = _process_for(matcher, platform)
    root = build(tmp_path / "img", platform)
    scanner = Scanner(
        Layout.image(root, platform), CATALOGUE, RecordedProcessSource([proc], mapped)
    )
    result = scanner.scan()
    hits = [f for f in result.findings if f.rule_id == rule_id]
    assert hits, f"{matcher} did not make {rule_id} fire on {platform}"
    assert any(e.pid == 4242 for f in hits for e in f.evidence)


# --- the data itself ----------------------------------------------------------------------


def test_every_path_template_names_a_place_of_its_platforms(tmp_path: Path) -> None:
    """An unknown `{variable}` makes a template match nothing, silently: catch it here."""
    layouts = {}
    for platform in Platform:
        root = build(tmp_path / str(platform), platform)
        layouts[platform] = Layout.image(root, platform)
    for rule in CATALOGUE.rules:
        for m in rule.matches:
            template = m.path
            if not template:
                continue
            for platform in m.platforms or rule.platforms:
                if platform not in rule.platforms:
                    continue
                expanded = list(layouts[platform].expand(template))
                assert expanded, f"{rule.id}: {template} names no place on {platform}"


def test_every_rule_is_bilingual_with_sources_and_concrete_remediation() -> None:
    for rule in _indicator_rules():
        assert re.search(r"[\u4e00-\u9fff]", rule.title.zh), rule.id
        assert re.search(r"[\u4e00-\u9fff]", rule.remediation.zh), rule.id
        assert "information-security" in " ".join(rule.steps.en), rule.id
        assert "信息安全部门" in "".join(rule.steps.zh), rule.id
        assert rule.references, rule.id
        assert all(ref.startswith("https://") for ref in rule.references), rule.id


def test_rules_do_not_lean_on_generic_indicators() -> None:
    """Names on every developer machine must never be an indicator on their own."""
    generic = {
        "uiautomation",
        "frida",
        "frida-tools",
        "pywinauto",
        "comtypes",
        "pyautogui",
        "adb",
        "adb.exe",
        "node",
        "node.exe",
        "python",
        "python.exe",
        "java",
        "bwrap",
        "wineserver",
        "handle.exe",
        "sidecar",
        "wechatpy",
        "wxpython",
        "weechat",
        "miniprogram-api-typings",
    }
    for rule in _indicator_rules():
        for m in rule.matches:
            assert m.name.casefold() not in generic, (rule.id, m.name)


def _catalogue_without(rule_id: str) -> Catalogue:
    return Catalogue(
        [r for r in CATALOGUE.rules if r.id != rule_id],
        list(CATALOGUE.clients),
        set(),
        yara=list(CATALOGUE.yara),
    )


def test_a_disabled_rule_does_not_fire(tmp_path: Path) -> None:
    root = build(tmp_path / "img", Platform.WINDOWS, *fixture_for("pywxdump", Platform.WINDOWS))
    assert "pywxdump" in _ids(scan_image(str(root), "windows", CATALOGUE))
    assert "pywxdump" not in _ids(scan_image(str(root), "windows", _catalogue_without("pywxdump")))


def test_approved_clients_are_identified_by_place_not_name_alone() -> None:
    for client in CATALOGUE.clients:
        assert client.install_paths or client.packages, client.id
        if client.process_names or client.bundle_ids or client.desktop_ids:
            assert client.install_paths, f"{client.id}: names without a place"
    platforms = {p for c in CATALOGUE.clients for p in c.platforms}
    assert platforms == set(Platform)
    names = " ".join(c.name.en for c in CATALOGUE.clients)
    assert "WeChat" in names and "WeCom" in names


# --- remediation steps (issue 16) ---------------------------------------------------------

VERBS = {
    "Quit", "Uninstall", "Delete", "Run", "Remove", "Stop", "Use", "Click", "Log", "Change",
    "Restart", "Reinstall", "Report", "Install",
}  # fmt: skip
CONDITIONAL_VERBS = {"uninstall", "delete", "contact", "ask"}


def _is_en_instruction(step: str) -> bool:
    first = step.split()[0]
    if first in VERBS:
        return True
    if first in ("If", "Unless") and ", " in step:
        return step.split(", ", 1)[1].split()[0] in CONDITIONAL_VERBS
    return False


@pytest.mark.parametrize("rule", CATALOGUE.rules, ids=lambda r: r.id)
def test_every_rule_has_whole_sentence_steps_in_both_languages(rule: Rule) -> None:
    """Each step is a sentence a person can follow on its own: never a fragment such as
    "json and its data folder;" or "2. 1." left by cutting a text at every '.' and ';'."""
    assert rule.steps.zh and rule.steps.en, rule.id
    assert not re.search(r"(^|\s)1[.、]\s", rule.remediation.en + rule.remediation.zh), (
        "the intro still holds numbered steps"
    )
    for step in rule.steps.en:
        assert re.match(r"^[A-Z]", step), step  # a capital letter, never "json and …"
        assert step.endswith("."), step
        assert not step.endswith((";.", "..")), step
        assert _is_en_instruction(step), f"{rule.id}: no instruction verb: {step}"
        assert len(step) >= 8, step
    for step in rule.steps.zh:
        assert re.match(r"^[\u4e00-\u9fff]", step), step  # starts with a Chinese character
        assert step.endswith("。"), step
        assert "；" not in step.rstrip("。")[-1:], step
        assert not re.match(r"^\d", step), step
