#!/usr/bin/env bash
# Build wfstore (release) into ./.venv and run the main job: `wfstore demo [PATH]
# [--runs N] [--workers P]` (see `wfstore demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q .
exec .venv/bin/wfstore demo "$@"
