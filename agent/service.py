"""The agent service: owns the scanner, the state, the triggers, and the typed API it serves.

Triggers of a scan: start-up; the periodic full scan (policy interval ±10 % splay); file
system events in the folders the scanner read (debounced); new processes (the kernel's exec
events on Linux, `agent.exec_events`, else a polled PID list); a wake from
sleep (boot clock jumps ahead of the monotonic clock); "scan now" from the tray or the CLI.
Every scan goes through the self-governor, and every result through the findings history.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil

from agent import __version__
from agent.config import Settings
from agent.coverage import coverage_of
from agent.events import EventFeed
from agent.exec_events import DigestMatcher, ExecEvents, open_exec_events, quick_fact
from agent.governor import Governor
from agent.paths import AgentPaths, Mode
from agent.store import FindingRecord, ScanDelta, Store
from agent.watch_registry import RegistryWatcher, win32_notifier
from agent.watchers import FsChange, open_watcher
from checks.api import privilege_blind_spots
from checks.catalogue import Catalogue
from checks.engine import Scanner
from checks.integrity import persist as integrity_results
from checks.integrity.filecache import RESULTS
from checks.judge import ProcessInterest
from checks.model import BlindSpot, Finding, Grant, ScanResult, safe_text
from checks.probes.processes import inspect_pid
from protocol.device_state import (
    Coverage,
    DeviceInputs,
    ScanOutcome,
    device_state,
    worst_severity,
)
from protocol.finding_text import evidence_lines, fix_lines

log = logging.getLogger("wxguard.agent")

# A scan caused by events alone records nothing when nothing changed: no disk write, no fsync.
_QUIET_TRIGGERS = {"process", "fs-event"}
_WAKE_JUMP_S = 5.0
_EXEC_QUEUE = 1000  # new processes of interest waiting to be judged; past it, the scan finds them


def splay(interval: float, rng: random.Random, fraction: float = 0.1) -> float:
    """`interval` ±`fraction`, so a fleet started together does not scan in lockstep."""
    return interval * (1.0 + rng.uniform(-fraction, fraction))


@dataclass(slots=True)
class ScanSummary:
    started_at: float
    duration_s: float
    trigger: str
    findings: int
    new: int
    resolved: int
    blind_spots: int
    outcome: ScanOutcome = ScanOutcome.OK
    coverage: Coverage = field(default_factory=Coverage)
    error: str = ""  # why a failed scan failed

    def to_json(self) -> dict[str, Any]:
        out = {
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 4),
            "trigger": self.trigger,
            "findings": self.findings,
            "new": self.new,
            "resolved": self.resolved,
            "blind_spots": self.blind_spots,
            "outcome": str(self.outcome),
            "coverage": self.coverage.to_json(),
        }
        if self.error:
            out["error"] = self.error
        return out


@dataclass(slots=True)
class _Triggers:
    reasons: set[str] = field(default_factory=set)
    paths: list[str] = field(default_factory=list)
    first_event_at: float = 0.0


class AgentService:
    """Runs the checks and keeps the local truth; front ends call its public methods."""

    def __init__(
        self,
        settings: Settings,
        paths: AgentPaths,
        scanner: Scanner,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.paths = paths
        self.scanner = scanner
        self.clock = clock
        self.rng = rng or random.Random()
        self.store = Store(paths.state_db)
        self.events = EventFeed()
        self.governor = Governor(settings.cpu_budget_percent)
        # Scans for a new process of interest have a budget of their own: file churn that has
        # throttled the other scans must not hold back the finding for a process that started.
        self.process_governor = Governor(settings.cpu_budget_percent)
        self.watcher = open_watcher(
            self._on_fs_event,
            max_watches=settings.max_watches,
            on_lost=lambda: self.request_scan("fs-lost"),
        )
        # Registry keys naming the accounts (Windows' profile list): a change asks for a scan,
        # whose user refresh reads the key again and watches the new profile's folder.
        self.registry_watchers = [
            RegistryWatcher(key.rsplit("\\", 1)[-1], win32_notifier(key), self._on_accounts)
            for key in scanner.layout.user_database_keys()
        ]
        self.started_at = clock()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._triggers = _Triggers()
        self._scan_count = 0
        self._last: ScanSummary | None = None
        # The last scan that ran, failed or not (quiet scans included): the state's input.
        self._last_run: ScanSummary | None = None
        self._last_blind: list[BlindSpot] = []
        self._last_excepted: list[dict[str, Any]] = []  # findings IT excepted, as status shows
        # When the first of those exceptions ends (time.monotonic()): a scan then shows the
        # finding open again without waiting for the periodic scan.
        self._exception_ends = math.inf
        self._threads: list[threading.Thread] = []
        self._known_pids: set[int] = set()
        self._finding_pids: set[int] = set()
        self.interest = ProcessInterest.build(scanner.catalogue, scanner.layout.platform)
        self.exec_digests = DigestMatcher.from_catalogue(scanner.catalogue, scanner.layout.platform)
        self.exec_events: ExecEvents | None = None
        self.process_events_reason = "not started"
        self._exec_lost = threading.Event()  # kernel events were lost: the poll looks once
        # New processes of interest (pid, executable's digest) judged alone, at once.
        self._exec_queue: queue.Queue[tuple[int, str | None] | None] = queue.Queue(_EXEC_QUEUE)
        # Findings recorded from one new process, not yet confirmed by a scan that looked at
        # the processes after it started: key -> when recorded. Such a scan does not resolve
        # them, and the first that confirms them announces them to its listeners as new.
        self._provisional: dict[str, float] = {}
        # The processes announced to the tray for each open finding (`finding-new` with it, then
        # `finding-seen` once for each one started again); a finding first met open (from the
        # last run) has its processes taken as announced. Under `_cond`.
        self._announced: dict[str, set[int]] = {}
        self.scans_by_trigger: dict[str, int] = {}
        # Called after each recorded scan (findings upload, enforcement), on the scan thread.
        self.scan_listeners: list[Callable[[ScanResult, ScanDelta], None]] = []
        # Called after a scan that raised, with its summary (outcome failed), on the scan thread.
        self.scan_failure_listeners: list[Callable[[ScanSummary], None]] = []
        self.status_providers: list[Callable[[], dict[str, Any]]] = []
        self.scan_interval_s = float(settings.scan_interval_s)
        self._saved_integrity = -1  # the result cache's generation last written to disk

    @property
    def integrity_cache_file(self) -> Path:
        return self.paths.state / "integrity-cache.json"

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        self.paths.state.mkdir(parents=True, exist_ok=True)
        # Results of whole-file reads from the last run: the first scan skips unchanged binaries.
        loaded = integrity_results.load(self.integrity_cache_file)
        self._saved_integrity = RESULTS.generation
        if loaded:
            log.info("reused %d saved integrity results", loaded)
        try:
            self.watcher.start()
        except OSError as exc:  # e.g. inotify instances exhausted: degrade visibly
            log.warning("file watching unavailable (%s); relying on periodic scans", exc)
        for registry_watcher in self.registry_watchers:
            registry_watcher.start()
        self._known_pids = set(psutil.pids())
        self._start_exec_events()
        loops: list[tuple[str, Callable[[], None]]] = [
            ("scan", self._scan_loop),
            ("poll", self._poll_loop),
        ]
        if self.exec_events is not None:
            loops.append(("exec-judge", self._exec_judge_loop))
        for name, target in loops:
            thread = threading.Thread(target=target, name=f"wxguard-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info(
            "agent %s started in %s mode, state in %s",
            __version__,
            self.paths.mode,
            self.paths.state,
        )

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        with contextlib.suppress(queue.Full):
            self._exec_queue.put_nowait(None)
        for thread in self._threads:
            thread.join(timeout=10)
        self.watcher.stop()
        for registry_watcher in self.registry_watchers:
            registry_watcher.stop()
        if self.exec_events is not None:
            self.exec_events.stop()
            self.exec_events = None
        self.store.close()
        log.info("agent stopped")

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- triggers ------------------------------------------------------------------------

    def request_scan(self, reason: str, paths: list[str] | None = None) -> None:
        with self._cond:
            if not self._triggers.reasons:
                self._triggers.first_event_at = time.monotonic()
            self._triggers.reasons.add(reason)
            if paths:
                self._triggers.paths.extend(paths)
            self._cond.notify_all()

    def _start_exec_events(self) -> None:
        if self.settings.process_events == "polling":
            self.process_events_reason = "process_events = polling in the agent's config"
            return
        opened = open_exec_events(self._on_exec, self._exec_lost.set)
        if isinstance(opened, ExecEvents):
            self.exec_events = opened
            opened.start()
            self.process_events_reason = "kernel process connector"
            log.info("new processes: kernel exec events (netlink process connector)")
        else:
            self.process_events_reason = opened.reason
            log.warning(
                "new processes: polling every %.1f s (%s)",
                self.settings.process_poll_s,
                opened.reason,
            )

    def _on_exec(self, pid: int) -> None:
        """A process has just called execve (event thread): if a rule is about it, by name,
        command line or its binary's digest, judge it alone at once (`_judge_exec`), and
        rescan the processes (the scan confirms, adds what needs file reads, and resolves)."""
        fact = quick_fact(pid)
        if fact is None:
            return
        matcher = self.exec_digests
        digest = matcher.digest(pid, fact.exe) if matcher.digests else None
        if self.interest.matters(fact) or (digest is not None and digest in matcher.digests):
            log.debug("exec of interest: pid %d %s", pid, fact.exe or fact.name)
            with contextlib.suppress(queue.Full):  # a flood: the scan below finds them
                self._exec_queue.put_nowait((pid, digest))
            self.request_scan("process")

    def _exec_judge_loop(self) -> None:
        while (item := self._exec_queue.get()) is not None:
            try:
                self._judge_exec(*item)
            except Exception:
                log.exception("judging new process %d failed; the scan will", item[0])

    def _judge_exec(self, pid: int, digest: str | None) -> None:
        """Record the findings about one new process, judged alone against the rules (no file
        read, no other process): visible in milliseconds, under the keys a scan gives them."""
        fact = inspect_pid(pid)
        if fact is None:
            return
        findings = self.scanner.judge_process(fact, digest)
        if not findings:
            return
        layout = self.scanner.layout
        now = self.clock()
        opened, updated = self.store.record_seen(
            findings, safe_text(str(layout.root)), layout.live, now
        )
        with self._cond:
            for finding in findings:
                self._provisional[finding.key] = now
            self._finding_pids.add(pid)
            for record in opened:
                self._announced[record.key] = {pid}
            # Open already (its earlier run not yet resolved): the program was started again.
            again = [r for r in updated if pid not in self._announced.setdefault(r.key, set())]
            for record in again:
                self._announced[record.key].add(pid)
        for record in opened:
            log.warning(
                "finding %s [%s] %s: %s",
                record.rule_id,
                record.severity,
                record.body.get("title", ""),
                _evidence_line(record),
            )
        self._publish_new(opened, pid)
        for record in again:
            log.info("finding %s: started again (pid %d)", record.rule_id, pid)
            self._publish_seen(record, pid, fact.name)

    def _on_accounts(self) -> None:
        """The accounts' registry key changed (its watcher's thread): a profile may have come."""
        self.request_scan("accounts")

    def _on_fs_event(self, changes: list[FsChange]) -> None:
        fs = self.scanner.fs
        # Drop events nobody would look at (a browser cache churning in a watched home).
        wanted = [c.path for c in changes if fs.relevant(c.path, c.is_dir, c.modified_only)]
        if wanted:
            log.debug("file events: %s", ", ".join(wanted[:5]))
            self.request_scan("fs-event", wanted)

    def scan_now(self, timeout: float = 60.0) -> ScanSummary | None:
        """Run a full scan as soon as possible and return its summary."""
        with self._cond:
            target = self._scan_count + 1
            self._triggers.reasons.add("manual")
            self._triggers.first_event_at = 0.0
            self._cond.notify_all()
            deadline = time.monotonic() + timeout
            while self._scan_count < target and not self._stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return self._last

    def wait_for_scans(self, count: int, timeout: float) -> bool:
        """Block until `count` scans have completed (tests, start-up)."""
        with self._cond:
            deadline = time.monotonic() + timeout
            while self._scan_count < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    @property
    def scan_count(self) -> int:
        with self._cond:
            return self._scan_count

    # -- loops ---------------------------------------------------------------------------

    def _scan_loop(self) -> None:
        self._safe_scan({"startup"}, [])
        next_periodic = time.monotonic() + splay(self.scan_interval_s, self.rng)
        debounce = self.settings.watch_debounce_s
        while not self._stop.is_set():
            with self._cond:
                while not self._stop.is_set():
                    # Checked even with other triggers waiting (a busy machine always has
                    # some): the scan that ends an exception is not held back by the budget.
                    if self._exception_ends <= time.monotonic():
                        self._exception_ends = math.inf
                        self._triggers.reasons.add("exception-expired")
                    if self._triggers.reasons:
                        break
                    remaining = min(next_periodic, self._exception_ends) - time.monotonic()
                    if remaining <= 0:
                        self._triggers.reasons.add("periodic")
                        break
                    self._cond.wait(remaining)
                if self._stop.is_set():
                    return
                # Let a burst of file events settle (bounded, so a busy folder cannot starve us).
                # A new process of interest does not wait (its finding is the latency goal).
                reasons = self._triggers.reasons
                if "fs-event" in reasons and not reasons & {"manual", "process"}:
                    waited = time.monotonic() - self._triggers.first_event_at
                    if waited < debounce:
                        self._cond.wait(debounce - waited)
                triggers = self._triggers
                self._triggers = _Triggers()
            governor = self.governor
            # An exception's end is rare (once per grant) and due now: not held back.
            if not triggers.reasons & {"manual", "exception-expired"}:
                if "process" in triggers.reasons and self.process_governor.delay() == 0:
                    # A new process of interest first, judged against the file facts of the last
                    # scan (milliseconds); anything else goes back in line, under its governor.
                    rest = triggers.reasons - {"process"}
                    if rest:
                        with self._cond:
                            if not self._triggers.reasons:
                                self._triggers.first_event_at = triggers.first_event_at
                            self._triggers.reasons |= rest
                            self._triggers.paths.extend(triggers.paths)
                    self._safe_scan({"process"}, [], self.process_governor)
                    continue
                delay = self.governor.delay()
                if delay > 0 and self._stop.wait(delay):
                    return
            if "periodic" in triggers.reasons:
                next_periodic = time.monotonic() + splay(self.scan_interval_s, self.rng)
            self._safe_scan(triggers.reasons, triggers.paths, governor)

    def _poll_loop(self) -> None:
        """Poll the PID list (cheap: one directory read) and watch for a wake from sleep."""
        sleep_gap = _sleep_gap_clock()
        last_gap = sleep_gap()
        while not self._stop.wait(self.settings.process_poll_s):
            try:
                pids = set(psutil.pids())
            except OSError as exc:  # pragma: no cover - /proc unavailable
                log.warning("cannot list processes: %s", exc)
                continue
            new = pids - self._known_pids
            self._known_pids = pids
            if self.exec_events is not None and not self._exec_lost.is_set():
                new = set()  # each was looked at when it called execve
            self._exec_lost.clear()
            # Inspect only the new PIDs, and rescan only for a process some rule is about, or
            # when a process that is evidence of an open finding has exited — also one that
            # came and went between two polls (exec events found it; no poll ever listed it).
            with self._cond:
                finding_pids = set(self._finding_pids)
            if (
                any(
                    self.interest.matters(fact)
                    for fact in map(inspect_pid, new)
                    if fact is not None
                )
                or finding_pids - pids
            ):
                self.request_scan("process")
            gap = sleep_gap()
            if gap - last_gap > _WAKE_JUMP_S:
                log.info("woke from sleep (%.0f s suspended); rescanning", gap - last_gap)
                self.request_scan("wake")
            last_gap = gap

    # -- the scan ------------------------------------------------------------------------

    def _safe_scan(
        self, reasons: set[str], paths: list[str], governor: Governor | None = None
    ) -> None:
        trigger = _main_trigger(reasons)
        started = self.clock()
        try:
            self._scan(trigger, paths, governor or self.governor)
        except Exception as exc:
            log.exception("scan (%s) failed", trigger)
            self._scan_failed(trigger, started, exc)

    def _scan_failed(self, trigger: str, started: float, exc: Exception) -> None:
        """A scan that raised is a failed scan, visible as such: never "no findings"."""
        error = f"{type(exc).__name__}: {exc}"[:500]
        now = self.clock()
        summary = ScanSummary(
            started,
            max(0.0, now - started),
            trigger,
            0,
            0,
            0,
            0,
            ScanOutcome.FAILED,
            Coverage(False),
            error,
        )
        try:
            self.store.record_failed_scan(started, trigger, error, now)
        except Exception:  # the state file may be why the scan failed; memory still knows
            log.exception("cannot record the failed scan")
        with self._cond:
            self._last = summary
            self._last_run = summary
            self._scan_count += 1
            self._cond.notify_all()
        self.events.publish("scan", summary.to_json())
        for listener in self.scan_failure_listeners:
            try:
                listener(summary)
            except Exception:
                log.exception("scan failure listener failed")

    def _scan(self, trigger: str, paths: list[str], governor: Governor) -> None:
        fs = self.scanner.fs
        if paths:
            fs.invalidate(paths)
        # Only with every read folder watched may a scan trust what it listed before. A scan for
        # a new process alone re-reads no file: it judges the processes against the file facts of
        # the last scan (file events and periodic scans keep those fresh).
        fs.trust_listings = (
            self.watcher.healthy and trigger != "manual" and trigger != "startup"
        ) or (trigger == "process" and not paths and not fs.has_changes)
        # The watcher reports files closed after writing too: unchanged candidates of the
        # last scan need no stat each in a scan for a new process.
        fs.events_cover_files = self.watcher.healthy and fs.trust_listings
        cpu0 = time.process_time()
        result = self.scanner.scan()
        cpu = time.process_time() - cpu0
        # The budget bounds the scans the agent triggers itself (events, periodic). The one
        # start-up scan and a scan someone asked for are not held back, and do not hold back
        # the next event's scan: a plugin dropped just after start is still found at once.
        if trigger not in ("startup", "manual"):
            governor.record(cpu)
        now = self.clock()
        with self._cond:
            provisional = dict(self._provisional)
        # Found by a look at a process that started after this scan listed the processes:
        # not this scan's to resolve. The others this scan has judged: settled either way.
        keep = frozenset(k for k, at in provisional.items() if at >= result.started_at)
        settled = {k: at for k, at in provisional.items() if k not in keep}
        delta = self._record(result, trigger, now, keep, force=bool(provisional))
        announced: set[str] = set()
        if delta is not None and settled:
            # Confirmed by this scan: new to its listeners (the server, enforcement); the
            # employee's `finding-new` event went out when the process was judged.
            announced = {r.key for r in delta.present if r.key in settled}
            delta = replace(
                delta,
                new=delta.new + [r for r in delta.present if r.key in announced],
                present=[r for r in delta.present if r.key not in announced],
            )
        self._save_integrity_results()
        added = self.watcher.update(fs.watch_dirs())
        # Anything that changed between the listing and the watch would never send an event.
        changed = fs.stale(added)
        if changed:
            self.request_scan("fs-event", changed)
        summary = ScanSummary(
            result.started_at,
            result.duration_s,
            trigger,
            len(result.findings),
            len(delta.new) if delta else 0,
            len(delta.resolved) if delta else 0,
            len(result.blind_spots),
            ScanOutcome.OK,
            delta.coverage if delta else coverage_of(result.blind_spots),
        )
        blind = result.blind_spots + (
            privilege_blind_spots() if self.paths.mode is Mode.USER else []
        )
        finding_pids = {ev.pid for f in result.findings for ev in f.evidence if ev.pid is not None}
        with self._cond:
            for key, at in settled.items():
                if self._provisional.get(key) == at:
                    del self._provisional[key]
            if self._provisional:  # judged since this scan looked: still evidence
                finding_pids |= self._finding_pids
            self._finding_pids = finding_pids
            self.scans_by_trigger[trigger] = self.scans_by_trigger.get(trigger, 0) + 1
            self._last_blind = blind
            self._last_excepted = [_excepted_view(f, g) for f, g in result.excepted]
            ends = min((g.expires for _, g in result.excepted), default=math.inf)
            # A little after the end, so the scan's own clock is past it too.
            self._exception_ends = time.monotonic() + max(0.0, ends - self.clock()) + 0.5
            self._last_run = summary
            if delta is not None or self._last is None or trigger not in _QUIET_TRIGGERS:
                self._last = summary
            self._scan_count += 1
            self._cond.notify_all()
        if delta is not None:
            again = self._note_processes(delta)
            self._publish(delta, summary, announced)
            for record, pid, name in again:
                self._publish_seen(record, pid, name)
            for listener in self.scan_listeners:
                try:
                    listener(result, delta)
                except Exception:
                    log.exception("scan listener failed")
        log.debug(
            "scan %s: %d findings, %.1f ms wall, %.1f ms CPU, reused=%s",
            trigger,
            len(result.findings),
            result.duration_s * 1000,
            cpu * 1000,
            self.scanner.reused_file_facts,
        )

    def _save_integrity_results(self) -> None:
        if RESULTS.generation == self._saved_integrity:
            return
        try:
            integrity_results.save(self.integrity_cache_file)
        except OSError as exc:  # a full disk costs the next start a slower scan, nothing more
            log.warning("cannot save integrity results: %s", exc)
        self._saved_integrity = RESULTS.generation

    def _record(
        self,
        result: ScanResult,
        trigger: str,
        now: float,
        keep: frozenset[str] = frozenset(),
        force: bool = False,
    ) -> ScanDelta | None:
        if trigger in _QUIET_TRIGGERS and not force:
            open_keys = {r.key for r in self.store.open_findings()}
            last = self._last_run
            # A change of what the scan could see is news too (the server shows it).
            same_view = last is not None and last.coverage == coverage_of(result.blind_spots)
            if (
                open_keys == {f.key for f in result.findings}
                and same_view
                and not self._started_again(result)
            ):
                return None
        # A scan for new processes alone is not waited onto the disk: what it records is
        # about processes, which a power cut ends too (the next start-up scan resolves them),
        # and an fsync under load would hold the state file while the next exec is judged.
        delta = self.store.apply_scan(result, trigger, now, keep, durable=trigger != "process")
        for record in delta.new:
            log.warning(
                "finding %s [%s] %s: %s",
                record.rule_id,
                record.severity,
                record.body.get("title", ""),
                _evidence_line(record),
            )
            # The log is one record per line: the steps stay numbered inside it.
            log.info("how to fix %s: %s", record.rule_id, "  ".join(fix_lines(record.body, "en")))
        for record in delta.resolved:
            log.info("resolved %s (%s)", record.rule_id, record.key)
        return delta

    def _started_again(self, result: ScanResult) -> bool:
        """Whether an open finding of `result` names a process not announced for it yet."""
        with self._cond:
            for finding in result.findings:
                known = self._announced.get(finding.key)
                if known is not None and any(
                    ev.pid is not None and ev.pid not in known for ev in finding.evidence
                ):
                    return True
        return False

    def _note_processes(self, delta: ScanDelta) -> list[tuple[FindingRecord, int, str]]:
        """Take the processes of a recorded scan's findings as announced; returns those of
        findings open before (record, pid, process name) not announced yet: started again
        (found by the scan: polling, or an exec not judged alone)."""
        again: list[tuple[FindingRecord, int, str]] = []
        with self._cond:
            for record in delta.new:
                self._announced.setdefault(record.key, set()).update(_pids(record))
            for record in delta.present:
                pids = _pids(record)
                known = self._announced.get(record.key)
                if known is None:  # open when this run began: announced by the last one
                    self._announced[record.key] = set(pids)
                    continue
                for pid in sorted(set(pids) - known):
                    known.add(pid)
                    again.append((record, pid, pids[pid]))
            for record in delta.resolved:
                self._announced.pop(record.key, None)
        return again

    def _publish_seen(self, record: FindingRecord, pid: int, name: str) -> None:
        self.events.publish(
            "finding-seen",
            {
                "key": record.key,
                "rule_id": record.rule_id,
                "severity": record.severity,
                "pid": pid,
                "name": name,
                "title_i18n": record.body.get("title_i18n", {}),
            },
        )

    def _publish(
        self, delta: ScanDelta, summary: ScanSummary, announced: set[str] | None = None
    ) -> None:
        self._publish_new([r for r in delta.new if not announced or r.key not in announced])
        for record in delta.resolved:
            self.events.publish("finding-resolved", {"key": record.key, "rule_id": record.rule_id})
        self.events.publish("scan", summary.to_json())

    def _publish_new(self, records: list[FindingRecord], pid: int | None = None) -> None:
        for record in records:
            data: dict[str, Any] = {
                "key": record.key,
                "rule_id": record.rule_id,
                "severity": record.severity,
                "title_i18n": record.body.get("title_i18n", {}),
            }
            if pid is not None:
                data["pid"] = pid
            self.events.publish("finding-new", data)

    # -- the API served to the tray and the CLI -------------------------------------------

    def status(
        self, policy_unacknowledged: bool = False, policy_text_version: str = ""
    ) -> dict[str, Any]:
        """The agent's status; `policy_unacknowledged`: the asking person has not confirmed the
        current policy text (`policy_text_version`), an open action of theirs."""
        findings = self.store.open_findings()
        by_sev: dict[str, int] = {}
        for record in findings:
            by_sev[record.severity] = by_sev.get(record.severity, 0) + 1
        with self._cond:
            last = self._last.to_json() if self._last else None
            inputs = replace(
                self._device_inputs(findings, self._last_run),
                policy_unacknowledged=policy_unacknowledged,
                policy_text_version=policy_text_version,
            )
            state = device_state(inputs)
            blind = [
                {"probe": b.probe, "what": b.what, "reason": b.reason} for b in self._last_blind
            ]
        extra: dict[str, Any] = {}
        for provider in self.status_providers:
            try:
                extra.update(provider())
            except Exception:
                log.exception("status provider failed")
        return extra | {
            "agent_version": __version__,
            "mode": str(self.paths.mode),
            "pid": os.getpid(),
            "started_at": self.started_at,
            "last_scan": last,
            "open_findings": len(findings),
            "excepted": list(self._last_excepted),
            "by_severity": by_sev,
            "compliant": state.compliant,
            "state": str(state.state),
            "reasons": [r.to_json() for r in state.reasons],
            # What the state was decided from: the tray and the CLI add what only the
            # employee's session knows (password ages, keyring) with state_for_person.
            "state_inputs": inputs.to_json(),
            "coverage": self._last_run.coverage.to_json() if self._last_run else None,
            "blind_spots": blind,
            **self.watcher.status(),
            "process_events": "netlink" if self.exec_events is not None else "polling",
            "process_events_reason": self.process_events_reason,
            "throttled_scans": self.governor.throttled,
            "scans_by_trigger": dict(self.scans_by_trigger),
            "scan_interval_s": self.scan_interval_s,
            "managed_keys": sorted(self.settings.managed),
            "event_seq": self.events.last_seq,
        }

    def _device_inputs(
        self, findings: list[FindingRecord], last: ScanSummary | None
    ) -> DeviceInputs:
        # A scan thread stuck for three intervals (a hang) must not leave the last verdict up.
        return DeviceInputs(
            last_scan=last.outcome if last else ScanOutcome.NONE,
            scanned_at=last.started_at if last else None,
            coverage=last.coverage if last else Coverage(),
            open_findings=len(findings),
            worst_severity=worst_severity([r.severity for r in findings]),
            now=self.clock(),
            max_scan_age_s=max(3 * self.scan_interval_s, 3600.0),
            scan_error=last.error if last else "",
        )

    def findings(self) -> list[dict[str, Any]]:
        return [_finding_view(r) for r in self.store.open_findings()]

    def apply_catalogue(self, catalogue: Catalogue, scan_interval_s: float | None = None) -> None:
        """A new policy's rules and clients: used from the next scan, which runs at once."""
        self.scanner.catalogue = catalogue
        self.scanner.last_facts = None  # the old facts were judged by other rules
        self.interest = ProcessInterest.build(catalogue, self.scanner.layout.platform)
        self.exec_digests = DigestMatcher.from_catalogue(catalogue, self.scanner.layout.platform)
        if scan_interval_s:
            self.scan_interval_s = float(scan_interval_s)
        self.request_scan("policy")


def _excepted_view(finding: Finding, grant: Grant) -> dict[str, Any]:
    """protocol.ipc.ExceptedView of a finding IT excepted."""
    return {
        "key": finding.key,
        "rule_id": finding.rule_id,
        "title_i18n": {"zh": finding.title.zh, "en": finding.title.en},
        "subject": finding.subject,
        "exception": {
            "reason": {"zh": grant.reason.zh, "en": grant.reason.en},
            "expires": grant.expires,
            "group": grant.group,
            "granted_by": grant.granted_by,
        },
    }


def _finding_view(record: FindingRecord) -> dict[str, Any]:
    body = dict(record.body)
    body.update(first_seen=record.first_seen, last_seen=record.last_seen)
    return body


def _pids(record: FindingRecord) -> dict[int, str]:
    """The processes a finding's evidence names: pid -> its program's file name (or what
    matched, when the evidence has no path)."""
    out: dict[int, str] = {}
    for ev in record.body.get("evidence") or []:
        pid = ev.get("pid")
        if isinstance(pid, int):
            where = str(ev.get("location") or ev.get("path") or "")
            out[pid] = where.replace("\\", "/").rsplit("/", 1)[-1] or str(ev.get("matched", ""))
    return out


def _evidence_line(record: FindingRecord) -> str:
    lines = evidence_lines(record.body, "en")
    if not lines:
        return ""
    more = f" (+{len(lines) - 1} more)" if len(lines) > 1 else ""
    return lines[0] + more


def _main_trigger(reasons: set[str]) -> str:
    for name in (
        "manual",
        "startup",
        "policy",
        "wake",
        "exception-expired",
        "accounts",
        "periodic",
        "fs-lost",
        "fs-event",
        "process",
    ):
        if name in reasons:
            return name
    return next(iter(reasons), "periodic")


def _sleep_gap_clock() -> Callable[[], float]:
    """Seconds the machine has spent asleep so far (up to a constant): a clock that counts
    through suspend minus one that does not. It grows by the length of each sleep."""
    if sys.platform == "win32":
        # time.monotonic (GetTickCount64) counts through sleep there; the "unbiased"
        # interrupt time (100 ns units) does not.
        import ctypes

        counter = ctypes.c_ulonglong()
        unbiased = ctypes.windll.kernel32.QueryUnbiasedInterruptTime

        def gap() -> float:
            unbiased(ctypes.byref(counter))
            return time.monotonic() - counter.value / 1e7

        return gap
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    if boottime is not None:  # Linux: CLOCK_MONOTONIC stops in suspend, CLOCK_BOOTTIME not
        return lambda: time.clock_gettime(boottime) - time.monotonic()
    return lambda: time.time() - time.monotonic()  # macOS: mach time stops in sleep
