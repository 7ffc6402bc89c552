#!/usr/bin/env bash
# The main job. Today: a full compliance scan of this machine. The central server, the
# enrolled agent and the tray join this script as their issues land (see CHANGELOG.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
rc=0
wxguard check "$@" || rc=$?
# Findings (exit 1) are a result, not a failure of the job.
[ "$rc" -le 1 ] || exit "$rc"
