"""The content worker: YARA matching in a process of its own, so the long-running agent holds
neither yara-x nor compiled rules while idle (~20 MB of its < 60 MB budget, docs/agent-exchange.md).

The agent starts it on first need (`WorkerMatcher`), keeps it while scans run, and the worker
exits after `IDLE_S` seconds without a request (or when the agent closes its end). The agent
still opens every file itself through its read policy (`FsView.open_content`: no links
followed, owner rules, size limits) and hands the worker the OPEN FILE DESCRIPTOR over a Unix
socket (SCM_RIGHTS, https://man7.org/linux/man-pages/man7/unix.7.html), never a path: the
worker opens nothing, and after loading yara-x it gives up root (user nobody) when it can.

Frames both ways: 4-byte big-endian length, then JSON.
- {"op": "rules", "sources": [[origin, text], ...]} -> {"names": [...]} or
  {"error": "compile" | "import", "message": ...}
- {"op": "match", "kind": ..., "limit": n} with one descriptor -> {"hits": [[rule, detail], ...]},
  {"too_large": true} or {"failed": reason}
A worker that crashes, hangs past `FILE_DEADLINE_S`, or answers nonsense makes that file a blind
spot (MatchFailed) and is killed; the next file starts a new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import Any, BinaryIO

from checks.content.yara import (
    SCAN_TIMEOUT_S,
    ContentHit,
    ContentRulesError,
    MatchFailed,
    TooLarge,
    sources_digest,
    use_matcher,
)

# A worker with no request for this long exits (the idle agent then holds none of it).
IDLE_S = 60.0
# One file: reading it (at most 64 MiB) and yara-x's own timeout, with a margin for a loaded
# machine. Past it the worker is killed and the file is a blind spot.
FILE_DEADLINE_S = SCAN_TIMEOUT_S + 20.0
# Starting the worker and compiling a rule set.
RULES_DEADLINE_S = 120.0
_MAX_FRAME = 64 * 1024 * 1024
_NOBODY = 65534


def _frame(obj: object) -> bytes:
    body = json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return struct.pack(">I", len(body)) + body


def _recv_exact(sock: socket.socket, n: int, fds: list[int], deadline: float | None) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
        if sys.platform == "win32":
            raise OSError("no descriptor passing on Windows")
        data, got, _flags, _addr = socket.recv_fds(sock, min(n - len(buf), 1 << 20), 4)
        fds.extend(got)
        if not data:
            raise EOFError
        buf += data
    return bytes(buf)


def _recv_frame(sock: socket.socket, deadline: float | None) -> tuple[Any, list[int]]:
    """One frame and the descriptors that came with it. Raises EOFError, TimeoutError,
    OSError, ValueError (not a frame)."""
    fds: list[int] = []
    try:
        (size,) = struct.unpack(">I", _recv_exact(sock, 4, fds, deadline))
        if size > _MAX_FRAME:
            raise ValueError(f"frame of {size} bytes")
        return json.loads(_recv_exact(sock, size, fds, deadline)), fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


class WorkerMatcher:
    """The agent's side: `names` and `match` of checks.content.yara.Matcher, done by the
    worker process (started when needed, restarted after it failed or went idle)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._loaded = ""  # digest of the rule set compiled in the current worker
        self._names: dict[str, set[str]] = {}  # digest -> rule names
        self._last = 0.0

    @property
    def pid(self) -> int | None:
        """The running worker's process id (None when there is none)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def names(self, sources: tuple[tuple[str, str], ...]) -> set[str]:
        digest = sources_digest(sources)
        with self._lock:
            if digest not in self._names:
                self._load(sources, digest)
            return set(self._names[digest])

    def match(
        self, sources: tuple[tuple[str, str], ...], fh: BinaryIO, kind: str, limit: int
    ) -> tuple[ContentHit, ...]:
        digest = sources_digest(sources)
        with self._lock:
            self._load(sources, digest)
            answer = self._ask({"op": "match", "kind": kind, "limit": limit}, fh.fileno())
            if answer.get("too_large") is True:
                raise TooLarge()
            if isinstance(answer.get("failed"), str):
                raise MatchFailed(answer["failed"][:200])
            hits = answer.get("hits")
            known = self._names[digest]
            if (
                not isinstance(hits, list)
                or len(hits) > len(known)
                or not all(
                    isinstance(h, list)
                    and len(h) == 2
                    and h[0] in known
                    and isinstance(h[1], str)
                    and len(h[1]) <= 2000
                    for h in hits
                )
            ):
                self.stop()
                raise MatchFailed("the content worker's answer makes no sense")
            return tuple(ContentHit(h[0], h[1]) for h in hits)

    def stop(self) -> None:
        """Kill the worker (if any) and forget it; the next request starts a new one."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None
        self._loaded = ""

    def _load(self, sources: tuple[tuple[str, str], ...], digest: str) -> None:
        """A live worker with `sources` compiled. Raises ContentRulesError, ImportError or
        MatchFailed."""
        if self._proc is not None and (
            self._proc.poll() is not None
            or time.monotonic() - self._last > max(IDLE_S - 10.0, IDLE_S / 2)
        ):  # gone, or about to exit on its own
            self.stop()
        if self._proc is None:
            self._start()
        if self._loaded == digest:
            return
        answer = self._ask(
            {"op": "rules", "sources": [list(s) for s in sources]}, None, RULES_DEADLINE_S
        )
        if answer.get("error") == "import":
            raise ImportError(str(answer.get("message", "yara-x")))
        if answer.get("error") == "compile":
            raise ContentRulesError(str(answer.get("message", "")))
        names = answer.get("names")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            self.stop()
            raise MatchFailed("the content worker's answer makes no sense")
        self._names[digest] = set(names)
        self._loaded = digest

    def _start(self) -> None:
        if sys.platform == "win32":
            raise MatchFailed("no content worker on Windows")
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-I",  # no PYTHON* variables, no user site: only the installed code
                    "-m",
                    "checks.content.worker",
                    str(theirs.fileno()),
                    str(IDLE_S),
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        except OSError as exc:
            mine.close()
            raise MatchFailed(f"the content worker did not start: {exc}") from exc
        finally:
            theirs.close()
        self._sock = mine
        self._last = time.monotonic()
        # Reaped as soon as it exits (idle), so the agent keeps no <defunct> child around.
        threading.Thread(target=self._proc.wait, name="content-worker-reaper", daemon=True).start()

    def _ask(
        self, request: dict[str, Any], fd: int | None, limit_s: float | None = None
    ) -> dict[str, Any]:
        """Send one request (with `fd`) and read its answer within `limit_s` (default
        FILE_DEADLINE_S); any failure kills the worker and raises MatchFailed."""
        if limit_s is None:
            limit_s = FILE_DEADLINE_S
        sock = self._sock
        assert sock is not None
        if sys.platform == "win32":
            raise MatchFailed("no content worker on Windows")
        try:
            sock.settimeout(limit_s)
            data = _frame(request)
            if fd is None:
                sock.sendall(data)
            else:
                sent = socket.send_fds(sock, [data], [fd])
                if sent < len(data):
                    sock.sendall(data[sent:])
            answer, extra = _recv_frame(sock, time.monotonic() + limit_s)
        except TimeoutError as exc:
            self.stop()
            raise MatchFailed(f"the content worker gave no answer within {limit_s:.0f} s") from exc
        except (EOFError, ConnectionError) as exc:
            self.stop()
            raise MatchFailed("the content worker ended before answering") from exc
        except (OSError, ValueError) as exc:
            self.stop()
            raise MatchFailed(f"the content worker failed ({type(exc).__name__})") from exc
        for stray in extra:
            os.close(stray)
        self._last = time.monotonic()
        if not isinstance(answer, dict):
            self.stop()
            raise MatchFailed("the content worker's answer makes no sense")
        return answer


# --- the worker process --------------------------------------------------------------------


def _drop_root() -> None:
    """Give up root once yara-x is loaded: the worker reads only descriptors it is handed."""
    if sys.platform == "win32" or os.getuid() != 0:
        return
    try:
        os.setgroups([])
        os.setgid(_NOBODY)
        os.setuid(_NOBODY)
    except OSError:
        pass  # a container without that user id mapping: stay as is


def _serve(sock: socket.socket, idle_s: float) -> None:
    from checks.content.yara import compile_sources, match_open_file, new_scanner

    scanner = None
    while True:
        try:
            request, fds = _recv_frame(sock, time.monotonic() + idle_s)
        except (EOFError, TimeoutError, OSError, ValueError):
            return  # the agent is gone, or nothing to do for a minute
        try:
            answer: dict[str, Any]
            op = request.get("op") if isinstance(request, dict) else None
            if op == "rules":
                sources = tuple((str(o), str(t)) for o, t in request["sources"])
                try:
                    rules = compile_sources(sources)
                except ContentRulesError as exc:
                    answer = {"error": "compile", "message": str(exc)}
                except ImportError as exc:
                    answer = {"error": "import", "message": str(exc)}
                else:
                    scanner = new_scanner(rules)
                    answer = {"names": sorted({r.identifier for r in rules})}
            elif op == "match" and len(fds) == 1 and scanner is not None:
                try:
                    hits = match_open_file(
                        scanner, fds[0], str(request["kind"]), int(request["limit"]), mapped=True
                    )
                    answer = {"hits": [[h.rule, h.detail] for h in hits]}
                except TooLarge:
                    answer = {"too_large": True}
                except MatchFailed as exc:
                    answer = {"failed": str(exc)}
                except OSError as exc:
                    answer = {"failed": f"not read: {exc.strerror or exc}"}
            else:
                answer = {"failed": "the content worker did not understand the request"}
        finally:
            for fd in fds:
                os.close(fd)
        sock.sendall(_frame(answer))


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[1]))
    with contextlib.suppress(ImportError):  # without yara-x: answered per request
        import yara_x  # noqa: F401  (loaded before root is given up)
    _drop_root()
    with sock:
        _serve(sock, float(argv[2]) if len(argv) > 2 else IDLE_S)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))


def use_worker() -> bool:
    """Match in a worker process from now on (the long-running agent), where an open file can
    be handed to another process (Linux: SCM_RIGHTS). Elsewhere (Windows, macOS, a frozen
    build without `-m`) matching stays in-process. Returns whether the worker is used."""
    if sys.platform != "linux" or getattr(sys, "frozen", False):
        return False
    use_matcher(WorkerMatcher())
    return True
