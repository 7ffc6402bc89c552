"""Shared test setup: artifacts folder and the project's console scripts."""

from __future__ import annotations

import os
import sys
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
