"""CLI commands that talk to the running agent over its socket (`status`, `scan-now`, …)."""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path
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
            if args.command == "enroll":
                return _enroll(client, args)
            if args.command == "report":
                return _report(client, args, lang)
            if args.command == "reports":
                items = client.my_reports()
                _emit(args, items, lambda: _reports_text(items, lang))
                return EXIT_OK
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


def _read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text("ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise AgentError(
            "invalid",
            f"无法读取{what}文件 {path}：{exc}。",
            f"Cannot read the {what} file {path}: {exc}.",
        ) from exc


def _enroll(client: AgentClient, args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"server": args.server, "secret": args.secret}
    if args.ca:
        request["ca_pem"] = _read_text(args.ca, "CA")
    if args.policy_key:
        request["policy_key_pem"] = _read_text(args.policy_key, "policy key")
    result = client.call("enroll", request)
    if args.format == "json":
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    elif result.get("enrolled"):
        sys.stdout.write(
            f"enrolled as device {result.get('device_id')} / 已登记，设备号 {result.get('device_id')}\n"
        )
    else:
        error = result.get("last_error") or {}
        sys.stderr.write(
            f"错误：未能登记：{error.get('message', '服务器无响应')}\n"
            f"error: not enrolled: {error.get('message', 'the server did not answer')}\n"
        )
    return EXIT_OK if result.get("enrolled") else EXIT_ERROR


def _report(client: AgentClient, args: argparse.Namespace, lang: Lang) -> int:
    attachments = []
    for name in args.attach:
        path = Path(name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise AgentError(
                "invalid",
                f"无法读取附件 {name}：{exc.strerror}。",
                f"Cannot read the attachment {name}: {exc.strerror}.",
            ) from exc
        attachments.append(
            {"name": path.name, "content_b64": base64.b64encode(data).decode("ascii")}
        )
    summary = args.summary or args.description.strip().splitlines()[0][:200]
    receipt = client.submit_report(
        args.category, summary, args.description, args.when, args.account, args.contact, attachments
    )
    _emit(
        args,
        receipt,
        lambda: (
            "已加入发送队列（报告编号待服务器分配）。"
            if lang is Lang.ZH
            else "Queued: the server assigns the case number on delivery."
        ),
    )
    return EXIT_OK


def _reports_text(items: list[dict[str, Any]], lang: Lang) -> str:
    if not items:
        return "没有报告。" if lang is Lang.ZH else "No reports."
    lines = []
    for item in items:
        lines.append(
            f"{item.get('case') or '-'}  {item['state']:<10} {item['category']:<20} {_when(item['created_at'])}  {item.get('summary', '')}"
        )
        for reply in item.get("replies", []):
            lines.append(f"    ↳ {reply.get('at', '')}: {reply.get('body', '')}")
    return "\n".join(lines)


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
    if s.get("watching_capped"):
        lines[-1] += (
            f"（已达上限，{s.get('unwatched_folders')} 个文件夹改由定期扫描检查）"
            if zh
            else f" (capped: {s.get('unwatched_folders')} folders left to periodic rescans)"
        )
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
