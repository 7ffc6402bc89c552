#!/usr/bin/env bash
# Runs every check CI runs: lint, format, types, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p artifacts
echo "== ruff check";  ruff check .
echo "== ruff format"; ruff format --check .
echo "== mypy";        mypy
echo "== pytest";      pytest -q -p no:cacheprovider "$@"
