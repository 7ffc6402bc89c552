"""A real `wxguard agent run --mode system` process for tests, with its state in a temp folder."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from agent.api import AgentError
from agent.client import AgentClient
from tests.conftest import script
from tests.support.real_server import RealServer


class AgentUnderTest:
    """`wxguard agent run --mode system` with its state in a temp folder."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.proc: subprocess.Popen[bytes] | None = None
        home.mkdir(parents=True, exist_ok=True)

    @property
    def socket(self) -> Path:
        return self.home / "agent.sock"

    def env(self) -> dict[str, str]:
        return dict(os.environ, WXGUARD_HOME=str(self.home))

    def start(self) -> None:
        log = (self.home / "stderr.log").open("ab")
        self.proc = subprocess.Popen(
            [script("wxguard"), "agent", "run", "--mode", "system"],
            env=self.env(),
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                with AgentClient(self.socket, timeout=5) as client:
                    client.hello()
                return
            except AgentError:
                assert self.proc.poll() is None, (self.home / "stderr.log").read_text()
                assert time.monotonic() < deadline, "the agent did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [script("wxguard"), *args], capture_output=True, text=True, timeout=120, env=self.env()
        )

    def enroll(self, server: RealServer) -> None:
        run = self.cli(
            "enroll",
            "--server",
            server.url,
            "--secret",
            server.secret(),
            "--policy-key",
            str(server.settings.policy_public_key_path),
        )
        assert run.returncode == 0, run.stderr
