# The targets CI and developers run. `make test` is what .ci/run calls.
.PHONY: setup run test lint types unit bench check clean

setup:
	scripts/setup.sh

run: setup
	scripts/run.sh

test: setup
	scripts/test.sh

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

types: setup
	.venv/bin/mypy
	.venv/bin/mypy --platform win32 protocol checks agent gui server
	.venv/bin/mypy --platform darwin protocol checks agent gui server

unit: setup
	.venv/bin/pytest -q

bench: setup
	.venv/bin/python -m bench.scan

check: setup
	.venv/bin/wxguard check

clean:
	rm -rf .venv artifacts .pytest_cache .mypy_cache .ruff_cache *.egg-info
