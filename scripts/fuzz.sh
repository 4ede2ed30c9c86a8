#!/usr/bin/env bash
# Long fuzzing runs (issue 6, point 6). CI runs a short bounded pass of the same targets
# from scripts/test.sh; this script runs them for longer.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Targets: object_chunk, numeric_chunk, metadata, zip_archive, json_spans (default: all).
#
# * With cargo-fuzz installed (`cargo install cargo-fuzz`), each target runs under
#   libFuzzer with AddressSanitizer. libFuzzer needs nightly compiler features; on a
#   stable toolchain they are unlocked with RUSTC_BOOTSTRAP=1 (set here). Memory limits:
#   2 GiB RSS, no single allocation over 1.5 GiB (decoded sizes are capped at 1 GiB).
#   The corpus is kept in fuzz/corpus/<target>, findings in fuzz/artifacts/<target>.
# * Otherwise (or with WFSTORE_FUZZ_STABLE=1) the stable driver `wfstore-fuzz` runs
#   the same targets with its own mutator (see fuzz/src/bin/wfstore-fuzz.rs).
#
# Then the Python hypothesis targets run with WFSTORE_HYPOTHESIS_EXAMPLES (default
# 5000) examples each, if PYTHON (default: python3) can import wfstore.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-600}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(object_chunk numeric_chunk record_array metadata zip_archive json_spans)
PY=${PYTHON:-python3}

if [ -z "${WFSTORE_FUZZ_STABLE:-}" ] && cargo fuzz --version >/dev/null 2>&1; then
    export RUSTC_BOOTSTRAP=1
    for t in "${TARGETS[@]}"; do
        echo "==> cargo fuzz run $t (${SECONDS_PER_TARGET} s)"
        mkdir -p "fuzz/corpus/$t"
        (cd fuzz && nice cargo fuzz run --features libfuzzer -O "$t" "corpus/$t" -- \
            -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 \
            -malloc_limit_mb=1536 -timeout=20 -print_final_stats=1)
    done
else
    echo "==> wfstore-fuzz (stable driver), ${SECONDS_PER_TARGET} s per target"
    args=()
    for t in "${TARGETS[@]}"; do args+=(--target "$t"); done
    nice cargo run -q --manifest-path fuzz/Cargo.toml --target-dir target \
        --bin wfstore-fuzz -- --seconds "$SECONDS_PER_TARGET" --seed "${SEED:-$RANDOM}" \
        --artifacts fuzz/artifacts "${args[@]}"
fi

if "$PY" -c "import wfstore, hypothesis" >/dev/null 2>&1; then
    echo "==> hypothesis targets (${WFSTORE_HYPOTHESIS_EXAMPLES:-5000} examples each)"
    WFSTORE_HYPOTHESIS_EXAMPLES=${WFSTORE_HYPOTHESIS_EXAMPLES:-5000} nice "$PY" -m pytest -q \
        -p no:cacheprovider tests/reliability/test_rel_hypothesis.py --hypothesis-show-statistics
fi
