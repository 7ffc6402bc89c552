"""The `wxguard` command line: scan now (`check`); the agent's commands arrive with the agent."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agent.language import chosen_lang
from checks.api import image_scanner, scan_live
from checks.catalogue import CatalogueError, anchor_files, load_builtin
from checks.layout import LayoutError
from checks.model import Platform, ScanResult
from checks.text import json_for_terminal, lines, one_line
from checks.trust import AnchorError

EXIT_COMPLIANT = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wxguard",
        description="wxguard: WeChat policy compliance for this workstation / 微信管理制度合规检查",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser(
        "check",
        help="scan this machine or an offline image for unapproved WeChat clients and plugins",
        description=(
            "Scan the live machine, or with --root an offline image whose layout is the machine's / "
            "(Linux, macOS) or C:\\ (Windows). Exit 0 compliant, 1 findings, 2 error."
        ),
    )
    check.add_argument(
        "--root", help="scan an offline image rooted here instead of the live machine"
    )
    check.add_argument(
        "--platform",
        choices=[p.value for p in Platform],
        help="the image's platform (required with --root; defaults to this machine's)",
    )
    check.add_argument("--format", choices=["text", "json"], default="text")
    check.add_argument("--lang", choices=["zh", "en"], help="language of titles and remediation")
    check.add_argument(
        "--trust-anchor",
        action="append",
        default=[],
        metavar="FILE.pem",
        help="also trust code signatures that chain to this root (repeatable; labs, tests)",
    )

    agent = sub.add_parser("agent", help="the background service")
    agent_sub = agent.add_subparsers(dest="agent_command", required=True)
    run = agent_sub.add_parser(
        "run", help="run the agent in the foreground (for the service manager)"
    )
    run.add_argument(
        "--mode",
        choices=["system", "user"],
        help="system: installed by IT, as root, sees every user; user: the current user only "
        "(default: system when root)",
    )

    status = sub.add_parser("status", help="the running agent's status")
    status.add_argument("--format", choices=["text", "json"], default="text")
    status.add_argument("--lang", choices=["zh", "en"])
    enroll = sub.add_parser(
        "enroll", help="point the running agent at the central server (IT, as root)"
    )
    enroll.add_argument(
        "--server", required=True, help="the server's URL, e.g. https://wxguard.corp"
    )
    enroll.add_argument(
        "--secret", required=True, help="an enrollment secret from `wxguard-server secret create`"
    )
    enroll.add_argument("--ca", help="PEM file of the CA that signed the server's TLS certificate")
    key = enroll.add_mutually_exclusive_group(required=True)
    key.add_argument(
        "--policy-key", help="PEM file of the server's policy public key (policy-public.pem)"
    )
    key.add_argument(
        "--no-policy-key",
        action="store_true",
        help="enroll without it: no policy can then be verified, and status keeps warning",
    )
    enroll.add_argument("--format", choices=["text", "json"], default="text")

    report = sub.add_parser("report", help="file a security incident report (art. 20)")
    report.add_argument(
        "--category",
        required=True,
        choices=[
            "account-compromise",
            "suspicious-message",
            "data-leak",
            "lost-device",
            "unapproved-software",
            "other",
        ],
    )
    report.add_argument("--description", required=True, help="what happened")
    report.add_argument("--summary", help="one line (default: the description's first line)")
    report.add_argument("--when", help="when it happened (ISO 8601, e.g. 2026-11-28T09:30)")
    report.add_argument("--account", default="", help="the affected WeChat account")
    report.add_argument(
        "--contact-method",
        choices=["email", "phone", "wechat", "none"],
        help="how the security team may contact you (wechat: enterprise WeChat); "
        "with --contact alone, email or phone is taken from what it looks like",
    )
    report.add_argument(
        "--contact",
        default="",
        metavar="ADDRESS",
        help="your email address, phone number or enterprise WeChat ID",
    )
    report.add_argument(
        "--attach", action="append", default=[], metavar="FILE", help="attach a file (repeatable)"
    )
    report.add_argument("--format", choices=["text", "json"], default="text")
    report.add_argument("--lang", choices=["zh", "en"])

    password = sub.add_parser(
        "password", help="your WeChat password-age record (art. 19; kept in your OS keyring)"
    )
    password_sub = password.add_subparsers(dest="password_command", required=True)
    changed = password_sub.add_parser("changed", help='record "I changed my WeChat password"')
    changed.add_argument("--account", choices=["enterprise", "personal"], default="enterprise")
    changed.add_argument("--on", help="the date you changed it (YYYY-MM-DD; default today)")
    changed.add_argument(
        "--no-expiry", action="store_true", help="this account's password does not expire"
    )
    changed.add_argument("--lang", choices=["zh", "en"])
    pstatus = password_sub.add_parser(
        "status", help="days since the last change and when the next is due"
    )
    pstatus.add_argument("--format", choices=["text", "json"], default="text")
    pstatus.add_argument("--lang", choices=["zh", "en"])

    reports = sub.add_parser("reports", help="your incident reports, their status and replies")
    reports.add_argument("--format", choices=["text", "json"], default="text")
    reports.add_argument("--lang", choices=["zh", "en"])

    scan_now = sub.add_parser("scan-now", help="ask the running agent to scan now")
    scan_now.add_argument("--format", choices=["text", "json"], default="text")
    scan_now.add_argument("--lang", choices=["zh", "en"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "check":
        return _check(args)
    if args.command == "agent":
        from agent.lean import skip_unused_imports

        skip_unused_imports()  # before the agent's libraries are imported
        from checks.content.worker import use_worker

        use_worker()  # YARA matching in a worker process: the idle agent holds none of it
        from agent.api import AgentError
        from agent.config import ConfigError
        from agent.daemon import run
        from agent.paths import Mode
        from agent.store import StoreError

        try:
            return run(Mode(args.mode) if args.mode else None)
        except AgentError as exc:
            _error(exc.zh, exc.en)
        except (ConfigError, StoreError) as exc:
            print(lines(str(exc)), file=sys.stderr)
        return EXIT_ERROR
    if args.command == "password":
        from agent.password_cli import run_password

        return run_password(args)
    if args.command in ("status", "scan-now", "enroll", "report", "reports"):
        from agent.commands import run_command

        return run_command(args)
    parser.error(f"unknown command {args.command}")
    return EXIT_ERROR


def _check(args: argparse.Namespace) -> int:
    lang = chosen_lang(args.lang)
    try:
        if args.root:
            if not args.platform:
                _error(
                    "用 --root 扫描映像时必须用 --platform 指明平台（linux、macos 或 windows）。",
                    "--root needs --platform (linux, macos or windows) to know the image's layout.",
                )
                return EXIT_ERROR
            catalogue = load_builtin().with_trust_anchors(anchor_files(args.trust_anchor))
            result: ScanResult = image_scanner(args.root, args.platform, catalogue).scan()
        else:
            if args.platform and args.platform != _this_platform():
                _error(
                    "扫描本机时不能指定其他平台；要扫描其他平台的映像，请同时给出 --root。",
                    "--platform differs from this machine; give --root to scan another platform's image.",
                )
                return EXIT_ERROR
            result = scan_live(load_builtin().with_trust_anchors(anchor_files(args.trust_anchor)))
    except LayoutError as exc:
        print(lines(str(exc)), file=sys.stderr)
        return EXIT_ERROR
    except AnchorError as exc:
        _error(f"信任锚文件无法使用：{exc}", f"Cannot use the trust anchor: {exc}")
        return EXIT_ERROR
    except CatalogueError as exc:
        _error(
            f"规则文件有误：{exc}。请重新安装 wxguard。",
            f"A rule file is malformed: {exc}. Reinstall wxguard.",
        )
        return EXIT_ERROR
    if args.format == "json":
        _write(json_for_terminal(result.dumps(lang)))
    else:
        from agent.check_report import render_text

        _write(render_text(result, lang))
    return EXIT_COMPLIANT if result.compliant else EXIT_FINDINGS


def _this_platform() -> str:
    from checks.layout import current_platform

    return current_platform().value


def _error(zh: str, en: str) -> None:
    print(f"错误：{one_line(zh)}\nerror: {one_line(en)}", file=sys.stderr)


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
