# The targets CI and developers run. `make test` is what .ci/run calls.
.PHONY: setup run test lint types unit unit-fast bench check clean screenshots

setup:
	scripts/setup.sh

run: setup
	scripts/run.sh

test: setup
	scripts/test.sh

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports --no-cache

types: setup
	.venv/bin/mypy
	.venv/bin/mypy --platform win32 protocol checks agent gui server
	.venv/bin/mypy --platform darwin protocol checks agent gui server

unit: setup
	.venv/bin/pytest -q

# The quick loop: everything but the real PostgreSQL, browser, root, virtual-display and live
# process tests (kinds sorted in tests/conftest.py). `make test` runs them all.
unit-fast: setup
	.venv/bin/pytest -q -m "not (postgres or browser or root or display or live)"

bench: setup
	.venv/bin/python -m bench.scan

check: setup
	.venv/bin/wxguard check

clean:
	rm -rf .venv artifacts .pytest_cache .mypy_cache .ruff_cache *.egg-info

# Every tray window (Xvfb + a StatusNotifierItem host + the real tray) and every main dashboard
# page (a seeded real server in headless Chromium), in Chinese and English, for review (#16).
screenshots: setup
	.venv/bin/python scripts/screenshots.py
