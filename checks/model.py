"""The engine's vocabulary: facts the probes collect, rules' enums, and the findings they yield."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Platform(StrEnum):
    """Operating system family whose layout and rules apply. Stable strings, never renumber."""

    LINUX = "linux"
    MACOS = "macos"
    WINDOWS = "windows"


class Severity(StrEnum):
    """How urgently a finding must be dealt with. Stable strings, never renumber."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Sort key: 0 is the most severe."""
        return list(Severity).index(self)


class Category(StrEnum):
    """What kind of tool a rule is about. Stable strings, never renumber."""

    UNOFFICIAL_CLIENT = "unofficial-client"
    PLUGIN_INJECTION = "plugin-injection"
    BINARY_PATCHER = "binary-patcher"
    MULTI_OPEN = "multi-open"
    BOT_FRAMEWORK = "bot-framework"
    DB_DUMPER = "db-dumper"
    BROWSER_EXTENSION = "browser-extension"
    TAMPERING = "tampering"
    UNRECOGNISED_CLIENT = "unrecognised-client"


class Lang(StrEnum):
    ZH = "zh"
    EN = "en"


@dataclass(frozen=True, slots=True)
class Text:
    """A string a person reads, in both languages."""

    zh: str
    en: str

    def get(self, lang: Lang | str) -> str:
        return self.zh if str(lang) == Lang.ZH else self.en


@dataclass(frozen=True, slots=True)
class Steps:
    """The steps that fix a finding, in both languages: each a whole sentence a person
    follows, shown as a numbered list (the two languages may differ in count)."""

    zh: tuple[str, ...] = ()
    en: tuple[str, ...] = ()

    def get(self, lang: Lang | str) -> tuple[str, ...]:
        return self.zh if str(lang) == Lang.ZH else self.en

    def __bool__(self) -> bool:
        return bool(self.zh or self.en)

    def to_json(self) -> dict[str, list[str]]:
        return {"zh": list(self.zh), "en": list(self.en)}


def remediation_text(intro: Text, steps: Steps) -> Text:
    """The flat text of a remediation (older servers, logs, one-field readers): the intro,
    then one numbered line per step ("1. Quit WeChat.")."""

    def flat(lang: Lang) -> str:
        lines = [intro.get(lang)] if intro.get(lang) else []
        lines.extend(f"{i}. {step}" for i, step in enumerate(steps.get(lang), 1))
        return "\n".join(lines)

    return Text(zh=flat(Lang.ZH), en=flat(Lang.EN))


def absolute_path(root: str, path: str) -> str:
    """`path` (relative to the scanned `root`, `/` separators) as an absolute path on the
    scanned machine; an absolute `path` (a process's executable) is returned as it is."""
    if path.startswith(("/", "\\")) or (len(path) > 2 and path[1] == ":" and path[0].isalpha()):
        return path
    windows = "\\" in root or (len(root) >= 2 and root[1] == ":")
    if windows:
        return root.rstrip("\\/") + "\\" + path.replace("/", "\\")
    return root.rstrip("/") + "/" + path


def safe_text(text: str) -> str:
    """`text` as valid UTF-8 text, with undecodable bytes shown escaped (`\\xff`).

    File names that are not valid UTF-8 arrive as surrogate escapes (`os.fsdecode`), and
    JSON strings may hold lone surrogates; neither can be encoded, stored or sent. This is
    the one function that turns them into visible escapes, so `a\\xff\\xfeb` reads as it is
    on disk and the finding is still reported. Text that is already valid is returned as is.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        raw = text.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "backslashreplace")


def _clean(obj: object, names: tuple[str, ...]) -> None:
    """Make the named text fields of a (frozen) dataclass valid UTF-8 (see `safe_text`)."""
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, str):
            clean = safe_text(value)
            if clean is not value:
                object.__setattr__(obj, name, clean)


# --- facts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessFact:
    pid: int
    name: str
    exe: str  # may be "" when the OS would not tell us
    cmdline: tuple[str, ...]
    user: str
    ppid: int
    create_time: float
    cwd: str = ""  # its working folder ("" when the OS would not tell us)


@dataclass(frozen=True, slots=True)
class ModuleFact:
    """A file mapped into a WeChat-family process."""

    pid: int
    process_name: str
    process_exe: str
    path: str


@dataclass(frozen=True, slots=True)
class FileFact:
    """A file or folder that exists at a place some rule names."""

    path: str  # absolute path on this machine (under the scan root)
    is_dir: bool
    size: int
    template: str  # the path template that found it
    user: str = ""  # the home it was found in, if any


@dataclass(frozen=True, slots=True)
class AppFact:
    """An installed application as the platform's own inventory describes it."""

    source: str  # "desktop", "dpkg", "flatpak", "snap", "bundle", "uninstall", "program-files"
    app_id: str  # desktop id, package name, bundle id, uninstall key, folder name
    name: str
    path: str = ""  # install location / bundle path / .desktop file
    exe: str = ""  # main executable when known
    version: str = ""
    publisher: str = ""
    user: str = ""
    # What the platform or the file's own content vouches for, when the inventory cannot:
    # "appimage:official-layout", "appimage:other", "appimage:unreadable", "sha256:<hex>",
    # "msix:<family>|<publisher>" (space separated when several).
    identity: str = ""


@dataclass(frozen=True, slots=True)
class PackageFact:
    """A Python or npm package installed somewhere on the machine."""

    ecosystem: str  # "pypi" | "npm"
    name: str  # normalised (PEP 503 for pypi, lower-case for npm)
    version: str
    path: str  # the dist-info / egg-info / package folder
    user: str = ""


@dataclass(frozen=True, slots=True)
class AutostartFact:
    source: str  # "xdg", "launchagent", "launchdaemon", "startup-folder", "run-key"
    name: str
    command: str
    path: str
    user: str = ""


@dataclass(frozen=True, slots=True)
class ExtensionFact:
    """A browser extension (Chromium or Firefox profile)."""

    browser: str
    ext_id: str
    name: str
    path: str
    user: str = ""


@dataclass(frozen=True, slots=True)
class TamperFact:
    """An integrity check's observation about an approved client's files or process."""

    check: str  # one of catalogue.INTEGRITY_CHECKS
    client_id: str
    path: str  # the file (or module) that is wrong
    detail: str  # what is wrong, in words a person can check
    pid: int | None = None


@dataclass(frozen=True, slots=True)
class UnrecognisedFact:
    """A WeChat-like process or app that matches no approved identity."""

    kind: str  # "process" | "app"
    name: str
    path: str
    detail: str
    pid: int | None = None


@dataclass(frozen=True, slots=True)
class ContentFact:
    """A file whose bytes a content (YARA) rule matched."""

    path: str
    rule: str  # the YARA rule's name
    kind: str  # "binary", "script" or "config": how the file was scanned
    detail: str  # what matched (the first matched strings), for a person to check
    user: str = ""

    def __post_init__(self) -> None:
        _clean(self, ("path", "detail"))


@dataclass(frozen=True, slots=True)
class PackageMetaFact:
    """A package whose own metadata shows that it acts on the WeChat client or its data."""

    ecosystem: str  # "pypi" | "npm"
    name: str
    version: str
    path: str  # the dist-info / package folder
    category: str  # a Category value: what the package does
    reasons: tuple[str, ...]  # which metadata matched, in words a person can check
    related_rule: str = ""  # the known tool it depends on or republishes, if any
    user: str = ""


@dataclass(frozen=True, slots=True)
class ConfigFact:
    """A configuration file that gives a tool away (an AI assistant's MCP server entry that
    launches a WeChat tool)."""

    kind: str  # "mcp"
    path: str
    entry: str  # the server's name in the file
    detail: str  # the command line, shortened
    related_rule: str = ""
    user: str = ""

    def __post_init__(self) -> None:
        _clean(self, ("path", "entry", "detail"))


@dataclass(frozen=True, slots=True)
class BlindSpot:
    """Something the scan could not look at, and why: reported, never hidden."""

    probe: str
    what: str
    reason: str

    def __post_init__(self) -> None:
        _clean(self, ("probe", "what", "reason"))


@dataclass(frozen=True, slots=True)
class Note:
    """Something a person should know that is not a finding: a WeChat-like file whose name
    and place match an official form but that nothing readable proves official
    ("unverified"). Notes never count against compliance."""

    kind: str  # "unverified"
    path: str  # relative to the scanned root
    detail: Text  # why, in both languages

    def __post_init__(self) -> None:
        _clean(self, ("kind", "path"))

    def to_json(self, lang: Lang | str = Lang.EN) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "detail": self.detail.get(lang),
            "detail_i18n": asdict(self.detail),
        }


@dataclass(slots=True)
class Facts:
    """Everything the probes saw in one scan."""

    processes: list[ProcessFact] = field(default_factory=list)
    modules: list[ModuleFact] = field(default_factory=list)
    files: list[FileFact] = field(default_factory=list)
    apps: list[AppFact] = field(default_factory=list)
    packages: list[PackageFact] = field(default_factory=list)
    autostart: list[AutostartFact] = field(default_factory=list)
    extensions: list[ExtensionFact] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)  # path -> sha256 of files probes hashed
    tampering: list[TamperFact] = field(default_factory=list)
    unrecognised: list[UnrecognisedFact] = field(default_factory=list)
    content: list[ContentFact] = field(default_factory=list)
    package_meta: list[PackageMetaFact] = field(default_factory=list)
    configs: list[ConfigFact] = field(default_factory=list)
    blind_spots: list[BlindSpot] = field(default_factory=list)


# --- findings ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Evidence:
    """One observation behind a finding. `path` is relative to the scanned root."""

    kind: str  # "file", "process", "module", "package", "app", "autostart", "extension", "hash"
    matched: str  # what the rule matched, in words a person can check (English)
    path: str = ""
    pid: int | None = None
    package: str = ""
    detail: str = ""
    matched_zh: str = ""  # `matched` in Chinese (issue 16); empty: show `matched`

    def __post_init__(self) -> None:
        _clean(self, ("kind", "matched", "path", "package", "detail", "matched_zh"))

    def to_json(self, root: str | None = None, live: bool = True) -> dict[str, Any]:
        """`root`/`live`: the scan's root and whether it looked at this running machine.

        With a root, `location` is where a person finds the thing: the absolute path on a live
        machine, the path inside the image (`in_image: true`) for an offline one."""
        out: dict[str, Any] = {"kind": self.kind, "matched": self.matched}
        if self.matched_zh:
            out["matched_i18n"] = {"zh": self.matched_zh, "en": self.matched}
        if self.path:
            out["path"] = self.path
            if root is not None:
                out["location"] = absolute_path(root, self.path) if live else self.path
                if not live:
                    out["in_image"] = True
        if self.pid is not None:
            out["pid"] = self.pid
        if self.package:
            out["package"] = self.package
        if self.detail:
            out["detail"] = self.detail
        return out

    def identity(self) -> str:
        """What makes this observation the same thing next time (pids change, paths do not)."""
        if self.kind == "process" or self.kind == "module":
            return f"{self.kind}:{self.matched}:{self.path}"
        return f"{self.kind}:{self.path}:{self.package}:{self.matched}"


@dataclass(frozen=True, slots=True)
class Approval:
    """An official client found on the machine and the identity that approved it: shown on
    the device's page, so IT sees why a WeChat-like program is not a finding."""

    client_id: str
    client_name: Text
    kind: str  # "app" or "process"
    path: str  # as reports show it (relative to the root)
    how: str  # what identified it: "bundle com.tencent.xinWeChat", "dpkg com.tencent.wechat"


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    title: Text
    category: Category
    severity: Severity
    remediation: Text
    evidence: tuple[Evidence, ...]
    subject: str  # what the finding is about (a path, a package, a program name): part of the key
    references: tuple[str, ...] = ()
    # `remediation` says what was found and why it matters; `steps` how to fix it.
    steps: Steps = Steps()

    def __post_init__(self) -> None:
        _clean(self, ("rule_id", "subject"))

    @property
    def key(self) -> str:
        """Stable across scans: the same rule about the same subject is the same finding."""
        digest = hashlib.sha256(f"{self.rule_id}\0{self.subject}".encode()).hexdigest()
        return digest[:24]

    def to_json(
        self, lang: Lang | str = Lang.EN, root: str | None = None, live: bool = True
    ) -> dict[str, Any]:
        """`root`/`live`: the scan's, so that each evidence says where a person finds it."""
        flat = remediation_text(self.remediation, self.steps)
        return {
            "key": self.key,
            "rule_id": self.rule_id,
            "title": self.title.get(lang),
            "title_i18n": asdict(self.title),
            "category": str(self.category),
            "severity": str(self.severity),
            "subject": self.subject,
            "evidence": [e.to_json(root, live) for e in self.evidence],
            "remediation": flat.get(lang),
            "remediation_i18n": asdict(flat),
            # Structured (issue 16): readers that know them show the intro and a numbered list.
            "remediation_intro_i18n": asdict(self.remediation),
            "remediation_steps": self.steps.to_json(),
            "references": list(self.references),
        }


@dataclass(frozen=True, slots=True)
class Grant:
    """Why a finding is excepted: IT's reason, until when (Unix time), for which device group
    ("" when granted to the device itself) and by whom."""

    reason: Text
    expires: float
    group: str = ""
    granted_by: str = ""

    def to_json(self, lang: Lang | str = Lang.EN) -> dict[str, Any]:
        return {
            "reason": self.reason.get(lang),
            "reason_i18n": asdict(self.reason),
            "expires": self.expires,
            "group": self.group,
            "granted_by": self.granted_by,
        }


@dataclass(slots=True)
class ScanResult:
    root: str
    platform: Platform
    live: bool
    started_at: float
    duration_s: float
    findings: list[Finding]
    blind_spots: list[BlindSpot]
    stats: dict[str, int] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)  # never part of `compliant`
    # Findings IT excepted (policy exceptions), with the reason and expiry: shown, not counted.
    excepted: list[tuple[Finding, Grant]] = field(default_factory=list)
    approved: list[Approval] = field(default_factory=list)  # at most MAX_APPROVALS

    def __post_init__(self) -> None:
        self.root = safe_text(self.root)

    @property
    def compliant(self) -> bool:
        return not self.findings

    def to_json(self, lang: Lang | str = Lang.EN) -> dict[str, Any]:
        by_sev = {str(s): 0 for s in Severity}
        for f in self.findings:
            by_sev[str(f.severity)] += 1
        return {
            "schema": "wxguard.check/1",
            "root": self.root,
            "platform": str(self.platform),
            "live": self.live,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 4),
            "summary": {
                "compliant": self.compliant,
                "findings": len(self.findings),
                "by_severity": by_sev,
                "blind_spots": len(self.blind_spots),
                "notes": len(self.notes),
                "excepted": len(self.excepted),
            },
            "findings": [f.to_json(lang, self.root, self.live) for f in self.findings],
            "blind_spots": [asdict(b) for b in self.blind_spots],
            "notes": [n.to_json(lang) for n in self.notes],
            "excepted": [
                {
                    **f.to_json(lang, self.root, self.live),
                    "exception": g.to_json(lang),
                }
                for f, g in self.excepted
            ],
            "stats": dict(self.stats),
        }

    def dumps(self, lang: Lang | str = Lang.EN) -> str:
        return json.dumps(self.to_json(lang), ensure_ascii=False, indent=2)
