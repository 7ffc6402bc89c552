"""Package metadata judged: real wheels and npm tarballs from the registries, installed into
images where the packages probe looks, found by what their metadata says (field case 7)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from checks.api import scan_image
from checks.catalogue import Catalogue, load_builtin
from checks.model import Platform, ScanResult
from checks.probes.metadata import KnownTools, _Meta, judge
from tests.checks.images import build
from tests.checks.registry import install_npm, install_wheel, tarball, wheel

CATALOGUE = load_builtin()
W, L = Platform.WINDOWS, Platform.LINUX
WIN_SITE = "Users/alice/.venv/Lib/site-packages"
LINUX_SITE = "home/alice/.venv/lib/python3.11/site-packages"


def _without_names(*names: str) -> Catalogue:
    """The shipped catalogue with every package indicator naming `names` removed: what the
    scanner knows about a fork nobody has catalogued yet."""
    rules = []
    for rule in CATALOGUE.rules:
        kept = tuple(m for m in rule.matches if not (m.type == "package" and m.name in names))
        if kept:
            rules.append(replace(rule, matches=kept))
    return Catalogue(rules, list(CATALOGUE.clients), set(), yara=list(CATALOGUE.yara))


UNCATALOGUED = _without_names("haowxdump", "wcfhttp")


def _named_by_a_rule(ecosystem: str, name: str) -> bool:
    return KnownTools.build(UNCATALOGUED).find(ecosystem, name) is not None


def _by_rule(result: ScanResult) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in result.findings:
        out.setdefault(f.rule_id, []).extend(e.package or e.path for e in f.evidence)
    return out


def test_renamed_forks_are_found_by_their_metadata(tmp_path: Path) -> None:
    """Field case 7: haowxdump (a republished PyWxDump) and wcfhttp (depends on wcferry)."""
    assert not _named_by_a_rule("pypi", "haowxdump")
    assert not _named_by_a_rule("pypi", "wcfhttp")
    root = build(tmp_path / "img", W)
    site = root / WIN_SITE
    install_wheel(wheel("haowxdump"), site)
    install_wheel(wheel("wcfhttp"), site)
    result = scan_image(str(root), W, UNCATALOGUED)
    found = {f.rule_id: f for f in result.findings if f.rule_id.startswith("package-meta-")}
    dumper = found["package-meta-db-dumper"]
    assert dumper.evidence[0].package == "haowxdump"
    assert "pywxdump" in dumper.evidence[0].detail
    bot = found["package-meta-bot"]
    assert bot.evidence[0].package == "wcfhttp"
    assert "depends on wcferry" in bot.evidence[0].detail
    assert bot.severity.rank > CATALOGUE.rule("wechatferry").severity.rank
    # PyWxDump's own code inside the fork is recognised by content as well.
    assert "pywxdump" in {f.rule_id for f in result.findings}


def test_a_fork_installed_beside_its_original_is_still_its_own_finding(tmp_path: Path) -> None:
    root = build(tmp_path / "img", L)
    site = root / LINUX_SITE
    install_wheel(wheel("wcfhttp"), site)
    (site / "wcferry-39.0.10.0.dist-info").mkdir(parents=True)
    (site / "wcferry-39.0.10.0.dist-info/METADATA").write_text(
        "Metadata-Version: 2.1\nName: wcferry\nVersion: 39.0.10.0\nRequires-Dist: pynng\n"
    )
    rules = _by_rule(scan_image(str(root), L, UNCATALOGUED))
    assert "wechatferry" in rules and "package-meta-bot" in rules


def test_server_sdks_and_generic_libraries_stay_clean(tmp_path: Path) -> None:
    root = build(tmp_path / "img", L)
    site = root / LINUX_SITE
    for name in ("wechatpy", "werobot", "uiautomation"):
        install_wheel(wheel(name), site)
    modules = root / "home/alice/node_modules"
    for name in ("weixin-js-sdk", "miniprogram-api-typings"):
        install_npm(tarball(name), modules)
    result = scan_image(str(root), L, CATALOGUE)
    assert not result.findings, [(f.rule_id, f.evidence) for f in result.findings]


def test_parts_of_a_known_tools_install_are_not_findings_of_their_own(tmp_path: Path) -> None:
    root = build(tmp_path / "img", L)
    modules = root / "home/alice/bot/node_modules"
    for name in ("wechaty", "wechaty-puppet-service"):
        install_npm(tarball(name), modules)
    rules = _by_rule(scan_image(str(root), L, CATALOGUE))
    assert "wechaty" in rules
    assert not [r for r in rules if r.startswith("package-meta-")], rules


@pytest.mark.parametrize(
    ("name", "summary", "deps", "category"),
    [
        ("wx-multi", "微信多开工具", [], "multi-open"),
        ("wxrevoke", "PC微信防撤回 hook", [], "plugin-injection"),
        ("wx-reply", "微信自动回复", ["uiautomation"], "bot-framework"),
        ("wxmsgexport", "export WeChat chat history to HTML", [], "db-dumper"),
        ("wxkeyfinder", "WeChat helper", ["pymem"], "db-dumper"),
        ("weechat-otr", "WeeChat script for Off-the-Record messaging", [], None),
        ("wxpython", "Cross platform GUI toolkit for Python, Phoenix version", [], None),
        ("uiautomation", "Python UIAutomation for Windows", ["comtypes"], None),
        ("wechat-mp-bot", "微信公众号机器人框架", [], None),
        ("wechatpay-sdk", "微信支付 v3 解密回调", [], None),
        ("wechat-work-webhook", "企业微信群机器人 webhook", [], None),
    ],
)
def test_words_and_dependencies(
    name: str, summary: str, deps: list[str], category: str | None
) -> None:
    meta = _Meta(name, f"{name} {summary}", deps, [], [])
    verdict = judge("pypi", meta, KnownTools.build(CATALOGUE))
    assert (verdict[0] if verdict else None) == category, verdict


# Real uncatalogued-style packages (2023-2026), each with its rule's name indicators removed:
# what the metadata (or the content) alone finds, and under which kind.
HELD_OUT = [
    ("at-hefang", "package-meta-bot"),
    ("opengewe", "package-meta-bot"),
    ("legendwcf", "package-meta-bot"),
    ("mcp-server-wechat", "package-meta-bot"),
    ("nonebot-adapter-ntchat", "package-meta-bot"),
    ("pywxdll", "package-meta-injection"),
    ("wdecipher", "package-meta-db-dumper"),
    ("wechat-backup", "package-meta-db-dumper"),
    ("whochat", "package-meta-bot"),
]


@pytest.mark.parametrize(("name", "rule_id"), HELD_OUT)
def test_held_out_real_packages_are_found_by_what_they_are(
    tmp_path: Path, name: str, rule_id: str
) -> None:
    catalogue = _without_names(name)
    assert KnownTools.build(catalogue).find("pypi", name) is None
    root = build(tmp_path / "img", W)
    install_wheel(wheel(name), root / WIN_SITE)
    rules = _by_rule(scan_image(str(root), W, catalogue))
    assert rule_id in rules, rules


def test_warm_rescan_reads_no_metadata_again(tmp_path: Path) -> None:
    from checks.engine import Scanner
    from checks.layout import Layout

    root = build(tmp_path / "img", W)
    install_wheel(wheel("haowxdump"), root / WIN_SITE)
    install_wheel(wheel("wcfhttp"), root / WIN_SITE)
    scanner = Scanner(Layout.image(root, W), UNCATALOGUED)
    first = scanner.scan()
    second = scanner.scan()
    assert first.stats["files_read"] > 0 and first.stats["content_files_scanned"] > 0
    assert second.stats["files_read"] == 0, second.stats
    assert second.stats["content_files_scanned"] == 0
    assert {f.key for f in first.findings} == {f.key for f in second.findings}


def test_an_npm_package_built_on_a_known_framework_is_found(tmp_path: Path) -> None:
    """wechaty-web-panel (a real npm bot panel) is built against @juzi/wechaty (a
    devDependency: the plugin receives the bot from its user); no rule names it."""
    assert not _named_by_a_rule("npm", "wechaty-web-panel")
    root = build(tmp_path / "img", L)
    install_npm(tarball("wechaty-web-panel"), root / "home/alice/node_modules")
    found = [f for f in scan_image(str(root), L, CATALOGUE).findings]
    assert [(f.rule_id, f.evidence[0].package) for f in found] == [
        ("package-meta-bot", "wechaty-web-panel")
    ], found
    assert "depends on @juzi/wechaty" in found[0].evidence[0].detail
