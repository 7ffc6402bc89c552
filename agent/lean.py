"""What the agent process does not import: optional modules its libraries load only if present.

The agent is a long-running service with an RSS budget (< 60 MB idle, docs/agent-exchange.md);
two of its libraries import modules it never uses when they happen to be installed beside it
(in a development environment, or when the server's or the tests' dependencies share the
interpreter):

- httpcore imports `trio` (and with it attrs, outcome, sortedcontainers: ~5 MB, ~0.3 s) to
  support trio's event loop: the agent's HTTP client is synchronous
  (https://github.com/encode/httpcore/blob/master/httpcore/_synchronization.py).
- httpx imports its command-line tool `httpx._main` (click, pygments, rich: ~1-3 MB) from its
  `__init__`, and falls back to a stub when that import fails
  (https://github.com/encode/httpx/blob/master/httpx/__init__.py).

`skip_unused_imports()` marks them as absent in `sys.modules` (Python's documented way to
make an import raise ImportError: https://docs.python.org/3/reference/import.html#the-module-cache),
before the agent's modules are imported. Only the `wxguard agent run` process calls it; the
CLI, the tray and the tests keep every module.
"""

from __future__ import annotations

import sys

# Module names whose import must fail in the agent process, with why (for the docs and tests).
UNUSED: dict[str, str] = {
    "trio": "httpcore's trio support; the agent's HTTP client is synchronous",
    "httpx._main": "httpx's command-line tool (click, pygments, rich)",
}

# Modules an idle agent has not imported (tests/agent/test_lean_imports.py): each is imported
# where it is first needed, or never. yara-x (~20 MB with the compiled rules) runs in the
# content worker process, started during scans and gone after an idle minute
# (checks/content/worker.py).
NOT_AT_IDLE: tuple[str, ...] = (
    "yara_x",
    "trio",
    "click",
    "pygments",
    "rich",
    "asn1crypto",  # Authenticode / code signatures of Windows and macOS files (checks/integrity)
    "regipy",  # offline Windows registry hives (images)
    "PySquashfsImage",  # AppImage contents
    "PySide6",  # the tray's
    "fastapi",  # the server's
    "sqlalchemy",
)


def skip_unused_imports() -> None:
    """Make the imports of `UNUSED` fail in this process (a module already imported stays)."""
    for name in UNUSED:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
