"""Offline Windows images: uninstall entries and Run keys come from the image's own registry
hives (SOFTWARE, each user's NTUSER.DAT), parsed with regipy; built with hivexregedit."""

from __future__ import annotations

from pathlib import Path

from checks.api import image_scanner
from tests.checks.hives import needs_hivex, write_hive

UNINSTALL = r"Microsoft\Windows\CurrentVersion\Uninstall"
RUN = r"Microsoft\Windows\CurrentVersion\Run"


def image(root: Path) -> Path:
    (root / "Users" / "alice").mkdir(parents=True)
    write_hive(
        root / "Windows" / "System32" / "config" / "SOFTWARE",
        {
            rf"{UNINSTALL}\WeChat": {
                "DisplayName": "微信",
                "Publisher": "腾讯科技(深圳)有限公司",
                "InstallLocation": r"D:\Apps\WeChat",
                "DisplayVersion": "3.9.12.51",
            },
            rf"WOW6432Node\{UNINSTALL}\WeChatMultiOpen": {
                "DisplayName": "微信多开助手",
                "Publisher": "wx-tools.example",
            },
            RUN: {"WeChat": r'"D:\Apps\WeChat\WeChat.exe" --autorun'},
        },
    )
    write_hive(
        root / "Users" / "alice" / "NTUSER.DAT",
        {rf"Software\{RUN}": {"helper": r"C:\Users\alice\AppData\Roaming\wxhelper\wxhelper.exe"}},
    )
    return root


@needs_hivex
def test_offline_hives_are_read_not_a_blind_spot(tmp_path: Path) -> None:
    scanner = image_scanner(str(image(tmp_path / "img")), "windows")
    result = scanner.scan()
    assert not [b for b in result.blind_spots if "registry" in b.what]
    facts = scanner.last_facts
    assert facts is not None
    uninstall = {a.app_id: a for a in facts.apps if a.source == "uninstall"}
    assert uninstall["WeChat"].name == "微信"
    assert uninstall["WeChat"].publisher == "腾讯科技(深圳)有限公司"
    assert uninstall["WeChat"].path == r"D:\Apps\WeChat"
    assert uninstall["WeChatMultiOpen"].user == ""
    runs = {(a.name, a.command, a.user) for a in facts.autostart if a.source == "run-key"}
    assert ("WeChat", r'"D:\Apps\WeChat\WeChat.exe" --autorun', "") in runs
    assert any(name == "helper" and user == "alice" for name, _, user in runs)
    # The official entry is approved by key and publisher; the look-alike is a finding that
    # says what was expected.
    unrecognised = [
        e for f in result.findings if f.rule_id == "unrecognised-wechat-app" for e in f.evidence
    ]
    assert [e.matched for e in unrecognised] == [
        "WeChat-like uninstall app WeChatMultiOpen matches no approved client"
    ]
    assert "期望 expected" in unrecognised[0].detail


def test_a_broken_hive_is_a_blind_spot_that_names_it(tmp_path: Path) -> None:
    root = tmp_path / "img"
    (root / "Users" / "alice").mkdir(parents=True)
    hive = root / "Windows" / "System32" / "config" / "SOFTWARE"
    hive.parent.mkdir(parents=True)
    hive.write_bytes(b"regf" + b"\0" * 100)
    result = image_scanner(str(root), "windows").scan()
    assert any(b.what.endswith("config/SOFTWARE") for b in result.blind_spots), result.blind_spots


PROFILES = r"Microsoft\Windows NT\CurrentVersion\ProfileList"


@needs_hivex
def test_profiles_outside_users_come_from_the_profile_list(tmp_path: Path) -> None:
    """A profile the registry places at C:\\Profiles\\bob (a moved ProfilesDirectory) is a
    home like C:\\Users\\alice: its files are scanned. Service profiles and other volumes
    are not homes of this image."""
    root = tmp_path / "img"
    (root / "Users" / "alice").mkdir(parents=True)
    bot = root / "Profiles" / "bob" / "Documents" / "wx"
    bot.mkdir(parents=True)
    (bot / "itchat.pkl").write_bytes(b"session")
    (root / "Windows" / "System32" / "config" / "systemprofile").mkdir(parents=True)
    write_hive(
        root / "Windows" / "System32" / "config" / "SOFTWARE",
        {
            rf"{PROFILES}\S-1-5-18": {
                "ProfileImagePath": r"%systemroot%\system32\config\systemprofile"
            },
            rf"{PROFILES}\S-1-5-21-1-2-3-1001": {"ProfileImagePath": r"C:\Profiles\bob"},
            rf"{PROFILES}\S-1-5-21-1-2-3-1002": {"ProfileImagePath": r"%SystemDrive%\Users\alice"},
            rf"{PROFILES}\S-1-5-21-1-2-3-1003": {"ProfileImagePath": r"E:\Profiles\carol"},
        },
    )
    scanner = image_scanner(str(root), "windows")
    assert sorted(u.name for u in scanner.layout.users) == ["alice", "bob"]
    result = scanner.scan()
    found = [e.path for f in result.findings if f.rule_id == "itchat" for e in f.evidence]
    assert "Profiles/bob/Documents/wx/itchat.pkl" in found, found
