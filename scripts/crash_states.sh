#!/usr/bin/env bash
# Crash states (issue 22): every state a power cut or a kernel crash may leave of the
# core's operations (a row update, a batch commit, a parameter append, rechunk with and
# without backup, a JSON store commit, repair, hpcflow 0.3.0 run and parameter file
# writes, each durability; zip, unzip), under an ext4 data=ordered-like and a weaker
# persistence model, built from the recorded file operations and checked in a fresh
# folder each. `cargo test` runs a bounded sample of the same; this runs them all
# (sampled with a seed only where a crash point has more than WFSTORE_CRASH_CAP
# choices, default 256). 2 to 10 minutes on two busy cores (release build).
#
#   scripts/crash_states.sh [SEED]        (default 22)
#
# Prints one line per operation kind and, last, `crash states: N explored, F failed`;
# any failure makes the run fail.
set -euo pipefail
cd "$(dirname "$0")/.."
export WFSTORE_CRASH_EXHAUSTIVE=1
export WFSTORE_CRASH_SEED=${1:-22}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
nice cargo test -q --release -p wfstore-core --lib crash_states_of_every_operation_kind \
    -- --nocapture >"$out" 2>&1 || status=$?
grep -v '^crash states: [0-9]' "$out" | grep -E '^(crash states|  )' || true
if [ "$status" -ne 0 ]; then
    grep -E 'panicked|failed' "$out" | head -20 >&2
fi
grep '^crash states: [0-9]' "$out" | tail -1
exit "$status"
