"""Server benchmark: simulated agents on loopback send heartbeats and findings; prints req/s, p50/p99.

Runs every configuration (SQLite / PostgreSQL x 1 / N uvicorn workers) against a real
`wxguard-server run` process with its own data folder (and its own temporary PostgreSQL cluster),
bounded in time. Not run by pytest: `.venv/bin/python -m bench.server [--seconds 8]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import httpx
import psycopg

from bench.pgcluster import conninfo, private_cluster

PG_BIN = Path("/usr/lib/postgresql/15/bin")
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def pg_cluster() -> Iterator[str]:
    """A throw-away durable PostgreSQL cluster on loopback; yields the URL of an empty database."""
    with private_cluster(durable=True, prefix="wxguard-bench-pg-") as port:
        with psycopg.connect(conninfo(port), autocommit=True) as conn:
            conn.execute("CREATE DATABASE wxguard")
        yield f"postgresql://postgres@{LOOPBACK}:{port}/wxguard"


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_server(data: Path, workers: int, log: IO[bytes]) -> Server:
    port = free_port()
    env = {
        **os.environ,
        # The benchmark is one address and a few hundred very chatty devices: lift the limits.
        "WXGUARD_ENROLL_PER_IP_PER_MINUTE": "1000000",
        "WXGUARD_IP_PER_MINUTE": "100000000",
        "WXGUARD_DEVICE_PER_MINUTE": "100000000",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.cli",
            "run",
            "--data",
            str(data),
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://{LOOPBACK}:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/login", timeout=1).status_code == 200:
                return Server(url, proc)
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def init_data(data: Path, database_url: str | None) -> str:
    """A data folder like `wxguard-server init` makes; returns an enrollment secret."""
    from server.cli import main

    args = ["init", "--data", str(data)] + (
        ["--database-url", database_url] if database_url else []
    )
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(args) == 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["secret", "create", "--data", str(data), "--uses", "100000"]) == 0
    return out.getvalue().strip()


def enroll(url: str, secret: str, count: int) -> list[str]:
    with httpx.Client(base_url=url, timeout=30) as http:
        return [
            http.post(
                "/api/v1/enroll", json={"secret": secret, "hostname": f"bench-{i:04d}"}
            ).json()["device_token"]
            for i in range(count)
        ]


# --- a minimal keep-alive HTTP/1.1 client: the load generator must cost less than the server ---


def _request(path: str, token: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


def heartbeat_body() -> bytes:
    return json.dumps(
        {
            "agent_version": "1.0.0",
            "os": "Windows 11",
            "users_seen": ["alice"],
            "policy_version_seen": 1,
        }
    ).encode()


def findings_body(n: int = 10) -> bytes:
    now = datetime.now(UTC).isoformat()
    return json.dumps(
        {
            "scanned_at": now,
            "findings": [
                {
                    "key": f"bench-{i}",
                    "status": "present",
                    "rule_id": f"bench.rule-{i}",
                    "title": "Bench finding",
                    "category": "plugin-injection",
                    "severity": "medium",
                    "evidence": [{"kind": "file", "matched": "x.dll", "path": f"C:/x/{i}.dll"}],
                    "first_seen": now,
                    "last_seen": now,
                }
                for i in range(n)
            ],
        }
    ).encode()


@dataclass
class Result:
    kind: str
    count: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _load(
    url: str, tokens: list[str], path: str, body: bytes, seconds: float, conns: int
) -> Result:
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker(index: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        rng = random.Random(index)
        try:
            while time.perf_counter() < stop_at:
                request = _request(path, rng.choice(tokens), body)
                started = time.perf_counter()
                try:
                    writer.write(request)
                    status = await _read_response(reader)
                except (ConnectionError, asyncio.IncompleteReadError):
                    errors += 1  # counted, and measured again on a fresh connection
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
                    continue
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(conns)))
    elapsed = time.perf_counter() - started
    return Result(path.rsplit("/", 1)[-1], len(latencies), errors, elapsed, latencies)


def run_config(
    label: str, database_url: str | None, workers: int, args: argparse.Namespace
) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="wxguard-bench-") as tmp:
        data = Path(tmp) / "data"
        secret = init_data(data, database_url)
        log = (Path(tmp) / "server.log").open("wb")
        server = start_server(data, workers, log)
        try:
            tokens = enroll(server.url, secret, args.devices)
            # Warm-up: connections, caches, query plans.
            asyncio.run(
                _load(
                    server.url, tokens, "/api/v1/heartbeat", heartbeat_body(), 1.0, args.connections
                )
            )
            results = [
                asyncio.run(
                    _load(
                        server.url,
                        tokens,
                        "/api/v1/heartbeat",
                        heartbeat_body(),
                        args.seconds,
                        args.connections,
                    )
                ),
                asyncio.run(
                    _load(
                        server.url,
                        tokens,
                        "/api/v1/findings",
                        findings_body(),
                        args.seconds,
                        args.connections,
                    )
                ),
            ]
        finally:
            server.stop()
            log.close()
            problems = [
                line
                for line in (Path(tmp) / "server.log").read_text(errors="replace").splitlines()
                if "Error" in line or "Traceback" in line
            ]
            if problems:
                print(f"{label}: server reported {len(problems)} error lines, e.g. {problems[-1]}")
    for r in results:
        print(
            f"{label:<26} {r.kind:<10} {r.rate:8.0f} req/s   p50 {r.pct(0.50):6.1f} ms   "
            f"p99 {r.pct(0.99):6.1f} ms   errors {r.errors}",
            flush=True,
        )
    return results


def main(argv: list[str] | None = None) -> int:
    try:  # the load generator should cost as little CPU as it can: the server shares the cores
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="per phase (max 60)")
    parser.add_argument("--devices", type=int, default=200, help="simulated agents (max 2000)")
    parser.add_argument(
        "--connections", type=int, default=32, help="concurrent connections (max 256)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="worker processes for the multi-worker runs"
    )
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args(argv)
    args.seconds = min(args.seconds, 60.0)
    args.devices = min(args.devices, 2000)
    args.connections = min(args.connections, 256)
    print(
        f"wxguard server benchmark: {os.cpu_count()} CPUs, {args.devices} agents, "
        f"{args.connections} connections, {args.seconds:.0f} s per phase; findings batches of 10"
    )
    if args.only != "postgresql":
        for workers in (1, args.workers):
            run_config(f"sqlite, {workers} worker(s)", None, workers, args)
    if args.only != "sqlite":
        if not (PG_BIN / "postgres").exists():
            print("PostgreSQL 15 is not installed; skipping the PostgreSQL runs")
            return 1
        for workers in (1, args.workers):
            with pg_cluster() as url:
                run_config(f"postgresql, {workers} worker(s)", url, workers, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
