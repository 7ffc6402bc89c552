"""Package metadata judged, not just names: what a Python or npm package says it does.

For every package the packages probe found, its own metadata is read (Python: METADATA's
Name, Summary, Keywords and Requires-Dist, top_level.txt, entry_points.txt; npm:
package.json's name, description, keywords, dependencies and bin) and a package is a fact
here when that metadata shows it acts on the desktop client or its data:

- it depends on a known tool (a package some rule names), or installs a known tool's module
  or command under another name (a fork or republish): the category of that tool's rule;
- its name, summary or keywords name WeChat together with what it does to the client
  (hooking and injection, multi-open, database decryption and dumping, automation/bots),
  or it depends on a memory or UI-automation library while naming WeChat.

Names lie both ways: SDKs for Tencent's server APIs (Official Accounts, Mini Programs, WeCom
server API, JS-SDK, payments) mention WeChat and "bot" too, and stay clean; a package that
does not name WeChat is never judged by its words (wxPython, weechat, uiautomation).
A package installed as a dependency of a known tool found in the same environment is part
of that tool's install, not a finding of its own.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from email.parser import HeaderParser
from typing import Any

from checks.catalogue import Catalogue
from checks.fsview import METADATA_LIMIT
from checks.model import PackageFact, PackageMetaFact
from checks.parsers import load_json
from checks.probes.base import ProbeContext

_WECHAT = re.compile(
    r"wechat|weixin|微信|wxid|wcferry|wxhelper|wx[-_ ]?(?:bot|hook|dump|auto)", re.I
)
# Server-API SDKs and web development: mention WeChat, never act on the desktop client.
_SERVER_SDK = re.compile(
    r"公众号|公眾號|服务号|订阅号|offici?al[ -]?accounts?|小程序|mini[ -]?programs?|miniprogram|"
    r"mini[ -]?games?|小游戏|开放平台|open[ -]?platform|js-?sdk|jssdk|oauth|支付|\bpay(?:ment)?s?\b|"
    r"企业微信\s*api|wecom\s*api|work\.weixin|server\s*api|webhook|群机器人|typings|"
    r"uni-?app|\btaro\b",
    re.I,
)
_ACTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "db-dumper",
        re.compile(
            r"解密|decrypt|dump|聊天记录|chat[ -]?(?:history|logs?|records?)|msg\.db|micromsg|"
            r"数据库|database|导出|export|取证|forensic|密钥|db[ -]?key|extract|提取|backup|备份",
            re.I,
        ),
    ),
    (
        "plugin-injection",
        re.compile(
            r"hook|inject|注入|防撤回|anti[- ]?revoke|revoke|frida|\bdll\b|plugin|插件", re.I
        ),
    ),
    ("multi-open", re.compile(r"多开|multi[- ]?(?:open|instance)|双开", re.I)),
    (
        "bot-framework",
        re.compile(
            r"自动化|automat|自动回复|auto[- ]?reply|机器人|\brobots?\b|\bbots?\b|chatbot|发送消息|"
            r"send[ -]messages?|\bmcp\b|rpa|个人微信|personal account|ui ?automation|群发|框架|"
            r"framework|\badapter\b|nonebot|onebot|微信窗口|wechat window",
            re.I,
        ),
    ),
)
# Libraries that read another process's memory or drive its windows: with a WeChat name,
# what the package does to the client.
_MEMORY_LIBS = {"pymem", "frida", "frida-tools", "pywin32-ctypes", "readprocessmemory"}
_UI_LIBS = {"uiautomation", "pywinauto", "pyautogui", "comtypes", "pyuiautomation"}

_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(slots=True)
class _Meta:
    name: str
    text: str  # name, summary/description and keywords, for the word tests
    deps: list[str]
    modules: list[str]  # top-level modules (pypi) / main module folder names
    commands: list[str]  # console scripts / bin names


@dataclass(slots=True)
class KnownTools:
    """Package and module names the catalogue's rules name, per ecosystem, with the rule."""

    names: dict[str, list[tuple[str, str, str]]]  # ecosystem -> [(glob, rule id, category)]
    # ecosystem -> one expression matching what any of its globs match: most names match
    # none, and one match of it costs what a loop of a hundred `fnmatchcase` calls did.
    any_of: dict[str, re.Pattern[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for ecosystem, globs in self.names.items():
            alternatives = "|".join(f"(?:{fnmatch.translate(g)})" for g, _, _ in globs)
            self.any_of[ecosystem] = re.compile(alternatives or r"(?!)")

    @classmethod
    def build(cls, catalogue: Catalogue) -> KnownTools:
        names: dict[str, list[tuple[str, str, str]]] = {"pypi": [], "npm": []}
        for rule in catalogue.rules:
            if rule.id in catalogue.disabled:
                continue
            for m in rule.matches:
                if m.type == "package" and m.ecosystem in names:
                    glob = _pep503(m.name) if m.ecosystem == "pypi" else m.name.lower()
                    names[m.ecosystem].append((glob, rule.id, str(rule.category)))
        return cls(names)

    def find(self, ecosystem: str, name: str) -> tuple[str, str] | None:
        key = _pep503(name) if ecosystem == "pypi" else name.lower()
        quick = self.any_of.get(ecosystem)
        if quick is not None and quick.match(key) is None:
            return None
        for glob, rule_id, category in self.names.get(ecosystem, ()):
            if fnmatch.fnmatchcase(key, glob):
                return rule_id, category
        return None

    def find_module(self, module: str) -> tuple[str, str] | None:
        """A known Python tool whose distribution name is this module's name."""
        return self.find("pypi", module.replace("_", "-"))


def collect(ctx: ProbeContext) -> None:
    known = KnownTools.build(ctx.catalogue)
    metas: dict[str, _Meta] = {}
    for pkg in ctx.facts.packages:
        with ctx.fs.item("metadata", pkg.path):
            meta = _read(ctx, pkg)
            if meta is not None:
                metas[pkg.path] = meta
    # Per environment, what the known tools installed there depend on: their own parts.
    parts: dict[str, set[str]] = {}
    for pkg in ctx.facts.packages:
        meta = metas.get(pkg.path)
        if meta is not None and known.find(pkg.ecosystem, pkg.name) is not None:
            env = parts.setdefault(_env(pkg), set())
            env.update(_norm(pkg.ecosystem, d) for d in meta.deps)
    for pkg in ctx.facts.packages:
        meta = metas.get(pkg.path)
        if meta is None or known.find(pkg.ecosystem, pkg.name) is not None:
            continue
        if _norm(pkg.ecosystem, pkg.name) in parts.get(_env(pkg), ()):
            continue  # installed as a part of a known tool found beside it
        verdict = judge(pkg.ecosystem, meta, known)
        if verdict is not None:
            category, reasons, related = verdict
            ctx.facts.package_meta.append(
                PackageMetaFact(
                    pkg.ecosystem,
                    pkg.name,
                    pkg.version,
                    pkg.path,
                    category,
                    tuple(reasons),
                    related,
                    pkg.user,
                )
            )


def _env(pkg: PackageFact) -> str:
    return os.path.dirname(pkg.path.rstrip("/"))


def _norm(ecosystem: str, name: str) -> str:
    return _pep503(name) if ecosystem == "pypi" else name.lower()


def judge(ecosystem: str, meta: _Meta, known: KnownTools) -> tuple[str, list[str], str] | None:
    """(category, reasons, related rule id) when the metadata shows a WeChat tool, else None."""
    for dep in meta.deps:
        hit = known.find(ecosystem, dep)
        if hit is not None:
            return hit[1], [f"depends on {dep} (a known tool: rule {hit[0]})"], hit[0]
    if ecosystem == "pypi":
        for module in meta.modules:
            hit = known.find_module(module)
            if hit is not None:
                return (
                    hit[1],
                    [f"installs the module {module} of a known tool (rule {hit[0]})"],
                    hit[0],
                )
    for command in meta.commands:
        hit = known.find(ecosystem, command)
        if hit is not None:
            return (
                hit[1],
                [f"installs the command {command} of a known tool (rule {hit[0]})"],
                hit[0],
            )
    named = _WECHAT.search(meta.text)
    if named is None:
        return None  # a package that does not name WeChat is not judged by its words
    deps = {_norm(ecosystem, d) for d in meta.deps}
    reasons = [f"names WeChat ({named.group(0)!r})"]
    memory = sorted(deps & _MEMORY_LIBS)
    ui = sorted(deps & _UI_LIBS)
    server = _SERVER_SDK.search(meta.text)
    for category, pattern in _ACTS:
        found = pattern.search(meta.text)
        if found is not None and server is None:
            return category, [*reasons, f"says it does {found.group(0)!r}"], ""
    if memory:
        return "db-dumper", [*reasons, f"depends on {', '.join(memory)} (reads process memory)"], ""
    if ui and server is None:
        return "bot-framework", [*reasons, f"depends on {', '.join(ui)} (UI automation)"], ""
    return None


def _read(ctx: ProbeContext, pkg: PackageFact) -> _Meta | None:
    if pkg.ecosystem == "npm":
        data = ctx.fs.parsed(pkg.path + "/package.json", _json_object, "metadata", METADATA_LIMIT)
        return _npm_meta(data) if data is not None else None
    headers = ctx.fs.parsed(pkg.path + "/METADATA", _metadata, "metadata", METADATA_LIMIT)
    if headers is None:
        headers = ctx.fs.parsed(pkg.path + "/PKG-INFO", _metadata, "metadata", METADATA_LIMIT)
    if headers is None:
        return None
    # Parsed through FsView.parsed: kept while the file is unchanged, so a warm rescan
    # re-reads nothing.
    top = ctx.fs.parsed(pkg.path + "/top_level.txt", text_of, "metadata", METADATA_LIMIT) or ""
    entry = ctx.fs.parsed(pkg.path + "/entry_points.txt", text_of, "metadata", METADATA_LIMIT)
    entry = entry or ""
    return _pypi_meta(headers, top, entry)


def text_of(data: bytes) -> str:
    """A small text file's content (undecodable bytes replaced)."""
    return data.decode("utf-8", "replace")


def _json_object(data: bytes) -> dict[str, Any]:
    value = load_json(data)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _metadata(data: bytes) -> dict[str, list[str]]:
    """Core-metadata headers (RFC 822 style) as name -> values; the body is not kept."""
    text = data.decode("utf-8", "replace").split("\n\n", 1)[0]
    message = HeaderParser().parsestr(text)
    out: dict[str, list[str]] = {}
    for key, value in message.items():
        out.setdefault(key.lower(), []).append(str(value))
    return out


def _pypi_meta(headers: dict[str, list[str]], top: str, entry: str) -> _Meta:
    name = (headers.get("name") or [""])[0]
    summary = " ".join(headers.get("summary", []))
    keywords = " ".join(headers.get("keywords", []))
    deps: list[str] = []
    for req in headers.get("requires-dist", []):
        if "extra ==" in req.replace("extra==", "extra =="):
            continue  # optional extras are not what the package is
        m = _REQ_NAME.match(req)
        if m:
            deps.append(m.group(1))
    modules = [line.strip() for line in top.splitlines() if line.strip()]
    commands: list[str] = []
    section = ""
    for line in entry.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]").strip()
        elif "=" in line and section in ("console_scripts", "gui_scripts"):
            commands.append(line.split("=", 1)[0].strip())
    return _Meta(name, f"{name} {summary} {keywords}", deps, modules, commands)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _npm_meta(data: dict[str, Any]) -> _Meta:
    name = data.get("name") if isinstance(data.get("name"), str) else ""
    description = data.get("description") if isinstance(data.get("description"), str) else ""
    keywords = " ".join(_strings(data.get("keywords")))
    deps: list[str] = []
    # devDependencies too: a plugin declares the framework it is built for there (it receives
    # the bot from its user), e.g. wechaty-web-panel and @juzi/wechaty.
    for key in ("dependencies", "peerDependencies", "devDependencies"):
        table = data.get(key)
        if isinstance(table, dict):
            deps.extend(k for k in table if isinstance(k, str))
    bins = data.get("bin")
    commands = list(bins) if isinstance(bins, dict) else []
    text = f"{name} {description} {keywords}"
    return _Meta(str(name), text, deps, [], [c for c in commands if isinstance(c, str)])
