#!/usr/bin/env bash
# Build everything and run every test: Rust formatting, lints and tests, then the
# Python suite against the built extension, in ./.venv-test (created here), and the
# core tests (and the core over fsspec) again with the oldest pins the engine uses
# (numpy 1.26, fsspec 2022.11). Side environments hold the engines: hpcflow-new2
# 0.2.0a190 (.venv-hpcflow) and hpcflow 0.3.0 (.venv-hpcflow03). The SFTP tests need
# OpenSSH's sshd and the durability tests strace, installed here with apt-get when
# missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
step "cargo test (wfstore-core: unit, property and integration tests, doctests, example)"
cargo test --workspace
cargo run -q -p wfstore-core --example basic >/dev/null
step "fuzz targets, bounded: 12.5 s each, 75 s in all (stable driver; scripts/fuzz.sh runs them longer)"
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo run -q --manifest-path fuzz/Cargo.toml --target-dir target --bin wfstore-fuzz -- \
    --seconds 12.5 --seed 1 --artifacts target/fuzz-artifacts
step "no pyo3 in wfstore-core's dependency tree"
if cargo tree -p wfstore-core -e normal,build | grep -qi pyo3; then
    echo "wfstore-core depends on pyo3" >&2
    exit 1
fi

step "build the wheel"
rm -rf target/wheels
[ -x .venv-test/bin/python ] || "$PY" -m venv .venv-test
.venv-test/bin/python -m pip install -q --upgrade pip
.venv-test/bin/python -m pip install -q "maturin>=1.5,<2"
.venv-test/bin/maturin build -q --out target/wheels
WHEEL=$(ls target/wheels/wfstore-*.whl)

step "side environment with the engine (hpcflow-new2 0.2.0a190) for round-trip tests"
[ -x .venv-hpcflow/bin/python ] || "$PY" -m venv .venv-hpcflow
.venv-hpcflow/bin/python -m pip install -q --upgrade pip
# pytest: a fixture's parameter class lives in the engine's own tests (tests/migrate)
.venv-hpcflow/bin/python -m pip install -q "hpcflow-new2==0.2.0a190" "zarr==2.17.2" "numcodecs<0.13" pytest
# wfstore too, for the tests of wfstore.hpcflow.register() (tests/engine):
.venv-hpcflow/bin/python -m pip install -q --force-reinstall --no-deps "$WHEEL"
export WFSTORE_HPCFLOW_PYTHON="$PWD/.venv-hpcflow/bin/python"

step "side environment with hpcflow 0.3.0 (its fixture tests; numcodecs as hpcflow pins it)"
[ -x .venv-hpcflow03/bin/python ] || "$PY" -m venv .venv-hpcflow03
.venv-hpcflow03/bin/python -m pip install -q --upgrade pip
.venv-hpcflow03/bin/python -m pip install -q "hpcflow[test]==0.3.0" "zarr==2.17.2" pytest-xdist
# wfstore too, for the tests of the engine generation check (tests/engine):
.venv-hpcflow03/bin/python -m pip install -q --force-reinstall --no-deps "$WHEEL"
.venv-hpcflow03/bin/python -m pip check
export WFSTORE_HPCFLOW03_PYTHON="$PWD/.venv-hpcflow03/bin/python"

step "OpenSSH server for the SFTP tests, strace for the durability tests (Debian packages)"
missing=()
{ [ -x /usr/sbin/sshd ] && command -v ssh-keygen >/dev/null; } || missing+=(openssh-server)
command -v strace >/dev/null || missing+=(strace)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "${missing[*]} missing and cannot be installed here: their tests skip (fail under CI)" >&2
    fi
fi

step "Python suite (newest numpy and fsspec)"
.venv-test/bin/python -m pip install -q --force-reinstall --no-deps "$WHEEL"
.venv-test/bin/python -m pip install -q "$WHEEL[test]" msgpack
.venv-test/bin/ruff check python tests benches
.venv-test/bin/lint-imports --no-cache
.venv-test/bin/python -m pytest -q -p no:cacheprovider tests

step "benchmark runner smoke run (200 runs, wfstore only; times are not checked)"
.venv-test/bin/python benches/compare.py --runs 200 --json-runs 200 --wfstore-only --no-readme \
    --out "$(mktemp -d)/compare.json"

step "engine-level benchmark runner smoke run (40 runs, sequence workload, every variant; times are not checked)"
.venv-hpcflow/bin/python benches/engine.py --runs 40 --workloads sequence --share inline --no-plot \
    --out "$(mktemp -d)/engine.json"

step "core and CLI tests with the engine's pins (numpy 1.26, fsspec 2022.11, click 8.1.3, rich 13.4.2)"
[ -x .venv-pins/bin/python ] || "$PY" -m venv .venv-pins
.venv-pins/bin/python -m pip install -q --upgrade pip
.venv-pins/bin/python -m pip install -q "numpy==1.26.4" "fsspec==2022.11.0" "zarr==2.17.2" \
    "numcodecs==0.12.1" "click==8.1.3" "rich==13.4.2" msgpack pytest hypothesis
.venv-pins/bin/python -m pip install -q --force-reinstall --no-deps "$WHEEL"
.venv-pins/bin/python -m pip check
.venv-pins/bin/python -m pytest -q -p no:cacheprovider tests/test_core_oracle.py tests/test_core_api.py tests/test_core_fixtures.py \
    tests/test_fsspec_store.py tests/test_cli.py

step "hpcflow's own test suite: the engine's stores, then wfstore registered (scripts/engine_suite.sh)"
if [ "${WFSTORE_ENGINE_SUITE:-1}" = 1 ]; then
    ENGINE_VENV="$PWD/.venv-hpcflow" WFSTORE_WHEEL="$WHEEL" bash scripts/engine_suite.sh
else
    echo "skipped (WFSTORE_ENGINE_SUITE=0)"
fi

# hpcflow 0.3.0's own suite, compared the same way: its unit selection (about 4 min a
# side on 2 cores) and the integration tests of tests/engine/engine03_integration_store.txt
# (44 real submissions through the store; about 1.5 min with 0.3.0's stores, 2.3 min
# with wfstore's);
# WFSTORE_ENGINE03_SELECTIONS="unit integration" runs the whole integration selection
# instead (about 15 min a side, outside the 60-minute budget)
step "hpcflow 0.3.0's own test suite: its stores, then wfstore registered"
if [ "${WFSTORE_ENGINE_SUITE:-1}" = 1 ]; then
    # shellcheck disable=SC2086
    ENGINE_GENERATION=0.3.0 ENGINE_VENV="$PWD/.venv-hpcflow03" WFSTORE_WHEEL="$WHEEL" \
        bash scripts/engine_suite.sh ${WFSTORE_ENGINE03_SELECTIONS:-unit integration-store}
else
    echo "skipped (WFSTORE_ENGINE_SUITE=0)"
fi
