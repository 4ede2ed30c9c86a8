#!/usr/bin/env bash
# Longer run of the concurrent-writers test: WORKERS job processes (default 16), each
# owning RUNS runs (default 50), commit their runs' starts, ends, parameter values and
# sources and their jobscripts' metadata on one Zarr store at once, ROUNDS times
# (default 5); every update must be there afterwards. Uses ./.venv-test (made by
# scripts/test.sh) unless PYTHON is set.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv-test/bin/python}
export WFSTORE_STRESS_WORKERS="${1:-16}" WFSTORE_STRESS_RUNS_PER_WORKER="${2:-50}"
for round in $(seq "${3:-5}"); do
    echo "round $round: $WFSTORE_STRESS_WORKERS writers x $WFSTORE_STRESS_RUNS_PER_WORKER runs"
    "$PY" -m pytest -q -s -p no:cacheprovider tests/persistence/test_concurrency.py \
        -k concurrent_writers_lose_nothing | grep -E "updates|passed|failed"
done
