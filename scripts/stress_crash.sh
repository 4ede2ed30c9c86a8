#!/usr/bin/env bash
# Longer crash-safety run (issue 6, point 2): the SIGKILL tests of
# tests/reliability/test_rel_crash.py with many more kills per operation.
#
#   scripts/stress_crash.sh [KILLS_PER_TEST]     (default 100)
#
# Needs PYTHON (default python3) able to import wfstore, pytest and numpy.
set -euo pipefail
cd "$(dirname "$0")/.."
export WFSTORE_CRASH_KILLS=${1:-100}
nice "${PYTHON:-python3}" -m pytest -q -s -p no:cacheprovider tests/reliability/test_rel_crash.py
