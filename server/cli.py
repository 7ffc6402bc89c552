"""`wxguard-server`: initialise a data folder, run the server, and administer it from a shell."""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from checks.text import json_for_terminal, one_line
from server import crud
from server.clock import Clock, SystemClock
from server.config import (
    CONFIG_FILE,
    SESSION_KEY_FILE,
    ConfigError,
    Settings,
    load_settings,
)
from server.db import make_engine, make_sessionmaker, session_scope
from server.migrate import upgrade
from server.policy import PolicyError, parse_policy_create
from server.signing import PolicySigner, SigningError, generate_key_pair


class CliError(Exception):
    """A failure shown to a person: in Chinese and English, with what to do next."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _read_password(from_stdin: bool) -> str | None:
    if not from_stdin:
        return None
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 12:
        raise CliError(
            "从标准输入读取的密码太短（至少 12 个字符）。",
            "The password read from stdin is too short (at least 12 characters).",
        )
    return password


def _settings(args: argparse.Namespace) -> Settings:
    try:
        return load_settings(Path(args.data), getattr(args, "database_url", None))
    except ConfigError as exc:
        raise CliError(
            f"无法加载服务器配置：{exc}", f"Cannot load the server configuration: {exc}"
        ) from exc


def _parse_expiry(text: str, now: datetime) -> datetime:
    match = re.fullmatch(r"(\d{1,5})([dhm])", text.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        delta = {
            "d": timedelta(days=amount),
            "h": timedelta(hours=amount),
            "m": timedelta(minutes=amount),
        }
        return now + delta[unit]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"无法识别的过期时间 {text!r}：请用 7d、12h、30m 或 ISO 时间（如 2026-12-31T00:00Z）。",
            f"Unrecognised expiry {text!r}: use 7d, 12h, 30m or an ISO time (e.g. 2026-12-31T00:00Z).",
        ) from None
    if when.tzinfo is None:
        raise CliError(
            "过期时间必须带时区（例如 Z 或 +08:00）。",
            "The expiry needs a time zone (e.g. Z or +08:00).",
        )
    if when <= now:
        raise CliError("过期时间已经过去。", "The expiry is in the past.")
    return when


# --- commands ----------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace, clock: Clock) -> int:
    data = Path(args.data).resolve()
    if (data / SESSION_KEY_FILE).exists():
        raise CliError(
            f"{data} 已经初始化过了。要新增管理员请用 `wxguard-server admin add`。",
            f"{data} is already initialised. To add an administrator use `wxguard-server admin add`.",
        )
    password = _read_password(args.password_stdin)
    os.umask(0o077)  # the database and keys are for the server's account only
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_private(data / SESSION_KEY_FILE, secrets.token_urlsafe(48) + "\n")
    if args.database_url:
        _write_private(data / CONFIG_FILE, json.dumps({"database_url": args.database_url}) + "\n")
    settings = _settings(args)
    try:
        generate_key_pair(settings.policy_private_key_path, settings.policy_public_key_path)
    except FileExistsError:
        raise CliError(
            f"{settings.policy_private_key_path} 已存在，不会覆盖签名密钥。",
            f"{settings.policy_private_key_path} exists; the signing key is never overwritten.",
        ) from None
    settings.attachments_dir.mkdir(mode=0o700, exist_ok=True)
    engine = make_engine(settings.database_url, pool_size=1)
    upgrade(engine)
    generated = password is None
    password = password or secrets.token_urlsafe(15)
    with session_scope(make_sessionmaker(engine)) as session:
        now = clock.now()
        crud.create_admin(session, args.admin, password, now)
        crud.audit(session, now, "cli", "admin.create", args.admin)
    engine.dispose()
    print(f"data folder:          {settings.data_dir}")
    print(f"policy public key:    {settings.policy_public_key_path}  (pin this in the installer)")
    print(f"administrator:        {args.admin}")
    if generated:
        print(f"password (shown once): {password}")
    return 0


def cmd_migrate(args: argparse.Namespace, _clock: Clock) -> int:
    settings = _settings(args)
    engine = make_engine(settings.database_url, pool_size=1)
    upgrade(engine)
    engine.dispose()
    print("database is at the newest schema")
    return 0


def cmd_run(args: argparse.Namespace, _clock: Clock) -> int:
    import uvicorn

    from server.app import create_app, tune_gc_for_serving

    settings = _settings(args)
    if args.forwarded_allow_ips is not None:
        settings = settings.model_copy(update={"forwarded_allow_ips": args.forwarded_allow_ips})
    engine = make_engine(settings.database_url, pool_size=1)
    upgrade(engine)  # once, here, not racing in each worker
    engine.dispose()
    common: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "access_log": args.access_log,
        "log_level": "info",
        **settings.uvicorn_proxy_options,
    }
    if args.workers > 1:
        os.environ["WXGUARD_DATA_DIR"] = str(settings.data_dir)
        os.environ["WXGUARD_DATABASE_URL"] = settings.database_url
        uvicorn.run("server.app:app_from_env", factory=True, workers=args.workers, **common)
    else:
        app = create_app(settings)
        tune_gc_for_serving()
        uvicorn.run(app, **common)
    return 0


def _with_session(args: argparse.Namespace, work: Callable[..., Any]) -> Any:
    settings = _settings(args)
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            return work(settings, session)
    finally:
        engine.dispose()


def cmd_secret_create(args: argparse.Namespace, clock: Clock) -> int:
    now = clock.now()
    expires = _parse_expiry(args.expires, now) if args.expires else None
    if args.uses < 1:
        raise CliError("--uses 至少为 1。", "--uses must be at least 1.")

    def work(_settings: Settings, session: Any) -> str:
        secret = crud.create_secret(session, now, args.uses, expires, args.label)
        crud.audit(session, now, "cli", "secret.create", args.label, detail={"uses": args.uses})
        return secret

    print(_with_session(args, work))
    return 0


def cmd_secret_list(args: argparse.Namespace, clock: Clock) -> int:
    now = clock.now()

    def work(_settings: Settings, session: Any) -> list[dict[str, Any]]:
        return [
            {
                "id": s.id,
                "label": s.label,
                "state": crud.secret_state(s, now),
                "uses": s.uses,
                "uses_allowed": s.uses_allowed,
                "created_at": _iso(s.created_at),
                "expires_at": _iso(s.expires_at),
            }
            for s in crud.list_secrets(session)
        ]

    _print_rows(_with_session(args, work), args.format)
    return 0


def cmd_secret_revoke(args: argparse.Namespace, clock: Clock) -> int:
    def work(_settings: Settings, session: Any) -> bool:
        try:
            return crud.revoke_secret(session, args.id, clock.now(), "cli")
        except crud.NotFound:
            raise CliError(
                f"没有编号为 {args.id} 的注册密钥：用 `wxguard-server secret list` 查看编号。",
                f"No enrollment secret has id {args.id}: see `wxguard-server secret list`.",
            ) from None

    changed = _with_session(args, work)
    print(
        f"secret {args.id}: revoked (devices already enrolled with it keep working)"
        if changed
        else f"secret {args.id}: was already revoked"
    )
    return 0


def cmd_device_revoke(args: argparse.Namespace, clock: Clock) -> int:
    def work(_settings: Settings, session: Any) -> None:
        try:
            crud.revoke_device(session, args.device_id, clock.now(), "cli", "")
        except crud.NotFound:
            raise CliError(
                f"没有设备 {args.device_id}：用 `wxguard-server devices` 查看设备编号。",
                f"No device {args.device_id}: see `wxguard-server devices`.",
            ) from None

    _with_session(args, work)
    print(f"device {args.device_id}: revoked (its token is refused from now on)")
    return 0


def cmd_device_group(args: argparse.Namespace, clock: Clock) -> int:
    """Put devices (ids, host names or machine ids; with --stdin one a line) in a group, in one
    transaction: one unknown or ambiguous device and none changes (server/groups.py)."""
    from server import cli_device, groups

    keys = list(args.devices)
    if args.stdin:
        keys += [line.strip() for line in sys.stdin if line.strip()]
    if not keys:
        raise CliError("没有指定设备。", "No device given.")
    try:
        name = groups.clean_group(args.group)
    except groups.GroupInvalid as exc:
        raise CliError(exc.zh, exc.en) from None

    def work(_settings: Settings, session: Any) -> list[tuple[str, str, str]]:
        found: dict[str, Any] = {}
        for key in keys:
            try:
                device = cli_device.find_device(session, key)
            except cli_device.DeviceLookupError as exc:
                listed = "".join(f"\n  {d.id}  {one_line(d.hostname)}" for d in exc.candidates)
                raise CliError(
                    exc.zh + listed + "\n没有更改任何设备。",
                    exc.en + listed + "\nNo device was changed.",
                ) from None
            found.setdefault(device.id, device)
        moves = [(d.hostname, d.id, d.group_label) for d in found.values()]
        for device in found.values():
            groups.set_group(session, device, name, clock.now(), "cli")
        return moves

    changed = 0
    for hostname, device_id, old in _with_session(args, work):
        moved = old != name
        changed += moved
        print(
            f"{one_line(hostname)}  {device_id}  "
            f"{one_line(old) or '—'} → {one_line(name) or '—'}"
            + ("" if moved else "  (未变 / unchanged)")
        )
    print(f"{changed} 台设备已更改设备组 / {changed} device(s) moved to the group")
    return 0


def cmd_policy_publish(args: argparse.Namespace, clock: Clock) -> int:
    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        raise CliError(f"无法读取策略文件：{exc}", f"Cannot read the policy file: {exc}") from exc
    try:
        create = parse_policy_create(raw)
    except PolicyError as exc:
        raise CliError(
            f"策略无效，未发布：{exc}", f"The policy is invalid and was not published: {exc}"
        ) from exc

    def work(settings: Settings, session: Any) -> int:
        try:
            signer = PolicySigner.load(settings.policy_private_key_path)
        except SigningError as exc:
            raise CliError(
                f"无法读取签名密钥：{exc}", f"Cannot read the signing key: {exc}"
            ) from exc
        try:
            document = crud.publish_policy(session, signer, create, clock.now(), "cli")
        except crud.ConflictError as exc:
            raise CliError("同时有另一个策略在发布，请重试。", str(exc)) from exc
        return document.version

    version = _with_session(args, work)
    print(f"published policy version {version}")
    return 0


def cmd_admin_add(args: argparse.Namespace, clock: Clock) -> int:
    password = _read_password(args.password_stdin)
    generated = password is None
    password = password or secrets.token_urlsafe(15)

    def work(_settings: Settings, session: Any) -> None:
        now = clock.now()
        try:
            crud.create_admin(session, args.username, password, now, args.role)
        except crud.ConflictError:
            raise CliError(
                f"账户 {args.username} 已存在。要重置其密码请用 "
                f"`wxguard-server admin passwd {args.username}`。",
                f"The account {args.username} already exists. To reset its password use "
                f"`wxguard-server admin passwd {args.username}`.",
            ) from None
        crud.audit(session, now, "cli", "admin.create", args.username, detail={"role": args.role})

    _with_session(args, work)
    print(f"account:  {args.username}")
    print(f"role:     {args.role}")
    if generated:
        print(f"password (shown once): {password}")
    return 0


def _account(session: Any, username: str) -> Any:
    try:
        return crud.admin_by_name(session, username)
    except crud.NotFound:
        raise CliError(
            f"没有账户 {username}：用 `wxguard-server admin list` 查看账户。",
            f"No account {username}: see `wxguard-server admin list`.",
        ) from None


_LAST_ADMIN = CliError(
    "这是最后一个启用的管理员账户，不能停用或降级（否则无人能管理账户）。",
    "This is the last enabled administrator; it cannot be disabled or demoted (nobody could "
    "manage accounts).",
)


def cmd_admin_passwd(args: argparse.Namespace, clock: Clock) -> int:
    password = _read_password(args.password_stdin)
    generated = password is None
    password = password or secrets.token_urlsafe(15)

    def work(_settings: Settings, session: Any) -> None:
        admin = _account(session, args.username)
        crud.set_admin_password(session, admin, password, clock.now(), "cli")

    _with_session(args, work)
    print(f"account {args.username}: password reset; its sessions have ended")
    if generated:
        print(f"password (shown once): {password}")
    return 0


def cmd_admin_role(args: argparse.Namespace, clock: Clock) -> int:
    def work(_settings: Settings, session: Any) -> bool:
        admin = _account(session, args.username)
        try:
            return crud.set_admin_role(session, admin, args.role, clock.now(), "cli")
        except crud.LastAdministrator:
            raise _LAST_ADMIN from None

    changed = _with_session(args, work)
    print(
        f"account {args.username}: role {args.role}; its sessions have ended"
        if changed
        else f"account {args.username}: already {args.role}"
    )
    return 0


def cmd_prune(args: argparse.Namespace, clock: Clock) -> int:
    from server.retention import prune

    settings = _settings(args)
    days = args.days or settings.retention_days
    if days < 30:
        raise CliError("--days 至少为 30。", "--days must be at least 30.")
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        done = prune(make_sessionmaker(engine), clock.now(), days, actor="cli")
    finally:
        engine.dispose()
    print(
        f"已删除 {done.findings} 条已解决的发现和 {done.audit_events} 条审计记录"
        f"（早于 {done.cutoff:%Y-%m-%d}）。\n"
        f"deleted {done.findings} resolved findings and {done.audit_events} audit events "
        f"older than {done.cutoff:%Y-%m-%d}."
    )
    return 0


def cmd_admin_disable(args: argparse.Namespace, clock: Clock) -> int:
    disable = args.action == "disable"

    def work(_settings: Settings, session: Any) -> bool:
        admin = _account(session, args.username)
        try:
            return crud.set_admin_disabled(session, admin, disable, clock.now(), "cli")
        except crud.LastAdministrator:
            raise _LAST_ADMIN from None

    changed = _with_session(args, work)
    word = "disabled; its sessions have ended" if disable else "enabled"
    print(f"account {args.username}: {word}" if changed else f"account {args.username}: no change")
    return 0


def cmd_admin_list(args: argparse.Namespace, clock: Clock) -> int:
    def work(_settings: Settings, session: Any) -> list[dict[str, Any]]:
        return [
            {
                "username": a.username,
                "role": a.role,
                "state": "disabled" if a.disabled else "enabled",
                "last_login_at": _iso(a.last_login_at),
            }
            for a in crud.admins(session)
        ]

    _print_rows(_with_session(args, work), args.format)
    return 0


def cmd_device(args: argparse.Namespace, clock: Clock) -> int:
    """One device: its state (the dashboard's, with reasons and next steps) and the password
    and policy facts its agent reported (server/cli_device.py)."""
    from server import cli_device

    lang = args.lang or ("zh" if os.environ.get("LANG", "").startswith("zh") else "en")

    def work(_settings: Settings, session: Any) -> dict[str, Any]:
        try:
            device = cli_device.find_device(session, args.device)
        except cli_device.DeviceLookupError as exc:
            listed = "".join(
                f"\n  {d.id}  {one_line(d.os or '-')}  {one_line(d.serial_number or '-')}  "
                f"{one_line(', '.join(d.users_seen or []))}"
                for d in exc.candidates
            )
            raise CliError(exc.zh + listed, exc.en + listed) from None
        return cli_device.device_view(session, device, clock.now())

    view = _with_session(args, work)
    if args.format == "json":
        print(json_for_terminal(json.dumps(view, ensure_ascii=False, indent=2)))
    else:
        print(cli_device.device_text(view, lang))
    return 0


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def cmd_list(args: argparse.Namespace, clock: Clock) -> int:
    """devices / findings / reports: streamed from a server-side cursor as they are read, so
    a fleet of 100,000 starts printing at once and never sits in memory (issue 17)."""
    from server import exports, lists

    limit = args.limit if args.limit and args.limit > 0 else None

    def work(settings: Settings, session: Any) -> None:
        now = clock.now()
        rows: Any
        if args.command == "devices":
            window = timedelta(
                seconds=settings.default_heartbeat_interval_s * settings.offline_after_heartbeats
            )
            flt = lists.FleetFilter(
                state=args.state,
                presence=args.presence,
                os=args.os,
                agent=args.agent,
                group=args.group,
                q=args.search,
            )
            rows = exports.fleet_rows(session, flt, now, window, limit)
        elif args.command == "findings":
            state = "all" if args.all else args.state
            fflt = lists.FindingFilter(
                state=state,
                severity=args.severity,
                category=args.category,
                rule=args.rule,
                group=args.group,
                q=args.search,
            )
            rows = exports.finding_rows(session, fflt, limit, full=True)
        else:
            rflt = lists.ReportListFilter(
                status=args.status,
                category=args.category,
                assignee=args.assignee,
                group=args.group,
                q=args.search,
                sort="id",
            )
            rows = exports.report_rows(session, rflt, limit)
        _print_rows(rows, args.format)

    _with_session(args, work)
    return 0


def _print_rows(rows: Any, fmt: str) -> None:
    if fmt == "jsonl":
        for row in rows:  # one JSON object a line, flushed as it comes
            print(json_for_terminal(json.dumps(row, ensure_ascii=False)), flush=True)
        return
    if fmt == "json":
        # Streamed too: the array is written element by element.
        print("[")
        first = True
        for row in rows:
            text = json_for_terminal(json.dumps(row, ensure_ascii=False, indent=2))
            print(("" if first else ",\n") + text, end="")
            first = False
        print("\n]" if not first else "]")
        return
    for row in rows:
        # Host names, summaries and titles come from devices: one row stays one terminal line
        # with no escape sequence in it.
        print(
            one_line(
                "  ".join(
                    "-" if v is None else str(v)
                    for k, v in row.items()
                    if k not in {"evidence", "remediation"}
                )
            )
        )


# --- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wxguard-server", description="wxguard central server / wxguard 中央服务器"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def with_data(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--data", required=True, help="data folder made by `init`")
        p.add_argument(
            "--database-url",
            default=None,
            help="PostgreSQL URL (postgresql://user:pass@host/db); default: SQLite in the data folder;"
            " also WXGUARD_DATABASE_URL",
        )
        return p

    p = with_data(
        sub.add_parser("init", help="create the data folder, database, keys and first admin")
    )
    p.add_argument("--admin", default="admin", help="first administrator's username")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the admin password from stdin"
    )
    p.set_defaults(func=cmd_init)

    p = with_data(sub.add_parser("migrate", help="bring the database schema up to date"))
    p.set_defaults(func=cmd_migrate)

    p = with_data(sub.add_parser("run", help="serve the device API and the dashboard"))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument(
        "--forwarded-allow-ips",
        default=None,
        metavar="ADDRESSES",
        help="reverse proxies whose X-Forwarded-For is believed (comma-separated addresses or "
        "networks, e.g. 127.0.0.1 behind a local nginx); default none, also "
        "WXGUARD_FORWARDED_ALLOW_IPS",
    )
    p.set_defaults(func=cmd_run)

    secret = sub.add_parser("secret", help="enrollment secrets").add_subparsers(
        dest="action", required=True
    )
    p = with_data(secret.add_parser("list", help="enrollment secrets and their state"))
    p.add_argument("--format", choices=["json", "text"], default="text")
    p.set_defaults(func=cmd_secret_list)
    p = with_data(secret.add_parser("revoke", help="refuse later enrollments with a secret"))
    p.add_argument("id", type=int, help="the secret's id (see `secret list`)")
    p.set_defaults(func=cmd_secret_revoke)
    device = sub.add_parser("device", help="enrolled devices").add_subparsers(
        dest="device_command", required=True
    )
    p = with_data(device.add_parser("revoke", help="refuse a device's token from now on"))
    p.add_argument("device_id")
    p.set_defaults(func=cmd_device_revoke)
    p = with_data(device.add_parser("group", help="put devices in a group (department, site)"))
    p.add_argument("devices", nargs="*", help="device ids, host names or machine ids")
    p.add_argument("group", help="the group's name; '' for no group")
    p.add_argument("--stdin", action="store_true", help="also read devices from stdin, one a line")
    p.set_defaults(func=cmd_device_group)
    p = with_data(
        device.add_parser(
            "show", help="one device: its state, why, what to do next, passwords and policy"
        )
    )
    p.add_argument("device", help="device id, host name or machine id")
    p.add_argument("--format", choices=["json", "text"], default="text")
    p.add_argument("--lang", choices=["zh", "en"])
    p.set_defaults(func=cmd_device)
    p = with_data(secret.add_parser("create", help="print a new enrollment secret"))
    p.add_argument("--uses", type=int, default=1, help="how many devices may enroll with it")
    p.add_argument("--expires", default="7d", help="7d, 12h, 30m or an ISO time; '' for never")
    p.add_argument("--label", default="", help="a note for the audit trail")
    p.set_defaults(func=cmd_secret_create)

    policy = sub.add_parser("policy", help="signed policy").add_subparsers(
        dest="action", required=True
    )
    p = with_data(
        policy.add_parser("publish", help="validate, sign and publish a policy JSON file")
    )
    p.add_argument("file")
    p.set_defaults(func=cmd_policy_publish)

    admin = sub.add_parser("admin", help="dashboard accounts").add_subparsers(
        dest="action", required=True
    )
    roles = list(crud.ROLES)
    p = with_data(admin.add_parser("add", help="add a dashboard account"))
    p.add_argument("username")
    p.add_argument("--role", choices=roles, default="administrator")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(func=cmd_admin_add)
    p = with_data(
        admin.add_parser("passwd", help="reset an account's password (ends its sessions)")
    )
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(func=cmd_admin_passwd)
    p = with_data(admin.add_parser("role", help="change an account's role (ends its sessions)"))
    p.add_argument("username")
    p.add_argument("role", choices=roles)
    p.set_defaults(func=cmd_admin_role)
    for verb, text in (("disable", "refuse an account's logins and sessions"), ("enable", "")):
        p = with_data(admin.add_parser(verb, help=text or "let a disabled account log in again"))
        p.add_argument("username")
        p.set_defaults(func=cmd_admin_disable)
    p = with_data(admin.add_parser("list", help="dashboard accounts, roles and state"))
    p.add_argument("--format", choices=["json", "text"], default="text")
    p.set_defaults(func=cmd_admin_list)

    p = with_data(
        sub.add_parser(
            "prune", help="delete resolved findings and audit events past the retention period"
        )
    )
    p.add_argument("--days", type=int, default=0, help="keep this many days (default: setting)")
    p.set_defaults(func=cmd_prune)

    for name in ("findings", "reports", "devices"):
        p = with_data(
            sub.add_parser(name, help=f"list {name} (for scripts: --format jsonl, streamed)")
        )
        p.add_argument("--format", choices=["json", "jsonl", "text"], default="text")
        p.add_argument("--limit", type=int, default=0, help="at most this many rows (0: all)")
        p.add_argument("--group", default="", help="only devices of this group (label)")
        p.add_argument("--search", default="", help="host name (part), user, device id")
        if name == "devices":
            p.add_argument("--state", default="", help="compliant, non-compliant, blind, …")
            p.add_argument("--presence", default="", choices=["", "online", "offline"])
            p.add_argument("--os", default="")
            p.add_argument("--agent", default="", help="agent version")
        if name == "findings":
            p.add_argument("--all", action="store_true", help="include resolved findings")
            p.add_argument("--state", default="open", choices=["open", "resolved", "all"])
            p.add_argument("--severity", default="")
            p.add_argument("--category", default="")
            p.add_argument("--rule", default="")
        if name == "reports":
            p.add_argument("--status", default="")
            p.add_argument("--category", default="")
            p.add_argument("--assignee", default="", help="a username, or 'none'")
        p.set_defaults(func=cmd_list)
    return parser


def main(argv: Sequence[str] | None = None, clock: Clock | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args, clock or SystemClock())
    except CliError as exc:
        print(f"错误：{one_line(exc.zh)}\nerror: {one_line(exc.en)}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(
            f"错误：配置无效：{one_line(exc)}\nerror: invalid configuration: {one_line(exc)}",
            file=sys.stderr,
        )
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
