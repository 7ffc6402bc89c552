"""Enforcement (policy mode `enforce`): processes of deny-listed clients are terminated after
the employee has been warned through the tray and a grace period has passed.

Official clients are never touched: only process evidence of rules about unapproved tools
counts (an injected module is evidence against the plugin, not a reason to kill WeChat), and
every candidate is checked again against the approved identities right before the signal.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from agent.principals import UserId, process_owner
from agent.service import AgentService
from agent.store import LocalRecords, ScanDelta
from checks.identity import ClientIndex
from checks.model import Category, Finding, ProcessFact, ScanResult
from checks.probes.processes import inspect_pid

log = logging.getLogger("wxguard.agent.enforcement")

# Tools whose running process is itself the violation.
DENY_CATEGORIES = {
    Category.UNOFFICIAL_CLIENT,
    Category.MULTI_OPEN,
    Category.BOT_FRAMEWORK,
    Category.DB_DUMPER,
    Category.BINARY_PATCHER,
    Category.UNRECOGNISED_CLIENT,
}
TERM_WAIT_S = 3.0


@dataclass(slots=True)
class _Pending:
    pid: int
    create_time: float
    exe: str
    name: str
    finding: Finding
    deadline: float
    uid: UserId | None


class Enforcer:
    """Warns, waits, re-checks, terminates, records — in that order, every time."""

    def __init__(
        self,
        service: AgentService,
        grace_s: float,
        on_terminated: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.grace_s = grace_s
        self.clock = clock
        self.mode = "monitor"
        self.records = LocalRecords(service.store)
        self.on_terminated = on_terminated
        self._pending: dict[tuple[int, float], _Pending] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="wxguard-enforce", daemon=True)
        service.scan_listeners.append(self._on_scan)
        service.status_providers.append(self._status)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def set_mode(self, mode: str) -> None:
        if mode != self.mode:
            log.info("enforcement mode: %s", mode)
        self.mode = mode
        if mode != "enforce":
            with self._lock:
                self._pending.clear()

    def _status(self) -> dict[str, Any]:
        with self._lock:
            pending = [
                {
                    "pid": p.pid,
                    "name": p.name,
                    "rule_id": p.finding.rule_id,
                    "in_s": max(0.0, p.deadline - self.clock()),
                }
                for p in self._pending.values()
            ]
        return {"enforcement": {"mode": self.mode, "grace_s": self.grace_s, "pending": pending}}

    # -- candidates ------------------------------------------------------------------------

    def _on_scan(self, result: ScanResult, delta: ScanDelta) -> None:
        self.consider(result)

    def consider(self, result: ScanResult) -> None:
        if self.mode != "enforce":
            return
        for finding in result.findings:
            if finding.category not in DENY_CATEGORIES:
                continue
            for ev in finding.evidence:
                if ev.kind == "process" and ev.pid is not None:
                    self._warn(ev.pid, finding)

    def _warn(self, pid: int, finding: Finding) -> None:
        if pid in (0, 1, os.getpid()):
            return
        fact = inspect_pid(pid)
        if fact is None:
            return
        key = (pid, fact.create_time)
        with self._lock:
            if key in self._pending:
                return
            uid = process_owner(pid)
            pending = _Pending(
                pid,
                fact.create_time,
                fact.exe,
                fact.name,
                finding,
                self.clock() + self.grace_s,
                uid,
            )
            self._pending[key] = pending
        log.warning(
            "enforce: %s (pid %d, %s) matches %s; it will be terminated in %.0f s",
            fact.name,
            pid,
            fact.exe or "?",
            finding.rule_id,
            self.grace_s,
        )
        self.service.events.publish(
            "enforcement",
            {
                "state": "warning",
                "pid": pid,
                "name": fact.name,
                "rule_id": finding.rule_id,
                "title_i18n": {"zh": finding.title.zh, "en": finding.title.en},
                "grace_s": self.grace_s,
            },
            uid=uid,
        )
        self._wake.set()

    # -- the clock -------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                deadlines = [p.deadline for p in self._pending.values()]
            timeout = max(0.05, min(deadlines) - self.clock()) if deadlines else 60.0
            self._wake.wait(timeout)
            self._wake.clear()
            now = self.clock()
            with self._lock:
                due = [p for p in self._pending.values() if p.deadline <= now]
            for pending in due:
                with self._lock:
                    self._pending.pop((pending.pid, pending.create_time), None)
                if self.mode == "enforce":
                    try:
                        self._terminate(pending)
                    except Exception:
                        log.exception("enforce: terminating pid %d failed", pending.pid)

    def _terminate(self, pending: _Pending) -> None:
        fact = inspect_pid(pending.pid)
        if fact is None or fact.create_time != pending.create_time:
            log.info("enforce: %s (pid %d) already exited", pending.name, pending.pid)
            return
        if self._approved(fact):
            log.error("enforce: pid %d is an approved client; never terminated", pending.pid)
            return
        try:
            # SIGTERM first (a chance to exit cleanly); on Windows both are TerminateProcess.
            target = psutil.Process(pending.pid)
            target.terminate()
            _, alive = psutil.wait_procs([target], timeout=TERM_WAIT_S)
            for proc in alive:
                proc.kill()
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
        except (PermissionError, psutil.AccessDenied):
            log.error(
                "enforce: not allowed to terminate pid %d (%s): the agent needs root",
                pending.pid,
                pending.name,
            )
            return
        record = {
            "pid": pending.pid,
            "name": pending.name,
            "exe": pending.exe,
            "rule_id": pending.finding.rule_id,
            "finding_key": pending.finding.key,
        }
        self.records.record_termination(
            time.time(),
            pending.pid,
            pending.name,
            pending.exe,
            pending.finding.rule_id,
            pending.finding.key,
        )
        log.warning(
            "enforce: terminated %s (pid %d, %s) per rule %s",
            pending.name,
            pending.pid,
            pending.exe,
            pending.finding.rule_id,
        )
        self.service.events.publish(
            "enforcement", {"state": "terminated", **record}, uid=pending.uid
        )
        if self.on_terminated is not None:
            self.on_terminated(record)
        self.service.request_scan("process")

    def _approved(self, fact: ProcessFact) -> bool:
        scanner = self.service.scanner
        clients = ClientIndex.build(
            scanner.catalogue.clients_for(scanner.layout.platform), scanner.layout, scanner.fs
        )
        return clients.approved_process(fact) is not None
