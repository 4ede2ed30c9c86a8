"""The benchmark workload, run inside each variant's Python: a new store of the variant
(hpcflow 0.2.0a190's Zarr or JSON store, or wfstore's) put through the workload, each
phase timed, the figures written as JSON.

Only the standard library is imported at module level: the engine's Python, where
wfstore may not be installed, runs this file by its path as the worker of the hpcflow
variants (``python workload.py VARIANT RUNS WORKDIR RESULT [MAX_CALLS [STOP_AFTER]]``);
wfstore's variants run it as ``python -m wfstore.tools.bench.workload ...``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import platform
import resource
import shutil
import statistics
import sys
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

RUNS_PER_ITER = 5
TS_FMT = "%Y-%m-%d %H:%M:%S.%f"

#: (key, label, kind) in workload order; kind "calls" phases commit once per call.
PHASES: list[tuple[str, str, str]] = [
    ("build", "build + commit (one batch)", "bulk"),
    ("sub_idx", "set run submission index (1 commit/run)", "calls"),
    ("start", "set run start (1 commit/run)", "calls"),
    ("end", "set run end (1 commit/run)", "calls"),
    ("outputs", "add + set output parameter (1 commit/call)", "calls"),
    ("read_runs", "cold open + read all runs", "bulk"),
    ("read_params", "read all parameters", "bulk"),
    ("rechunk_runs", "rechunk runs (with backup)", "bulk"),
    ("rechunk_base", "rechunk parameter base (with backup)", "bulk"),
    ("zip", "zip", "bulk"),
    ("read_zip", "read all runs from the zip", "bulk"),
    ("unzip", "unzip", "bulk"),
]
#: The hpcflow 0.3 workload's phases (variants ``hpcflow03-zarr``, ``wfstore03-zarr``):
#: 0.3's API has no one-commit submission index (a submission's run data is one batch)
#: and output parameters are added with the runs and set by the jobs. 0.3.0's own store
#: has no rechunk (``NotImplementedError``): that phase is wfstore's only.
PHASES_V03: list[tuple[str, str, str]] = [
    ("build", "build + commit (one batch)", "bulk"),
    ("submit", "add a submission + run submission data (one commit)", "bulk"),
    ("start", "set run start (1 commit/run)", "calls"),
    ("end", "set run end (1 commit/run)", "calls"),
    ("set_outputs", "set output parameter (1 commit/call)", "calls"),
    ("read_runs", "cold open + read all runs", "bulk"),
    ("read_params", "read all parameters", "bulk"),
    ("rechunk_runs", "rechunk runs (with backup)", "bulk"),
    ("zip", "zip", "bulk"),
    ("read_zip", "read all runs from the zip", "bulk"),
    ("unzip", "unzip", "bulk"),
]
#: The engine generation of each variant engine name: a190's workload, or 0.3's.
V03_ENGINES = ("hpcflow03", "wfstore03")
PHASE_LABELS = {k: label for k, label, _ in [*PHASES, *PHASES_V03]}
PHASE_KINDS = {k: kind for k, _, kind in [*PHASES, *PHASES_V03]}
#: The phases timed as a whole (not per call), whose cost per run is compared by size.
BULK_PHASES = [k for k, _, kind in PHASES if kind == "bulk"]
STORE_NAMES = {"zarr": "Zarr", "json": "JSON"}
JSON_PHASES = ["build", "sub_idx", "start", "end", "outputs", "read_runs", "read_params"]

# --- measuring ---------------------------------------------------------------------------


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux ``clear_refs`` 5); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """Peak RSS since the last reset (``VmHWM``), else since the process started."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _maxrss_mib()


def _maxrss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def count_files(path: Path) -> int:
    """Files under `path` (1 if it is a file, 0 if it does not exist)."""
    if path.is_file():
        return 1
    return sum(len(files) for _, _, files in os.walk(path))


#: Single-run commits timed in turn with atomic writes (`time_interleaved`).
INTERLEAVED_PAIRS = 1000


def time_interleaved(
    folder: Path, commit: Callable[[int], Any], ids: Sequence[int]
) -> dict[str, float]:
    """One loop doing, for each ID, a single-run commit (`commit(id)`) and then an
    atomic 200-byte write over an existing file whose data is on disk, as a chunk's is
    (temporary name, then rename): both are timed in the same state of the disk. On
    this VM's disk the cost of creating a file grows with the files deleted in the last
    ~30 s, which each replace adds to; separate loops (`time_primitives`) are billed
    differently. Returns the mean and median of each and the number of pairs."""
    folder.mkdir(parents=True, exist_ok=True)
    data = os.urandom(200)
    names = [folder / f"c.{i}" for i in range(len(ids))]
    for p in names:
        p.write_bytes(data)
    os.sync()
    t_commit, t_write = [], []
    for r, p in zip(ids, names):
        t0 = time.perf_counter()
        commit(r)
        t1 = time.perf_counter()
        tmp = p.with_name(f".tmp-{p.name}")
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, p)
        t2 = time.perf_counter()
        t_commit.append(t1 - t0)
        t_write.append(t2 - t1)
    return {
        "pairs": len(ids),
        "commit_mean_s": statistics.mean(t_commit),
        "commit_median_s": statistics.median(t_commit),
        "write_mean_s": statistics.mean(t_write),
        "write_median_s": statistics.median(t_write),
    }


def time_primitives(folder: Path, n: int = 2000) -> dict[str, float]:
    """Mean seconds of an atomic 200-byte write (temporary name, then rename; the file
    exists already, as a run's chunk does) and of a small-file read, over `n` files."""
    folder.mkdir(parents=True, exist_ok=True)
    data = os.urandom(200)
    names = [folder / f"c.{i}" for i in range(n)]
    for p in names:
        p.write_bytes(data)
    t0 = time.perf_counter()
    for p in names:
        tmp = p.with_name(f".tmp-{p.name}")
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, p)
    t_write = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for p in names:
        with open(p, "rb") as fh:
            fh.read()
    t_read = (time.perf_counter() - t0) / n
    shutil.rmtree(folder)
    return {"atomic_write_200B_s": t_write, "small_read_s": t_read}


def time_tree_floor(tree: Path, parent: Path, tries: int = 3) -> dict[str, float]:
    """The unzip's floor: seconds to create a copy of the folder `tree` (its folders,
    then its files with their bytes) with plain system calls (Python's ``os``), in new
    folders made directly in `parent` as an unzip's destination is, each try after a
    ``sync`` as every phase; the fastest of `tries`. The bytes are read beforehand."""
    folders: list[str] = []
    files: list[tuple[str, bytes]] = []
    for dirpath, _dirs, filenames in os.walk(tree):
        rel = os.path.relpath(dirpath, tree)
        if rel != ".":
            folders.append(rel)
        for name in filenames:
            files.append((os.path.join(rel, name), Path(dirpath, name).read_bytes()))
    best = float("inf")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for k in range(tries):
        dst = str(parent / f"floor-tree-{k}")
        os.sync()
        t0 = time.perf_counter()
        os.mkdir(dst)
        for rel in folders:
            os.mkdir(os.path.join(dst, rel))
        for rel, data in files:
            fd = os.open(os.path.join(dst, rel), flags, 0o666)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        best = min(best, time.perf_counter() - t0)
    return {"files": len(files), "folders": len(folders) + 1, "seconds": best}


class PhaseTimer:
    """Times the phases of one workload: each phase after a ``sync`` (the disk starts it
    clean: data an earlier phase or variant left dirty is written back then, not billed
    to it), with the peak RSS during it and the files in the store after it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.phases: dict[str, dict[str, Any]] = {}

    def measure(
        self, key: str, fn: Callable[[], Any], calls: int = 1, files_at: Path | None = None
    ) -> Any:
        os.sync()
        reset_peak_rss()
        t0 = time.perf_counter()
        out = fn()
        secs = time.perf_counter() - t0
        self.phases[key] = {
            "seconds": secs,
            "calls": calls,
            "per_call_s": secs / calls,
            "peak_rss_mib": peak_rss_mib(),
            "files": count_files(self.path if files_at is None else files_at),
        }
        return out

    def each(self, key: str, fn: Callable[[int], Any], ids: Sequence[int], per: int = 1) -> None:
        """A one-commit-per-call phase: `fn(i)` for each of `ids` (`per` commits each),
        with the median and 95th percentile of the time per commit."""

        def go() -> list[float]:
            times = []
            for i in ids:
                c0 = time.perf_counter()
                fn(i)
                times.append(time.perf_counter() - c0)
            return times

        times = self.measure(key, go, calls=len(ids) * per)
        self.phases[key]["median_call_s"] = statistics.median(times) / per
        self.phases[key]["p95_call_s"] = sorted(times)[int(0.95 * (len(times) - 1))] / per


# --- the worker (runs inside the variant's Python) ---------------------------------------


def new_store(store_cls: Any, app: Any, wk: Any, path: Path, fs: Any) -> Any:
    """An empty workflow written by `store_cls` at `path` (on the file system `fs`),
    opened as a store of that class (both workloads' first step, not timed)."""
    store_cls.write_empty_workflow(
        app,
        template_js={"name": "wk", "tasks": [], "loops": [], "resources": {}},
        template_components_js={"parameters": {}},
        wk_path=str(path),
        fs=fs,
        name="wk",
        replaced_wk=None,
        creation_info={"app_info": {"name": "bench"}, "create_time": "x", "id": "1"},
        ts_fmt=TS_FMT,
        ts_name_fmt="%Y-%m-%d_%H%M%S",
    )
    return store_cls(app, wk, path, fs)


def split_variant(variant: str) -> tuple[str, str, str | None]:
    """(engine, kind, durability) of a variant name such as ``wfstore-zarr`` or
    ``wfstore-zarr@process`` (a wfstore store with that ``durability``)."""
    name, _, durability = variant.partition("@")
    engine, kind = name.split("-")
    return engine, kind, durability or None


def engine_zip_closer() -> Callable[[], None]:
    """hpcflow's ``zip()`` leaves its ``ZipFileSystem`` open ("remains open for instance
    lifetime"), so the archive has no central directory until it is closed: record the
    instances opened from now on; the function returned closes them (as part of a timed
    zip phase). Shared by both benchmark runners."""
    try:
        from fsspec.implementations.zip import ZipFileSystem
    except ImportError:
        return lambda: None
    opened: list[Any] = []
    orig_init = ZipFileSystem.__init__

    def recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
        orig_init(self, *args, **kwargs)
        opened.append(self)

    ZipFileSystem.__init__ = recording_init  # type: ignore[method-assign]

    def close() -> None:
        while opened:
            zfs = opened.pop()
            zf = getattr(zfs, "zip", None)
            if zf is not None and zf.fp is not None and zf.mode != "r":
                zfs.close()

    return close


def _store_classes(variant: str) -> tuple[Any, Any, Any]:
    """(store class, function finishing an archive written by ``zip()``, function
    opening the zip store)."""
    engine, kind, _ = split_variant(variant)
    if engine == "hpcflow":
        import hpcflow.app  # noqa: F401  (initialises hpcflow before its persistence)

        if kind == "json":
            from hpcflow.sdk.persistence.json import JSONPersistentStore

            return JSONPersistentStore, None, None
        from fsspec.implementations.zip import ZipFileSystem
        from hpcflow.sdk.persistence.zarr import ZarrPersistentStore, ZarrZipPersistentStore

        def open_zip(app: Any, wk: Any, archive: Path) -> Any:
            fs = ZipFileSystem(fo=str(archive), mode="r")
            return ZarrZipPersistentStore(app, wk, "", fs)

        return ZarrPersistentStore, engine_zip_closer(), open_zip
    from wfstore.persistence import (
        JSONPersistentStore,
        ZarrPersistentStore,
        ZarrZipPersistentStore,
    )

    if kind == "json":
        return JSONPersistentStore, None, None

    def open_zip_wf(app: Any, wk: Any, archive: Path) -> Any:
        return ZarrZipPersistentStore(app, wk, archive)

    return ZarrPersistentStore, lambda: None, open_zip_wf


def run_workload(
    variant: str,
    n_runs: int,
    workdir: Path,
    max_calls: int | None,
    stop_after: str | None = None,
) -> dict:
    """Run the workload on a new store of `variant` in `workdir`; return the figures.

    `max_calls` caps the calls of each one-commit-per-call phase (the time per call is
    the figure compared); None runs them all. `stop_after="rechunk_runs"` ends the
    workload after the rechunk of the runs (for the largest sizes).
    """
    from fsspec.implementations.local import LocalFileSystem

    store_cls, finish_zip, open_zip = _store_classes(variant)
    is_zarr = split_variant(variant)[1] == "zarr"
    n_elems = max(1, n_runs // RUNS_PER_ITER)
    n_runs = n_elems * RUNS_PER_ITER
    path = workdir / "wk"
    archive = workdir / "wk.zip"
    unzipped = workdir / "wk-unzipped"
    app = types.SimpleNamespace(
        persistence_logger=logging.getLogger("bench"),
        RunDirAppFiles=types.SimpleNamespace(take_snapshot=lambda: {"data": {}}),
    )
    wk = types.SimpleNamespace(ts_fmt=TS_FMT, _in_batch_mode=False, name="wk", path=str(path))
    fs = LocalFileSystem()
    timer = PhaseTimer(path)
    phases, measure = timer.phases, timer.measure
    tree_floor: dict[str, float] | None = None  # (Zarr stores, after the unzip)
    can_reset = reset_peak_rss()

    store = new_store(store_cls, app, wk, path, fs)
    durability = getattr(store, "durability", None)  # wfstore's stores say theirs
    src = {"type": "local_input", "task_insert_ID": 0, "element_set_idx": 0}
    iter_ids: list[int] = []
    run_ids: list[int] = []

    def build() -> None:
        t0 = store.add_task(0, {"insert_ID": 0, "element_sets": [], "schema": ["s"]}, save=False)
        store.add_element_set(t0, {"label": "es0", "repeats": []}, save=False)
        for i in range(n_elems):
            p1 = store.add_set_parameter({"a": i, "b": [1.5, "x"]}, src, save=False)
            p2 = store.add_set_parameter(float(i), src, save=False)
            e = store.add_element(t0, 0, {"inputs.p1": i}, {"inputs.p1": 0}, save=False)
            data_idx = {"inputs.p1": p1, "inputs.p2": p2}
            it = store.add_element_iteration(e, data_idx, ["inputs.p1", "inputs.p2"], save=False)
            iter_ids.append(it)
            for act in range(RUNS_PER_ITER):
                run_ids.append(store.add_EAR(it, act, [0], data_idx, save=False))
        store.save()

    measure("build", build)
    assert len(run_ids) == n_runs

    calls = run_ids if max_calls is None else run_ids[:max_calls]
    out_elems = list(range(n_elems)) if max_calls is None else list(range(min(n_elems, max_calls)))

    def output(i: int) -> None:
        r = run_ids[i * RUNS_PER_ITER + RUNS_PER_ITER - 1]
        p = store.add_unset_parameter({"type": "EAR_output", "EAR_ID": r})
        store.set_parameter_value(p, {"result": i, "ok": True})

    # the floor, measured in this process just before and after the one-commit phases:
    os.sync()
    floors = [time_primitives(workdir / "floor", 500)]
    for key, fn, ids, per in (
        ("sub_idx", lambda r: store.set_EAR_submission_index(r, 0), calls, 1),
        ("start", store.set_EAR_start, calls, 1),
        ("end", lambda r: store.set_EAR_end(r, 0, True), calls, 1),
        ("outputs", output, out_elems, 2),
    ):
        timer.each(key, fn, ids, per)
    floors.append(time_primitives(workdir / "floor", 500))
    floor = {k: min(f[k] for f in floors) for k in floors[0]}
    interleaved = time_interleaved(
        workdir / "floor-interleaved",
        lambda r: store.set_EAR_submission_index(r, 1),  # a change: 0 before
        calls[:INTERLEAVED_PAIRS],
    )
    n_params = 2 * n_elems + len(out_elems)
    del store

    cold: dict[str, Any] = {}

    def read_runs() -> None:
        cold["store"] = store_cls(app, wk, path, fs)
        runs = cold["store"].get_EARs(list(range(n_runs)))
        assert len(runs) == n_runs
        last = runs[calls[-1]]
        # the commits timed in turn with writes set the first calls' index to 1
        assert last.end_time is not None
        assert last.submission_idx == (1 if len(calls) <= INTERLEAVED_PAIRS else 0)
        assert runs[calls[0]].submission_idx == 1
        assert runs[-1].data_idx == {"inputs.p1": 2 * n_elems - 2, "inputs.p2": 2 * n_elems - 1}

    def read_params() -> None:
        params = cold["store"].get_parameters(list(range(n_params)))
        assert len(params) == n_params and params[0].data == {"a": 0, "b": [1.5, "x"]}

    measure("read_runs", read_runs)
    measure("read_params", read_params)
    if is_zarr:
        store = cold.pop("store")
        with contextlib.redirect_stdout(io.StringIO()):  # the engine prints timings
            measure("rechunk_runs", lambda: store.rechunk_runs(backup=True, status=False))
    if is_zarr and stop_after != "rechunk_runs":
        with contextlib.redirect_stdout(io.StringIO()):
            measure("rechunk_base", lambda: store.rechunk_parameter_base(backup=True, status=False))
            measure("zip", lambda: (store.zip(path=str(archive)), finish_zip()), files_at=archive)

        def read_zip() -> Any:
            zs = open_zip(app, wk, archive)
            runs = zs.get_EARs(list(range(n_runs)))
            assert len(runs) == n_runs and runs[calls[0]].exit_code == 0
            return zs

        zs = measure("read_zip", read_zip, files_at=archive)
        with contextlib.redirect_stdout(io.StringIO()):
            measure("unzip", lambda: zs.unzip(path=str(unzipped)), files_at=unzipped)
        # once per repeat, as the unzip: best of as many tries as it
        tree_floor = time_tree_floor(unzipped, workdir, tries=1)
    return {
        "tree_floor": tree_floor,
        "variant": variant,
        "durability": durability,
        "runs": n_runs,
        "elements": n_elems,
        "parameters": n_params,
        "max_calls": max_calls,
        "stop_after": stop_after,
        "phases": phases,
        # resetting the peak for each phase (clear_refs) also resets what ru_maxrss
        # reports, so the process's peak is the largest phase peak
        "peak_rss_mib": max([_maxrss_mib(), *(p["peak_rss_mib"] for p in phases.values())]),
        "per_phase_rss_reset": can_reset,
        "python": platform.python_version(),
        "floor": floor,
        "interleaved": interleaved,
    }


#: Runs per run file in the 0.3 workload's submission (0.3.0 gives each job its own run
#: files at submit time; here a job of 100 runs, as the engine-level runner's default).
RUNS_PER_FILE = 100


def _v03_store_classes(variant: str) -> tuple[Any, Callable[[], None], Any]:
    """hpcflow 0.3's (store class, function finishing an archive written by ``zip()``,
    function opening the zip store) of `variant` (``hpcflow03-zarr``: 0.3.0's own;
    ``wfstore03-zarr``: wfstore's)."""
    if split_variant(variant)[0] == "hpcflow03":
        import hpcflow.app  # noqa: F401  (initialises hpcflow before its persistence)
        from fsspec.implementations.zip import ZipFileSystem
        from hpcflow.sdk.persistence.zarr import ZarrPersistentStore, ZarrZipPersistentStore

        def open_zip(app: Any, wk: Any, archive: Path) -> Any:
            return ZarrZipPersistentStore(app, wk, "", ZipFileSystem(fo=str(archive), mode="r"))

        return ZarrPersistentStore, engine_zip_closer(), open_zip
    from wfstore.persistence.v03 import V03ZarrPersistentStore, V03ZarrZipPersistentStore

    def open_zip_wf(app: Any, wk: Any, archive: Path) -> Any:
        return V03ZarrZipPersistentStore(app, wk, archive)

    return V03ZarrPersistentStore, lambda: None, open_zip_wf


def run_workload_v03(variant: str, n_runs: int, workdir: Path, max_calls: int | None) -> dict:
    """The hpcflow 0.3 workload on a new Zarr store of `variant` in `workdir` (phases
    :data:`PHASES_V03`); returns the figures.

    For N runs: one task of 5 actions with N/5 elements, one iteration each, a run per
    action, 2 set input parameters and 1 unset output parameter (its source the
    element's last run) per element, added in one batch and committed with one
    ``save()``; a submission of one jobscript holding every run, each run's submission
    data (run files of :data:`RUNS_PER_FILE` runs) in one commit; then one commit per
    call: each run's start and end, and each element's output value; a cold open
    reading all runs and all parameters; rechunk of the runs (wfstore's only); zip;
    all runs read from the zip; unzip. `max_calls` caps the one-commit phases' calls.
    """
    from fsspec.implementations.local import LocalFileSystem

    store_cls, finish_zip, open_zip = _v03_store_classes(variant)
    n_elems = max(1, n_runs // RUNS_PER_ITER)
    n_runs = n_elems * RUNS_PER_ITER
    path = workdir / "wk"
    archive = workdir / "wk.zip"
    unzipped = workdir / "wk-unzipped"
    data_idx: dict[int, dict[str, int]] = {}  # run ID -> its data index (the stand-in's)
    app = types.SimpleNamespace(
        persistence_logger=logging.getLogger("bench"),
        RunDirAppFiles=types.SimpleNamespace(take_snapshot=lambda *_a: {"data": {}}),
        encoders=dict,
        decoders=dict,
    )
    task = types.SimpleNamespace(insert_ID=0, index=0, _is_array_output_disabled=lambda _n: False)

    def engine_run(r: int) -> Any:
        """The engine's run `r` as the stores ask for it (run IDs are in order of element,
        then action; run files assigned by :data:`RUNS_PER_FILE` at the submission)."""
        i, act = divmod(r, RUNS_PER_ITER)
        return types.SimpleNamespace(
            id_=r,
            index=0,
            data_idx=data_idx[r],
            task=task,
            element=types.SimpleNamespace(index=i, id_=i),
            element_iteration=types.SimpleNamespace(index=0, id_=i),
            element_action=types.SimpleNamespace(action_idx=act),
            run_file_ID=r // RUNS_PER_FILE,
        )

    # the workflow's members the stores call: both stores ask the workflow for an
    # output's run (its data index names the output) when a value is set
    wk = types.SimpleNamespace(
        ts_fmt=TS_FMT,
        _in_batch_mode=False,
        name="wk",
        path=str(path),
        url=str(path),
        _app=app,
        get_EARs_from_IDs=engine_run,
    )
    fs = LocalFileSystem()
    timer = PhaseTimer(path)
    can_reset = reset_peak_rss()
    store = new_store(store_cls, app, wk, path, fs)
    src = {"type": "local_input", "task_insert_ID": 0, "element_set_idx": 0}
    run_ids: list[int] = []
    out_ids: list[int] = []

    def build() -> None:
        t0 = store.add_task(
            0, {"insert_ID": 0, "element_sets": [], "schema": ["s"]}, RUNS_PER_ITER, save=False
        )
        store.add_element_set(t0, {"label": "es0", "repeats": []}, save=False)
        didx = []
        for i in range(n_elems):
            p1 = store.add_set_parameter({"a": i, "b": [1.5, "x"]}, src, save=False)
            p2 = store.add_set_parameter(float(i), src, save=False)
            p3 = store.add_unset_parameter({"type": "EAR_output", "output_idx": 0}, save=False)
            out_ids.append(p3)
            didx.append({"inputs.p1": p1, "inputs.p2": p2, "outputs.p3": p3})
        elems = store.add_elements(
            t0, 0, [{"inputs.p1": i} for i in range(n_elems)], [{}] * n_elems, save=False
        )
        iters = store.add_element_iterations(
            elems, didx, [["inputs.p1", "inputs.p2", "outputs.p3"]] * n_elems, t0, 0, save=False
        )
        for i, it in enumerate(iters):
            for act in range(RUNS_PER_ITER):
                r = store.add_EAR(it, act, [0], didx[i], t0, i, 0, save=False)
                run_ids.append(r)
                data_idx[r] = didx[i]
            store.update_param_source({out_ids[i]: {"EAR_ID": run_ids[-1]}}, save=False)
        store.save()

    timer.measure("build", build)
    assert len(run_ids) == n_runs

    def submit() -> None:
        block = {
            "index": 0,
            # runs by (action, element), as 0.3.0 lays out a jobscript block
            "EAR_ID": [run_ids[a::RUNS_PER_ITER] for a in range(RUNS_PER_ITER)],
            "task_elements": {0: list(range(n_elems))},
            "task_actions": [[0, a, 0] for a in range(RUNS_PER_ITER)],
            "dependencies": {},
        }
        sub = {
            "index": 0,
            "at_submit_metadata": {"submission_parts": {}},
            "jobscripts": [{"index": 0, "blocks": [block]}],
        }
        store.add_submission(0, sub, save=False)
        for k, r in enumerate(run_ids):
            store.set_run_submission_data(
                r, None, 0, k // RUNS_PER_FILE, k % RUNS_PER_FILE, save=False
            )
        store.save()

    timer.measure("submit", submit)
    calls = run_ids if max_calls is None else run_ids[:max_calls]
    outs = out_ids if max_calls is None else out_ids[:max_calls]
    os.sync()
    floors = [time_primitives(workdir / "floor", 500)]
    timer.each("start", lambda r: store.set_EAR_start(r, None, None), calls)
    timer.each("end", lambda r: store.set_EAR_end(r, 0, True, False), calls)
    timer.each("set_outputs", lambda p: store.set_parameter_value(p, {"result": p}), outs)
    floors.append(time_primitives(workdir / "floor", 500))
    n_params = 3 * n_elems
    del store
    cold: dict[str, Any] = {}

    def read_runs() -> None:
        cold["store"] = store_cls(app, wk, path, fs)
        runs = cold["store"].get_EARs(list(range(n_runs)))
        assert len(runs) == n_runs
        assert runs[calls[-1]].end_time is not None and runs[calls[-1]].exit_code == 0
        assert runs[-1].run_file_ID == (n_runs - 1) // RUNS_PER_FILE
        assert runs[-1].data_idx == data_idx[run_ids[-1]]

    def read_params() -> None:
        params = cold["store"].get_parameters(list(range(n_params)))
        assert len(params) == n_params and params[0].data == {"a": 0, "b": [1.5, "x"]}
        assert params[outs[-1]].data == {"result": outs[-1]}

    timer.measure("read_runs", read_runs)
    timer.measure("read_params", read_params)
    store = cold.pop("store")
    with contextlib.redirect_stdout(io.StringIO()):  # the engine prints timings
        try:
            timer.measure("rechunk_runs", lambda: store.rechunk_runs(backup=True, status=False))
        except NotImplementedError:  # 0.3.0's own store: no rechunk
            timer.phases.pop("rechunk_runs", None)
        timer.measure(
            "zip",
            lambda: (store.zip(path=str(archive), status=False), finish_zip()),
            files_at=archive,
        )

    def read_zip() -> Any:
        zs = open_zip(app, wk, archive)
        runs = zs.get_EARs(list(range(n_runs)))
        assert len(runs) == n_runs and runs[calls[0]].exit_code == 0
        return zs

    zs = timer.measure("read_zip", read_zip, files_at=archive)
    with contextlib.redirect_stdout(io.StringIO()):
        timer.measure(
            "unzip", lambda: zs.unzip(path=str(unzipped), status=False), files_at=unzipped
        )
    phases = timer.phases
    return {
        "variant": variant,
        "generation": "0.3",
        "durability": None,
        "runs": n_runs,
        "elements": n_elems,
        "parameters": n_params,
        "max_calls": max_calls,
        "stop_after": None,
        "phases": phases,
        "peak_rss_mib": max([_maxrss_mib(), *(p["peak_rss_mib"] for p in phases.values())]),
        "per_phase_rss_reset": can_reset,
        "python": platform.python_version(),
        "floor": {k: min(f[k] for f in floors) for k in floors[0]},
    }


def worker_main(argv: list[str]) -> int:
    """The worker's command line: ``VARIANT RUNS WORKDIR RESULT [MAX_CALLS [STOP_AFTER]]``
    (``all`` and ``-`` for none); writes the figures to the file RESULT."""
    variant, n_runs, workdir, result = argv[0], int(argv[1]), Path(argv[2]), Path(argv[3])
    max_calls = int(argv[4]) if len(argv) > 4 and argv[4] != "all" else None
    stop_after = argv[5] if len(argv) > 5 and argv[5] != "-" else None
    logging.basicConfig(level=logging.WARNING)
    if split_variant(variant)[0] in V03_ENGINES:
        res = run_workload_v03(variant, n_runs, workdir, max_calls)
    else:
        res = run_workload(variant, n_runs, workdir, max_calls, stop_after)
    result.write_text(json.dumps(res))
    return 0


if __name__ == "__main__":
    # run by path: this file's folder (wfstore's bench package) is not a place to
    # import modules from
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
    sys.exit(worker_main(sys.argv[1:]))
