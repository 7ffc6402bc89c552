"""Shared test setup: artifacts folder, the project's console scripts, and the test kinds.

Every test is sorted into kinds by what it needs, in one place (`pytest_collection_modifyitems`),
so `make unit-fast` can leave out the slow real parts and a new test is sorted without anyone
remembering to mark it:

- `postgres`: a real PostgreSQL cluster (the `pg_cluster` fixture, or a `postgresql` parameter).
- `browser`: headless Chromium through selenium.
- `root`: real accounts, owners, mounts or fanotify (skipped when not root: the reason says so).
- `display`: a virtual display (Xvfb) with a real tray host.
- `live`: real agent or server processes, or the real machine's files.
"""

from __future__ import annotations

import functools
import os
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = ROOT / "artifacts"
    path.mkdir(exist_ok=True)
    return path


def script(name: str) -> str:
    """Path of an installed console script of this project (wxguard, wxguard-server …)."""
    candidate = VENV_BIN / name
    return str(candidate) if candidate.exists() else name


os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")


KINDS = ("postgres", "browser", "root", "display", "live")

# What a test module uses (a module, or a function or class by its qualified name, or anything
# below a prefix), and the kind it makes each of its tests.
_USES = {
    "selenium": "browser",
    "tests.support.accounts": "root",
    "tests.support.real_server": "live",
    "tests.support.real_agent": "live",
    "tests.agent.conftest.start_agent": "live",
    "bench.tray.real_agent": "live",
    "checks.api.live_scanner": "live",  # a scan of this machine's real homes
    "checks.api.scan_live": "live",
}
# Fixtures that make a test of a kind wherever they are used.
_FIXTURES = {"pg_cluster": "postgres", "agent_process": "live", "deb_build": "root"}


@functools.cache
def _mentions_xvfb(source: str) -> bool:
    return bool(source) and "xvfb" in Path(source).read_text(errors="replace").lower()


def _kinds_of(item: pytest.Item) -> set[str]:
    kinds: set[str] = set()
    params = getattr(getattr(item, "callspec", None), "params", {})
    if "postgresql" in params.values():
        kinds.add("postgres")
    kinds.update(
        kind for name, kind in _FIXTURES.items() if name in getattr(item, "fixturenames", ())
    )
    for mark in item.iter_markers("skipif"):
        if "root" in str(mark.kwargs.get("reason", "")):
            kinds.add("root")
    module = getattr(item, "module", None)
    if module is not None:
        if _mentions_xvfb(getattr(module, "__file__", "") or ""):
            kinds.add("display")
        for value in vars(module).values():
            if isinstance(value, types.ModuleType):
                name = value.__name__
            else:
                owner = str(getattr(value, "__module__", "") or "")
                name = f"{owner}.{getattr(value, '__qualname__', '')}"
            for prefix, kind in _USES.items():
                if name == prefix or name.startswith(prefix + "."):
                    kinds.add(kind)
    return kinds


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for kind in _kinds_of(item) - {m.name for m in item.iter_markers()}:
            item.add_marker(getattr(pytest.mark, kind))
