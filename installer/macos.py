"""The macOS package sources: payload layout, LaunchDaemon (agent) and LaunchAgent (tray),
pkgbuild/productbuild scripts and a configuration profile with the managed settings.

The Python environment is built on a Mac by `build.sh` (a venv needs the interpreter it will run
with); everything else is generated here with plistlib and checked by `validate_macos`.
"""

from __future__ import annotations

import os
import plistlib
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from installer.spec import MACOS_DOMAIN, BuildError, BuildSpec, render_toml

APP = "/Library/wxguard"  # the application: venv, launchers, pinned keys
STATE = "/Library/Application Support/wxguard"  # the agent's state (agent/paths.py)
LOGS = "/Library/Logs/wxguard"
PKG_ID = "com.company.wxguard"
AGENT_LABEL = "com.company.wxguard.agent"
TRAY_LABEL = "com.company.wxguard.tray"
POLICY_KEY = f"{APP}/etc/policy-public.pem"
CA = f"{APP}/etc/server-ca.pem"
PYTHON = "/Library/Frameworks/Python.framework/Versions/3.11/bin/python3.11"
# Fixed namespace: the same build inputs give the same profile identifiers, so MDM replaces
# the profile on update instead of installing a second one.
_NS = uuid.UUID("9a0c1f4e-3c55-4e5e-9d51-0c2f5b7a6e11")

DAEMON_KEYS = ("Label", "ProgramArguments", "RunAtLoad", "KeepAlive")
PROFILE_KEYS = (
    "PayloadType",
    "PayloadVersion",
    "PayloadIdentifier",
    "PayloadUUID",
    "PayloadDisplayName",
    "PayloadContent",
)


def launch_daemon() -> dict[str, Any]:
    return {
        "Label": AGENT_LABEL,
        "ProgramArguments": [f"{APP}/bin/wxguard", "agent", "run", "--mode", "system"],
        "RunAtLoad": True,
        "KeepAlive": True,
        "ThrottleInterval": 10,
        "ProcessType": "Background",
        "UserName": "root",
        "EnvironmentVariables": {"PYTHONDONTWRITEBYTECODE": "1"},
        "StandardOutPath": f"{LOGS}/agent.out.log",
        "StandardErrorPath": f"{LOGS}/agent.err.log",
    }


def launch_agent() -> dict[str, Any]:
    return {
        "Label": TRAY_LABEL,
        "ProgramArguments": [f"{APP}/bin/wxguard-tray"],
        "RunAtLoad": True,
        # Restart after a crash, not after the employee chose Quit (exit 0).
        "KeepAlive": {"SuccessfulExit": False},
        "LimitLoadToSessionType": ["Aqua"],
        "ProcessType": "Interactive",
    }


def managed_preferences(spec: BuildSpec) -> dict[str, Any]:
    """What MDM pushes as managed preferences. The enrollment secret is left out on purpose:
    managed preferences are readable by every local user; the package's postinstall writes it
    to the root-only agent.toml instead."""
    values = spec.managed_values(POLICY_KEY, CA)
    values.pop("enrollment_secret", None)
    return values


def profile(spec: BuildSpec) -> dict[str, Any]:
    prefs = managed_preferences(spec)
    seed = f"{spec.server_url}|{MACOS_DOMAIN}"
    inner = {
        "PayloadType": "com.apple.ManagedClient.preferences",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{PKG_ID}.profile.preferences",
        "PayloadUUID": str(uuid.uuid5(_NS, seed + "|prefs")).upper(),
        "PayloadDisplayName": "wxguard managed settings",
        "PayloadEnabled": True,
        "PayloadContent": {MACOS_DOMAIN: {"Forced": [{"mcx_preference_settings": prefs}]}},
    }
    return {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{PKG_ID}.profile",
        "PayloadUUID": str(uuid.uuid5(_NS, seed)).upper(),
        "PayloadDisplayName": "wxguard (IT)",
        "PayloadDescription": "wxguard agent settings: server, pinned keys, scan interval.",
        "PayloadOrganization": "IT",
        "PayloadScope": "System",
        "PayloadRemovalDisallowed": True,
        "PayloadContent": [inner],
    }


def _launcher(module: str) -> str:
    return (
        "#!/bin/sh\n"
        f'exec {APP}/venv/bin/python -I -B -c "import sys; from {module} import main; '
        f'sys.argv[0] = \\"$0\\"; sys.exit(main())" "$@"\n'
    )


PREINSTALL = """#!/bin/bash
# wxguard preinstall: refuse a downgrade, stop the running agent before files are replaced.
set -u
NEW_VERSION="@VERSION@"
if [ ! -x "@PYTHON@" ]; then
    echo "wxguard: Python 3.11 from python.org (@PYTHON@) is required; push it first." >&2
    exit 1
fi
OLD_VERSION=$(pkgutil --pkg-info @PKG_ID@ 2>/dev/null | awk '/^version:/ {print $2}')
if [ -n "$OLD_VERSION" ] && [ "${WXGUARD_ALLOW_DOWNGRADE:-}" != "1" ]; then
    if ! "@PYTHON@" - "$OLD_VERSION" "$NEW_VERSION" <<'PY'
import sys
def key(v):
    return [int(p) if p.isdigit() else p for p in v.replace("-", ".").replace("+", ".").split(".")]
sys.exit(1 if key(sys.argv[1]) > key(sys.argv[2]) else 0)
PY
    then
        echo "wxguard: refusing to downgrade from $OLD_VERSION to $NEW_VERSION; uninstall first." >&2
        exit 1
    fi
fi
launchctl bootout system/@AGENT_LABEL@ 2>/dev/null || true
exit 0
"""

POSTINSTALL = """#!/bin/bash
# wxguard postinstall: state folders, the root-only enrollment secret, then the agent daemon
# and, for the employee logged in now, the tray. The agent enrolls itself when it starts.
set -eu
install -d -m 0700 -o root -g wheel "@STATE@"
install -d -m 0700 -o root -g wheel "@LOGS@"
install -d -m 0755 -o root -g wheel /var/run/wxguard
SEED="@APP@/share/agent.toml.dist"
CONF="@STATE@/agent.toml"
if [ -f "$SEED" ] && [ ! -f "$CONF" ]; then
    install -m 0600 -o root -g wheel "$SEED" "$CONF"
fi
rm -f "$SEED"
chown -R root:wheel "@APP@"
launchctl bootstrap system /Library/LaunchDaemons/@AGENT_LABEL@.plist
console_user=$(stat -f %Su /dev/console)
if [ -n "$console_user" ] && [ "$console_user" != "root" ]; then
    uid=$(id -u "$console_user")
    launchctl bootstrap "gui/$uid" /Library/LaunchAgents/@TRAY_LABEL@.plist 2>/dev/null || true
fi
exit 0
"""

UNINSTALL = """#!/bin/bash
# wxguard uninstall (run as root, e.g. from MDM): stop, remove files and state, forget the pkg.
set -u
console_user=$(stat -f %Su /dev/console)
if [ -n "$console_user" ] && [ "$console_user" != "root" ]; then
    launchctl bootout "gui/$(id -u "$console_user")/@TRAY_LABEL@" 2>/dev/null || true
fi
launchctl bootout system/@AGENT_LABEL@ 2>/dev/null || true
rm -f /Library/LaunchDaemons/@AGENT_LABEL@.plist /Library/LaunchAgents/@TRAY_LABEL@.plist
rm -rf "@APP@" "@STATE@" "@LOGS@" /var/run/wxguard
pkgutil --forget @PKG_ID@ >/dev/null 2>&1 || true
echo "wxguard removed. Remove the configuration profile from MDM as well."
"""

BUILD_SH = """#!/bin/bash
# Build wxguard-@VERSION@.pkg on a Mac (run from this folder; needs the wxguard source tree and
# python.org's Python 3.11 at @PYTHON@, the same the workstations get).
#   ./build.sh /path/to/wxguard-source ["Developer ID Installer: Company (TEAMID)"]
set -euo pipefail
SOURCE="${1:?usage: build.sh SOURCE [SIGNING_IDENTITY]}"
IDENTITY="${2:-}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$HERE/payload"
# The venv is created at its final path so every path in it is right, then copied.
sudo rm -rf "@APP@/venv"
sudo "@PYTHON@" -m venv "@APP@/venv"
sudo "@APP@/venv/bin/python" -m pip install --no-compile "$SOURCE[gui]"
sudo "@APP@/venv/bin/python" -m pip uninstall -y pip
sudo "@APP@/venv/bin/python" -m compileall -q "@APP@/venv/lib"
sudo ditto "@APP@/venv" "$ROOT@APP@/venv"
sudo rm -rf "@APP@"
sudo chown -R root:wheel "$ROOT"
chmod 0755 "$HERE/scripts/preinstall" "$HERE/scripts/postinstall"
pkgbuild --root "$ROOT" --scripts "$HERE/scripts" --identifier @PKG_ID@ \\
    --version @VERSION@ --install-location / "$HERE/wxguard-component.pkg"
SIGN=()
if [ -n "$IDENTITY" ]; then SIGN=(--sign "$IDENTITY"); fi
productbuild --distribution "$HERE/distribution.xml" --package-path "$HERE" \\
    "${SIGN[@]}" "$HERE/wxguard-@VERSION@.pkg"
echo "built $HERE/wxguard-@VERSION@.pkg (notarize with: xcrun notarytool submit ... --wait)"
"""


def distribution(spec: BuildSpec) -> str:
    root = ElementTree.Element("installer-gui-script", minSpecVersion="2")
    ElementTree.SubElement(root, "title").text = "wxguard"
    ElementTree.SubElement(root, "options", customize="never", require_scripts="true")
    ElementTree.SubElement(root, "domains", enable_localSystem="true")
    choices = ElementTree.SubElement(root, "choices-outline")
    ElementTree.SubElement(choices, "line", choice="default")
    choice = ElementTree.SubElement(root, "choice", id="default", title="wxguard")
    ElementTree.SubElement(choice, "pkg-ref", id=PKG_ID)
    ref = ElementTree.SubElement(
        root, "pkg-ref", id=PKG_ID, version=spec.version, onConclusion="none"
    )
    ref.text = "wxguard-component.pkg"
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(root, "unicode") + "\n"


def _fill(text: str, spec: BuildSpec) -> str:
    for key, value in {
        "@VERSION@": spec.version,
        "@PYTHON@": PYTHON,
        "@PKG_ID@": PKG_ID,
        "@AGENT_LABEL@": AGENT_LABEL,
        "@TRAY_LABEL@": TRAY_LABEL,
        "@STATE@": STATE,
        "@LOGS@": LOGS,
        "@APP@": APP,
    }.items():
        text = text.replace(key, value)
    return text


def _write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    os.chmod(path, mode)


def build_macos(spec: BuildSpec, out: Path) -> Path:
    """Write the macOS package sources to `out`; returns the folder."""
    root = out / "payload"
    app = root / APP.lstrip("/")
    _write(root / f"Library/LaunchDaemons/{AGENT_LABEL}.plist", plistlib.dumps(launch_daemon()))
    _write(root / f"Library/LaunchAgents/{TRAY_LABEL}.plist", plistlib.dumps(launch_agent()))
    _write(app / "bin" / "wxguard", _launcher("agent.cli"), 0o755)
    _write(app / "bin" / "wxguard-tray", _launcher("gui.main"), 0o755)
    _write(app / "etc" / "policy-public.pem", spec.policy_key_pem)
    if spec.ca_pem:
        _write(app / "etc" / "server-ca.pem", spec.ca_pem)
    # The secret (and, for Macs without the profile, the same settings) as the agent's own
    # root-only config; postinstall moves it into the state folder.
    _write(
        app / "share" / "agent.toml.dist",
        render_toml(spec.managed_values(POLICY_KEY, CA), "wxguard settings baked in (IT)."),
        0o600,
    )
    _write(out / "scripts" / "preinstall", _fill(PREINSTALL, spec), 0o755)
    _write(out / "scripts" / "postinstall", _fill(POSTINSTALL, spec), 0o755)
    _write(out / "uninstall.sh", _fill(UNINSTALL, spec), 0o755)
    _write(out / "build.sh", _fill(BUILD_SH, spec), 0o755)
    _write(out / "distribution.xml", distribution(spec))
    _write(out / "wxguard.mobileconfig", plistlib.dumps(profile(spec)))
    validate_macos(out)
    return out


def _require(table: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    missing = [key for key in keys if key not in table]
    if missing:
        raise BuildError(f"{where} 缺少 {missing}", f"{where} lacks {missing}")


def validate_macos(out: Path) -> None:
    """Parse every generated plist, the profile and distribution.xml; check required keys."""
    for label in (AGENT_LABEL, TRAY_LABEL):
        kind = "LaunchDaemons" if label == AGENT_LABEL else "LaunchAgents"
        path = out / "payload" / "Library" / kind / f"{label}.plist"
        data = plistlib.loads(path.read_bytes())
        _require(data, DAEMON_KEYS, str(path))
        if data["Label"] != label or not Path(data["ProgramArguments"][0]).is_absolute():
            raise BuildError(f"{path} 无效", f"{path}: wrong Label or relative program")
    prof = plistlib.loads((out / "wxguard.mobileconfig").read_bytes())
    _require(prof, PROFILE_KEYS, "wxguard.mobileconfig")
    for payload in prof["PayloadContent"]:
        _require(payload, PROFILE_KEYS, "wxguard.mobileconfig payload")
        settings = payload["PayloadContent"][MACOS_DOMAIN]["Forced"][0]["mcx_preference_settings"]
        if "server_url" not in settings or "enrollment_secret" in settings:
            raise BuildError("配置描述文件内容有误", "profile: server_url missing or secret leaked")
    ElementTree.parse(out / "distribution.xml")
