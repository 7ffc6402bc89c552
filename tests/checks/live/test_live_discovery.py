"""On this machine, for real: a tool pip-installed into a virtual environment nobody would
guess, in the home of a user created after the scanner started, is found by the next scan
(no restart); a tool in the environment of a running Python outside every home is found
through that process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks.api import live_scanner
from checks.model import ScanResult
from tests.checks import registry
from tests.support.accounts import add_user, remove_user

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0,
    reason="needs root on Linux (useradd, scanning other users' homes)",
)


@pytest.fixture(scope="module")
def downloads() -> registry.Downloads:
    try:
        return registry.fetch()
    except registry.Unreachable as exc:
        pytest.skip(f"the package registries cannot be reached, so no real package: {exc}")


@pytest.fixture
def new_user() -> Iterator[tuple[str, Path]]:
    name = f"wxd{uuid.uuid4().hex[:8]}"
    home = Path("/home") / name
    try:
        yield name, home
    finally:
        remove_user(name, home=True)
        shutil.rmtree(home, ignore_errors=True)


# The system's Python, which every user may run (the test's own may sit in root's home).
PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable


def _pip_venv(prefix: Path, wheel: Path, user: str | None = None) -> None:
    """`python3 -m venv` and the venv's own `pip install --no-deps --no-index` of a real
    wheel, as `user` would type them."""
    run_as = ["runuser", "-u", user, "--"] if user else []
    shared = Path(tempfile.mkdtemp(prefix="wxd-wheel-"))
    shared.chmod(0o755)
    local = shared / wheel.name
    shutil.copy(wheel, local)
    local.chmod(0o644)
    try:
        subprocess.run([*run_as, PYTHON, "-m", "venv", str(prefix)], check=True, timeout=300)
        subprocess.run(
            [
                *run_as,
                str(prefix / "bin/python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--no-index",
                str(local),
            ],
            check=True,
            timeout=300,
            capture_output=True,
        )
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def _found(result: ScanResult, rule: str, where: str) -> bool:
    return any(
        f.rule_id == rule and any(where in e.path for e in f.evidence) for f in result.findings
    )


def test_pip_installed_tool_in_a_new_users_odd_venv_is_found_without_restart(
    downloads: registry.Downloads, new_user: tuple[str, Path]
) -> None:
    name, home = new_user
    scanner = live_scanner()
    first = scanner.scan()
    assert not _found(first, "itchat", str(home).lstrip("/"))
    # A new employee's account and home, after the scanner (the agent) started.
    add_user(name, home=True, shell="/bin/bash")
    assert str(home) in scanner.fs.watch_dirs() or "/home" in scanner.fs.watch_dirs()
    prefix = home / "notes" / "2024" / "q3" / ".tmp-sync" / "x"
    prefix.parent.mkdir(parents=True)
    shutil.chown(home / "notes", name, name)
    for folder in (home / "notes/2024", home / "notes/2024/q3", prefix.parent):
        shutil.chown(folder, name, name)
    _pip_venv(prefix, downloads.wheels["itchat-uos"], user=name)
    result = scanner.scan()
    assert _found(result, "itchat", f"{home.relative_to('/')}/notes/2024/q3/.tmp-sync/x/lib/"), [
        (f.rule_id, [e.path for e in f.evidence]) for f in result.findings
    ]


def test_tool_in_a_running_pythons_environment_is_found(
    downloads: registry.Downloads, tmp_path: Path
) -> None:
    prefix = tmp_path / f"srv-{uuid.uuid4().hex[:6]}" / "rt"
    _pip_venv(prefix, downloads.wheels["wcferry"])
    proc = subprocess.Popen([str(prefix / "bin/python"), "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.3)
        result = live_scanner().scan()
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert _found(result, "wechatferry", str(prefix).lstrip("/")), [
        (f.rule_id, [e.path for e in f.evidence]) for f in result.findings
    ]


def _project(tmp_path: Path) -> Path:
    """A project folder outside every home and every place the walk covers."""
    project = tmp_path / f"proj-{uuid.uuid4().hex[:6]}" / "bot"
    project.mkdir(parents=True)
    return project


def _running(argv: list[str], cwd: Path) -> ScanResult:
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        assert proc.poll() is None, f"{argv} exited"
        return live_scanner().scan()
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_bot_run_from_a_project_folder_finds_its_node_modules(
    downloads: registry.Downloads, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    registry.install_npm(downloads.tarballs["wechaty"], project / "node_modules", "wechaty")
    (project / "bot.js").write_text("setInterval(() => {}, 1000);\n")
    node = shutil.which("node")
    assert node is not None
    idle = live_scanner().scan()
    assert not _found(idle, "wechaty", str(project).lstrip("/"))  # nobody walks there
    result = _running([node, "bot.js"], project)
    assert _found(result, "wechaty", f"{str(project).lstrip('/')}/node_modules/wechaty"), [
        (f.rule_id, [e.path for e in f.evidence]) for f in result.findings
    ]


def test_python_bot_beside_its_unactivated_venv_finds_the_venvs_packages(
    downloads: registry.Downloads, tmp_path: Path
) -> None:
    """`python3 bot.py` (the system's Python, the venv not activated, PYTHONPATH set by a
    script) run from the project folder: the project's venv is the one it uses."""
    project = _project(tmp_path)
    _pip_venv(project / "env311", downloads.wheels["wcferry"])
    (project / "bot.py").write_text("import time\ntime.sleep(60)\n")
    result = _running([PYTHON, "bot.py"], project)
    assert _found(result, "wechatferry", f"{str(project).lstrip('/')}/env311/lib/"), [
        (f.rule_id, [e.path for e in f.evidence]) for f in result.findings
    ]
