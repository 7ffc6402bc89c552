"""AI-assistant (MCP) configurations that launch a WeChat tool.

An MCP server entry in an assistant's configuration (Claude Desktop, Claude Code, Cursor,
VS Code, Windsurf, Cline) is a command line the assistant runs: `uvx wechat-mcp`,
`npx -y some-wechat-mcp`, `python -m wxauto_mcp`. An entry is a fact here when its command
or arguments name a package some rule names, or its name, command or arguments name WeChat
(and not one of Tencent's server APIs, which an assistant may legitimately call).
Files pointing at WeChat's databases or holding extracted keys are matched by content
(checks/rules/yara/generic.yar) since they can be named anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from checks.fsview import METADATA_LIMIT
from checks.model import ConfigFact, Platform
from checks.parsers import load_json_object
from checks.probes.base import ProbeContext
from checks.probes.metadata import _SERVER_SDK, _WECHAT, KnownTools

# Where assistants keep their MCP configuration, per platform.
MCP_FILES: dict[Platform, tuple[str, ...]] = {
    Platform.LINUX: (
        "{config}/Claude/claude_desktop_config.json",
        "{config}/Code/User/mcp.json",
        "{config}/Code/User/settings.json",
        "{config}/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
        "{config}/Cursor/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
    ),
    Platform.MACOS: (
        "{app_support}/Claude/claude_desktop_config.json",
        "{app_support}/Code/User/mcp.json",
        "{app_support}/Code/User/settings.json",
        "{app_support}/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
        "{app_support}/Cursor/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
    ),
    Platform.WINDOWS: (
        "{appdata}/Claude/claude_desktop_config.json",
        "{appdata}/Code/User/mcp.json",
        "{appdata}/Code/User/settings.json",
        "{appdata}/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
        "{appdata}/Cursor/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
    ),
}
# The same on every platform: per-user files in the home and per-project files one or two
# folders down (a project's .cursor/mcp.json, .vscode/mcp.json, .mcp.json).
_COMMON = (
    "{home}/.cursor/mcp.json",
    "{home}/.claude.json",
    "{home}/.mcp.json",
    "{home}/.codeium/windsurf/mcp_config.json",
    "{home}/.vscode/mcp.json",
    "{home}/*/.cursor/mcp.json",
    "{home}/*/.vscode/mcp.json",
    "{home}/*/.mcp.json",
    "{home}/*/*/.cursor/mcp.json",
    "{home}/*/*/.vscode/mcp.json",
    "{home}/*/*/.mcp.json",
)
_SPEC = re.compile(r"^(@?[A-Za-z0-9][\w.-]*(?:/[\w.-]+)?)(?:[@=<>~!].*)?$")


def templates(platform: Platform) -> tuple[str, ...]:
    return MCP_FILES[platform] + _COMMON


def collect(ctx: ProbeContext) -> None:
    known = KnownTools.build(ctx.catalogue)
    seen: set[str] = set()
    for template in templates(ctx.layout.platform):
        for base, pattern, user in ctx.expand(template):
            for entry in ctx.fs.glob(base, pattern, probe="configs"):
                if entry.is_dir or entry.path in seen:
                    continue
                seen.add(entry.path)
                with ctx.fs.item("configs", entry.path):
                    data = ctx.fs.parsed(entry.path, load_json_object, "configs", METADATA_LIMIT)
                    for name, server in _servers(data or {}):
                        fact = _judge(name, server, known, entry.path, user)
                        if fact is not None:
                            ctx.facts.configs.append(fact)


def _servers(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, server table) of every MCP server the file declares, in any of the shapes the
    assistants use: mcpServers (Claude, Cursor, Cline, Windsurf), servers (VS Code mcp.json),
    mcp.servers (VS Code settings.json), projects.*.mcpServers (Claude Code)."""
    tables: list[object] = [data.get("mcpServers"), data.get("servers")]
    mcp = data.get("mcp")
    if isinstance(mcp, dict):
        tables.append(mcp.get("servers"))
    projects = data.get("projects")
    if isinstance(projects, dict):
        tables.extend(p.get("mcpServers") for p in projects.values() if isinstance(p, dict))
    for table in tables:
        if isinstance(table, dict):
            for name, server in table.items():
                if isinstance(name, str) and isinstance(server, dict):
                    yield name, server


def _judge(
    name: str, server: dict[str, Any], known: KnownTools, path: str, user: str
) -> ConfigFact | None:
    command = server.get("command") if isinstance(server.get("command"), str) else ""
    raw_args = server.get("args")
    args = [a for a in raw_args if isinstance(a, str)] if isinstance(raw_args, list) else []
    url = server.get("url") if isinstance(server.get("url"), str) else ""
    line = " ".join([str(command), *args, str(url)]).strip()
    words = [str(command), *args]
    for word in words:
        tail = (
            word.replace("\\", "/").rsplit("/", 1)[-1]
            if "/" in word and not word.startswith("@")
            else word
        )
        spec = _SPEC.match(tail)
        if spec is None:
            continue
        candidate = spec.group(1)
        for ecosystem in ("pypi", "npm"):
            hit = known.find(ecosystem, candidate)
            if hit is not None:
                return ConfigFact(
                    "mcp",
                    path,
                    name,
                    f"runs {candidate} (rule {hit[0]}): {line}"[:300],
                    hit[0],
                    user,
                )
    text = f"{name} {line}"
    wechat = _WECHAT.search(text)
    if wechat is not None and _SERVER_SDK.search(text) is None:
        return ConfigFact(
            "mcp", path, name, f"names WeChat ({wechat.group(0)!r}): {line}"[:300], "", user
        )
    return None
