"""The scan: run the probes over a layout, then the integrity checks, then the judgement."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from checks.catalogue import Catalogue
from checks.content.yara import ContentScanner
from checks.fsview import FsView, ReadPolicy
from checks.identity import ClientIndex
from checks.integrity import foreign_modules, macos_bundle, windows_install
from checks.judge import Judge
from checks.layout import Layout
from checks.model import (
    Approval,
    BlindSpot,
    Facts,
    Finding,
    Grant,
    Note,
    Platform,
    ProcessFact,
    ScanResult,
)
from checks.probes import (
    apps,
    autostart,
    configs,
    content,
    extensions,
    files,
    lookalikes,
    metadata,
    packages,
)
from checks.probes.base import ProbeContext
from checks.probes.processes import ProcessSource


def read_policy(layout: Layout, euid: int | None = None) -> ReadPolicy:
    """The read policy for a layout: enforced for a live scan by root (see `ReadPolicy`);
    `euid` defaults to this process's effective user."""
    if euid is None:
        euid = os.geteuid() if hasattr(os, "geteuid") else -1
    homes = [(str(u.path), u.uid) for u in layout.users if u.uid is not None]
    return ReadPolicy.build(layout.live and euid == 0, homes)


def _copy_file_facts(source: Facts, target: Facts) -> None:
    target.files = list(source.files)
    target.apps = list(source.apps)
    target.packages = list(source.packages)
    target.autostart = list(source.autostart)
    target.extensions = list(source.extensions)
    target.unrecognised = [u for u in source.unrecognised if u.kind == "program"]
    target.package_meta = list(source.package_meta)
    target.configs = list(source.configs)
    target.blind_spots = [b for b in source.blind_spots if b.probe not in ("processes", "modules")]


MAX_APPROVALS = 64  # as many as the protocol carries (protocol.messages.ApprovedIn)

_SYSTEM_BIN = (
    "/usr/bin/",
    "/usr/sbin/",
    "/bin/",
    "/sbin/",
    "/usr/lib/",
    "/usr/libexec/",
    "c:/windows/",
    "/system/",
)


@dataclass(slots=True)
class Scanner:
    """Scans one layout again and again, reusing what did not change between scans."""

    layout: Layout
    catalogue: Catalogue
    processes: ProcessSource | None = None
    fs: FsView = field(default_factory=FsView)
    clock: Callable[[], float] = time.time
    last_facts: Facts | None = None
    reused_file_facts: bool = False
    _clients: ClientIndex | None = None
    _last_fs_blind: list[BlindSpot] = field(default_factory=list)
    _judge_memo: dict[tuple[str, int], Any] = field(default_factory=dict)
    _content: content.ContentState | None = None

    def __post_init__(self) -> None:
        self.fs.case_insensitive = self.layout.case_insensitive
        self.fs.policy = read_policy(self.layout)
        if self.layout.refreshable:
            self._watch_users()  # watched from the start

    def scan(self) -> ScanResult:
        started = self.clock()
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        facts = Facts()
        previous = self.last_facts
        # Homes that appeared since the last scan (a new employee's first login) are scanned
        # now, without a restart: users are found again on every scan of a live machine.
        new_users = self.layout.refreshable and self._refresh_users()
        # With file system events watching every folder we read (trust_listings), a scan with
        # no event since the last one cannot find different files: reuse those facts whole.
        reuse = (
            self.fs.trust_listings
            and not self.fs.has_changes
            and not new_users
            and previous is not None
        )
        self.reused_file_facts = reuse
        self.fs.begin_scan()
        ctx = ProbeContext(self.layout, self.fs, self.catalogue, facts)
        if reuse and self._clients is not None:
            clients = self._clients
        else:
            clients = ClientIndex.build(
                self.catalogue.clients_for(self.layout.platform),
                self.layout,
                self.fs,
                self.catalogue.trust_anchor_pems(),
            )
        self._clients = clients

        if reuse and previous is not None:
            _copy_file_facts(previous, facts)
        else:
            self._guard("files", lambda: files.collect(ctx), facts)
            self._guard("apps", lambda: apps.collect(ctx), facts)
            self._guard("packages", lambda: packages.collect(ctx), facts)
            self._guard("lookalikes", lambda: lookalikes.collect(ctx, clients), facts)
            self._guard("autostart", lambda: autostart.collect(ctx), facts)
            self._guard("extensions", lambda: extensions.collect(ctx), facts)
            self._guard("metadata", lambda: metadata.collect(ctx), facts)
            self._guard("configs", lambda: configs.collect(ctx), facts)
        env_packages = 0
        if self.processes is not None:
            self._guard("processes", lambda: self._processes(facts, clients), facts)

            def process_envs() -> None:
                nonlocal env_packages
                env_packages = packages.collect_process_envs(ctx, facts.processes)

            self._guard("packages", process_envs, facts)
        elif self.layout.live is False:
            facts.blind_spots.append(
                BlindSpot(
                    "processes", "running processes", "an offline image has no running processes"
                )
            )
        self._guard("hashes", lambda: self._hashes(facts, clients), facts)
        self._guard("content", lambda: self._match_content(ctx, clients, reuse, previous), facts)
        if reuse and previous is not None:
            # File-based tampering cannot have changed; module injections are re-checked.
            facts.tampering.extend(t for t in previous.tampering if t.pid is None)
            self._guard("integrity", lambda: self._module_integrity(facts, clients), facts)
        else:
            self._guard("integrity", lambda: self._integrity(ctx, facts, clients), facts)

        # Packages of a process's environment found now are new facts: judge afresh.
        reuse_judge = reuse and env_packages == 0
        if not reuse_judge:
            self._judge_memo = {}
        clients.note_packages(facts.apps)
        judge = Judge(
            self.catalogue, self.layout, clients, memo=self._judge_memo, reuse_memo=reuse_judge
        )
        findings = judge.judge(facts)
        excepted: list[tuple[Finding, Grant]] = []
        if self.catalogue.exceptions:
            now = self.clock()
            kept: list[Finding] = []
            for f in findings:
                grant = next(
                    (
                        x
                        for x in self.catalogue.exceptions
                        if x.covers(f.rule_id, f.subject, f.key, now)
                    ),
                    None,
                )
                if grant is None:
                    kept.append(f)
                else:
                    excepted.append((f, grant.grant()))
            findings = kept
        notes = [
            Note("unverified", self.layout.relative(app.path), why)
            for app in facts.apps
            if (why := clients.unverified(app)) is not None and clients.approved_app(app) is None
        ]
        approved = self._approvals(facts, clients)
        self.fs.end_scan()
        fs_blind = list(self.fs.blind_spots.values())
        if reuse:
            fs_blind = self._last_fs_blind + fs_blind
        # One blind spot a place: a scan that reuses the last one's facts meets again what
        # that scan could not read, and must not count it twice (nor more on every reuse).
        fs_blind = list({(b.probe, b.what): b for b in fs_blind}.values())
        self._last_fs_blind = fs_blind
        blind = list({(b.probe, b.what): b for b in facts.blind_spots + fs_blind}.values())
        stats = self.fs.stats.as_dict()
        stats.update(
            processes=len(facts.processes),
            modules=len(facts.modules),
            files=len(facts.files),
            apps=len(facts.apps),
            packages=len(facts.packages),
            content_matches=len(facts.content),
            cpu_ms=int((time.process_time() - cpu0) * 1000),
        )
        if self._content is not None:
            cs = self._content.scanner.stats
            stats.update(
                content_files_scanned=cs.files_scanned,
                content_bytes_scanned=cs.bytes_scanned,
                content_results_reused=cs.results_reused,
            )
        self.last_facts = facts
        return ScanResult(
            root=str(self.layout.root),
            platform=self.layout.platform,
            live=self.layout.live,
            started_at=started,
            duration_s=time.perf_counter() - t0,
            findings=findings,
            blind_spots=blind,
            stats=stats,
            notes=notes,
            excepted=excepted,
            approved=approved,
        )

    def judge_process(self, proc: ProcessFact, digest: str | None = None) -> list[Finding] | None:
        """The findings about one new process alone (`proc`, and `digest`: the SHA-256 of its
        executable, or None), judged as a scan would judge it, policy exceptions applied: the
        agent's answer to an exec event within milliseconds, before the scan that follows.

        Only findings with evidence of this process (its PID, or its executable's digest) are
        returned, with the keys a full scan gives them. None before the first scan (no index
        of the approved clients yet). Reads no file and no other process; safe to call while
        a scan runs on another thread (it reads the catalogue and the client index only).
        None too when the rules changed since the last scan (it judges with the new ones)."""
        clients = self._clients
        if clients is None or self.last_facts is None:  # none yet, or the rules just changed
            return None
        facts = Facts()
        facts.processes.append(proc)
        exe = proc.exe.replace("\\", "/")
        if (
            digest is not None
            and exe
            and not exe.casefold().startswith(_SYSTEM_BIN)
            and clients.approved_process(proc) is None
        ):
            facts.hashes[proc.exe] = digest
        judge = Judge(self.catalogue, self.layout, clients)
        rel = self.layout.relative(proc.exe) if proc.exe else ""
        found = [
            f
            for f in judge.judge(facts)
            if any(
                e.pid == proc.pid or (e.kind == "hash" and rel and e.path == rel)
                for e in f.evidence
            )
        ]
        now = self.clock()
        return [
            f
            for f in found
            if not any(
                x.covers(f.rule_id, f.subject, f.key, now) for x in self.catalogue.exceptions
            )
        ]

    def _refresh_users(self) -> bool:
        """Look for new (or removed) homes; on a change, the read policy learns their owners.
        The homes' parent folders are listed through the view so that they are watched
        (`FsView.watch_dirs`) and a new home is a file system event."""
        changed = self.layout.refresh_users()
        if changed:
            self.fs.policy = read_policy(self.layout)
        self._watch_users()
        return changed

    def _watch_users(self) -> None:
        """List, through the view, where a new account shows: the homes' parent folders, the
        folder of the user database (its own name alone matters there), and each home the
        database names that does not exist yet (watched at its nearest existing ancestor)."""
        for parent in self.layout.homes_parents():
            self.fs.listdir(parent, "users", ("*", True))
        for path in self.layout.user_database_files():
            self.fs.listdir(os.path.dirname(path), "users", (os.path.basename(path), False))
        for home in self.layout.pending_homes:
            self.fs.listdir(home, "users", ("*", True))

    def _approvals(self, facts: Facts, clients: ClientIndex) -> list[Approval]:
        """Which identity approved each official client the scan found (apps, then running
        family processes), at most MAX_APPROVALS, each once."""
        out: dict[tuple[str, str], Approval] = {}
        for app in facts.apps:
            client = clients.approved_app(app)
            if client is not None:
                where = self.layout.relative(app.path) if app.path else app.app_id
                how = f"{app.source} {app.app_id}" + (f" ({app.identity})" if app.identity else "")
                out.setdefault(
                    (client.id, where), Approval(client.id, client.name, "app", where, how)
                )
        for proc in facts.processes:
            if clients.is_family_process(proc):
                client = clients.approved_process(proc)
                if client is not None and proc.exe:
                    where = self.layout.relative(proc.exe)
                    how = f"process {proc.name} from the client's install or signed by its vendor"
                    out.setdefault(
                        (client.id, where), Approval(client.id, client.name, "process", where, how)
                    )
        return list(out.values())[:MAX_APPROVALS]

    def _guard(self, probe: str, run: Callable[[], None], facts: Facts) -> None:
        """A probe that fails becomes a visible blind spot; the rest of the scan goes on."""
        try:
            run()
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            facts.blind_spots.append(
                BlindSpot(
                    probe,
                    "the whole probe",
                    f"failed: {type(exc).__name__}: {exc} ({where.filename}:{where.lineno})",
                )
            )

    def _processes(self, facts: Facts, clients: ClientIndex) -> None:
        assert self.processes is not None
        procs, blind = self.processes.snapshot()
        facts.processes.extend(procs)
        facts.blind_spots.extend(blind)
        for proc in procs:
            if clients.is_family_process(proc):
                mods, mblind = self.processes.modules(proc)
                facts.modules.extend(mods)
                facts.blind_spots.extend(mblind)

    def _hashes(self, facts: Facts, clients: ClientIndex) -> None:
        platform = self.layout.platform
        matchers = [
            (rule, m)
            for rule in self.catalogue.rules_for(platform)
            for m in rule.matches
            if m.type == "sha256" and m.applies_to(platform, rule.platforms)
        ]
        if not matchers:
            return
        targets: set[str] = set()
        templates = {m.path for _, m in matchers if m.path}
        rule_paths = {mm.path for rule, _ in matchers for mm in rule.matches if mm.type == "path"}
        for f in facts.files:
            if not f.is_dir and (f.template in templates or f.template in rule_paths):
                targets.add(f.path)
        for proc in facts.processes:
            exe = proc.exe.replace("\\", "/")
            low = exe.casefold()
            if exe and not low.startswith(_SYSTEM_BIN) and clients.approved_process(proc) is None:
                targets.add(proc.exe)
        for path in sorted(targets):
            digest = self.fs.sha256(path)
            if digest is not None:
                facts.hashes[path] = digest

    def _match_content(
        self, ctx: ProbeContext, clients: ClientIndex, reuse: bool, previous: Facts | None
    ) -> None:
        """YARA rules over candidate files (checks/probes/content.py), only when some active
        rule has a content matcher. With file facts reused (no file system event since the
        last scan), no folder is walked: the last scan's candidates are re-checked by their
        signature (a stat each) and the running programs' executables are added."""
        platform = self.layout.platform
        wanted = any(
            m.type == "content" and m.applies_to(platform, r.platforms)
            for r in self.catalogue.rules_for(platform)
            for m in r.matches
        )
        if not wanted:
            return
        sources = self.catalogue.yara_sources()
        if self._content is None:
            self._content = content.ContentState(ContentScanner(sources))
        self._content.scanner.use(sources)
        self._content.scanner.stats = type(self._content.scanner.stats)()
        facts = ctx.facts
        exes = [p.exe for p in facts.processes if p.exe and clients.approved_process(p) is None]
        if reuse and previous is not None:
            # No listing changed: the candidates are those of the last full scan (re-checked
            # by signature) and the running programs.
            content.collect(ctx, self._content, clients, exes, places=False, files=False)
            return
        content.collect(ctx, self._content, clients, exes)

    def _module_integrity(self, facts: Facts, clients: ClientIndex) -> None:
        if facts.modules:
            foreign_modules.collect(facts, clients, self.layout.platform)

    def _integrity(self, ctx: ProbeContext, facts: Facts, clients: ClientIndex) -> None:
        platform = self.layout.platform
        # Each check guarded on its own: one that fails is a blind spot, the others still run.
        if facts.modules:
            self._guard(
                "integrity:foreign-modules",
                lambda: foreign_modules.collect(facts, clients, platform),
                facts,
            )
        if platform is Platform.WINDOWS:
            self._guard(
                "integrity:windows-install",
                lambda: windows_install.collect(facts, clients, self.fs),
                facts,
            )
        elif platform is Platform.MACOS:
            self._guard(
                "integrity:macos-bundle",
                lambda: macos_bundle.collect(facts, clients, self.fs),
                facts,
            )
