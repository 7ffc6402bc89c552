"""IT's exceptions for one finding (a developer's test machine): data the signed policy
carries, applied by the engine until they expire, shown as excepted, never silently dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.api import image_scanner
from checks.catalogue import CatalogueError, load_builtin

REASON = {"zh": "开发测试机，已批准至年底", "en": "developer test machine, approved until year end"}


def image(root: Path) -> Path:
    downloads = root / "home" / "alice" / "Downloads"
    downloads.mkdir(parents=True)
    (downloads / "WeChat-plus.AppImage").write_bytes(b"\x7fELF not an AppImage")
    return root


def test_exception_moves_one_finding_to_excepted_until_it_expires(tmp_path: Path) -> None:
    root = image(tmp_path / "img")
    (finding,) = image_scanner(str(root), "linux").scan().findings
    grant = {"rule_id": finding.rule_id, "key": finding.key, "reason": REASON, "expires": 2000.0}
    catalogue = load_builtin().with_exceptions([grant])

    scanner = image_scanner(str(root), "linux", catalogue)
    scanner.clock = lambda: 1000.0
    result = scanner.scan()
    assert result.findings == [] and result.compliant
    ((excepted, grant_),) = result.excepted
    assert excepted.key == finding.key and grant_.reason.zh == REASON["zh"]
    assert grant_.expires == 2000.0 and grant_.group == ""
    doc = result.to_json("zh")
    assert doc["summary"]["excepted"] == 1
    assert doc["excepted"][0]["exception"]["reason"] == REASON["zh"]

    scanner.clock = lambda: 2000.0  # expired: the finding is back
    assert [f.key for f in scanner.scan().findings] == [finding.key]


def test_a_group_exception_says_which_group_it_was_granted_to(tmp_path: Path) -> None:
    root = image(tmp_path / "img")
    (finding,) = image_scanner(str(root), "linux").scan().findings
    grant = {
        "rule_id": finding.rule_id,
        "key": finding.key,
        "reason": REASON,
        "expires": 9e12,
        "group": "研发测试机",
        "granted_by": "admin:alice",
    }
    result = image_scanner(str(root), "linux", load_builtin().with_exceptions([grant])).scan()
    assert result.findings == []
    exception = result.to_json("en")["excepted"][0]["exception"]
    assert exception["group"] == "研发测试机" and exception["granted_by"] == "admin:alice"


def test_exception_for_another_subject_does_not_apply(tmp_path: Path) -> None:
    root = image(tmp_path / "img")
    (finding,) = image_scanner(str(root), "linux").scan().findings
    grant = {"rule_id": finding.rule_id, "subject": "app:other", "reason": REASON, "expires": 9e12}
    result = image_scanner(str(root), "linux", load_builtin().with_exceptions([grant])).scan()
    assert [f.key for f in result.findings] == [finding.key]


@pytest.mark.parametrize(
    "bad",
    [
        {"rule_id": "unrecognised-wechat-app", "key": "k", "reason": REASON},  # no expiry
        {"rule_id": "unrecognised-wechat-app", "reason": REASON, "expires": 1.0},  # no target
        {"rule_id": "unrecognised-wechat-app", "key": "k", "reason": {"en": "x"}, "expires": 1.0},
        {"rule_id": "unrecognised-wechat-app", "key": "k", "reason": REASON, "expires": "soon"},
    ],
)
def test_malformed_exceptions_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(CatalogueError):
        load_builtin().with_exceptions([bad])
