"""One real .deb per test session, built against a real local `wxguard-server`, and a guard
that leaves this machine without wxguard installed whatever happens."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, script
from tests.support.real_server import RealServer

# Wheels fetched once and reused by every later build on this machine (CI included).
WHEELHOUSE = Path(os.environ.get("WXGUARD_WHEELHOUSE", "/tmp/wxguard-installer-cache/wheelhouse"))
LEFTOVERS = (
    "/opt/wxguard",
    "/etc/wxguard",
    "/var/lib/wxguard",
    "/var/log/wxguard",
    "/run/wxguard",
    "/usr/bin/wxguard",
    "/usr/bin/wxguard-tray",
    "/lib/systemd/system/wxguard-agent.service",
    "/etc/xdg/autostart/wxguard-tray.desktop",
    "/usr/share/applications/wxguard-tray.desktop",
)


def project_version() -> str:
    import tomllib

    return str(tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"])


def dpkg(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["dpkg", *args], capture_output=True, text=True, timeout=300, env=env or dict(os.environ)
    )


def installed_version() -> str | None:
    run = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status} ${Version}", "wxguard"], capture_output=True, text=True
    )
    if run.returncode != 0 or "installed" not in run.stdout.split(" ")[:3]:
        return None
    return run.stdout.split(" ")[-1]


def purge() -> None:
    """Remove wxguard completely; also what a crashed earlier run may have left."""
    run = dpkg("--purge", "wxguard")
    assert run.returncode == 0, run.stdout + run.stderr


@dataclass
class Build:
    deb: Path
    version: str
    server: RealServer
    secret: str
    out: Path


@pytest.fixture(scope="session")
def fleet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    server = RealServer(tmp_path_factory.mktemp("installer-server") / "data")
    server.start()
    yield server
    server.stop()
    server.engine.dispose()


@pytest.fixture(scope="session")
def deb_build(
    fleet_server: RealServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Build]:
    work = tmp_path_factory.mktemp("installer-build")
    secret = fleet_server.secret(uses=5)
    secret_file = work / "secret.txt"
    secret_file.write_text(secret + "\n")
    out = work / "out"
    started = time.monotonic()
    run = subprocess.run(
        [
            script("wxguard-installer"),
            "build",
            "--server",
            fleet_server.url,
            "--secret-file",
            str(secret_file),
            "--policy-key",
            str(fleet_server.settings.policy_public_key_path),
            "--out",
            str(out),
            "--platform",
            "linux",
            "--wheelhouse",
            str(WHEELHOUSE),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    debs = list((out / "linux").glob("*.deb"))
    assert len(debs) == 1, run.stdout
    print(
        f"wxguard-installer build --platform linux: {time.monotonic() - started:.0f} s, "
        f"{debs[0].stat().st_size / 1e6:.1f} MB"
    )
    yield Build(debs[0], project_version(), fleet_server, secret, out)
    shutil.rmtree(work, ignore_errors=True)  # pytest keeps old temp folders; this one is large


@pytest.fixture
def clean_machine() -> Iterator[None]:
    """Purge wxguard before and after the test, even when it fails, and check nothing stays."""
    if installed_version() is not None or Path("/var/lib/dpkg/info/wxguard.list").exists():
        purge()
    yield
    purge()
    for path in LEFTOVERS:
        if os.path.lexists(path):
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.unlink(path)
