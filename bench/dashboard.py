"""Dashboard benchmark at fleet scale: seeds N devices and 10 N findings, times every page and export.

Seeds a fresh data folder (SQLite, or PostgreSQL: a private throw-away cluster or `--dsn`) with
SQLAlchemy Core bulk inserts (executemany), starts the real `wxguard-server run` process, logs in
as an administrator and requests every page and export `--requests` times, printing the median
and p95 time and the bytes of each; exports also print rows/s and the server's peak RSS.
Not run by pytest: `.venv/bin/python -m bench.dashboard [--devices 100000] [--db postgresql]`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection, Table, insert, select

from bench.server import Server, pg_cluster, start_server

RULES = [
    (f"bench.{cat}.{n:02d}", cat, sev)
    for n, (cat, sev) in enumerate(
        [
            ("unofficial-client", "high"),
            ("plugin-injection", "critical"),
            ("binary-patcher", "high"),
            ("multi-open", "medium"),
            ("bot-framework", "medium"),
            ("db-dumper", "critical"),
            ("browser-extension", "low"),
            ("unrecognised-client", "info"),
        ]
        * 5
    )
]
OSES = ["Windows 11", "Windows 10", "macOS 14", "macOS 15", "Ubuntu 24.04"]
VERSIONS = ["1.3.0", "1.4.0", "1.4.2", "1.5.0"]
GROUPS = ["财务部", "Engineering", "Sales", "上海办公室", "Beijing"]
NOW = datetime.now(UTC).replace(microsecond=0)
PASSWORD = "bench password 0123456789"


@dataclass
class Seeded:
    devices: int
    findings: int
    seconds: float
    rule_id: str
    device_id: str


def _tables() -> dict[str, Table]:
    from server.models import Base

    return dict(Base.metadata.tables)


def seed(conn: Connection, devices: int, per_device: int, seed_value: int = 7) -> Seeded:
    """Bulk-insert a fleet: devices, findings (70 % open), password status, acks, reports, audit."""
    from protocol.device_state import worst_severity

    rng = random.Random(seed_value)
    t = _tables()
    dev_t, find_t = t["devices"], t["findings"]
    has = set(dev_t.c.keys())
    started = time.perf_counter()
    secret_key = conn.execute(
        insert(t["enrollment_secrets"]).values(
            secret_hash=uuid.uuid4().hex * 2,
            label="bench",
            uses_allowed=devices,
            uses=devices,
            created_at=NOW,
            expires_at=None,
            revoked=False,
        )
    ).inserted_primary_key
    secret_id = secret_key[0] if secret_key else None
    batch = 5000
    total_findings = 0
    first_device = ""
    for start in range(0, devices, batch):
        dev_rows: list[dict[str, Any]] = []
        find_rows: list[dict[str, Any]] = []
        pw_rows: list[dict[str, Any]] = []
        ack_rows: list[dict[str, Any]] = []
        for i in range(start, min(start + batch, devices)):
            device_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            first_device = first_device or device_id
            seen = NOW - timedelta(seconds=rng.choice([30, 120, 290, 4000, 86400 * 3]))
            host = f"财务-{i:06d}" if i % 10 == 0 else f"pc-{i:06d}"
            opened: list[str] = []
            for k in range(per_device):
                rule_id, category, severity = RULES[rng.randrange(len(RULES))]
                first = NOW - timedelta(days=rng.randrange(0, 120), seconds=rng.randrange(86400))
                is_open = rng.random() < 0.7
                if is_open:
                    opened.append(severity)
                find_rows.append(
                    {
                        "device_id": device_id,
                        "key": f"k{k}",
                        "rule_id": rule_id,
                        "title": f"Bench finding {rule_id}",
                        "title_i18n": {
                            "zh": f"测试发现 {rule_id}",
                            "en": f"Bench finding {rule_id}",
                        },
                        "category": category,
                        "severity": severity,
                        "subject": f"C:/Users/u{i}/AppData/{k}.dll",
                        "evidence": [{"kind": "file", "matched": "x.dll", "path": f"C:/x/{k}.dll"}],
                        "remediation": "Remove it.",
                        "remediation_i18n": {"zh": "删除。", "en": "Remove it."},
                        "state": "open" if is_open else "resolved",
                        "first_seen": first,
                        "last_seen": min(NOW, first + timedelta(days=1)),
                        "resolved_at": None if is_open else min(NOW, first + timedelta(days=2)),
                        "received_at": first,
                    }
                )
            overdue = rng.random() < 0.1
            row: dict[str, Any] = {
                "id": device_id,
                "token_hash": uuid.uuid4().hex + uuid.uuid4().hex,
                "hostname": host,
                "os": rng.choice(OSES),
                "agent_version": rng.choice(VERSIONS),
                "enrolled_at": NOW - timedelta(days=200),
                "enrolled_ip": "10.0.0.1",
                "secret_id": secret_id,
                "last_seen_at": seen,
                "last_scan_at": seen,
                "last_scan_outcome": "ok",
                "last_scan_coverage": None,
                "policy_version_seen": 1,
                "users_seen": [f"user{i}"],
                "revoked_at": None,
                "machine_id": uuid.uuid4().hex,
                "news": 0,
            }
            # Columns later schemas add (summaries kept on the device row); set when present.
            extra = {
                "open_findings": len(opened),
                "worst_severity": worst_severity(opened),
                "overdue_passwords": int(overdue),
                "compliance_state": "non-compliant" if opened or overdue else "compliant",
                "group_label": GROUPS[i % len(GROUPS)],
            }
            row.update({k: v for k, v in extra.items() if k in has})
            dev_rows.append(row)
            pw_rows.append(
                {
                    "device_id": device_id,
                    "user": f"user{i}",
                    "account_type": "personal",
                    "state": "overdue" if overdue else "ok",
                    "last_changed": NOW - timedelta(days=100 if overdue else 10),
                    "due_at": NOW + timedelta(days=-10 if overdue else 80),
                    "deferrals": 0,
                    "reported_at": seen,
                }
            )
            acked = rng.random() < 0.8
            if "acked_version" in has:
                row["acked_version"] = 1 if acked else -1
            if acked:
                ack_rows.append(
                    {
                        "device_id": device_id,
                        "user": f"user{i}",
                        "policy_version": 1,
                        "text_version": "2024-1",
                        "acknowledged_at": NOW - timedelta(days=rng.randrange(60)),
                        "received_at": NOW - timedelta(days=1),
                    }
                )
        conn.execute(insert(dev_t), dev_rows)
        conn.execute(insert(find_t), find_rows)
        conn.execute(insert(t["password_status"]), pw_rows)
        if ack_rows:
            conn.execute(insert(t["policy_acks"]), ack_rows)
        total_findings += len(find_rows)
        conn.commit()
        print(
            f"  seeded {min(start + batch, devices)} devices", end="\r", flush=True, file=sys.stderr
        )
    device_ids = list(conn.scalars(select(dev_t.c.id).limit(max(1, devices // 50))))
    reports = [
        {
            "device_id": rng.choice(device_ids),
            "idempotency_key": uuid.uuid4().hex,
            "payload_sha256": "0" * 64,
            "category": rng.choice(["suspicious-message", "data-leak", "other"]),
            "occurred_at": None,
            "summary": f"可疑消息 report {n}",
            "description": "",
            "affected_account": "",
            "reporter": "",
            "created_at": NOW - timedelta(hours=n),
            "updated_at": NOW - timedelta(hours=n),
            "status": rng.choice(["new", "triaged", "resolved"]),
            "assignee_id": None,
        }
        for n in range(max(10, devices // 50))
    ]
    conn.execute(insert(t["reports"]), reports)
    audit = [
        {
            "at": NOW - timedelta(seconds=n * 30),
            "actor": f"device:{rng.choice(device_ids)}",
            "action": "device.enroll",
            "target": "",
            "ip": "10.0.0.1",
            "detail": {},
        }
        for n in range(devices)
    ]
    for start in range(0, len(audit), batch):
        conn.execute(insert(t["audit_events"]), audit[start : start + batch])
    conn.commit()
    rule_id = RULES[0][0]
    print(file=sys.stderr)
    return Seeded(devices, total_findings, time.perf_counter() - started, rule_id, first_device)


def _login(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=300, follow_redirects=True)
    client.get("/login")
    token = client.cookies.get("wxguard_login_csrf")
    r = client.post("/login", data={"username": "admin", "password": PASSWORD, "login_csrf": token})
    if r.status_code >= 400 or "/login" in str(r.url):
        raise RuntimeError(f"login failed: {r.status_code}")
    return client


def pages(seeded: Seeded) -> list[str]:
    """Every page and list view measured (pages not built yet answer 404 and are marked so)."""
    return [
        "/overview",
        "/fleet",
        "/fleet?state=non-compliant&os=Windows+11",
        "/fleet?q=pc-09999",
        "/fleet?sort=-last_seen",
        "/fleet?presence=offline&group=Sales",
        "/findings",
        "/findings?severity=critical&category=plugin-injection",
        "/findings?severity=critical",
        "/findings?category=plugin-injection",
        "/findings?severity=high&category=binary-patcher&group=Sales",
        "/findings?state=all&severity=medium&category=multi-open",
        "/findings?state=resolved&severity=critical&category=db-dumper",
        "/findings?q=pc-0999",
        "/findings?q=%E8%B4%A2%E5%8A%A1-0000&severity=critical",
        "/fleet?q=%E8%B4%A2%E5%8A%A1-0999",
        "/compliance?q=user4242",
        "/reports?q=report+12",
        "/fleet?findings=open&sort=-findings",
        f"/findings/rule/{seeded.rule_id}",
        "/compliance",
        "/compliance?password=overdue",
        "/reports",
        "/reports?status=new",
        "/audit",
        f"/devices/{seeded.device_id}",
    ]


EXPORTS = ["/fleet.csv", "/findings.csv", "/compliance.csv", "/reports.csv", "/audit.csv"]


def _rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def measure(server: Server, seeded: Seeded, requests: int, label: str, only: str = "") -> None:
    client = _login(server.url)
    print(f"{label}: {seeded.devices} devices, {seeded.findings} findings")
    print(f"  {'page':<58} {'median':>9} {'p95':>9} {'bytes':>11}")
    for page in pages(seeded):
        if only and not re.search(only, page):
            continue
        times: list[float] = []
        size = 0
        status = 0
        for _ in range(requests):
            started = time.perf_counter()
            r = client.get(page)
            times.append(time.perf_counter() - started)
            size, status = len(r.content), r.status_code
            if status != 200:
                break
            # A first page's "next" link is a page a person opens too: measure it as well.
        if status != 200:
            print(f"  {page:<58} {'HTTP ' + str(status):>9}")
            continue
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        print(
            f"  {page:<58} {statistics.median(times) * 1000:7.0f}ms {p95 * 1000:7.0f}ms "
            f"{size:>11,}",
            flush=True,
        )
        if page == "/overview" and 'id="computing"' in r.text:
            # The rollup is built in the background (never while a page waits): the other
            # pages are measured once it is there, as a running server has it.
            started = time.perf_counter()
            while 'id="computing"' in client.get(page).text:
                if time.perf_counter() - started > 1800:
                    raise RuntimeError("the overview rollup did not finish in 30 minutes")
                time.sleep(1)
            print(
                f"  {'  (rollup built in the background in':<58} "
                f"{time.perf_counter() - started:7.0f} s)",
                flush=True,
            )
        more = re.search(r'rel="next" href="([^"]+)"', r.text)
        if (
            more
            and "after=" in more.group(1)
            and page in ("/fleet", "/findings", "/audit", "/compliance")
        ):
            nxt = more.group(1).replace("&amp;", "&")
            started = time.perf_counter()
            r2 = client.get(nxt)
            took = time.perf_counter() - started
            print(
                f"  {'  next page of ' + page:<58} {took * 1000:7.0f}ms {'':>9} {len(r2.content):>11,}"
            )
            back = re.search(r'rel="prev" href="([^"]+)"', r2.text)
            if back:  # the previous page, read backwards from the next page's first row
                started = time.perf_counter()
                r3 = client.get(back.group(1).replace("&amp;", "&"))
                took = time.perf_counter() - started
                print(
                    f"  {'  previous page of that':<58} {took * 1000:7.0f}ms {'':>9}"
                    f" {len(r3.content):>11,}"
                )
    for export in EXPORTS:
        if only and not re.search(only, export):
            continue
        rows = 0
        size = 0
        started = time.perf_counter()
        with client.stream("GET", export) as r:
            if r.status_code != 200:
                print(f"  {export:<58} {'HTTP ' + str(r.status_code):>9}")
                continue
            for chunk in r.iter_bytes():
                size += len(chunk)
                rows += chunk.count(b"\n")
        took = time.perf_counter() - started
        print(
            f"  {export:<58} {took * 1000:7.0f}ms {'':>9} {size:>11,}  "
            f"{max(rows - 1, 0) / took:,.0f} rows/s, server peak RSS {_rss_kb(server.proc.pid) // 1024} MB",
            flush=True,
        )
    client.close()


def init_data(data: Path, database_url: str | None) -> None:
    from server.cli import main

    args = ["init", "--data", str(data), "--password-stdin"]
    args += ["--database-url", database_url] if database_url else []
    old = sys.stdin
    sys.stdin = io.StringIO(PASSWORD + "\n")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(args) == 0
    finally:
        sys.stdin = old


@contextlib.contextmanager
def database(kind: str, dsn: str | None) -> Iterator[str | None]:
    if kind == "sqlite":
        yield None
    elif dsn:
        yield dsn
    else:
        with pg_cluster() as url:
            yield url


def run(kind: str, args: argparse.Namespace) -> None:
    from server.config import load_settings
    from server.db import make_engine
    from server.migrate import upgrade

    kept = Path(args.keep) / kind if args.keep else None
    if kept is not None and kind == "postgresql" and not args.dsn:
        raise SystemExit("--keep with PostgreSQL needs --dsn (a database that outlives the run)")
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(database(kind, args.dsn))
        if kept is not None:
            kept.mkdir(parents=True, exist_ok=True)
            tmp = str(kept)
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="wxguard-dash-"))
        data = Path(tmp) / "data"
        marker = Path(tmp) / "seeded.json"
        if marker.exists():
            # A fleet seeded by an earlier run (`--keep`): bring its schema up to date (new
            # indexes) and refresh the planner's statistics, as an upgraded server would.
            seeded = Seeded(**json.loads(marker.read_text()))
            engine = make_engine(load_settings(data).database_url, pool_size=1)
            upgrade(engine)
            with engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
            engine.dispose()
            print(f"{kind}: reusing the fleet seeded in {tmp}", flush=True)
        else:
            init_data(data, url)
            engine = make_engine(url or f"sqlite:///{data / 'wxguard.db'}", pool_size=1)
            with engine.connect() as conn:
                seeded = seed(conn, args.devices, args.findings_per_device)
                # Planner statistics, as a running server has them (PRAGMA optimize in the rollup).
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
            engine.dispose()
            if kept is not None:
                marker.write_text(json.dumps(seeded.__dict__))
            print(f"{kind}: seeded in {seeded.seconds:.0f} s", flush=True)
        log = (Path(tmp) / "server.log").open("wb")
        # The benchmark speaks plain HTTP on loopback: Secure cookies would never come back.
        os.environ["WXGUARD_COOKIE_SECURE"] = "false"
        server = start_server(data, 1, log)
        try:
            measure(server, seeded, args.requests, kind, args.pages)
        finally:
            server.stop()
            log.close()
            errors = [
                line
                for line in (Path(tmp) / "server.log").read_text(errors="replace").splitlines()
                if "Traceback" in line or "Error" in line
            ]
            if errors:
                print(f"{kind}: server log has {len(errors)} error lines, e.g. {errors[-1]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--findings-per-device", type=int, default=10)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--dsn", default=None, help="an existing empty PostgreSQL database")
    parser.add_argument("--requests", type=int, default=20, help="requests per page")
    parser.add_argument(
        "--keep",
        default=None,
        help="a folder to keep the seeded fleet in (KEEP/sqlite, KEEP/postgresql) and reuse on"
        " later runs: seeding once, measuring each change (PostgreSQL: with --dsn)",
    )
    parser.add_argument("--pages", default="", help="measure only pages matching this regex")
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        run(kind, args)
    print(json.dumps({"devices": args.devices, "done": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
