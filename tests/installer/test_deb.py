"""The Debian package for real: built from this repo, inspected, installed with dpkg on this
machine, its agent enrolled with a real server and reporting a planted plugin, upgraded,
refused a downgrade, and purged without a trace."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import script
from tests.installer.conftest import LEFTOVERS, Build, dpkg, installed_version

OPT = Path("/opt/wxguard")
MANAGED = Path("/etc/wxguard/agent.toml")
UNIT = Path("/lib/systemd/system/wxguard-agent.service")


def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.3)


def server_list(build: Build, what: str) -> list[dict[str, Any]]:
    run = subprocess.run(
        [script("wxguard-server"), what, "--data", str(build.server.data), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    return list(json.loads(run.stdout))


def repack(build: Build, version: str, target: Path) -> Path:
    """The same package under another version: what IT's next (or an older) build looks like
    to dpkg, without building the environment again."""
    root = target / "root"
    if root.exists():
        shutil.rmtree(root)
    assert subprocess.run(["dpkg-deb", "-R", str(build.deb), str(root)]).returncode == 0
    for name in ("control", "preinst"):
        path = root / "DEBIAN" / name
        text = path.read_text()
        text = text.replace(f"Version: {build.version}\n", f"Version: {version}\n")
        text = text.replace(f'NEW_VERSION="{build.version}"', f'NEW_VERSION="{version}"')
        path.write_text(text)
    deb = target / f"wxguard_{version}.deb"
    run = subprocess.run(
        ["dpkg-deb", "--build", "--root-owner-group", "-Znone", str(root), str(deb)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    shutil.rmtree(root)
    return deb


@pytest.fixture
def project_venv() -> Iterator[Path]:
    project = Path.home() / f"wxguard-inst-{uuid.uuid4().hex[:8]}"
    site = project / ".venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    try:
        yield site
    finally:
        shutil.rmtree(project, ignore_errors=True)


@pytest.fixture
def installed_agent(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start the installed agent as systemd would (no systemd runs here); always stopped."""
    procs: list[subprocess.Popen[bytes]] = []
    log_path = tmp_path / "agent-stderr.log"

    def start() -> subprocess.Popen[bytes]:
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "LANG": "C.UTF-8",
            # What the employee's shell may carry must not reach the installed agent (-I).
            "PYTHONPATH": "/nonexistent-user-packages",
        }
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [str(OPT / "bin" / "wxguard"), "agent", "run", "--mode", "system"],
                env=env,
                stdout=log,
                stderr=log,
            )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_package_carries_version_scripts_unit_and_a_root_only_secret(deb_build: Build) -> None:
    info = subprocess.run(
        ["dpkg-deb", "--info", str(deb_build.deb)], capture_output=True, text=True, check=True
    ).stdout
    assert f"Version: {deb_build.version}" in info
    assert "Package: wxguard" in info
    assert "Depends: python3.11" in info
    for script_name in ("preinst", "postinst", "prerm", "postrm"):
        assert f" {script_name}" in info
    listing = subprocess.run(
        ["dpkg-deb", "--contents", str(deb_build.deb)], capture_output=True, text=True, check=True
    ).stdout
    entries = {
        line.split()[-1] if "->" not in line else line.split()[-3]: line
        for line in listing.splitlines()
    }
    secret = entries["./opt/wxguard/share/agent.toml.dist"]
    assert secret.startswith("-rw------- root/root"), secret
    assert entries["./lib/systemd/system/wxguard-agent.service"].startswith("-rw-r--r-- root/root")
    assert "./etc/xdg/autostart/wxguard-tray.desktop" in entries
    assert "./etc/wxguard/policy-public.pem" in entries
    assert "-> /opt/wxguard/bin/wxguard" in entries["./usr/bin/wxguard"]
    assert "-> /opt/wxguard/bin/wxguard-tray" in entries["./usr/bin/wxguard-tray"]
    assert entries["./opt/wxguard/bin/wxguard"].startswith("-rwxr-xr-x root/root")
    assert any("/site-packages/PySide6/QtWidgets" in name for name in entries)
    assert any("/site-packages/agent/daemon.py" in name for name in entries)
    assert not any("/site-packages/tests/" in name for name in entries), "tests shipped"
    assert all("root/root" in line for line in listing.splitlines())
    assert deb_build.deb.stat().st_size < 150e6


def test_install_enroll_report_and_purge_leave_nothing(
    deb_build: Build,
    clean_machine: None,
    installed_agent: Callable[[], subprocess.Popen[bytes]],
    project_venv: Path,
) -> None:
    run = dpkg("-i", str(deb_build.deb))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "systemd is not running" in run.stdout, run.stdout
    assert installed_version() == deb_build.version
    # IT's managed config: the baked server and secret, root-only.
    mode = MANAGED.stat()
    assert stat.S_IMODE(mode.st_mode) == 0o600 and mode.st_uid == 0 and mode.st_gid == 0
    managed = MANAGED.read_text()
    assert f'server_url = "{deb_build.server.url}"' in managed
    assert f'enrollment_secret = "{deb_build.secret}"' in managed
    assert 'policy_public_key = "/etc/wxguard/policy-public.pem"' in managed
    assert stat.S_IMODE(Path("/var/lib/wxguard").stat().st_mode) == 0o700
    # The unit is valid for systemd, with the hardening the checks can live with.
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    unit = [line for line in UNIT.read_text().splitlines() if not line.startswith("#")]
    assert "ExecStart=/opt/wxguard/bin/wxguard agent run --mode system" in unit
    assert "ProtectSystem=strict" in unit and "Restart=on-failure" in unit
    assert not [line for line in unit if line.startswith(("PrivateTmp", "ProtectHome"))]
    autostart = Path("/etc/xdg/autostart/wxguard-tray.desktop").read_text()
    assert "Exec=/usr/bin/wxguard-tray" in autostart
    # The environment is self-contained and names no build folder.
    leak = subprocess.run(["grep", "-rlI", "/wxguard-deb-", str(OPT)], capture_output=True)
    assert leak.stdout == b"", leak.stdout.decode()[:500]
    # The tray as the autostart entry starts it (no display here: Qt's offscreen platform).
    tray = subprocess.Popen(
        ["/usr/bin/wxguard-tray"],
        env={"PATH": "/usr/bin:/bin", "HOME": "/root", "QT_QPA_PLATFORM": "offscreen"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(4)
        assert tray.poll() is None, tray.stderr.read().decode() if tray.stderr else ""
    finally:
        tray.kill()
        tray.wait()
        if tray.stderr:
            tray.stderr.close()

    (project_venv / "wcferry-39.6.0.0.dist-info").mkdir()
    agent = installed_agent()
    hostname = os.uname().nodename
    devices = eventually(
        lambda: [d for d in server_list(deb_build, "devices") if d["hostname"] == hostname],
        60,
        "the installed agent enrolled and on the fleet list",
    )
    assert agent.poll() is None
    device_id = devices[0]["device_id"]
    eventually(
        lambda: any(
            f["rule_id"] == "wechatferry" and f["device_id"] == device_id
            for f in server_list(deb_build, "findings")
        ),
        60,
        "the planted wcferry finding on the server",
    )
    status = subprocess.run(
        ["/usr/bin/wxguard", "status", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert '"enrolled": true' in status.stdout, status.stdout + status.stderr
    assert Path("/var/lib/wxguard/device.json").exists()
    assert Path("/var/log/wxguard/agent.log").exists()
    # Who filed incident reports is in the log: nobody but root may read it.
    assert Path("/var/log/wxguard").stat().st_mode & 0o777 == 0o700
    assert Path("/var/log/wxguard/agent.log").stat().st_mode & 0o077 == 0

    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=30) == 0
    run = dpkg("--purge", "wxguard")
    assert run.returncode == 0, run.stdout + run.stderr
    assert installed_version() is None
    left = [path for path in LEFTOVERS if os.path.lexists(path)]
    assert left == [], f"left behind after purge: {left}"


def test_upgrade_keeps_state_and_install_time_secret_and_downgrade_is_refused(
    deb_build: Build, clean_machine: None, tmp_path: Path
) -> None:
    newer = repack(deb_build, f"{deb_build.version}+1", tmp_path)
    try:
        upgrade_then_downgrade(deb_build, newer)
    finally:
        newer.unlink()  # 250 MB uncompressed


def upgrade_then_downgrade(deb_build: Build, newer: Path) -> None:
    env = dict(os.environ, WXGUARD_ENROLLMENT_SECRET="secret-given-at-install")
    run = dpkg("-i", str(deb_build.deb), env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert 'enrollment_secret = "secret-given-at-install"' in MANAGED.read_text()
    state = Path("/var/lib/wxguard/device.json")
    state.write_text('{"device_id": "kept"}')
    os.chmod(state, 0o600)

    run = dpkg("-i", str(newer))  # no secret in the environment this time
    assert run.returncode == 0, run.stdout + run.stderr
    assert installed_version() == f"{deb_build.version}+1"
    assert state.read_text() == '{"device_id": "kept"}', "upgrade lost the enrollment"
    assert 'enrollment_secret = "secret-given-at-install"' in MANAGED.read_text()
    assert stat.S_IMODE(MANAGED.stat().st_mode) == 0o600

    run = dpkg("-i", str(deb_build.deb))
    assert run.returncode != 0
    assert "refusing to downgrade" in run.stderr, run.stderr
    assert installed_version() == f"{deb_build.version}+1"
    works = subprocess.run(["/usr/bin/wxguard", "--help"], capture_output=True, text=True)
    assert works.returncode == 0, "a refused downgrade broke the installed agent"

    run = dpkg("-r", "wxguard")  # remove (not purge) keeps config and state for a reinstall
    assert run.returncode == 0, run.stdout + run.stderr
    assert state.exists() and MANAGED.exists() and not OPT.exists()
