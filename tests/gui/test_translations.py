"""Translations: the committed .ts/.qm are current and complete, and in zh_CN no string a
person sees is left in English."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTreeWidget,
    QWidget,
)

from tests.gui.fake_agent import FINDING, status

ROOT = Path(__file__).resolve().parents[2]
TS = ROOT / "gui" / "translations" / "wxguard_zh_CN.ts"
QM = ROOT / "gui" / "translations" / "wxguard_zh_CN.qm"
BIN = Path(sys.executable).parent


def messages(path: Path) -> dict[tuple[str, str], ET.Element]:
    tree = ET.parse(path)
    out = {}
    for context in tree.getroot().iter("context"):
        name = context.findtext("name") or ""
        for msg in context.iter("message"):
            out[(name, msg.findtext("source") or "")] = msg
    return out


def test_ts_and_qm_are_current_and_complete(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.ts"
    shutil.copy(TS, fresh)
    sources = sorted(str(p) for p in (ROOT / "gui").glob("*.py"))
    subprocess.run(
        [
            str(BIN / "pyside6-lupdate"),
            "-locations",
            "none",
            "-target-language",
            "zh_CN",
            "-no-obsolete",
            *sources,
            "-ts",
            str(fresh),
        ],
        check=True,
        capture_output=True,
    )
    committed, current = messages(TS), messages(fresh)
    assert sorted(set(current) - set(committed)) == [], "strings missing from the .ts: run lupdate"
    assert sorted(set(committed) - set(current)) == [], "stale strings in the .ts: run lupdate"
    unfinished = [k for k, m in current.items() if (m.find("translation").get("type") or "")]
    assert unfinished == [], "untranslated strings in the .ts"
    for key, msg in current.items():
        text = "".join(msg.find("translation").itertext()).strip()
        assert text, f"empty translation for {key}"
        for marker in re.findall(r"%\d", key[1]):
            assert marker in text, f"{key}: translation lost {marker}"
    qm = tmp_path / "fresh.qm"
    subprocess.run(
        [str(BIN / "pyside6-lrelease"), str(TS), "-qm", str(qm)], check=True, capture_output=True
    )
    assert qm.read_bytes() == QM.read_bytes(), "the committed .qm is stale: run lrelease"


ALLOWED = re.compile(r"^[\s\d:/.\-—%()+,;x×]*$")
LATIN_OK = {"wxguard", "English", "KiB", "MiB", "IT", "ID"}


def visible_texts(widget: QWidget) -> list[str]:
    texts = [widget.windowTitle()]
    for w in widget.findChildren(QWidget):
        if isinstance(w, QLabel | QAbstractButton):
            texts.append(w.text())
        elif isinstance(w, QGroupBox):
            texts.append(w.title())
        elif isinstance(w, QLineEdit | QPlainTextEdit):
            texts.append(w.placeholderText())
        elif isinstance(w, QComboBox):
            texts += [w.itemText(i) for i in range(w.count())]
        elif isinstance(w, QTreeWidget):
            header = w.headerItem()
            texts += [header.text(i) for i in range(header.columnCount())]
        if isinstance(w, QAbstractButton | QWidget) and w.toolTip():
            texts.append(w.toolTip())
    return texts


def english_left(texts: list[str]) -> list[str]:
    bad = []
    for t in texts:
        stripped = t.strip()
        if not stripped or ALLOWED.match(stripped) or stripped in LATIN_OK:
            continue
        if not re.search(r"[\u4e00-\u9fff]", stripped):
            bad.append(stripped)
    return bad


def test_no_english_left_in_chinese(qtbot, make_tray, agent, settings, secrets) -> None:
    settings.setValue("language", "zh_CN")
    agent.set(
        "status",
        status(compliant=False, enrolled=True, server_reachable=False, managed_keys=["server_url"]),
    )
    agent.set("findings", [FINDING])
    agent.set("policy", dict(agent.responses["policy"], text_version="2027-01"))
    tray = make_tray()
    qtbot.waitUntil(lambda: tray.state == "action" and bool(tray.passwords.statuses), timeout=3000)
    texts = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    texts.append(tray.icon.toolTip().replace("wxguard — ", ""))
    for open_ in (
        tray.open_status,
        tray.open_password,
        tray.open_report,
        tray.open_my_reports,
        tray.open_policy,
        tray.open_collects,
        tray.open_about,
        tray.open_settings,
    ):
        texts += visible_texts(open_())
    report = tray.windows["report"]
    report.review()
    texts.append(report.error.text())
    texts += [n[1] for n in tray.notifications]
    assert english_left(texts) == []
    assert "立即检查" in texts and "报告安全事件" in texts
    detail = tray.windows["status"].detail.toPlainText()
    assert "发现的内容" in detail and "处理方法" in detail and "重新启动微信" in detail


def test_every_tr_call_reaches_the_ts() -> None:
    """lupdate silently skips some spellings (e.g. single quotes inside f-strings): every
    literal passed to tr()/translate() in gui/ must be in the .ts."""
    import ast

    in_ts = {source for _ctx, source in messages(TS)}
    used = set()
    for path in (ROOT / "gui").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                args = node.args
                if node.func.attr == "tr" and args and isinstance(args[0], ast.Constant):
                    used.add(str(args[0].value))
                elif (
                    node.func.attr == "translate"
                    and len(args) > 1
                    and isinstance(args[1], ast.Constant)
                ):
                    used.add(str(args[1].value))
    assert len(used) > 150
    assert sorted(used - in_ts) == []


def test_the_os_locale_picks_the_language(qapp) -> None:
    from PySide6.QtCore import QLocale

    from gui.i18n import system_language

    assert system_language(QLocale(QLocale.Language.Chinese, QLocale.Country.China)) == "zh_CN"
    assert system_language(QLocale(QLocale.Language.Chinese, QLocale.Country.Taiwan)) == "zh_CN"
    assert system_language(QLocale(QLocale.Language.German, QLocale.Country.Germany)) == "en"
