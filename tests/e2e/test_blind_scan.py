"""End to end, issue 10: one employee's hostile file blinds the packages probe. Another user's
real `wechaty` finding must stay open on the server (it used to be marked resolved), the
batch says "partial", and the device shows `blind`, never compliant, once nothing else is open.

The failure is real: a 1 MB `package.json` of nested brackets in the employee's
`~/node_modules/evil/` makes the parser raise RecursionError, which today kills the whole
packages probe (a whole-probe blind spot). Once the parser is bounded (issue 10, item 2) the
same file is a blind spot for that one file; every assertion here holds either way.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.models import Device
from server.models import Finding as ServerFinding
from tests.conftest import script
from tests.e2e.test_agent_server import eventually
from tests.support.accounts import add_user, remove_user
from tests.support.real_agent import AgentUnderTest
from tests.support.real_server import RealServer, running_server

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates a real user; needs root")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RealServer]:
    with running_server(tmp_path / "server") as srv:
        yield srv


@pytest.fixture
def employee() -> Iterator[pwd.struct_passwd]:
    """A real login user with a home under /home, created before the agent starts."""
    name = f"wxg{uuid.uuid4().hex[:8]}"
    entry = add_user(name, home=True, shell="/bin/sh")
    try:
        yield entry
    finally:
        remove_user(name, home=True)


@pytest.fixture
def agent(tmp_path: Path, employee: pwd.struct_passwd) -> Iterator[AgentUnderTest]:
    under_test = AgentUnderTest(tmp_path / "agent")
    under_test.start()
    yield under_test
    under_test.stop()


@pytest.fixture
def bot_project() -> Iterator[Path]:
    """A real wechaty install in a project under root's home (`{home}/*/node_modules`)."""
    project = Path.home() / f"wxguard-bot-{uuid.uuid4().hex[:8]}"
    package = project / "node_modules" / "wechaty"
    package.mkdir(parents=True)
    (package / "package.json").write_text('{"name": "wechaty", "version": "1.20.2"}')
    try:
        yield package
    finally:
        shutil.rmtree(project, ignore_errors=True)


def _plant_bomb(user: pwd.struct_passwd) -> Path:
    """As the employee would: ~/node_modules/evil/package.json, 1 MB of nested brackets.
    `{home}/node_modules` is probed before `{home}/*/node_modules`, so the probe dies first."""
    folder = Path(user.pw_dir) / "node_modules" / "evil"
    folder.mkdir(parents=True)
    bomb = folder / "package.json"
    bomb.write_text("[" * 500_000 + "]" * 500_000)
    for path in (folder.parent, folder, bomb):
        os.chown(path, user.pw_uid, user.pw_gid)
    return folder.parent


def _devices(server: RealServer) -> list[dict[str, object]]:
    run = subprocess.run(
        [script("wxguard-server"), "devices", "--data", str(server.data), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    devices: list[dict[str, object]] = json.loads(run.stdout)
    return devices


def test_a_blinded_probe_resolves_nothing_and_the_device_is_not_compliant(
    server: RealServer,
    employee: pwd.struct_passwd,
    agent: AgentUnderTest,
    bot_project: Path,
) -> None:
    agent.enroll(server)

    def wechaty(state: str) -> bool:
        return any(f.rule_id == "wechaty" and f.state == state for f in server.rows(ServerFinding))

    def coverage() -> dict[str, object] | None:
        devices = server.rows(Device)
        return devices[0].last_scan_coverage if devices else None

    eventually(lambda: wechaty("open"), 60, "the wechaty finding on the server", agent)
    eventually(lambda: (coverage() or {}).get("complete") is True, 30, "a complete scan", agent)

    # The employee blinds the packages probe; the next scan must not resolve wechaty.
    modules = _plant_bomb(employee)
    assert agent.cli("scan-now").returncode in (0, 1)
    eventually(lambda: (coverage() or {}).get("complete") is False, 60, "a partial scan", agent)
    assert wechaty("open"), [(f.rule_id, f.state) for f in server.rows(ServerFinding)]
    status = json.loads(agent.cli("status", "--format", "json").stdout)
    assert status["state"] == "non-compliant" and not status["compliant"], status
    codes = {r["code"] for r in status["reasons"]}
    assert codes & {"probe-failed", "partial-coverage"}, status["reasons"]
    [device] = _devices(server)
    assert device["compliance"] == "non-compliant", device

    # Everything cleaned up: a complete scan resolves wechaty; the device is compliant.
    shutil.rmtree(modules)
    shutil.rmtree(bot_project)
    assert agent.cli("scan-now").returncode in (0, 1)
    eventually(lambda: wechaty("resolved"), 60, "wechaty resolved after a complete scan", agent)
    eventually(lambda: _devices(server)[0]["compliance"] == "compliant", 30, "compliant", agent)

    # Blind again with nothing open: the dashboard says blind, not compliant.
    _plant_bomb(employee)
    assert agent.cli("scan-now").returncode == 1  # `blind` is not compliant for the CLI either
    eventually(lambda: _devices(server)[0]["compliance"] == "blind", 60, "blind", agent)
    status = json.loads(agent.cli("status", "--format", "json").stdout)
    assert status["state"] == "blind", status
