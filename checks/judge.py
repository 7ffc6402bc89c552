"""Judgement: facts in, findings out. Each finding records the rule that made it."""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from checks.catalogue import Catalogue, Matcher, Rule
from checks.identity import ClientIndex, looks_like_wechat
from checks.layout import Layout
from checks.model import AppFact, Evidence, Facts, Finding, Platform, ProcessFact
from checks.probes.processes import program_names


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    # fnmatch's own cache holds 256 patterns; the catalogue has more, so it would thrash.
    return re.compile(fnmatch.translate(pattern.casefold().replace("[", "[[]")))


def _glob(name: str, pattern: str) -> bool:
    return _compiled(pattern).match(name.casefold()) is not None


_FILE_TYPES = {"path", "package", "app", "extension", "autostart", "metadata", "config"}
# Judged after the rules that name things, so they skip what a named rule already explains.
_CATCH_ALL = {"unrecognised": 2, "metadata": 1}


def _file_derived(m: Matcher) -> bool:
    """Matchers whose result depends only on file facts (not on processes or hashes of them)."""
    if m.type in _FILE_TYPES:
        return True
    if m.type == "integrity":
        return m.check != "foreign-module"
    return m.type == "unrecognised" and m.check in ("app", "program")


@dataclass(slots=True)
class _Hit:
    evidence: Evidence
    subject: str


@dataclass(slots=True)
class Judge:
    catalogue: Catalogue
    layout: Layout
    clients: ClientIndex
    explained_pids: set[int] = field(default_factory=set)
    explained_paths: set[str] = field(default_factory=set)
    # Results of file-derived matchers from the previous scan, reused when the file facts
    # were reused (nothing changed on disk): (rule id, matcher index) -> (hits, paths explained).
    memo: dict[tuple[str, int], tuple[list[_Hit], set[str]]] | None = None
    reuse_memo: bool = False

    def judge(self, facts: Facts) -> list[Finding]:
        platform = self.layout.platform
        rules = self.catalogue.rules_for(platform)
        findings: list[Finding] = []
        # Specific rules first, so the catch-all "unrecognised" rules skip what they explain
        # and a package's metadata is judged only when no rule names the package.
        ordered = sorted(rules, key=lambda r: max(_CATCH_ALL.get(m.type, 0) for m in r.matches))
        for rule in ordered:
            hits: list[_Hit] = []
            for index, matcher in enumerate(rule.matches):
                if matcher.applies_to(platform, rule.platforms):
                    hits.extend(self._match_memo(rule, index, matcher, facts))
            findings.extend(_assemble(rule, hits))
        findings.sort(key=lambda f: (f.severity.rank, f.rule_id, f.subject))
        return findings

    def _match_memo(self, rule: Rule, index: int, m: Matcher, facts: Facts) -> list[_Hit]:
        if self.memo is None or not _file_derived(m):
            return list(self._match(rule, m, facts))
        key = (rule.id, index)
        cached = self.memo.get(key)
        if self.reuse_memo and cached is not None:
            self.explained_paths |= cached[1]
            return cached[0]
        before = set(self.explained_paths)
        hits = list(self._match(rule, m, facts))
        self.memo[key] = (hits, self.explained_paths - before)
        return hits

    # -- matchers ------------------------------------------------------------------------

    def _match(self, rule: Rule, m: Matcher, facts: Facts) -> Iterator[_Hit]:
        rel = self.layout.relative
        note = m.note
        if m.type == "path":
            for f in facts.files:
                if f.template == m.path:
                    self.explained_paths.add(f.path)
                    kind, kind_zh = ("folder", "文件夹") if f.is_dir else ("file", "文件")
                    name = _template_name(m.path)
                    yield _Hit(
                        Evidence(
                            "file",
                            f"{kind} {name}",
                            path=rel(f.path),
                            detail=note,
                            matched_zh=f"{kind_zh} {name}",
                        ),
                        rel(f.path),
                    )
        elif m.type == "process":
            pattern = re.compile(m.cmdline, re.IGNORECASE) if m.cmdline else None
            for p in facts.processes:
                names = program_names(p)
                if m.name and not any(_glob(n, m.name) for n in names):
                    continue
                if pattern is not None and not pattern.search(" ".join(p.cmdline)):
                    continue
                self.explained_pids.add(p.pid)
                yield _Hit(
                    Evidence(
                        "process",
                        f"process {m.name or p.name} (by its command line)"
                        if m.cmdline and not m.name
                        else f"process {m.name}",
                        path=p.exe,
                        pid=p.pid,
                        detail=note or " ".join(p.cmdline)[:300],
                        matched_zh=f"进程 {m.name or p.name}"
                        + ("（按命令行）" if m.cmdline and not m.name else ""),
                    ),
                    f"process:{p.exe or p.name}",
                )
        elif m.type == "module":
            for mod in facts.modules:
                base = mod.path.replace("\\", "/").rsplit("/", 1)[-1]
                if _glob(base, m.name):
                    self.explained_pids.add(mod.pid)
                    yield _Hit(
                        Evidence(
                            "module",
                            f"module {m.name} in {mod.process_name}",
                            path=mod.path,
                            pid=mod.pid,
                            detail=note,
                            matched_zh=f"进程 {mod.process_name} 中的模块 {m.name}",
                        ),
                        f"module:{mod.path}",
                    )
        elif m.type == "package":
            if m.ecosystem in ("pypi", "npm"):
                wanted = m.name.lower() if m.ecosystem == "npm" else _pep503(m.name)
                for pkg in facts.packages:
                    if pkg.ecosystem == m.ecosystem and _glob(pkg.name, wanted):
                        self.explained_paths.add(pkg.path)
                        yield _Hit(
                            Evidence(
                                "package",
                                f"{m.ecosystem} package {pkg.name} {pkg.version}".strip(),
                                path=rel(pkg.path),
                                package=pkg.name,
                                detail=note,
                                matched_zh=f"{m.ecosystem} 软件包 {pkg.name} {pkg.version}".strip(),
                            ),
                            f"{m.ecosystem}:{pkg.name}:{rel(pkg.path)}",
                        )
            else:
                for app in facts.apps:
                    if app.source == m.ecosystem and _glob(app.app_id, m.name):
                        self.explained_paths.add(app.path)
                        yield _Hit(
                            Evidence(
                                "package",
                                f"{m.ecosystem} package {app.app_id} {app.version}".strip(),
                                path=rel(app.path),
                                package=app.app_id,
                                detail=note,
                                matched_zh=f"{m.ecosystem} 软件包 {app.app_id} {app.version}".strip(),
                            ),
                            f"{m.ecosystem}:{app.app_id}",
                        )
        elif m.type == "app":
            for app in facts.apps:
                if (m.app_id and _glob(app.app_id, m.app_id)) or (
                    m.name and _glob(app.name, m.name)
                ):
                    self.explained_paths.add(app.path)
                    yield _Hit(
                        Evidence(
                            "app",
                            f"{app.source} app {app.app_id or app.name}",
                            path=rel(app.path),
                            detail=note,
                            matched_zh=f"{app.source} 应用 {app.app_id or app.name}",
                        ),
                        f"app:{rel(app.path)}",
                    )
        elif m.type == "sha256":
            for path, digest in facts.hashes.items():
                if digest == m.sha256:
                    yield _Hit(
                        Evidence(
                            "hash",
                            f"file with SHA-256 {digest[:16]}…",
                            path=rel(path),
                            detail=note,
                            matched_zh=f"SHA-256 为 {digest[:16]}… 的文件",
                        ),
                        f"hash:{rel(path)}",
                    )
        elif m.type == "extension":
            for ext in facts.extensions:
                if (m.app_id and _glob(ext.ext_id, m.app_id)) or (
                    m.name and _glob(ext.name, m.name)
                ):
                    yield _Hit(
                        Evidence(
                            "extension",
                            f"{ext.browser} extension {ext.name or ext.ext_id}",
                            path=rel(ext.path),
                            detail=note,
                            matched_zh=f"{ext.browser} 浏览器扩展 {ext.name or ext.ext_id}",
                        ),
                        f"extension:{ext.browser}:{ext.ext_id}:{ext.user}",
                    )
        elif m.type == "autostart":
            for item in facts.autostart:
                if (m.command and _glob(item.command, m.command)) or (
                    m.name and _glob(item.name, m.name)
                ):
                    yield _Hit(
                        Evidence(
                            "autostart",
                            f"{item.source} entry {item.name}",
                            path=rel(item.path),
                            detail=item.command[:300],
                            matched_zh=f"{item.source} 自启动项 {item.name}",
                        ),
                        f"autostart:{rel(item.path)}",
                    )
        elif m.type == "integrity":
            for t in facts.tampering:
                if t.check == m.check:
                    shown = rel(t.path) if t.pid is None else t.path
                    yield _Hit(
                        Evidence(
                            "integrity",
                            f"{t.check} ({t.client_id})",
                            path=shown,
                            pid=t.pid,
                            detail=t.detail,
                            matched_zh=f"完整性检查 {t.check}（{t.client_id}）",
                        ),
                        f"{t.check}:{shown}",
                    )
        elif m.type == "unrecognised":
            yield from self._unrecognised(m, facts)
        elif m.type == "content":
            for c in facts.content:
                if c.rule == m.name:
                    self.explained_paths.add(c.path)
                    yield _Hit(
                        Evidence(
                            "content",
                            f"content rule {c.rule} ({c.kind})",
                            matched_zh=f"内容规则 {c.rule}（{c.kind}）",
                            path=rel(c.path),
                            detail=(f"{note}; " if note else "") + f"matched: {c.detail}"[:300],
                        ),
                        f"content:{rel(c.path)}",
                    )
        elif m.type == "metadata":
            for meta in facts.package_meta:
                if meta.category != m.check or meta.path in self.explained_paths:
                    continue
                yield _Hit(
                    Evidence(
                        "package",
                        f"{meta.ecosystem} package {meta.name} {meta.version}: metadata".strip(),
                        matched_zh=f"{meta.ecosystem} 软件包 {meta.name} {meta.version}：元数据",
                        path=rel(meta.path),
                        package=meta.name,
                        detail="; ".join(meta.reasons)[:300],
                    ),
                    f"{meta.ecosystem}:{meta.name}:{rel(meta.path)}",
                )
        elif m.type == "config":
            for cfg in facts.configs:
                if cfg.kind == m.check:
                    yield _Hit(
                        Evidence(
                            "config",
                            f"{cfg.kind} server {cfg.entry!r}",
                            matched_zh=f"{cfg.kind} 服务器 {cfg.entry!r}",
                            path=rel(cfg.path),
                            detail=cfg.detail[:300],
                        ),
                        f"config:{rel(cfg.path)}:{cfg.entry}",
                    )

    def _unrecognised(self, m: Matcher, facts: Facts) -> Iterator[_Hit]:
        rel = self.layout.relative
        if m.check == "process":
            for p in facts.processes:
                if p.pid in self.explained_pids or not any(
                    looks_like_wechat(n) for n in program_names(p)
                ):
                    continue
                if self.clients.approved_process(p) is not None:
                    continue
                yield _Hit(
                    Evidence(
                        "process",
                        f"WeChat-like process {p.name} matches no approved client",
                        matched_zh=f"名称像微信的进程 {p.name} 不符合任何认可的客户端",
                        path=p.exe,
                        pid=p.pid,
                        detail=" ".join(p.cmdline)[:300],
                    ),
                    f"process:{p.exe or p.name}",
                )
        elif m.check == "program":
            apps = {app.path for app in facts.apps}
            for item in facts.unrecognised:
                if item.kind != "program" or item.path in self.explained_paths:
                    continue
                if item.path in apps:
                    continue  # an installed app: the unrecognised-app rule speaks to it
                yield _Hit(
                    Evidence(
                        "file",
                        f"WeChat-like program {item.name} matches no approved client",
                        matched_zh=f"名称像微信的程序 {item.name} 不符合任何认可的客户端",
                        path=rel(item.path),
                        detail=item.detail,
                    ),
                    f"program:{rel(item.path)}",
                )
        else:
            for app in facts.apps:
                if app.path in self.explained_paths:
                    continue
                if not (looks_like_wechat(app.name) or looks_like_wechat(app.app_id)):
                    continue
                if self.clients.approved_app(app) is not None or self._inside_approved(app):
                    continue
                if self.clients.unverified(app) is not None:
                    continue  # a note, not a finding (Scanner collects it)
                yield _Hit(
                    Evidence(
                        "app",
                        f"WeChat-like {app.source} app {app.app_id or app.name} matches no approved client",
                        matched_zh=f"名称像微信的 {app.source} 应用 {app.app_id or app.name} 不符合任何认可的客户端",
                        path=rel(app.path),
                        detail=f"期望 expected: {self.clients.expected_for(app)}; "
                        f"实际 found: {app.exe or app.app_id}",
                    ),
                    f"app:{app.source}:{rel(app.path)}",
                )

    def _inside_approved(self, app: AppFact) -> bool:
        """Parts of an approved install (a helper .exe in WeChat's own folder) are not apps."""
        if app.source != "program-files" or not app.path:
            return False
        hit = self.clients.install_root_of(app.path)
        return hit is not None


def _pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _template_name(template: str) -> str:
    """The name a path template ends in ("{home}/.ew.json" → ".ew.json"): what a person can
    look for, without the template's placeholders."""
    parts = [p for p in re.split(r"[/\\]", template) if p and p != "**" and "{" not in p]
    return parts[-1] if parts else template.strip("{}")


def _assemble(rule: Rule, hits: list[_Hit]) -> list[Finding]:
    if not hits:
        return []
    groups: dict[str, list[Evidence]] = {}
    for hit in hits:
        subject = rule.id if rule.group_by == "rule" else hit.subject
        bucket = groups.setdefault(subject, [])
        if all(e.identity() != hit.evidence.identity() for e in bucket):
            bucket.append(hit.evidence)
    return [
        Finding(
            rule_id=rule.id,
            title=rule.title,
            category=rule.category,
            severity=rule.severity,
            remediation=rule.remediation,
            steps=rule.steps,
            evidence=tuple(evidence),
            subject=subject,
            references=rule.references,
        )
        for subject, evidence in groups.items()
    ]


@dataclass(slots=True)
class ProcessInterest:
    """Whether a new process could change the findings: a cheap test the agent runs on every
    new PID, so that only processes some rule is about trigger a rescan."""

    names: list[str]
    cmdlines: list[re.Pattern[str]]
    client_names: set[str]

    @classmethod
    def build(cls, catalogue: Catalogue, platform: Platform) -> ProcessInterest:
        names: list[str] = []
        cmdlines: list[re.Pattern[str]] = []
        for rule in catalogue.rules_for(platform):
            for m in rule.matches:
                if m.type == "process" and m.applies_to(platform, rule.platforms):
                    if m.name:
                        names.append(m.name)
                    if m.cmdline:
                        cmdlines.append(re.compile(m.cmdline, re.IGNORECASE))
        clients = {n.casefold() for c in catalogue.clients_for(platform) for n in c.process_names}
        return cls(names, cmdlines, clients)

    def matters(self, proc: ProcessFact) -> bool:
        names = program_names(proc)
        if any(looks_like_wechat(n) or n.casefold() in self.client_names for n in names):
            return True
        if any(_glob(n, pattern) for n in names for pattern in self.names):
            return True
        joined = " ".join(proc.cmdline)
        return any(p.search(joined) for p in self.cmdlines)
