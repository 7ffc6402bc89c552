"""`wxguard check --root … --platform …`: the real console script, as IT runs it on an image."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from checks.model import Platform
from tests.checks.clean_images import CLEAN
from tests.checks.images import Pypi, build
from tests.checks.rule_fixtures import fixture_for

WXGUARD = Path(sys.executable).with_name("wxguard")
_HAN = re.compile(r"[\u4e00-\u9fff]")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES", "LANGUAGE")}
    env["LANG"] = "C.UTF-8"
    return subprocess.run(
        [str(WXGUARD), "check", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def dirty_windows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    items = [*CLEAN[Platform.WINDOWS]]
    for rule_id in ("pywxdump", "revokemsgpatcher", "wechat-need-web"):
        items.extend(fixture_for(rule_id, Platform.WINDOWS) or [])
    return build(tmp_path_factory.mktemp("dirty") / "C", Platform.WINDOWS, *items)


def _json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    doc = json.loads(proc.stdout)
    assert isinstance(doc, dict)
    return doc


def test_console_script_is_installed() -> None:
    assert WXGUARD.exists(), f"{WXGUARD} missing: pip install -e . in the venv"


def test_findings_as_json_exit_1(dirty_windows: Path) -> None:
    proc = run("--root", str(dirty_windows), "--platform", "windows", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    doc = _json(proc)
    assert doc["schema"] == "wxguard.check/1"
    assert doc["root"] == str(dirty_windows)
    assert doc["platform"] == "windows"
    assert doc["live"] is False
    assert isinstance(doc["started_at"], float) and isinstance(doc["duration_s"], float)
    summary = doc["summary"]
    assert summary["compliant"] is False
    assert summary["findings"] == len(doc["findings"]) >= 3
    assert set(summary["by_severity"]) == {"critical", "high", "medium", "low", "info"}
    assert sum(summary["by_severity"].values()) == summary["findings"]
    assert summary["blind_spots"] == len(doc["blind_spots"])
    # An offline image has no processes and no registry hives: said, not hidden.
    probes = {b["probe"] for b in doc["blind_spots"]}
    assert "processes" in probes
    assert isinstance(doc["stats"], dict)

    by_rule = {f["rule_id"]: f for f in doc["findings"]}
    assert {"pywxdump", "revokemsgpatcher", "wechat-need-web"} <= set(by_rule)
    for finding in doc["findings"]:
        assert set(finding) == {
            "key",
            "rule_id",
            "title",
            "title_i18n",
            "category",
            "severity",
            "subject",
            "evidence",
            "remediation",
            "remediation_i18n",
            "remediation_intro_i18n",
            "remediation_steps",
            "references",
        }
        assert re.fullmatch(r"[0-9a-f]{24}", finding["key"])
        assert finding["title"] == finding["title_i18n"]["en"]
        assert finding["remediation"] == finding["remediation_i18n"]["en"]
        assert _HAN.search(finding["title_i18n"]["zh"])
        for ev in finding["evidence"]:
            assert {"kind", "matched"} <= set(ev)
            if "path" in ev and ev["kind"] != "process":
                assert not ev["path"].startswith(("/", str(dirty_windows))), ev["path"]
    patcher = by_rule["revokemsgpatcher"]
    assert patcher["category"] == "binary-patcher"
    assert patcher["severity"] == "high"
    paths = {ev["path"] for ev in patcher["evidence"]}
    assert "Program Files (x86)/Tencent/WeChat/[3.9.12.51]/WeChatWin.dll.h.bak" in paths
    assert "Users/alice/Downloads/RevokeMsgPatcher.v2.1/RevokeMsgPatcher.exe" in paths
    assert any(ref.startswith("https://github.com/") for ref in patcher["references"])


def test_chinese_output(dirty_windows: Path) -> None:
    proc = run(
        "--root", str(dirty_windows), "--platform", "windows", "--format", "json", "--lang", "zh"
    )
    assert proc.returncode == 1
    for finding in _json(proc)["findings"]:
        assert finding["title"] == finding["title_i18n"]["zh"]
        assert finding["remediation"] == finding["remediation_i18n"]["zh"]
        assert _HAN.search(finding["title"])
    text = run("--root", str(dirty_windows), "--platform", "windows", "--lang", "zh")
    assert text.returncode == 1
    assert "PyWxDump 微信聊天数据库解密工具" in text.stdout
    assert "处理：" in text.stdout


@pytest.mark.parametrize("platform", list(Platform), ids=str)
def test_clean_image_exit_0(tmp_path: Path, platform: Platform) -> None:
    root = build(tmp_path / "img", platform, *CLEAN[platform])
    proc = run("--root", str(root), "--platform", str(platform), "--format", "json")
    assert proc.returncode == 0, proc.stdout[:2000]
    doc = _json(proc)
    assert doc["summary"]["compliant"] is True
    assert doc["findings"] == []


def test_missing_root_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-image"
    proc = run("--root", str(missing), "--platform", "linux", "--format", "json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert str(missing) in proc.stderr
    assert "does not exist" in proc.stderr and "不存在" in proc.stderr


def test_root_without_platform_exit_2(tmp_path: Path) -> None:
    proc = run("--root", str(tmp_path), "--format", "json")
    assert proc.returncode == 2
    assert "--platform" in proc.stderr


def test_hostile_names_reach_the_terminal_escaped(tmp_path: Path) -> None:
    """A folder name that retitles and clears the terminal and forges a line of the report,
    and one that is not UTF-8: shown escaped, one line per evidence, nothing crashes."""
    forged = "\x1b]0;owned\x07\x1b[2J\x1b[H\n✓ Compliant: no unapproved WeChat client\r\x7f\x9b"
    undecodable = os.fsdecode(b"proj\xff\xfe")
    root = tmp_path / "image"
    for project in (f"proj{forged}", undecodable):
        site = "{home}/" + project + "/.venv/lib/python3.11/site-packages"
        build(root, Platform.LINUX, Pypi("wcferry", "39.6.0.0", site=site))
    proc = subprocess.run(
        [str(WXGUARD), "check", "--root", str(root), "--platform", "linux", "--lang", "en"],
        capture_output=True,
        env={**os.environ, "LANG": "C.UTF-8"},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout.decode("utf-8")  # valid UTF-8
    assert not any(ch in out for ch in "\x1b\x07\r\x7f\x9b"), out
    evidence = [line for line in out.splitlines() if "wcferry 39.6.0.0" in line]
    assert len(evidence) == 2, out
    assert any("\\x1b]0;owned\\x07\\x1b[2J\\x1b[H\\n✓ Compliant" in line for line in evidence)
    assert any("proj\\xff\\xfe/" in line for line in evidence)
    assert not any(line.startswith("✓ Compliant") for line in out.splitlines())


def test_text_output_numbers_the_steps(dirty_windows: Path) -> None:
    """Each step of the fix on its own numbered line, in the chosen language (issue 16)."""
    en = run("--root", str(dirty_windows), "--platform", "windows").stdout
    assert "How to fix it: PyWxDump reads the database key" in en
    assert re.search(r"\n +1\. Run pip uninstall pywxdump \(or delete wxdump\.exe\)\.\n", en)
    assert re.search(r"\n +2\. Delete the wxdump_work folder completely", en)
    assert re.search(r"\n +3\. Report it to the information-security department", en)
    zh = run("--root", str(dirty_windows), "--platform", "windows", "--lang", "zh").stdout
    assert re.search(r"\n +1\. 运行 pip uninstall pywxdump（或删除 wxdump\.exe）。\n", zh)
    assert re.search(r"\n +3\. 向信息安全部门报告", zh)


def test_text_evidence_has_no_templates_and_names_the_image_path(dirty_windows: Path) -> None:
    en = run("--root", str(dirty_windows), "--platform", "windows").stdout
    assert "{" not in en and "}" not in en
    assert "path in the image: Users/alice/" in en
    zh = run("--root", str(dirty_windows), "--platform", "windows", "--lang", "zh").stdout
    assert "镜像内路径：Users/alice/" in zh and "{" not in zh
    assert "pypi 软件包 pywxdump" in zh
