"""CLI commands that talk to the running agent over its socket (`status`, `scan-now`, …)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import stat
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from agent import password_age as pa
from agent.api import ACCOUNT_TYPES, AgentError
from agent.cli_text import fields, local_time, pick, table, word, yes_no
from agent.client import AgentClient
from agent.language import chosen_lang
from checks.model import Lang
from checks.text import json_for_terminal, one_line
from protocol.device_state import DeviceState, state_for_person, state_of_status
from protocol.finding_text import evidence_lines, fix_lines
from protocol.names import counted

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


def run_command(args: argparse.Namespace) -> int:
    lang = chosen_lang(getattr(args, "lang", None))
    try:
        with AgentClient() as client:
            if args.command == "status":
                status = client.status()
                person = _person_state(client, status)
                if getattr(args, "format", "text") == "json":
                    status["person_state"] = person.to_json()
                findings = client.findings()
                _emit(args, status, lambda: _status_text(status, lang, findings, person))
                return EXIT_OK if person.compliant else EXIT_FINDINGS
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
                whole = summary.get("outcome", "ok") == "ok" and (
                    summary.get("coverage") or {}
                ).get("complete", True)
                return EXIT_OK if summary.get("findings") == 0 and whole else EXIT_FINDINGS
    except AgentError as exc:
        print(f"错误：{one_line(exc.zh)}\nerror: {one_line(exc.en)}", file=sys.stderr)
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
    elif args.no_policy_key:
        request["no_policy_key"] = True
    result = client.answer("enroll", request)
    if args.format == "json":
        sys.stdout.write(json_for_terminal(json.dumps(result, ensure_ascii=False, indent=2)) + "\n")
    elif result.get("enrolled"):
        sys.stdout.write(
            one_line(
                f"enrolled as device {result.get('device_id')} / 已登记，设备号 {result.get('device_id')}"
            )
            + "\n"
        )
    else:
        error = result.get("last_error") or {}
        sys.stderr.write(
            f"错误：未能登记：{one_line(error.get('message', '服务器无响应'))}\n"
            f"error: not enrolled: {one_line(error.get('message', 'the server did not answer'))}\n"
        )
    return EXIT_OK if result.get("enrolled") else EXIT_ERROR


def read_attachment(name: str, limit: int) -> bytes:
    """The content of the file `name` to attach, at most `limit` bytes.

    Opened without blocking (a FIFO with no writer, a terminal) and checked with fstat before a
    byte is read: only a regular file of at most `limit` bytes is read. AgentError `invalid`
    (bilingual) otherwise, or when the file cannot be read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(name, flags)
    except OSError as exc:
        raise _unreadable(name, exc) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise AgentError(
                "invalid",
                f"附件 {name} 不是普通文件（设备、管道、文件夹等不能作为附件）。请选择一个文件。",
                f"The attachment {name} is not a regular file (a device, pipe or folder cannot "
                "be attached). Choose a file.",
            )
        if info.st_size > limit:
            raise _attachment_too_large(name, limit)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:  # the file may grow after fstat: read one byte past the limit
            chunk = os.read(fd, min(1024 * 1024, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise _attachment_too_large(name, limit)
        return b"".join(chunks)
    except OSError as exc:
        raise _unreadable(name, exc) from exc
    finally:
        os.close(fd)


def _unreadable(name: str, exc: OSError) -> AgentError:
    return AgentError(
        "invalid",
        f"无法读取附件 {name}：{exc.strerror or exc}。",
        f"Cannot read the attachment {name}: {exc.strerror or exc}.",
    )


def _attachment_too_large(name: str, limit: int) -> AgentError:
    mib = limit / (1024 * 1024)
    return AgentError(
        "invalid",
        f"附件 {name} 超过 {mib:g} MiB，无法附上。请压缩或截取后重试。",
        f"The attachment {name} is larger than {mib:g} MiB. Compress or trim it and try again.",
    )


def _report(client: AgentClient, args: argparse.Namespace, lang: Lang) -> int:
    from protocol.limits import MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS

    method, address = _contact(args.contact_method, args.contact)
    if len(args.attach) > MAX_ATTACHMENTS:
        raise AgentError(
            "invalid",
            f"最多 {MAX_ATTACHMENTS} 个附件。",
            f"At most {MAX_ATTACHMENTS} attachments.",
        )
    attachments = []
    for name in args.attach:
        data = read_attachment(name, MAX_ATTACHMENT_BYTES)
        attachments.append(
            {"name": Path(name).name, "content_b64": base64.b64encode(data).decode("ascii")}
        )
    if not (args.description or "").strip():
        raise AgentError(
            "invalid",
            "请用 --description 写明发生了什么（不能为空）。",
            "Say what happened with --description (it cannot be empty).",
        )
    summary = args.summary or args.description.strip().splitlines()[0][:200]
    receipt = client.submit_report(
        args.category,
        summary,
        args.description,
        args.when,
        args.account,
        method,
        attachments,
        address,
    )
    zh = lang is Lang.ZH
    queued = (
        "已加入发送队列（报告编号待服务器分配）。"
        if zh
        else "Queued: the server assigns the case number on delivery."
    )
    if method:
        how = word("contact", method, zh)
        if address:
            how += f"（{one_line(address)}）" if zh else f" ({one_line(address)})"
        queued += ("\n联系方式：" if zh else "\nContact: ") + how
    # Scripts also read how the reporter is to be contacted, as it was queued.
    shown = {**receipt, "contact_method": method or None, "contact_address": address}
    _emit(args, shown, lambda: queued)
    return EXIT_OK


def _contact(method: str | None, address: str) -> tuple[str, str]:
    """`--contact-method` and `--contact` as the agent takes them, checked here so the person
    hears what to fix before anything is read or sent. `--contact` alone: an address with "@"
    is an email address, one that is a phone number is a phone number."""
    from protocol.contact import ContactMethod, contact_problem, explain_contact

    address = address.strip()
    if method is None and address:
        guesses = (ContactMethod.EMAIL, ContactMethod.PHONE)
        method = next((m.value for m in guesses if contact_problem(m, address) is None), None)
        if method is None:
            raise AgentError(
                "invalid",
                f"无法判断“{one_line(address)}”是邮箱还是电话号码：请加上 --contact-method "
                "email、phone 或 wechat。",
                f"Cannot tell whether '{one_line(address)}' is an email address or a phone "
                "number: add --contact-method email, phone or wechat.",
            )
    problem = explain_contact(method, address)
    if problem is not None:
        zh, en = problem
        raise AgentError("invalid", f"--contact：{zh}", f"--contact: {en}")
    return method or "", address


def _reports_text(items: list[dict[str, Any]], lang: Lang) -> str:
    """`wxguard reports`: one row per report under column headers (case number, state,
    category, when filed, summary), translated, in local time; the contact details the
    employee gave and the replies indented below."""
    zh = lang is Lang.ZH
    if not items:
        return "没有报告。" if zh else "No reports."
    headers = (
        ("编号", "状态", "类别", "提交时间", "摘要")
        if zh
        else ("Case", "State", "Category", "Filed", "Summary")
    )
    rows = [
        (
            str(item.get("case") or ("待分配" if zh else "pending")),
            word("report_state", item.get("state"), zh),
            word("category", item.get("category"), zh),
            local_time(item.get("created_at")),
            one_line(item.get("summary", "")),
        )
        for item in items
    ]
    lines: list[str] = []
    table_lines = table(headers, rows)
    lines.append(table_lines[0])
    for item, row_line in zip(items, table_lines[1:], strict=True):
        lines.append(row_line)
        method = item.get("contact_method")
        if method:  # what the employee gave on the form; older agents kept none
            address = one_line(str(item.get("contact_address") or ""))
            chosen = word("contact", method, zh)
            if zh:
                lines.append(f"    联系方式：{chosen}" + (f"（{address}）" if address else ""))
            else:
                lines.append(f"    Contact: {chosen}" + (f" ({address})" if address else ""))
        for reply in item.get("replies", []):
            # A reply may have several lines: each is its own indented terminal line.
            first, *more = str(reply.get("body", "")).splitlines() or [""]
            lines.append(f"    ↳ {_reply_time(reply.get('at'))}: {first}")
            lines.extend(f"      {line}" for line in more)
    return _join(lines)


def _reply_time(at: Any) -> str:
    """A reply's time (ISO 8601 from the server) as local time to the minute."""
    if isinstance(at, int | float):
        return local_time(at)
    try:
        parsed = datetime.fromisoformat(str(at))
    except ValueError:
        return str(at or "-")
    if parsed.tzinfo is None:
        return str(at)  # a date without a zone: shown as sent
    return local_time(parsed.timestamp())


def _emit(args: argparse.Namespace, data: Any, text: Any) -> None:
    if getattr(args, "format", "text") == "json":
        sys.stdout.write(json_for_terminal(json.dumps(data, ensure_ascii=False, indent=2)) + "\n")
    else:
        sys.stdout.write(text() + "\n")


def excepted_text(exception: dict[str, Any], zh: bool) -> str:
    """How an excepted finding reads: "excepted (group lab, until 2026-12-13 10:00 CST,
    reason: …)"; "this device" when it was granted to the device itself."""
    group = str(exception.get("group") or "")
    until = local_time(exception.get("expires"))
    reason = pick(exception.get("reason"), zh)
    if zh:
        scope = f"设备组 {group}" if group else "本设备"
        return f"已例外（{scope}，至 {until}，理由：{reason}）"
    scope = f"group {group}" if group else "this device"
    return f"excepted ({scope}, until {until}, reason: {reason})"


def _status_text(
    s: dict[str, Any],
    lang: Lang,
    findings: list[dict[str, Any]] | None = None,
    state: DeviceState | None = None,
) -> str:
    """`wxguard status` for a person: the state, every open action with its next step, the
    open findings with their numbered steps, then the details, aligned and translated."""
    zh = lang is Lang.ZH
    short = "zh" if zh else "en"
    last = s.get("last_scan") or {}
    state = state or state_of_status(s)
    lines = [
        ("wxguard 代理 " if zh else "wxguard agent ")
        + f"{s.get('agent_version', '-')}（{word('mode', s.get('mode'), zh)}）"
        if zh
        else f"wxguard agent {s.get('agent_version', '-')} ({word('mode', s.get('mode'), zh)})",
        ("状态：" if zh else "State: ") + word("state", state.state, zh),
    ]
    actions = [r for r in state.reasons if r.step(short)]
    if actions:
        lines.append("")
        lines.append(f"需要处理（{len(actions)}）：" if zh else f"Open actions ({len(actions)}):")
        for i, reason in enumerate(actions, 1):
            lines.append(f"  {i}. {reason.text(short)}")
            lines.append(("     下一步：" if zh else "     Next step: ") + reason.step(short))
    others = [r for r in state.reasons if not r.step(short) and r.code != "all-clear"]
    for reason in others:
        lines.append(f"  - {reason.text(short)}")
    if findings:
        lines.append("")
        lines.append(f"发现（{len(findings)}）：" if zh else f"Findings ({len(findings)}):")
        for f in findings:
            title = pick(f.get("title_i18n"), zh) or str(f.get("title", ""))
            lines.append(f"  [{word('severity', f.get('severity'), zh)}] {title}")
            lines.extend(f"      - {ev}" for ev in evidence_lines(f, short)[:5])
            intro, *steps = fix_lines(f, short) or [""]
            lines.append(("      处理：" if zh else "      How to fix it: ") + intro)
            lines.extend(f"        {step}" for step in steps)
    excepted = [x for x in s.get("excepted") or [] if isinstance(x, dict)]
    if excepted:
        lines.append("")
        lines.append(
            f"IT 批准的例外（{len(excepted)}，不计为未处理）："
            if zh
            else f"Excepted by IT ({len(excepted)}, not counted as open):"
        )
        for x in excepted:
            title = pick(x.get("title_i18n"), zh) or str(x.get("rule_id", ""))
            lines.append(f"  {title}: {excepted_text(x.get('exception') or {}, zh)}")
    outcome = f"，{word('outcome', last['outcome'], zh)}" if zh and last.get("outcome") else ""
    outcome_en = f", {word('outcome', last['outcome'], zh)}" if last.get("outcome") else ""
    scan = (
        (
            f"{local_time(last.get('started_at'))}（{word('trigger', last.get('trigger'), zh)}{outcome}）"
            if zh
            else f"{local_time(last.get('started_at'))} ({word('trigger', last.get('trigger'), zh)}{outcome_en})"
        )
        if last
        else ("尚无" if zh else "none yet")
    )
    watching = str(s.get("watching", "-"))
    if s.get("watching_capped"):
        watching += (
            f"（已达上限，{s.get('unwatched_folders')} 个文件夹改由定期扫描检查）"
            if zh
            else f" (capped: {s.get('unwatched_folders')} folders left to periodic rescans)"
        )
    pairs = [
        ("上次检查" if zh else "Last check", scan),
        ("监视的文件夹" if zh else "Folders watched", watching),
    ]
    if "enrolled" in s:
        pairs.append(
            ("已登记到服务器" if zh else "Enrolled with the server", yes_no(s["enrolled"], zh))
        )
    if "server_reachable" in s:
        pairs.append(
            ("服务器可达" if zh else "Server reachable", yes_no(s["server_reachable"], zh))
        )
    if "policy_mode" in s:
        pairs.append(
            ("策略模式" if zh else "Policy mode", word("policy_mode", s["policy_mode"], zh))
        )
    if "outbox_depth" in s:
        pairs.append(("待发送" if zh else "Waiting to be sent", _queued(s["outbox_depth"], zh)))
    if "policy_label" in s:
        pairs.append(("策略" if zh else "Policy", str(s["policy_label"])))
    lines.append("")
    lines.extend(fields(pairs))
    if s.get("policy_key_present") is False and s.get("enrolled"):
        lines.append(
            "警告：没有服务器的策略公钥，任何策略都无法验证，IT 的策略不会生效。请 IT 用 --policy-key 重新登记。"
            if zh
            else "WARNING: no policy key from the server: no policy can be verified, so IT's "
            "policies never apply. Ask IT to enroll again with --policy-key."
        )
    if s.get("revoked"):
        lines.append(
            "已被 IT 吊销：本机不再与服务器通信，直到 IT 用新的登记密钥重新登记它。"
            if zh
            else "REVOKED by IT: this machine no longer talks to the server until IT enrolls "
            "it again with a new enrollment secret."
        )
    if s.get("upgrade_required"):
        lines.append(
            "服务器要求升级 wxguard 代理：请联系 IT。"
            if zh
            else "The server asks for a newer wxguard agent: contact IT."
        )
    if s.get("policy_store_problem"):
        lines.append(
            ("存储的策略不可用：" if zh else "Stored policy unusable: ")
            + str(s["policy_store_problem"])
        )
    for spot in s.get("blind_spots", [])[:5]:
        lines.append(
            ("未能检查：" if zh else "Not examined: ") + f"{spot['what']}: {spot['reason']}"
        )
    return _join(lines)


_KINDS = {
    "report": ("报告", "report(s)"),
    "findings": ("发现批次", "finding batch(es)"),
    "password-status": ("密码状态", "password state(s)"),
    "policy-ack": ("制度确认", "policy confirmation(s)"),
}


def _queued(depth: Any, zh: bool) -> str:
    """The outbox depth ({"report": 1, …} or a number) in words: "1 report(s), 2 …"."""
    if isinstance(depth, dict):
        parts = [
            (f"{n} 条{_KINDS.get(k, (k, k))[0]}" if zh else f"{n} {_KINDS.get(k, (k, k))[1]}")
            for k, n in depth.items()
            if n
        ]
        return ("，" if zh else ", ").join(parts) or ("无" if zh else "nothing")
    return str(depth)


def _person_state(client: AgentClient, status: dict[str, Any]) -> DeviceState:
    """The agent's state with what only this session knows: the password ages in the user's
    keyring, and whether that keyring can be used at all."""
    if getattr(os, "geteuid", lambda: -1)() == 0:
        return state_of_status(status)  # root is no employee: no WeChat password of its own
    try:
        policy = pa.PasswordPolicy.from_json(client.policy().get("password"))
    except AgentError:
        policy = pa.PasswordPolicy.from_json(None)
    now = datetime.now().astimezone()
    try:
        store = pa.PasswordAgeStore()
        statuses = [pa.assess(a, store.load(a), policy, now) for a in ACCOUNT_TYPES]
    except pa.KeyringUnavailable:
        return state_for_person(status, 0, 0, keyring_available=False)
    except AgentError:
        return state_of_status(status)
    overdue = sum(1 for x in statuses if x.state == "overdue" and not x.no_expiry)
    unrecorded = sum(1 for x in statuses if x.state == "unknown")
    return state_for_person(status, overdue, unrecorded, keyring_available=True)


def _join(lines: list[str]) -> str:
    """One entry per terminal line: a summary, reply or path inside an entry cannot add lines
    or write escapes (`checks.text.one_line`)."""
    return "\n".join(one_line(line) for line in lines)


def _scan_text(summary: dict[str, Any], lang: Lang) -> str:
    zh = lang is Lang.ZH
    if summary.get("outcome") == "failed":
        error = one_line(summary.get("error", ""))  # an exception's text may hold a user's path
        return f"扫描失败：{error}" if zh else f"scan failed: {error}"
    coverage = summary.get("coverage") or {}
    partial = ""
    if not coverage.get("complete", True):
        probes = ", ".join(coverage.get("failed_probes") or [])
        spots = coverage.get("blind_spots", 0)
        partial = (
            f"；检查不完整（失败的检查：{probes or '无'}；无法读取 {spots} 处）"
            if zh
            else f"; partial (failed checks: {probes or 'none'}; {counted(spots, 'place')} unreadable)"
        )
    if zh:
        return f"扫描完成：{summary['findings']} 项发现（新增 {summary['new']}，已解决 {summary['resolved']}），用时 {summary['duration_s']:.2f} 秒{partial}"
    return f"scan done: {counted(summary['findings'], 'finding')} ({summary['new']} new, {summary['resolved']} resolved) in {summary['duration_s']:.2f} s{partial}"
