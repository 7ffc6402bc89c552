"""English plurals: "1 finding to fix", "2 findings to fix", never "1 finding(s)" (the
source strings' "(s)" form, which Qt shows in English without a plurals translation)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

from agent import password_age as pa
from gui.password_dialog import status_words
from tests.gui.fake_agent import FINDING, status

ROOT = Path(__file__).resolve().parents[2]
TS = ROOT / "gui" / "translations" / "wxguard_en.ts"
QM = ROOT / "gui" / "translations" / "wxguard_en.qm"
BIN = Path(sys.executable).parent


def plurals(path: Path) -> dict[str, list[str]]:
    out = {}
    for msg in ET.parse(path).getroot().iter("message"):
        if msg.get("numerus") == "yes":
            forms = [f.text or "" for f in msg.iter("numerusform")]
            out[msg.findtext("source") or ""] = forms
    return out


def test_every_plural_string_has_its_english_forms(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.ts"
    shutil.copy(TS, fresh)
    sources = sorted(str(p) for p in (ROOT / "gui").glob("*.py"))
    subprocess.run(
        [
            str(BIN / "pyside6-lupdate"),
            "-pluralonly",
            "-no-obsolete",
            "-locations",
            "none",
            "-source-language",
            "en",
            "-target-language",
            "en",
            *sources,
            "-ts",
            str(fresh),
        ],
        check=True,
        capture_output=True,
    )
    current = plurals(fresh)
    assert sorted(current) == sorted(plurals(TS)), "run lupdate -pluralonly for wxguard_en.ts"
    for source, forms in current.items():
        assert len(forms) == 2 and all(forms), f"English forms missing for {source!r}"
        assert all("(s)" not in f and "%n" in f for f in forms), forms
    qm = tmp_path / "fresh.qm"
    subprocess.run(
        [str(BIN / "pyside6-lrelease"), str(TS), "-qm", str(qm)], check=True, capture_output=True
    )
    assert qm.read_bytes() == QM.read_bytes(), "the committed wxguard_en.qm is stale: lrelease"


def test_one_and_two_findings_read_as_english(qtbot, make_tray, agent) -> None:
    agent.set("status", status(compliant=False))
    agent.set("findings", [FINDING])
    tray = make_tray()
    w = tray.open_status()
    qtbot.waitUntil(lambda: "1 finding to fix" in tray.icon.toolTip(), timeout=3000)
    qtbot.waitUntil(lambda: "1 finding needs your attention." in w.summary.text(), timeout=3000)
    second = dict(FINDING, key="another", rule_id="other")
    agent.set("findings", [FINDING, second])
    agent.set("status", status(compliant=False, open_findings=2))
    tray.open_status()
    qtbot.waitUntil(lambda: "2 findings to fix" in tray.icon.toolTip(), timeout=3000)
    assert "(s)" not in tray.icon.toolTip()
    assert "(s)" not in w.summary.text()


def _account(state: str, days_left: int) -> pa.AccountStatus:
    return pa.AccountStatus(
        account_type="enterprise",
        state=state,
        last_changed=date(2026, 9, 1),
        due_on=date(2026, 11, 30),
        days_since=89,
        days_left=days_left,
        deferrals=0,
        deferrals_left=3,
        no_expiry=False,
        modified=False,
    )


def test_password_days_read_as_english_and_chinese(qtbot, make_tray) -> None:
    tray = make_tray(start=False)
    assert status_words(_account("due-soon", 1), None) == "due on 2026-11-30 (in 1 day)"
    assert status_words(_account("due-soon", 3), None) == "due on 2026-11-30 (in 3 days)"
    assert status_words(_account("overdue", -1), None) == "overdue since 2026-11-30 (1 day)"
    tray.lang.install("zh_CN")
    assert status_words(_account("due-soon", 1), None) == "将于 2026-11-30 到期（还有 1 天）"
    assert status_words(_account("overdue", -2), None) == "已于 2026-11-30 到期（逾期 2 天）"
