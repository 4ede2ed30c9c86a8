"""The main job, ``wfstore demo``: a realistic workflow store put through its paces.

:func:`run_demo` writes an engine-style Zarr workflow store through the store API (one
task; per run an element, an iteration, an input parameter that is set and an output
parameter that is not yet), then starts worker *processes* that each take their own
share of the runs and mark them started and ended (setting each run's output), a few
failing and a few skipped, committing a batch at a time as the engine's jobscripts do.
It then checks that every update reached the store, rechunks the runs and the
parameter base, zips the store, verifies the archive, reads every run back out of the
archive and compares it with the store. Each step is timed.

Workers own disjoint runs, but the runs array and the parameter base hold 100 rows per
chunk (wfstore's layout), so workers update shared chunks: each such update is made
under the store lock, and the check at the end shows that none was lost.

``wfstore demo`` (:mod:`wfstore.cli.demo`) runs it from the command line.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wfstore.common.errors import InvalidArgumentError, StoreError, StoreExistsError
from wfstore.persistence import PersistentStore, ZarrPersistentStore
from wfstore.tools.inspect import run_state
from wfstore.tools.stores import create, open_store
from wfstore.tools.verify import verify as verify_store

#: A progress callback factory: ``progress(label, total)`` is a context manager
#: yielding ``advance(done, total=None)`` (a new `total` replaces the old one).
ProgressFactory = Callable[[str, int], Any]


@contextmanager
def _no_progress(label: str, total: int) -> Iterator[Callable[..., None]]:
    yield lambda done, total=None: None


def expected_state(run_id: int) -> str:
    """The state the demo's workers leave run `run_id` in."""
    if run_id % 101 == 100:
        return "skipped"
    if run_id % 97 == 96:
        return "failed"
    return "succeeded"


def count_files(root: Path) -> int:
    """Number of files under `root` (or 1 for a file)."""
    if root.is_file():
        return 1
    return sum(len(files) for _, _, files in os.walk(root))


def build_store(
    path: Path, runs: int, progress: ProgressFactory = _no_progress
) -> ZarrPersistentStore:
    """Write an engine-style Zarr store with `runs` pending runs through the API."""
    store = create(path, kind="zarr", name="demo")
    assert isinstance(store, ZarrPersistentStore)
    tid = store.add_task(
        0,
        {"insert_ID": 0, "element_sets": [], "schema": ["hash:demo"], "dir_name": "task_0"},
        save=False,
    )
    store.add_element_set(tid, {"repeats": [], "label": "es0", "inputs": []}, save=False)
    src = {"type": "local_input", "task_insert_ID": 0, "element_set_idx": 0}
    with progress("build runs", runs) as advance:
        for i in range(runs):
            p_in = store.add_set_parameter({"x": i, "label": f"run {i}"}, src, save=False)
            p_out = store.add_unset_parameter({"type": "EAR_output"}, save=False)
            elem = store.add_element(tid, 0, {"inputs.p1": i}, {"inputs.p1": 0}, save=False)
            data_idx = {"inputs.p1": p_in, "outputs.p2": p_out}
            it = store.add_element_iteration(
                elem, data_idx, ["inputs.p1", "outputs.p2"], save=False
            )
            store.add_EAR(it, 0, [0], data_idx, save=False)
            store.set_EARs_initialised(it, save=False)
            if i % 500 == 499:
                advance(i + 1)
        advance(runs)
    with progress("commit", 1) as advance:
        store.save()
        advance(1)
    return store


def _worker(path: str, run_ids: list[int], batch: int, counter: Any) -> None:
    """Mark `run_ids` started, then ended (setting outputs), `batch` runs per commit.

    Runs in a separate process (started with the ``spawn`` method).
    """
    store = open_store(path)
    for start in range(0, len(run_ids), batch):
        ids = run_ids[start : start + batch]
        runs = store.get_EARs(ids)
        for run in runs:
            if expected_state(run.id_) == "skipped":
                store.set_EAR_skip(run.id_, save=False)
            else:
                store.set_EAR_start(run.id_, save=False)
        store.save()
        for run in runs:
            state = expected_state(run.id_)
            if state == "skipped":
                continue
            ok = state == "succeeded"
            store.set_parameter_value(
                run.data_idx["outputs.p2"], {"y": 2 * run.id_, "ok": ok}, save=False
            )
            store.set_EAR_end(run.id_, 0 if ok else 1, ok, save=False)
        store.save()
        with counter.get_lock():
            counter.value += len(ids)


def run_workers(
    path: Path,
    runs: int,
    workers: int,
    batch: int = 50,
    progress: ProgressFactory = _no_progress,
) -> None:
    """Mark every run started and ended from `workers` processes, each owning the runs
    ``i`` with ``i % workers == k`` (interleaved, so all run at once over the array)."""
    ctx = mp.get_context("spawn")  # the Rust core's thread pool must not be forked
    counter = ctx.Value("q", 0)
    procs = [
        ctx.Process(
            target=_worker,
            args=(str(path), list(range(k, runs, workers)), batch, counter),
            name=f"wfstore-demo-worker-{k}",
        )
        for k in range(workers)
    ]
    for proc in procs:
        proc.start()
    try:
        with progress(f"{workers} workers: runs", runs) as advance:
            while any(p.is_alive() for p in procs):
                advance(counter.value)
                time.sleep(0.1)
            advance(counter.value)
    finally:
        for proc in procs:
            proc.join()
    failed = [p.name for p in procs if p.exitcode != 0]
    if failed:
        raise StoreError(f"demo workers failed: {', '.join(failed)}")


def check_runs(store: PersistentStore, runs: int) -> dict[str, int]:
    """Check every run's state and output against what the workers did; returns the
    count of runs per state. Raises StoreError naming the first runs that differ."""
    states: dict[str, int] = {}
    wrong: list[int] = []
    got = store.get_EARs(range(runs))
    outs = store.get_parameters([r.data_idx["outputs.p2"] for r in got])
    for run, out in zip(got, outs):
        state = run_state(run)
        states[state] = states.get(state, 0) + 1
        want = expected_state(run.id_)
        if state != want:
            wrong.append(run.id_)
        elif want != "skipped" and out.data != {"y": 2 * run.id_, "ok": want == "succeeded"}:
            wrong.append(run.id_)
    if wrong:
        raise StoreError(
            f"{len(wrong)} runs lost updates (first: {wrong[:10]}); states: {states}"
        )
    return states


@dataclass
class DemoResult:
    """The steps of a demo: (name, seconds, files, detail) rows."""

    path: str
    archive: str
    runs: int
    workers: int
    steps: list[tuple[str, float, int | None, str]] = field(default_factory=list)


def run_demo(
    path: Path,
    runs: int = 10_000,
    workers: int = 2,
    batch: int = 50,
    progress: ProgressFactory = _no_progress,
) -> DemoResult:
    """Run every step on a new store at `path` (which must not exist, or be an empty
    folder); the archive is written beside it as ``<path>.zip``."""
    if runs < 1 or workers < 1 or batch < 1:
        raise InvalidArgumentError("runs, workers and batch must be at least 1")
    path = Path(path).resolve()
    archive = path.parent / f"{path.name}.zip"
    if archive.exists():
        raise StoreExistsError(f"The archive {str(archive)!r} already exists.")
    res = DemoResult(str(path), str(archive), runs, workers)

    def step(name: str, fn: Callable[[], str], where: Path) -> None:
        t0 = time.perf_counter()
        detail = fn()
        res.steps.append((name, time.perf_counter() - t0, count_files(where), detail))

    step("create store", lambda: _create(path, runs, progress), path)

    def work() -> str:
        run_workers(path, runs, workers, batch, progress)
        durability = open_store(path).durability  # the workers' too (the environment)
        return f"{workers} processes, {batch} runs per commit, durability {durability}"

    step("run workers", work, path)

    def check() -> str:
        states = check_runs(open_store(path), runs)
        return "nothing lost: " + ", ".join(f"{v} {k}" for k, v in sorted(states.items()))

    step("check runs", check, path)

    def rechunk() -> str:
        store = open_store(path)
        with progress("rechunk runs", 1) as advance:
            r1 = store.rechunk_runs(backup=True, status=False)
            advance(1)
        with progress("rechunk parameters", 1) as advance:
            r2 = store.rechunk_parameter_base(backup=True, status=False)
            advance(1)
        return (
            f"runs {r1['old_chunk_size']} -> {r1['new_chunk_size']}, "
            f"parameters {r2['old_chunk_size']} -> {r2['new_chunk_size']} (with backups)"
        )

    step("rechunk", rechunk, path)

    def zip_() -> str:
        open_store(path).zip(str(archive))
        return f"{archive.stat().st_size:,} bytes (backups left out)"

    step("zip", zip_, archive)

    def verify() -> str:
        with progress("verify archive", 1) as advance:
            report = verify_store(archive, progress=advance)
        if not report.ok:
            bad = ", ".join(b.location for b in report.bad[:5])
            raise StoreError(f"the archive has {len(report.bad)} bad chunks: {bad}")
        return f"{report.arrays} arrays, {report.chunks} chunks, none bad"

    step("verify archive", verify, archive)

    def read_back() -> str:
        zs, ls = open_store(archive), open_store(path)
        a = zs.get_EARs(range(runs))
        b = ls.get_EARs(range(runs))
        if a != b:
            raise StoreError("the runs read from the archive differ from the store")
        check_runs(zs, runs)
        return f"{runs} runs read in place, identical"

    step("read archive", read_back, archive)
    return res


def _create(path: Path, runs: int, progress: ProgressFactory) -> str:
    build_store(path, runs, progress)
    return f"{runs} runs, {2 * runs} parameters"
