"""AI-assistant (MCP) configurations that launch a WeChat tool, in each assistant's real
file and shape; other servers and Tencent's server APIs stay clean."""

from __future__ import annotations

import json
from pathlib import Path

from checks.api import scan_image
from checks.catalogue import load_builtin
from checks.model import Platform, ScanResult
from tests.checks.images import File, build

CATALOGUE = load_builtin()
L, M, W = Platform.LINUX, Platform.MACOS, Platform.WINDOWS


def _mcp(result: ScanResult) -> list[tuple[str, str]]:
    return [
        (e.path, e.matched)
        for f in result.findings
        if f.rule_id == "mcp-wechat-tool"
        for e in f.evidence
    ]


def test_each_assistant_file_that_runs_a_wechat_tool_is_found(tmp_path: Path) -> None:
    claude = {"mcpServers": {"wx": {"command": "uvx", "args": ["wechat-mcp@0.1.11"]}}}
    cursor = {"mcpServers": {"chat": {"command": "npx", "args": ["-y", "@acme/weixin-mcp-server"]}}}
    vscode = {
        "servers": {"wxauto": {"type": "stdio", "command": "python", "args": ["-m", "wxauto_mcp"]}}
    }
    claude_code = {
        "projects": {
            "/Users/alice/work": {"mcpServers": {"pyq": {"command": "wcferry-mcp", "args": []}}}
        }
    }
    windsurf = {"mcpServers": {"微信": {"serverUrl": "http://127.0.0.1:5030/sse", "command": ""}}}
    root = build(
        tmp_path / "img",
        M,
        File("{app_support}/Claude/claude_desktop_config.json", json.dumps(claude)),
        File("{home}/work/.cursor/mcp.json", json.dumps(cursor)),
        File("{app_support}/Code/User/mcp.json", json.dumps(vscode)),
        File("{home}/.claude.json", json.dumps(claude_code)),
        File("{home}/.codeium/windsurf/mcp_config.json", json.dumps(windsurf, ensure_ascii=False)),
    )
    found = dict(_mcp(scan_image(str(root), M, CATALOGUE)))
    assert set(found) == {
        "Users/alice/Library/Application Support/Claude/claude_desktop_config.json",
        "Users/alice/work/.cursor/mcp.json",
        "Users/alice/Library/Application Support/Code/User/mcp.json",
        "Users/alice/.claude.json",
        "Users/alice/.codeium/windsurf/mcp_config.json",
    }, found


def test_other_servers_and_server_api_tools_stay_clean(tmp_path: Path) -> None:
    cfg = {
        "mcpServers": {
            "github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"]},
            "mp": {"command": "npx", "args": ["-y", "wechat-official-account-mcp"]},
            "files": {"command": "uvx", "args": ["mcp-server-filesystem", "/home/alice"]},
        }
    }
    root = build(
        tmp_path / "img",
        W,
        File("{appdata}/Claude/claude_desktop_config.json", json.dumps(cfg)),
        File("{home}/.cursor/mcp.json", "[" * 100_000),  # hostile: a blind spot, not a crash
    )
    result = scan_image(str(root), W, CATALOGUE)
    assert not result.findings, [(f.rule_id, f.evidence) for f in result.findings]
    assert any(b.probe == "configs" for b in result.blind_spots)


def test_linux_claude_and_cline_settings(tmp_path: Path) -> None:
    cline = {
        "mcpServers": {"chatlog": {"command": "/home/alice/bin/chatlog", "args": ["--wechat"]}}
    }
    root = build(
        tmp_path / "img",
        L,
        File(
            "{config}/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
            json.dumps(cline),
        ),
    )
    assert _mcp(scan_image(str(root), L, CATALOGUE))
