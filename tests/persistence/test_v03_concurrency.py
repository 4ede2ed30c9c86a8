"""Reliability of wfstore's writes on hpcflow 0.3.0 stores (as test_concurrency.py and
the SIGKILL tests of tests/reliability for 0.2.0a190 stores).

The store is made by hpcflow 0.3.0 itself with a submission (``add_submission``:
every run has its own run file, as 0.3.0 assigns them when array elements may run at
once); 8 worker processes record starts, output values and ends of their own runs at
once through wfstore's 0.3 store, and nothing may be lost; a worker killed with SIGKILL
loses nothing it acknowledged and leaves a store that verifies clean; a consolidation
killed with SIGKILL at any step leaves every value readable, and running it again
finishes it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import wfstore
from v03_helpers import engine_dump, finish_runs, make_submitted, without_run_files
from v03_workers import same_value, value
from wfstore.persistence.v03 import consolidate as cons

HERE = Path(__file__).resolve().parent
WORKER = HERE / "v03_workers.py"
WORKERS = int(os.environ.get("WFSTORE_STRESS_WORKERS", "8"))
RUNS_PER_WORKER = int(os.environ.get("WFSTORE_STRESS_RUNS_PER_WORKER", "6"))
N_RUNS = WORKERS * RUNS_PER_WORKER


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(HERE), *[p for p in sys.path if p and "wfstore" in p], env.get("PYTHONPATH", "")]
    )
    return env


@pytest.fixture(scope="module")
def submitted(tmp_path_factory: pytest.TempPathFactory, side_python_v03: Path) -> Path:
    return make_submitted(side_python_v03, tmp_path_factory.mktemp("v03sub") / "made", N_RUNS)


@pytest.fixture(scope="module")
def submitted_shared(tmp_path_factory: pytest.TempPathFactory, side_python_v03: Path) -> Path:
    """As `submitted`, one jobscript that is not an array: one run file and one output
    parameter file for every run."""
    out = tmp_path_factory.mktemp("v03sub") / "shared"
    return make_submitted(side_python_v03, out, N_RUNS, shared=True)


def _start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )


def _lost(path: Path, acked: dict[int, int], numpy: bool = False) -> list[Any]:
    """Updates of the acknowledged runs (run -> worker) that the store does not hold."""
    store = wfstore.open(path)
    runs = store.get_EARs(sorted(acked))
    outs = {r.id_: r.data_idx["outputs.p2"] for r in runs}
    params = dict(zip(sorted(acked), store.get_parameters([outs[r] for r in sorted(acked)])))
    lost: list[Any] = []
    for run in runs:
        w = acked[run.id_]
        if (
            run.start_time is None
            or run.end_time is None
            or run.exit_code != w
            or run.success is not (run.id_ % 2 == 0)
        ):
            lost.append(("run", run.id_))
        if not same_value(params[run.id_].data, value(w, run.id_, numpy)):
            lost.append(("output", run.id_, params[run.id_].data))
    return lost


@pytest.mark.parametrize(("numpy", "shared"), [(False, False), (True, False), (False, True)])
def test_concurrent_writers_lose_nothing(
    tmp_path: Path, request: pytest.FixtureRequest, numpy: bool, shared: bool
) -> None:
    """8 processes record starts, outputs (with numpy arrays too) and ends of their own
    runs at once: every update is there afterwards and the store verifies clean. Also
    when all of them rewrite the same run file and parameter file (each rewrite takes
    the file from its memo only when the change marker read under the lock says nobody
    committed since)."""
    path = tmp_path / "wk"
    shutil.copytree(request.getfixturevalue("submitted_shared" if shared else "submitted"), path)
    store = wfstore.open(path)
    files = {r.id_: r.run_file_ID for r in store.get_EARs(range(N_RUNS))}
    # one writer per run file, as 0.3.0 plans; or one file for all
    assert len(set(files.values())) == (1 if shared else N_RUNS)
    procs = []
    for w in range(WORKERS):
        runs = [r for r in range(N_RUNS) if r % WORKERS == w]
        verb = "record-numpy" if numpy else "record"
        procs.append((w, _start([verb, str(path), str(w), *map(str, runs)])))
    acked: dict[int, int] = {}
    for w, p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        acked.update({int(ln.split()[1]): w for ln in out.splitlines() if ln.startswith("ACK")})
    assert sorted(acked) == list(range(N_RUNS))
    assert _lost(path, acked, numpy) == []
    assert wfstore.verify(path).ok
    print(f"0.3.0 store: {WORKERS} writer processes, {3 * N_RUNS} updates, 0 lost")


def test_sigkilled_writer_loses_nothing_acknowledged(tmp_path: Path, submitted: Path) -> None:
    """A writer killed with SIGKILL mid-work: every run it acknowledged is whole, the
    others' updates are untouched, and the store verifies clean (no torn file)."""
    path = tmp_path / "wk"
    shutil.copytree(submitted, path)
    victim = _start(["record", str(path), "0", *map(str, range(0, N_RUNS, 2))])
    other = _start(["record", str(path), "1", *map(str, range(1, N_RUNS, 2))])
    acked: dict[int, int] = {}
    assert victim.stdout is not None
    for line in victim.stdout:  # kill after a few acknowledged runs
        acked[int(line.split()[1])] = 0
        if len(acked) == 3:
            victim.send_signal(signal.SIGKILL)
            break
    victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    out, err = other.communicate(timeout=300)
    assert other.returncode == 0, err
    acked.update({int(ln.split()[1]): 1 for ln in out.splitlines() if ln.startswith("ACK")})
    assert _lost(path, acked) == []
    assert wfstore.verify(path).ok


def _view(path: Path) -> Any:
    store = wfstore.open(path)
    runs = store.get_EARs(range(N_RUNS))
    params = store.get_parameters(range(store._get_num_total_parameters()))
    return (
        [(r.start_time, r.end_time, r.skip, r.exit_code, r.success) for r in runs],
        [p.data for p in params],
    )


def _small_sub_dat_chunks(path: Path, rows: int) -> None:
    """Rewrite ``metadata/run_sub_dat`` with `rows` rows per chunk (0.3.0 writes 200,000,
    so a consolidation's row swap touches one chunk; with several, a kill can fall
    between chunk replacements)."""
    from wfstore import _core

    arr = path / "metadata" / "run_sub_dat"
    meta = json.loads((arr / ".zarray").read_text())
    dtype = np.dtype([tuple(f) for f in meta["dtype"]])
    raw = _core.decompress((arr / "0").read_bytes(), meta["compressor"])
    data = np.frombuffer(raw, dtype=dtype)[: meta["shape"][0]]
    (arr / "0").unlink()
    for c in range(-(-len(data) // rows)):
        chunk = np.full(rows, np.frombuffer(base64.b64decode(meta["fill_value"]), dtype)[0])
        part = data[c * rows : (c + 1) * rows]
        chunk[: len(part)] = part
        packed = _core.compress(chunk.tobytes(), meta["compressor"], dtype.itemsize)
        (arr / str(c)).write_bytes(packed)
    meta["chunks"] = [rows]
    (arr / ".zarray").write_text(json.dumps(meta, indent=4, sort_keys=True))


@pytest.mark.parametrize(
    ("stage", "n"),
    [
        ("written", 0),
        ("written", 3),
        ("swapped", 0),
        ("swapped", 2),
        ("removed", 0),
        ("removed", 40),
    ],
)
def test_sigkilled_consolidation_reads_every_value(
    tmp_path: Path, submitted: Path, side_python_v03: Path, stage: str, n: int
) -> None:
    """Consolidation killed with SIGKILL after new files are written, between and after
    the ``run_sub_dat`` chunk replacements (some runs pointing at old files, some at
    new), and while old files are removed: every value reads as before (through
    wfstore and hpcflow 0.3.0's own classes), verify is clean, and consolidating again
    finishes (5 run files left)."""
    path = tmp_path / "wk"
    shutil.copytree(submitted, path)
    _small_sub_dat_chunks(path, 7)  # 7 chunks: the swap is 7 replacements
    finish_runs(path, list(range(N_RUNS)), skip=(7,))
    before = _view(path)
    orig = tmp_path / "orig"
    shutil.copytree(path, orig)
    p = _start(["consolidate", str(path), stage, str(n)])
    out, err = p.communicate(timeout=120)
    assert p.returncode == -signal.SIGKILL, (out, err)
    assert _view(path) == before
    assert wfstore.verify(path).ok
    dumps = engine_dump(side_python_v03, orig, path)
    assert without_run_files(dumps["wk"]) == without_run_files(dumps["orig"])
    (rep,) = wfstore.open(path).consolidate_runs(runs_per_file=10)
    assert rep["files_after"] == 2 * -(-N_RUNS // 10) + 1
    assert cons.unreferenced_files(wfstore.open(path)) == []
    assert _view(path) == before


@pytest.mark.parametrize("which", ["runs", "params"])
def test_sigkilled_rechunk_reads_every_value(tmp_path: Path, submitted: Path, which: str) -> None:
    """rechunk_runs / rechunk_parameter_base of a 0.3.0 store killed with SIGKILL once
    the rows are copied, before the swap (the core reports progress once for so few
    rows; the swap's own crash points are the core's tests): the store reads every
    value as before and verifies clean, and the next rechunk clears the leftovers."""
    calls = 1
    path = tmp_path / "wk"
    shutil.copytree(submitted, path)
    finish_runs(path, list(range(N_RUNS)))
    before = _view(path)
    p = _start(["rechunk", str(path), which, str(calls)])
    out, err = p.communicate(timeout=120)
    assert p.returncode == -signal.SIGKILL, (out, err)
    assert _view(path) == before
    assert wfstore.verify(path).ok
    store = wfstore.open(path)
    rep = (store.rechunk_runs if which == "runs" else store.rechunk_parameter_base)(
        chunk_size=1, status=False
    )
    assert rep["new_chunk_size"] == 1
    assert _view(path) == before
