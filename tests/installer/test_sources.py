"""The macOS and Windows package sources `wxguard-installer build` writes: plists, the
configuration profile, pkg scripts, the WiX definition and the ADMX/ADML pair parse and carry
what the platforms need; bad inputs are refused with a message."""

from __future__ import annotations

import plistlib
import re
import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import pytest

from agent.config import WINDOWS_VALUE_NAMES, from_windows_values, merge
from installer.spec import BuildError
from installer.windows import ADMX_NS, WIX_NS, validate_windows
from tests.conftest import script

ADMX = f"{{{ADMX_NS}}}"
WIX = f"{{{WIX_NS}}}"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("sources")
    (work / "secret.txt").write_text("s3cr3t-from-it\n")
    (work / "policy.pem").write_text(
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAexample\n-----END PUBLIC KEY-----\n"
    )
    (work / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    for platform in ("macos", "windows"):
        run = subprocess.run(
            [
                script("wxguard-installer"),
                "build",
                "--server",
                "https://wxguard.corp.example",
                "--secret-file",
                str(work / "secret.txt"),
                "--ca",
                str(work / "ca.pem"),
                "--policy-key",
                str(work / "policy.pem"),
                "--set",
                "scan_interval_s=1800",
                "--out",
                str(work / "out"),
                "--platform",
                platform,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
    return work / "out"


def test_launchd_plists_run_the_agent_as_daemon_and_the_tray_per_user(sources: Path) -> None:
    library = sources / "macos" / "payload" / "Library"
    daemon = plistlib.loads(
        (library / "LaunchDaemons/com.company.wxguard.agent.plist").read_bytes()
    )
    assert daemon["Label"] == "com.company.wxguard.agent"
    assert daemon["ProgramArguments"] == [
        "/Library/wxguard/bin/wxguard",
        "agent",
        "run",
        "--mode",
        "system",
    ]
    assert daemon["RunAtLoad"] is True and daemon["KeepAlive"] is True
    tray = plistlib.loads((library / "LaunchAgents/com.company.wxguard.tray.plist").read_bytes())
    assert tray["ProgramArguments"] == ["/Library/wxguard/bin/wxguard-tray"]
    assert tray["RunAtLoad"] is True and tray["LimitLoadToSessionType"] == ["Aqua"]
    assert (library / "wxguard/etc/server-ca.pem").read_text().startswith("-----BEGIN")
    seed = library / "wxguard/share/agent.toml.dist"
    assert 'enrollment_secret = "s3cr3t-from-it"' in seed.read_text()
    assert seed.stat().st_mode & 0o077 == 0


def test_profile_carries_managed_settings_but_never_the_secret(sources: Path) -> None:
    raw = (sources / "macos" / "wxguard.mobileconfig").read_bytes()
    profile = plistlib.loads(raw)
    assert profile["PayloadType"] == "Configuration"
    assert re.fullmatch(r"[0-9A-F-]{36}", profile["PayloadUUID"])
    payload = profile["PayloadContent"][0]
    assert payload["PayloadType"] == "com.apple.ManagedClient.preferences"
    settings = payload["PayloadContent"]["com.company.wxguard"]["Forced"][0][
        "mcx_preference_settings"
    ]
    assert settings == {
        "server_url": "https://wxguard.corp.example",
        "ca_file": "/Library/wxguard/etc/server-ca.pem",
        "policy_public_key": "/Library/wxguard/etc/policy-public.pem",
        "scan_interval_s": 1800,
    }
    assert b"s3cr3t" not in raw


def test_pkg_scripts_are_valid_shell_and_refuse_downgrades(sources: Path) -> None:
    macos = sources / "macos"
    for name in ("scripts/preinstall", "scripts/postinstall", "uninstall.sh", "build.sh"):
        check = subprocess.run(["bash", "-n", str(macos / name)], capture_output=True, text=True)
        assert check.returncode == 0, f"{name}: {check.stderr}"
        assert (macos / name).stat().st_mode & 0o111
    assert "refusing to downgrade" in (macos / "scripts/preinstall").read_text()
    assert "launchctl bootstrap system" in (macos / "scripts/postinstall").read_text()
    dist = ElementTree.parse(macos / "distribution.xml").getroot()
    assert dist.tag == "installer-gui-script"


def test_wix_definition_installs_service_tray_and_msi_properties(sources: Path) -> None:
    root = ElementTree.parse(sources / "windows" / "wxguard.wxs").getroot()
    package = root.find(f"{WIX}Package")
    assert package is not None and package.get("Version") == "0.1.0"
    assert package.find(f"{WIX}MajorUpgrade") is not None  # refuses downgrades
    props = {p.get("Id"): p for p in root.iter(f"{WIX}Property")}
    assert props["SERVER_URL"].get("Value") == "https://wxguard.corp.example"
    assert props["ENROLLMENT_SECRET"].get("Hidden") == "yes"
    service = next(root.iter(f"{WIX}ServiceInstall"))
    assert service.get("Account") == "LocalSystem" and service.get("Start") == "auto"
    values = {
        (key.get("Key"), value.get("Name")): value.get("Value")
        for key in root.iter(f"{WIX}RegistryKey")
        for value in key.iter(f"{WIX}RegistryValue")
    }
    assert values[(r"SOFTWARE\Policies\wxguard", "ServerUrl")] == "[SERVER_URL]"
    assert values[(r"SOFTWARE\Policies\wxguard", "ScanIntervalSeconds")] == "1800"
    secret = [v for v in root.iter(f"{WIX}RegistryValue") if v.get("Name") == "EnrollmentSecret"]
    assert secret[0].get("Key") == r"SOFTWARE\Policies\wxguard"
    assert secret[0].get("Value") == "[ENROLLMENT_SECRET]"
    # The key holds the secret: SYSTEM and Administrators only.
    key = next(root.iter(f"{WIX}RegistryKey"))
    permission = key.find(f"{WIX}PermissionEx")
    assert permission is not None and permission.get("Sddl") == "D:PAI(A;;KA;;;SY)(A;;KA;;;BA)"
    run = [v for v in root.iter(f"{WIX}RegistryValue") if v.get("Name") == "wxguard-tray"]
    assert run and run[0].get("Key") == r"SOFTWARE\Microsoft\Windows\CurrentVersion\Run"
    assert run[0].get("Root") == "HKLM" and "gui.main" in (run[0].get("Value") or "")


def test_admx_and_both_admls_resolve_every_string(sources: Path) -> None:
    policy = sources / "windows" / "policy"
    admx = ElementTree.parse(policy / "wxguard.admx").getroot()
    names = {p.get("name") for p in admx.iter(f"{ADMX}policy")}
    assert {"ServerUrl", "CaFile", "PolicyPublicKey", "ScanIntervalSeconds"} <= names
    assert "EnrollmentSecret" not in names  # GPOs are readable by every domain user
    zh = ElementTree.parse(policy / "zh-CN" / "wxguard.adml").getroot()
    titles = {s.get("id"): s.text for s in zh.iter(f"{ADMX}string")}
    assert titles["ServerUrl"] == "中心服务器"
    validate_windows(sources / "windows")


def test_group_policy_names_are_the_ones_the_agent_reads(sources: Path) -> None:
    admx = ElementTree.parse(sources / "windows" / "policy" / "wxguard.admx").getroot()
    gpo = {e.get("valueName") for e in admx.iter() if e.get("valueName")}
    wix = ElementTree.parse(sources / "windows" / "wxguard.wxs").getroot()
    msi = {
        v.get("Name")
        for v in wix.iter(f"{WIX}RegistryValue")
        if (v.get("Key") or "").startswith("SOFTWARE\\Policies") or v.get("Key") is None
    }
    assert gpo == set(WINDOWS_VALUE_NAMES) - {"EnrollmentSecret"}
    assert msi - {"wxguard-tray"} <= set(WINDOWS_VALUE_NAMES)
    values = {"ServerUrl": "https://wxguard.corp.example", "ScanIntervalSeconds": 1800}
    assert merge(from_windows_values(values), {}).scan_interval_s == 1800


def test_validation_catches_an_unresolved_string(sources: Path, tmp_path: Path) -> None:
    broken = tmp_path / "windows"
    shutil.copytree(sources / "windows", broken)
    adml = broken / "policy" / "zh-CN" / "wxguard.adml"
    adml.write_text(re.sub(r'<string id="CaFile_Help">[^<]*</string>', "", adml.read_text()))
    with pytest.raises(BuildError, match="CaFile_Help"):
        validate_windows(broken)


def test_bad_inputs_are_refused_with_a_message(tmp_path: Path) -> None:
    key = tmp_path / "policy.pem"
    key.write_text("-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----\n")
    cases = [
        (["--server", "ftp://x"], "must start with https://"),
        (["--server", "https://x", "--set", "scan_interval_s=5"], "scan_interval_s"),
        (["--server", "https://x", "--set", "no_such_key=1"], "unknown key"),
        (["--server", "https://x", "--secret-file", str(tmp_path / "none")], "secret file"),
        (["--server", "https://x", "--set", "enforcement_grace_s=2.5"], "whole numbers"),
    ]
    for extra, message in cases:
        run = subprocess.run(
            [
                script("wxguard-installer"),
                "build",
                "--policy-key",
                str(key),
                "--out",
                str(tmp_path / "out"),
                "--platform",
                "windows",
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 2, (extra, run.stderr)
        assert message in run.stderr and "错误" in run.stderr, (extra, run.stderr)
