#!/usr/bin/env bash
# Runs every check CI runs: lint, format, types, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p artifacts
echo "== ruff check";  ruff check .
echo "== ruff format"; ruff format --check .
echo "== imports";     lint-imports --no-cache
echo "== mypy";        mypy
# What ships to Windows and macOS workstations is type-checked for those platforms too: the
# named pipe and the DACL code are never run on this Linux machine.
echo "== mypy (win32)";  mypy --platform win32 protocol checks agent gui server
echo "== mypy (darwin)"; mypy --platform darwin protocol checks agent gui server
echo "== pytest";      pytest -q -p no:cacheprovider "$@"
