"""Loads and validates the rules and approved-client identities that ship as TOML data.

The schema is documented in docs/rules.md. Loading is strict: an unknown key, a missing
translation or a bad enum value is an error that names the file and the rule, because a
rule that silently matches nothing is worse than one that fails to load.
"""

from __future__ import annotations

import datetime
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from checks.model import Category, Grant, Platform, Severity, Steps, Text
from checks.trust import AnchorError, load_pem

MATCH_TYPES = {
    "path",
    "process",
    "module",
    "package",
    "app",
    "sha256",
    "extension",
    "autostart",
    "integrity",
    "unrecognised",
    "content",
    "metadata",
    "config",
}
# Built-in checks that catch what no indicator names (see checks/integrity/).
INTEGRITY_CHECKS = {
    "macos-bundle-seal",
    "macos-code-signature",
    "windows-backup-copy",
    "windows-renamed-exe",
    "windows-unknown-binary",
    "windows-tampered-binary",
    "foreign-module",
}
UNRECOGNISED_KINDS = {"process", "app", "program"}
# What a package's metadata may show it does (checks/probes/metadata.py): a Category value.
METADATA_CHECKS = {"plugin-injection", "bot-framework", "db-dumper", "multi-open"}
CONFIG_CHECKS = {"mcp"}
ECOSYSTEMS = {"pypi", "npm", "dpkg", "flatpak", "snap"}
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{2,79}$")


class CatalogueError(ValueError):
    """A rule or client file is malformed; the message names the file and what to fix."""


@dataclass(frozen=True, slots=True)
class Matcher:
    """One indicator of a rule. Fields not used by its type are empty."""

    type: str
    path: str = ""  # path template (type path; where to hash for sha256)
    name: str = ""  # process / module / package / extension name (glob, case-insensitive);
    # content: the YARA rule's name
    cmdline: str = ""  # process: regular expression searched in the joined command line
    ecosystem: str = ""  # package
    app_id: str = ""  # app: bundle id / desktop id / package / uninstall key (glob)
    sha256: str = ""
    command: str = ""  # autostart: glob on the command
    check: str = ""  # integrity: which built-in check; unrecognised: process | app | program;
    # metadata: what the package does (a category); config: which kind of configuration
    note: str = ""  # why this indicator means what it means (shown as evidence detail)
    platforms: tuple[Platform, ...] = ()  # narrows the rule's platforms for this matcher

    def applies_to(self, platform: Platform, rule_platforms: tuple[Platform, ...]) -> bool:
        return platform in (self.platforms or rule_platforms)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: Text
    remediation: Text  # what was found and why it matters (the intro before the steps)
    category: Category
    severity: Severity
    platforms: tuple[Platform, ...]
    matches: tuple[Matcher, ...]
    references: tuple[str, ...] = ()
    group_by: str = "rule"  # "rule": one finding per rule; "subject": one per matched thing
    source: str = ""
    steps: Steps = field(default_factory=Steps)  # how to fix it, one sentence per step


@dataclass(frozen=True, slots=True)
class ApprovedClient:
    """An official client identity. A thing is this client only if it matches the identity,
    never by name alone (names lie)."""

    id: str
    name: Text
    platforms: tuple[Platform, ...]
    process_names: tuple[str, ...] = ()
    install_paths: tuple[str, ...] = ()  # templates; the install tree
    main_executables: tuple[str, ...] = ()  # file names of the main program in the tree
    core_modules: tuple[str, ...] = ()  # DLLs whose neighbourhood patchers tamper with
    bundle_ids: tuple[str, ...] = ()
    team_ids: tuple[str, ...] = ()
    signers: tuple[str, ...] = ()
    packages: tuple[tuple[str, str], ...] = ()  # (ecosystem, name)
    desktop_ids: tuple[str, ...] = ()
    uninstall_keys: tuple[str, ...] = ()
    # Files of the official install that carry no signature of their own (bundled
    # third-party libraries); any other unsigned program file there is a finding.
    bundled_files: tuple[str, ...] = ()
    # Microsoft Store (MSIX): package family names and publisher names from AppxManifest.xml.
    msix_families: tuple[str, ...] = ()
    msix_publishers: tuple[str, ...] = ()
    # AppImages: SHA-256 digests of official releases (raise "unverified" to "approved").
    appimage_sha256: tuple[str, ...] = ()
    # Extra trust anchors (PEM) the policy ships, e.g. a lab's own signing root.
    trust_anchors: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True, slots=True)
class FindingException:
    """IT's exception for one finding (by rule and subject, or by key) until `expires`: the
    finding is reported as excepted, with the reason, instead of counting against compliance.
    The policy's scope (device or group) decides which devices receive it."""

    rule_id: str
    reason: Text
    expires: float  # Unix time; an expired exception no longer applies
    subject: str = ""  # the finding's subject (exactly); or
    key: str = ""  # the finding's key
    granted_by: str = ""  # who approved it, for the audit trail
    group: str = ""  # the device group it was granted to ("" for one device), to show it

    def grant(self) -> Grant:
        return Grant(self.reason, self.expires, self.group, self.granted_by)

    def covers(self, rule_id: str, subject: str, key: str, now: float) -> bool:
        if now >= self.expires or rule_id != self.rule_id:
            return False
        return (bool(self.key) and key == self.key) or (
            bool(self.subject) and subject == self.subject
        )


@dataclass(slots=True)
class Catalogue:
    rules: list[Rule] = field(default_factory=list)
    clients: list[ApprovedClient] = field(default_factory=list)
    disabled: set[str] = field(default_factory=set)
    anchors: tuple[str, ...] = ()  # PEM texts trusted besides the shipped roots (per scan)
    exceptions: tuple[FindingException, ...] = ()

    def with_exceptions(self, items: Iterable[Mapping[str, Any]]) -> Catalogue:
        """A copy with IT's finding exceptions (policy JSON objects, see parse_exception)."""
        parsed = tuple(parse_exception(d, "policy") for d in items)
        return Catalogue(
            list(self.rules),
            list(self.clients),
            set(self.disabled),
            self.anchors,
            (*self.exceptions, *parsed),
            list(self.yara),
        )

    def trust_anchor_pems(self) -> tuple[str, ...]:
        """Anchors added per scan and by every client (the policy's), without the shipped ones."""
        return (*self.anchors, *(pem for c in self.clients for pem in c.trust_anchors))

    def with_trust_anchors(self, pems: Iterable[str]) -> Catalogue:
        """A copy that also trusts these PEM certificates (`wxguard check --trust-anchor`)."""
        return Catalogue(
            list(self.rules),
            list(self.clients),
            set(self.disabled),
            (*self.anchors, *pems),
            self.exceptions,
            list(self.yara),
        )

    # YARA sources (origin, text) that `content` matchers name: rules/yara/*.yar and the
    # policy's additions. Compiled once per distinct set (checks/content/yara.py).
    yara: list[tuple[str, str]] = field(default_factory=list)

    def yara_sources(self) -> tuple[tuple[str, str], ...]:
        return tuple(self.yara)

    def rules_for(self, platform: Platform) -> list[Rule]:
        return [r for r in self.rules if platform in r.platforms and r.id not in self.disabled]

    def clients_for(self, platform: Platform) -> list[ApprovedClient]:
        return [c for c in self.clients if platform in c.platforms]

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def with_policy(
        self,
        add_rules: Iterable[Mapping[str, Any]] = (),
        disable: Iterable[str] = (),
        add_clients: Iterable[Mapping[str, Any]] = (),
        add_yara: Iterable[Mapping[str, Any]] = (),
    ) -> Catalogue:
        """A copy with a policy's rules, clients and YARA sources added and its disabled rules
        switched off. `add_yara` items are {"name": ..., "source": <YARA text>}; a source of
        the same name replaces the shipped one."""
        rules = {r.id: r for r in self.rules}
        for data in add_rules:
            rule = parse_rule(data, "policy")
            rules[rule.id] = rule
        clients = {c.id: c for c in self.clients}
        for data in add_clients:
            client = parse_client(data, "policy")
            clients[client.id] = client
        yara = dict(self.yara)
        for item in add_yara:
            name, text = parse_yara_source(item, "policy")
            yara[name] = text
        catalogue = Catalogue(
            list(rules.values()),
            list(clients.values()),
            set(disable),
            self.anchors,
            yara=list(yara.items()),
        )
        check_content_rules(catalogue, "policy")
        return catalogue


# --- parsing -----------------------------------------------------------------------------


def _err(source: str, where: str, msg: str) -> CatalogueError:
    return CatalogueError(f"{source}: {where}: {msg}")


def _check_keys(data: Mapping[str, Any], allowed: set[str], source: str, where: str) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise _err(source, where, f"unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")


def _text(data: Any, source: str, where: str) -> Text:
    if not isinstance(data, Mapping) or set(data) != {"zh", "en"}:
        raise _err(source, where, "needs exactly the keys zh and en")
    zh, en = data["zh"], data["en"]
    if not (isinstance(zh, str) and zh.strip() and isinstance(en, str) and en.strip()):
        raise _err(source, where, "zh and en must be non-empty strings")
    return Text(zh=zh.strip(), en=en.strip())


def _steps(data: Any, source: str, where: str) -> Steps:
    """`steps = { zh = [...], en = [...] }`: each step one whole sentence (optional: a rule
    from an older policy has its steps inside `remediation`)."""
    if data is None:
        return Steps()
    if not isinstance(data, Mapping) or set(data) != {"zh", "en"}:
        raise _err(source, where, "needs exactly the keys zh and en")
    out: dict[str, tuple[str, ...]] = {}
    for lang in ("zh", "en"):
        items = data[lang]
        if not isinstance(items, list) or not items:
            raise _err(source, where, f"{lang} must be a non-empty list of sentences")
        if not all(isinstance(i, str) and i.strip() for i in items):
            raise _err(source, where, f"{lang} steps must be non-empty strings")
        out[lang] = tuple(i.strip() for i in items)
    return Steps(zh=out["zh"], en=out["en"])


def _strs(data: Mapping[str, Any], key: str, source: str, where: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _err(source, where, f"{key} must be a list of non-empty strings")
    return tuple(value)


def _platforms(data: Mapping[str, Any], source: str, where: str) -> tuple[Platform, ...]:
    names = _strs(data, "platforms", source, where)
    try:
        return tuple(Platform(p) for p in names)
    except ValueError as exc:
        raise _err(source, where, f"platforms: {exc}; use linux, macos, windows") from exc


def parse_matcher(data: Any, source: str, where: str) -> Matcher:
    if not isinstance(data, Mapping):
        raise _err(source, where, "a match must be a table")
    kind = data.get("type")
    if kind not in MATCH_TYPES:
        raise _err(source, where, f"type must be one of {sorted(MATCH_TYPES)}, not {kind!r}")
    allowed = {"type", "note", "platforms"}
    required: set[str] = set()
    if kind == "path":
        allowed |= {"path"}
        required = {"path"}
    elif kind == "process":
        allowed |= {"name", "cmdline"}
        if "name" not in data and "cmdline" not in data:
            raise _err(source, where, "a process match needs name or cmdline")
    elif kind == "module":
        allowed |= {"name"}
        required = {"name"}
    elif kind == "package":
        allowed |= {"ecosystem", "name"}
        required = {"ecosystem", "name"}
        if data.get("ecosystem") not in ECOSYSTEMS:
            raise _err(source, where, f"ecosystem must be one of {sorted(ECOSYSTEMS)}")
    elif kind == "app":
        allowed |= {"id", "name"}
        if "id" not in data and "name" not in data:
            raise _err(source, where, "an app match needs id or name")
    elif kind == "sha256":
        allowed |= {"value", "path"}
        required = {"value"}
        if not re.fullmatch(r"[0-9a-f]{64}", str(data.get("value", ""))):
            raise _err(source, where, "value must be 64 lower-case hex digits")
    elif kind == "extension":
        allowed |= {"name", "id"}
        if "id" not in data and "name" not in data:
            raise _err(source, where, "an extension match needs id or name")
    elif kind == "autostart":
        allowed |= {"command", "name"}
        if "command" not in data and "name" not in data:
            raise _err(source, where, "an autostart match needs command or name")
    elif kind == "integrity":
        allowed |= {"check"}
        if data.get("check") not in INTEGRITY_CHECKS:
            raise _err(source, where, f"check must be one of {sorted(INTEGRITY_CHECKS)}")
    elif kind == "unrecognised":
        allowed |= {"check"}
        if data.get("check") not in UNRECOGNISED_KINDS:
            raise _err(source, where, f"check must be one of {sorted(UNRECOGNISED_KINDS)}")
    elif kind == "content":
        allowed |= {"name"}
        required = {"name"}
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", str(data.get("name", ""))):
            raise _err(source, where, "name must be the name of a YARA rule")
    elif kind == "metadata":
        allowed |= {"check"}
        if data.get("check") not in METADATA_CHECKS:
            raise _err(source, where, f"check must be one of {sorted(METADATA_CHECKS)}")
    elif kind == "config":
        allowed |= {"check"}
        if data.get("check") not in CONFIG_CHECKS:
            raise _err(source, where, f"check must be one of {sorted(CONFIG_CHECKS)}")
    _check_keys(data, allowed, source, where)
    missing = required - set(data)
    if missing:
        raise _err(source, where, f"missing {sorted(missing)}")
    for key in allowed - {"platforms"}:
        if key in data and not (isinstance(data[key], str) and data[key]):
            raise _err(source, where, f"{key} must be a non-empty string")
    cmdline = str(data.get("cmdline", ""))
    if cmdline:
        try:
            re.compile(cmdline)
        except re.error as exc:
            raise _err(source, where, f"cmdline is not a valid regular expression: {exc}") from exc
    return Matcher(
        type=kind,
        path=str(data.get("path", "")),
        name=str(data.get("name", "")) if kind != "extension" or "name" in data else "",
        cmdline=cmdline,
        ecosystem=str(data.get("ecosystem", "")),
        app_id=str(data.get("id", "")) if kind in ("app", "extension") else "",
        sha256=str(data.get("value", "")),
        command=str(data.get("command", "")),
        check=str(data.get("check", "")),
        note=str(data.get("note", "")),
        platforms=_platforms(data, source, where) if "platforms" in data else (),
    )


_RULE_KEYS = {
    "id",
    "title",
    "remediation",
    "steps",
    "category",
    "severity",
    "platforms",
    "references",
    "match",
    "group_by",
}


def parse_rule(data: Mapping[str, Any], source: str) -> Rule:
    """One rule from its TOML/JSON table; raises CatalogueError saying what to fix."""
    if not isinstance(data, Mapping):
        raise _err(source, "rule", "a rule must be a table")
    rid = data.get("id")
    where = f"rule {rid!r}"
    if not isinstance(rid, str) or not _ID_RE.match(rid):
        raise _err(source, where, "id must be 3-80 chars of a-z, 0-9, '.', '-'")
    _check_keys(data, _RULE_KEYS, source, where)
    try:
        category = Category(str(data.get("category")))
        severity = Severity(str(data.get("severity")))
    except ValueError as exc:
        raise _err(source, where, str(exc)) from exc
    platforms = _platforms(data, source, where)
    if not platforms:
        raise _err(source, where, "platforms must name at least one platform")
    raw_matches = data.get("match", [])
    if not isinstance(raw_matches, list) or not raw_matches:
        raise _err(source, where, "needs at least one [[rule.match]]")
    matches = tuple(
        parse_matcher(m, source, f"{where} match #{i + 1}") for i, m in enumerate(raw_matches)
    )
    group_by = data.get("group_by", "rule")
    if group_by not in ("rule", "subject"):
        raise _err(source, where, "group_by must be 'rule' or 'subject'")
    return Rule(
        id=rid,
        title=_text(data.get("title"), source, f"{where} title"),
        remediation=_text(data.get("remediation"), source, f"{where} remediation"),
        category=category,
        severity=severity,
        platforms=platforms,
        matches=matches,
        references=_strs(data, "references", source, where),
        group_by=str(group_by),
        source=source,
        steps=_steps(data.get("steps"), source, f"{where} steps"),
    )


_CLIENT_KEYS = {
    "id",
    "name",
    "platforms",
    "process_names",
    "install_paths",
    "main_executables",
    "core_modules",
    "bundle_ids",
    "team_ids",
    "signers",
    "packages",
    "desktop_ids",
    "uninstall_keys",
    "bundled_files",
    "msix_families",
    "msix_publishers",
    "appimage_sha256",
    "trust_anchors",
    "references",
}


def parse_client(data: Mapping[str, Any], source: str) -> ApprovedClient:
    """One approved-client identity; raises CatalogueError saying what to fix."""
    if not isinstance(data, Mapping):
        raise _err(source, "client", "a client must be a table")
    cid = data.get("id")
    where = f"client {cid!r}"
    if not isinstance(cid, str) or not _ID_RE.match(cid):
        raise _err(source, where, "id must be 3-80 chars of a-z, 0-9, '.', '-'")
    _check_keys(data, _CLIENT_KEYS, source, where)
    packages: list[tuple[str, str]] = []
    for spec in _strs(data, "packages", source, where):
        eco, _, name = spec.partition(":")
        if eco not in ECOSYSTEMS or not name:
            raise _err(source, where, f"package {spec!r} must look like 'dpkg:wechat'")
        packages.append((eco, name))
    platforms = _platforms(data, source, where)
    if not platforms:
        raise _err(source, where, "platforms must name at least one platform")
    digests = _strs(data, "appimage_sha256", source, where)
    for digest in digests:
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise _err(source, where, f"appimage_sha256 {digest!r}: 64 lower-case hex digits")
    anchors = _strs(data, "trust_anchors", source, where)
    for pem in anchors:
        try:
            load_pem(pem, f"{where} trust_anchors")
        except AnchorError as exc:
            raise _err(source, where, str(exc)) from exc
    return ApprovedClient(
        id=cid,
        name=_text(data.get("name"), source, f"{where} name"),
        platforms=platforms,
        process_names=_strs(data, "process_names", source, where),
        install_paths=_strs(data, "install_paths", source, where),
        main_executables=_strs(data, "main_executables", source, where),
        core_modules=_strs(data, "core_modules", source, where),
        bundle_ids=_strs(data, "bundle_ids", source, where),
        team_ids=_strs(data, "team_ids", source, where),
        signers=_strs(data, "signers", source, where),
        packages=tuple(packages),
        desktop_ids=_strs(data, "desktop_ids", source, where),
        uninstall_keys=_strs(data, "uninstall_keys", source, where),
        bundled_files=_strs(data, "bundled_files", source, where),
        msix_families=_strs(data, "msix_families", source, where),
        msix_publishers=_strs(data, "msix_publishers", source, where),
        appimage_sha256=digests,
        trust_anchors=anchors,
        references=_strs(data, "references", source, where),
        source=source,
    )


_EXCEPTION_KEYS = {"rule_id", "subject", "key", "reason", "expires", "granted_by", "group"}


def parse_exception(data: Mapping[str, Any], source: str) -> FindingException:
    """One finding exception: {"rule_id", "subject" or "key", "reason": {"zh","en"},
    "expires": Unix time or ISO 8601, "granted_by", "group" (the device group it was granted
    to, shown with it)}; raises CatalogueError saying what to fix."""
    if not isinstance(data, Mapping):
        raise _err(source, "exception", "an exception must be an object")
    rid = data.get("rule_id")
    where = f"exception for {rid!r}"
    _check_keys(data, _EXCEPTION_KEYS, source, where)
    if not isinstance(rid, str) or not _ID_RE.match(rid):
        raise _err(source, where, "rule_id must be a rule id")
    subject, key = data.get("subject", ""), data.get("key", "")
    if not isinstance(subject, str) or not isinstance(key, str) or not (subject or key):
        raise _err(source, where, "needs subject or key (strings) naming one finding")
    expires = data.get("expires")
    if isinstance(expires, str):
        try:
            stamp = datetime.datetime.fromisoformat(expires)
        except ValueError as exc:
            raise _err(source, where, f"expires: {exc}") from exc
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=datetime.UTC)
        expires = stamp.timestamp()
    if not isinstance(expires, (int, float)) or isinstance(expires, bool):
        raise _err(
            source, where, "expires is required (Unix time or ISO 8601): no open-ended exceptions"
        )
    granted_by = data.get("granted_by", "")
    if not isinstance(granted_by, str):
        raise _err(source, where, "granted_by must be a string")
    group = data.get("group", "")
    if not isinstance(group, str):
        raise _err(source, where, "group must be a string")
    return FindingException(
        rule_id=rid,
        reason=_text(data.get("reason"), source, f"{where} reason"),
        expires=float(expires),
        subject=subject,
        key=key,
        granted_by=granted_by,
        group=group,
    )


def parse_yara_source(data: Any, source: str) -> tuple[str, str]:
    """(name, YARA text) from a policy's {"name", "source"} table."""
    if not isinstance(data, Mapping):
        raise _err(source, "yara", "a YARA source must be a table with name and source")
    _check_keys(data, {"name", "source"}, source, "yara")
    name, text = data.get("name"), data.get("source")
    if not (isinstance(name, str) and name and isinstance(text, str) and text.strip()):
        raise _err(source, "yara", "name and source must be non-empty strings")
    return name, text


def check_content_rules(catalogue: Catalogue, source: str) -> None:
    """Every `content` matcher names a YARA rule the catalogue's sources define, and the
    sources compile. Without yara-x installed (or its worker process) nothing can be checked
    here; the scan then reports content matching as a blind spot."""
    wanted = {(r.id, m.name) for r in catalogue.rules for m in r.matches if m.type == "content"}
    if not wanted and not catalogue.yara:
        return
    from checks.content.yara import ContentRulesError, MatchFailed, rule_names

    try:
        names = rule_names(catalogue.yara_sources())
    except (ImportError, MatchFailed):
        return
    except ContentRulesError as exc:
        raise CatalogueError(f"{source}: {exc}") from exc
    for rule_id, name in sorted(wanted):
        if name not in names:
            raise CatalogueError(
                f"{source}: rule {rule_id!r}: content {name!r} names no YARA rule; "
                f"known: {sorted(names)}"
            )


def _load_toml(name: str, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{name}: not valid TOML: {exc}") from exc


def load_texts(
    rule_files: Iterable[tuple[str, str]],
    client_files: Iterable[tuple[str, str]],
    yara_files: Iterable[tuple[str, str]] = (),
) -> Catalogue:
    catalogue = Catalogue(yara=list(yara_files))
    seen: dict[str, str] = {}
    for name, text in rule_files:
        doc = _load_toml(name, text)
        _check_keys(doc, {"rule"}, name, "file")
        for data in doc.get("rule", []):
            rule = parse_rule(data, name)
            if rule.id in seen:
                raise CatalogueError(
                    f"{name}: rule id {rule.id!r} is also defined in {seen[rule.id]}"
                )
            seen[rule.id] = name
            catalogue.rules.append(rule)
    client_ids: dict[str, str] = {}
    for name, text in client_files:
        doc = _load_toml(name, text)
        _check_keys(doc, {"client"}, name, "file")
        for data in doc.get("client", []):
            client = parse_client(data, name)
            if client.id in client_ids:
                raise CatalogueError(
                    f"{name}: client id {client.id!r} is also defined in {client_ids[client.id]}"
                )
            client_ids[client.id] = name
            catalogue.clients.append(client)
    check_content_rules(catalogue, "rules")
    return catalogue


def load_builtin() -> Catalogue:
    """The rules and clients shipped inside the package."""
    pkg = resources.files("checks")
    rules = sorted(
        (
            (f"rules/{p.name}", p.read_text("utf-8"))
            for p in pkg.joinpath("rules").iterdir()
            if p.name.endswith(".toml")
        ),
    )
    clients = sorted(
        (
            (f"clients/{p.name}", p.read_text("utf-8"))
            for p in pkg.joinpath("clients").iterdir()
            if p.name.endswith(".toml")
        ),
    )
    yara = sorted(
        (
            (f"rules/yara/{p.name}", p.read_text("utf-8"))
            for p in pkg.joinpath("rules").joinpath("yara").iterdir()
            if p.name.endswith(".yar")
        ),
    )
    return load_texts(rules, clients, yara)


def anchor_files(paths: Iterable[str | Path]) -> list[str]:
    """The PEM texts of trust-anchor files (raises AnchorError naming a bad file)."""
    pems: list[str] = []
    for path in paths:
        try:
            text = Path(path).read_text("ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise AnchorError(f"{path}: not a readable PEM trust anchor ({exc})") from exc
        load_pem(text, str(path))
        pems.append(text)
    return pems
