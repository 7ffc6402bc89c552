"""`wxguard password changed|status`: the employee's password-age record from a shell.

The record lives in the user's own OS keyring (agent.password_age); the running agent is then
told the state (dates and states only) so IT sees it, as the tray does.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from typing import Any

from agent import password_age as pa
from agent.api import ACCOUNT_TYPES, AgentError
from agent.client import AgentClient
from agent.language import chosen_lang
from checks.model import Lang

EXIT_OK = 0
EXIT_DUE = 1
EXIT_ERROR = 2


def run_password(args: argparse.Namespace) -> int:
    lang = chosen_lang(getattr(args, "lang", None))
    now = datetime.now().astimezone()
    policy, client = _policy()
    try:
        store = pa.PasswordAgeStore()
        if args.password_command == "changed":
            try:
                on = date.fromisoformat(args.on) if args.on else now.date()
            except ValueError:
                raise AgentError(
                    "invalid",
                    f"日期格式无效：{args.on}，请用 YYYY-MM-DD。",
                    f"Not a date: {args.on}; use YYYY-MM-DD.",
                ) from None
            store.save(pa.record_change(args.account, on, now, no_expiry=args.no_expiry))
        statuses = [
            pa.assess(account, store.load(account), policy, now) for account in ACCOUNT_TYPES
        ]
    except AgentError as exc:
        print(f"错误：{exc.zh}\nerror: {exc.en}", file=sys.stderr)
        return EXIT_ERROR
    told = _tell_agent(client, statuses)
    if args.password_command == "status" and getattr(args, "format", "text") == "json":
        sys.stdout.write(
            json.dumps([_json(s) for s in statuses], ensure_ascii=False, indent=2) + "\n"
        )
    else:
        for status in statuses:
            sys.stdout.write(_line(status, lang) + "\n")
        if not told:
            sys.stdout.write(
                "（wxguard 代理未运行：状态未上报，下次运行时补报。）\n"
                if lang is Lang.ZH
                else "(The wxguard agent is not running: the state was not reported yet.)\n"
            )
    due = any(s.state in ("due-soon", "overdue", "unknown") and not s.no_expiry for s in statuses)
    return EXIT_DUE if due and args.password_command == "status" else EXIT_OK


def _policy() -> tuple[pa.PasswordPolicy, AgentClient | None]:
    client = AgentClient(timeout=10)
    try:
        return pa.PasswordPolicy.from_json(client.policy().get("password")), client
    except AgentError:
        client.close()
        return pa.PasswordPolicy.from_json(None), None


def _tell_agent(client: AgentClient | None, statuses: list[pa.AccountStatus]) -> bool:
    if client is None:
        return False
    try:
        client.report_password_status(
            [s.to_report() for s in statuses if s.last_changed or s.no_expiry]
            or [statuses[0].to_report()]
        )
        return True
    except AgentError:
        return False
    finally:
        client.close()


def _json(status: pa.AccountStatus) -> dict[str, Any]:
    data = status.to_report()
    data.update(days_since=status.days_since, days_left=status.days_left, modified=status.modified)
    return data


def _line(status: pa.AccountStatus, lang: Lang) -> str:
    name = {
        "enterprise": ("企业微信账号", "enterprise account"),
        "personal": ("个人微信账号", "personal account"),
    }[status.account_type]
    label = name[0] if lang is Lang.ZH else name[1]
    if status.modified:
        return f"{label}: " + (
            "记录被改动过，请重新记录你的密码更改。"
            if lang is Lang.ZH
            else "the record was modified — please record your change again."
        )
    if status.no_expiry:
        return f"{label}: " + (
            "不过期，无需提醒。" if lang is Lang.ZH else "does not expire; no reminders."
        )
    if status.last_changed is None:
        return f"{label}: " + (
            "尚未记录密码更改。" if lang is Lang.ZH else "no password change recorded yet."
        )
    left = status.days_left if status.days_left is not None else 0
    if lang is Lang.ZH:
        tail = f"还有 {left} 天到期" if left >= 0 else f"已过期 {-left} 天"
        return f"{label}: {status.last_changed} 更改（{status.days_since} 天前），{status.due_on} 到期，{tail}。"
    tail = f"due in {left} days" if left >= 0 else f"overdue by {-left} days"
    return f"{label}: changed {status.last_changed} ({status.days_since} days ago), due {status.due_on}, {tail}."
