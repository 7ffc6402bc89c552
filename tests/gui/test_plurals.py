"""English plurals: "1 finding to fix", "2 findings to fix", never "1 finding(s)" (the
source strings' "(s)" form, which Qt shows in English without a plurals translation)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

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
