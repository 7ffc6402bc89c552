"""CLI commands that talk to the running agent over its socket (`status`, `scan-now`, …)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from agent.api import AgentError
from agent.client import AgentClient
from checks.model import Lang

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


def run_command(args: argparse.Namespace) -> int:
    from agent.cli import default_lang

    lang = Lang(args.lang) if getattr(args, "lang", None) else default_lang()
    try:
        with AgentClient() as client:
            if args.command == "status":
                status = client.status()
                _emit(args, status, lambda: _status_text(status, lang))
                return EXIT_OK if status.get("compliant") else EXIT_FINDINGS
            if args.command == "scan-now":
                summary = client.scan_now()
                if summary is None:
                    raise AgentError("timeout", "扫描超时。", "the scan did not finish in time.")
                _emit(args, summary, lambda: _scan_text(summary, lang))
                return EXIT_OK if summary.get("findings") == 0 else EXIT_FINDINGS
    except AgentError as exc:
        print(f"错误：{exc.zh}\nerror: {exc.en}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_ERROR


def _emit(args: argparse.Namespace, data: Any, text: Any) -> None:
    if getattr(args, "format", "text") == "json":
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(text() + "\n")


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _status_text(s: dict[str, Any], lang: Lang) -> str:
    zh = lang is Lang.ZH
    last = s.get("last_scan") or {}
    lines = [
        ("wxguard 代理 " if zh else "wxguard agent ")
        + f"{s.get('agent_version')} ({s.get('mode')})",
        ("合规" if zh else "compliant")
        if s.get("compliant")
        else (
            f"待处理发现：{s.get('open_findings')}"
            if zh
            else f"open findings: {s.get('open_findings')}"
        ),
        ("上次扫描：" if zh else "last scan: ")
        + f"{_when(last.get('started_at'))} ({last.get('trigger', '-')})",
        ("监视文件夹：" if zh else "watching folders: ") + str(s.get("watching")),
    ]
    for key in ("enrolled", "server_reachable", "policy_version", "policy_mode", "outbox_depth"):
        if key in s:
            lines.append(f"{key}: {s[key]}")
    for spot in s.get("blind_spots", [])[:5]:
        lines.append(
            ("未能检查：" if zh else "not examined: ") + f"{spot['what']}: {spot['reason']}"
        )
    return "\n".join(lines)


def _scan_text(summary: dict[str, Any], lang: Lang) -> str:
    if lang is Lang.ZH:
        return f"扫描完成：{summary['findings']} 项发现（新增 {summary['new']}，已解决 {summary['resolved']}），用时 {summary['duration_s']:.2f} 秒"
    return f"scan done: {summary['findings']} finding(s) ({summary['new']} new, {summary['resolved']} resolved) in {summary['duration_s']:.2f} s"
