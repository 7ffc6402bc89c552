"""Clean machines give no finding; a finding's key is the same scan after scan and root to root."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from checks.api import image_scanner, scan_image
from checks.catalogue import load_builtin
from checks.model import Platform
from tests.checks.clean_images import CLEAN
from tests.checks.images import Bundle, Dpkg, File, Npm, Pypi, build
from tests.checks.rule_fixtures import fixture_for

CATALOGUE = load_builtin()


@pytest.mark.parametrize("platform", list(Platform), ids=str)
def test_clean_machine_has_no_finding(tmp_path: Path, platform: Platform) -> None:
    root = build(tmp_path / "img", platform, *CLEAN[platform])
    result = scan_image(str(root), platform, CATALOGUE)
    found = [(f.rule_id, f.subject) for f in result.findings]
    assert found == []
    assert result.compliant
    # The scan really looked: the official client and the traps were seen as facts.
    assert result.stats["apps"] > 0
    assert result.stats["packages"] >= 10


@pytest.mark.parametrize(
    ("platform", "trap"),
    [
        (Platform.LINUX, Dpkg("weechat", "4.1.1-1")),
        (Platform.LINUX, File("{root}/usr/bin/weechat")),
        (Platform.LINUX, Dpkg("wxmaxima", "23.12.0-1")),
        (Platform.LINUX, Dpkg("libwxgtk3.2-1", "3.2.4")),
        (Platform.LINUX, Pypi("wxPython", "4.2.1")),
        (Platform.WINDOWS, Pypi("wechatpy", "1.8.18")),
        (Platform.WINDOWS, Pypi("wxautocompletectrl", "1.0.0")),
        (Platform.WINDOWS, Npm("miniprogram-api-typings", "5.2.3")),
        (Platform.MACOS, Npm("@types/wechat-miniprogram", "1.0.0")),
        (Platform.MACOS, Bundle("{applications}/wxMaxima.app", "org.wxMaxima", "wxMaxima")),
        (Platform.WINDOWS, File("{program_files_x86}/Tencent/微信web开发者工具/cli.bat")),
        (
            Platform.MACOS,
            Bundle(
                "{applications}/wechatwebdevtools.app",
                "com.tencent.webplusdevtools",
                "wechatwebdevtools",
                "wechatdevtools",
                team_id="FN2V63AD2J",
            ),
        ),
    ],
    ids=str,
)
def test_name_trap_alone_is_not_a_finding(tmp_path: Path, platform: Platform, trap) -> None:
    root = build(tmp_path / "img", platform, trap)
    assert scan_image(str(root), platform, CATALOGUE).findings == []


def test_plugin_in_official_client_is_a_plugin_finding_not_unrecognised(tmp_path: Path) -> None:
    """A plugin inside the official WeChat is named as the plugin; WeChat stays recognised."""
    items = [*CLEAN[Platform.MACOS], *fixture_for("x1a0he-wechat-plugin", Platform.MACOS)]
    root = build(tmp_path / "img", Platform.MACOS, *items)
    ids = {f.rule_id for f in scan_image(str(root), "macos", CATALOGUE).findings}
    assert "x1a0he-wechat-plugin" in ids
    assert "unrecognised-wechat-app" not in ids


def _keys(root: Path, platform: Platform) -> dict[tuple[str, str], str]:
    result = scan_image(str(root), platform, CATALOGUE)
    return {(f.rule_id, f.subject): f.key for f in result.findings}


def _dirty(platform: Platform) -> list:
    items = []
    for rule_id in ("pywxdump", "wechat-need-web", "itchat", "chatlog-sjzar"):
        items.extend(fixture_for(rule_id, platform) or [])
    if platform is Platform.WINDOWS:
        items.extend(fixture_for("revokemsgpatcher", platform) or [])
    return items


@pytest.mark.parametrize("platform", list(Platform), ids=str)
def test_finding_keys_are_stable_across_scans_and_roots(tmp_path: Path, platform: Platform) -> None:
    first = build(tmp_path / "a" / "image", platform, *_dirty(platform))
    second = tmp_path / "elsewhere" / "copy"
    shutil.copytree(first, second)

    scanner = image_scanner(str(first), platform, CATALOGUE)
    once = {(f.rule_id, f.subject): f.key for f in scanner.scan().findings}
    twice = {(f.rule_id, f.subject): f.key for f in scanner.scan().findings}
    fresh = _keys(first, platform)
    moved = _keys(second, platform)

    assert once, "the dirty image must have findings"
    assert once == twice == fresh == moved
    assert len(set(once.values())) == len(once), "two findings share a key"
    for _rule_id, subject in once:
        assert str(tmp_path) not in subject, subject


def test_key_changes_with_what_the_finding_is_about(tmp_path: Path) -> None:
    one = build(tmp_path / "one", "windows", Pypi("pywxdump", "3.1.46"))
    two = build(
        tmp_path / "two", "windows", Pypi("pywxdump", "3.1.46"), File("{desktop}/wxdump.exe")
    )
    keys_one = {f.key for f in scan_image(str(one), "windows", CATALOGUE).findings}
    keys_two = {f.key for f in scan_image(str(two), "windows", CATALOGUE).findings}
    assert keys_one and keys_one < keys_two
