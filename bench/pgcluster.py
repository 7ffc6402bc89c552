"""A private PostgreSQL 15 cluster on a free loopback port, for tests and benchmarks.

`initdb` and `postgres` refuse to run as root, so as root they run as the `postgres` user in
a folder it owns. `durable=False` turns off fsync for test speed; benchmarks keep it on so
their figures mean something for a real deployment.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

PG_BIN = Path("/usr/lib/postgresql/15/bin")
LOOPBACK = "127.0.0.1"


class ClusterError(RuntimeError):
    """PostgreSQL is missing or did not start."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def conninfo(port: int, dbname: str = "postgres") -> str:
    return f"host={LOOPBACK} port={port} user=postgres dbname={dbname}"


@contextlib.contextmanager
def private_cluster(durable: bool, prefix: str = "wxguard-pg-") -> Iterator[int]:
    """Start a cluster, yield its port, stop it and remove its files afterwards."""
    if not (PG_BIN / "postgres").exists():
        raise ClusterError("PostgreSQL 15 is not installed: run scripts/setup.sh (as root)")
    base = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(base, pg.pw_uid, pg.pw_gid)
    data = base / "data"
    initdb = [str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
    subprocess.run(
        _as_postgres(initdb + ([] if durable else ["--no-sync"])), check=True, capture_output=True
    )
    port = free_port()
    options = [f"listen_addresses={LOOPBACK}", "max_connections=200"]
    if not durable:
        options += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
    args = [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(base)]
    for option in options:
        args += ["-c", option]
    proc = subprocess.Popen(
        _as_postgres(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(conninfo(port), connect_timeout=1).close()
                break
            except psycopg.OperationalError as exc:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise ClusterError("the private PostgreSQL cluster did not start") from exc
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()  # SIGTERM: smart shutdown, waits for clients
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)
