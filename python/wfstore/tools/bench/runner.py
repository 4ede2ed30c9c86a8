"""Compare wfstore's PersistentStores with hpcflow 0.2.0a190's own, in one run.

One workload is driven through the PersistentStore API on each store variant:

* ``hpcflow-zarr`` / ``hpcflow-json``: hpcflow 0.2.0a190's ``ZarrPersistentStore`` and
  ``JSONPersistentStore`` (run by the engine's Python, ``--hpcflow-python``);
* ``wfstore-zarr`` / ``wfstore-json``: wfstore's (run by this Python), with the default
  durability (``"normal"``: a rename over each replaced file, as the engine writes);
* ``wfstore-zarr@process`` (``--durabilities``): wfstore's Zarr store with the opt-in
  ``durability="process"`` (safe against crashed processes, not power cuts; see
  ``wfstore.durability``), reported apart, its one-commit phases only; the targets are
  checked on the default.

The workload for N runs: one task with N/5 elements, one iteration each, 5 runs per
iteration and 2 set parameters per element, all added in one batch and committed;
then, one commit per call as running jobs do: each run's submission index, each run's
start, each run's end; one output parameter added (one commit) and set (one commit)
per element; then a cold open (a new store object) reading all runs and all
parameters; rechunk of the runs and of the parameter base (with backup); zip; reading
all runs from the zip; unzip. JSON stores stop after the cold read (they have no
rechunk or zip).

Each variant and size runs in its own subprocess, so that its peak memory (RSS) is its
own. Per phase the runner records the wall time, the time per call (one-commit
phases), the peak RSS during the phase (``VmHWM``, reset before each phase where Linux
allows it) and the number of files in the store after the phase. In the same run it
times an atomic write of a 200-byte file (temporary name, then rename) and a
small-file read, as the floor a single-run commit can be compared with.

Usage::

    python benches/compare.py                    # 10k runs: hpcflow vs wfstore, JSON at 1k
    python benches/compare.py --scale            # ... plus wfstore at 100k and 1M runs
    python benches/compare.py --runs 200 --wfstore-only --no-readme   # smoke run
    python benches/compare.py report benches/results/compare.json     # README + plot again

Only the standard library is imported at module level: the engine's Python runs this
same file as the worker of the hpcflow variants.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import io
import json
import logging
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_HPCFLOW_PYTHON = os.environ.get("WFSTORE_HPCFLOW_PYTHON", "/work/side/hpcenv/bin/python")
RUNS_PER_ITER = 5
TS_FMT = "%Y-%m-%d %H:%M:%S.%f"
README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"

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
PHASE_LABELS = {k: label for k, label, _ in PHASES}
PHASE_KINDS = {k: kind for k, _, kind in PHASES}
#: The phases timed as a whole (not per call), whose cost per run is compared by size.
BULK_PHASES = [k for k, _, kind in PHASES if kind == "bulk"]
STORE_NAMES = {"zarr": "Zarr", "json": "JSON"}
JSON_PHASES = ["build", "sub_idx", "start", "end", "outputs", "read_runs", "read_params"]

# --- measuring ---------------------------------------------------------------------------


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux ``clear_refs`` 5); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mib() -> float:
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


# --- the worker (runs inside the variant's Python) ---------------------------------------


def split_variant(variant: str) -> tuple[str, str, str | None]:
    """(engine, kind, durability) of a variant name such as ``wfstore-zarr`` or
    ``wfstore-zarr@process`` (a wfstore store with that ``durability``)."""
    name, _, durability = variant.partition("@")
    engine, kind = name.split("-")
    return engine, kind, durability or None


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

        # hpcflow's zip() leaves its ZipFileSystem open ("remains open for instance
        # lifetime"), so the archive has no central directory until it is closed; the
        # instances are recorded here and closed as part of the timed zip phase.
        opened: list[Any] = []
        orig_init = ZipFileSystem.__init__

        def recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
            orig_init(self, *args, **kwargs)
            opened.append(self)

        ZipFileSystem.__init__ = recording_init  # type: ignore[method-assign]

        def finish_zip() -> None:
            while opened:
                zfs = opened.pop()
                if zfs.zip.fp is not None and zfs.zip.mode != "r":
                    zfs.close()

        return ZarrPersistentStore, finish_zip, open_zip
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
    phases: dict[str, dict[str, Any]] = {}
    tree_floor: dict[str, float] | None = None  # (Zarr stores, after the unzip)
    can_reset = _reset_peak_rss()

    def measure(key: str, fn: Callable[[], Any], calls: int = 1, files_at: Path = path) -> Any:
        # the disk starts each phase clean: data an earlier phase (or variant) left
        # dirty is written back now, not billed to this phase
        os.sync()
        _reset_peak_rss()
        t0 = time.perf_counter()
        out = fn()
        secs = time.perf_counter() - t0
        phases[key] = {
            "seconds": secs,
            "calls": calls,
            "per_call_s": secs / calls,
            "peak_rss_mib": _peak_rss_mib(),
            "files": count_files(files_at),
        }
        return out

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
    store = store_cls(app, wk, path, fs)
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

    def each(fn: Callable[[int], Any], ids: list[int]) -> Callable[[], list[float]]:
        def go() -> list[float]:
            times = []
            for i in ids:
                c0 = time.perf_counter()
                fn(i)
                times.append(time.perf_counter() - c0)
            return times

        return go

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
        times = measure(key, each(fn, ids), calls=len(ids) * per)
        phases[key]["median_call_s"] = statistics.median(times) / per
        phases[key]["p95_call_s"] = sorted(times)[int(0.95 * (len(times) - 1))] / per
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


def worker_main(argv: list[str]) -> int:
    """``compare.py worker VARIANT RUNS WORKDIR RESULT [MAX_CALLS]``."""
    variant, n_runs, workdir, result = argv[0], int(argv[1]), Path(argv[2]), Path(argv[3])
    max_calls = int(argv[4]) if len(argv) > 4 and argv[4] != "all" else None
    stop_after = argv[5] if len(argv) > 5 and argv[5] != "-" else None
    logging.basicConfig(level=logging.WARNING)
    res = run_workload(variant, n_runs, workdir, max_calls, stop_after)
    result.write_text(json.dumps(res))
    return 0


# --- the runner --------------------------------------------------------------------------


def _python_for(variant: str, hpcflow_python: str) -> tuple[str, dict[str, str]]:
    env = dict(os.environ)
    # wfstore's variants have the default durability unless their name gives one
    env.pop("WFSTORE_DURABILITY", None)
    durability = split_variant(variant)[2]
    if durability:
        env["WFSTORE_DURABILITY"] = durability
    if variant.startswith("hpcflow"):
        env.pop("PYTHONPATH", None)
        return hpcflow_python, env
    try:
        import wfstore  # noqa: F401
    except ImportError:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO / "python"), env.get("PYTHONPATH")) if p
        )
    return sys.executable, env


#: ``FS_IOC_GETFLAGS``/``FS_IOC_SETFLAGS`` (Linux, 64-bit) and ``FS_TOPDIR_FL``.
_FS_IOC_GETFLAGS, _FS_IOC_SETFLAGS, _FS_TOPDIR_FL = 0x80086601, 0x40086602, 0x00020000


def spread_folders(folder: Path) -> bool:
    """Mark `folder` as a top of a directory hierarchy (``chattr +T``): ext4 then places
    each folder made in it in a block group of its own choosing (its Orlov allocator)
    instead of beside `folder`, so the variants' stores do not share inode groups. On
    ext4 without a journal (this VM's disk) a file creation scans past the inodes of
    its group deleted in the last minute or more, so a variant creating files where
    the variant before it deleted thousands (one per commit: hpcflow's, every store's
    until spare files) paid for them. Best effort: False where the flag cannot be set."""
    import array
    import fcntl

    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        flags = array.array("l", [0])
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags, True)
        flags[0] |= _FS_TOPDIR_FL
        fcntl.ioctl(fd, _FS_IOC_SETFLAGS, flags, True)
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags, True)
        return bool(flags[0] & _FS_TOPDIR_FL)
    except OSError:
        return False
    finally:
        os.close(fd)


def run_variant(
    variant: str,
    n_runs: int,
    tmp_root: Path,
    hpcflow_python: str,
    max_calls: int | None,
    stop_after: str | None = None,
) -> dict:
    """Run one variant at one size in a subprocess; return its figures."""
    os.sync()  # nothing the previous variant wrote is still being written back
    workdir = Path(tempfile.mkdtemp(prefix=f"{variant}-{n_runs}-", dir=tmp_root))
    # the store, its unzipped copy and the floor loops' folders each in groups of
    # their own: the floor loops create and delete a file per write
    spread_folders(workdir)
    result = workdir / "result.json"
    python, env = _python_for(variant, hpcflow_python)
    cmd = [
        python,
        str(Path(__file__).resolve()),
        "worker",
        variant,
        str(n_runs),
        str(workdir),
        str(result),
        "all" if max_calls is None else str(max_calls),
        stop_after or "-",
    ]
    print(f"-- {variant} at {n_runs:,} runs ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    try:
        if proc.returncode != 0:
            raise SystemExit(
                f"error: {variant} at {n_runs} runs failed (exit {proc.returncode}):\n"
                f"{proc.stderr[-4000:]}"
            )
        res = json.loads(result.read_text())
    finally:
        # the stores stay until the whole run ends (the runner's temporary folder is
        # removed then): deleting thousands of files makes the disk discard their
        # blocks, which slowed the next variant's writes by up to 10x
        result.unlink(missing_ok=True)
    print(f"   done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return res


def best_of(results: list[dict]) -> dict:
    """Merge repeated runs of one variant and size: each phase keeps its fastest run
    (peak RSS: the largest seen), the floor its fastest measurement."""
    out = json.loads(json.dumps(results[0]))
    out["repeats"] = len(results)
    for key in list(out["phases"]):
        alts = [r["phases"][key] for r in results]
        best = min(alts, key=lambda p: p["seconds"])
        out["phases"][key] = {**best, "peak_rss_mib": max(p["peak_rss_mib"] for p in alts)}
        out["phases"][key]["all_seconds"] = [p["seconds"] for p in alts]
    out["peak_rss_mib"] = max(r["peak_rss_mib"] for r in results)
    if all(r.get("floor") for r in results):
        out["floor"] = {k: min(r["floor"][k] for r in results) for k in results[0]["floor"]}
    floors = [r["tree_floor"] for r in results if r.get("tree_floor")]
    if floors:
        out["tree_floor"] = min(floors, key=lambda f: f["seconds"])
    inter = [r["interleaved"] for r in results if r.get("interleaved")]
    if inter:
        # the repeat whose commits were fastest, with the writes timed beside them
        out["interleaved"] = min(inter, key=lambda i: i["commit_mean_s"])
    return out


def _fmt_s(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} us"


def _phase_time(ph: dict[str, Any], key: str) -> float:
    """The figure compared: time per call for one-commit phases, else the wall time."""
    return ph["per_call_s"] if PHASE_KINDS[key] == "calls" else ph["seconds"]


def _find(results: list[dict], variant: str, runs: int | None = None) -> dict | None:
    for r in results:
        if r["variant"] == variant and (runs is None or r["runs"] == runs):
            return r
    return None


def comparison_rows(base: dict | None, ours: dict, keys: list[str]) -> list[list[str]]:
    """Rows: phase, hpcflow, wfstore, speed-up, peak RSS and files (hpcflow / wfstore)."""
    rows = []
    for key in keys:
        o = ours["phases"].get(key)
        if o is None:
            continue
        b = base["phases"].get(key) if base else None
        per = " /call" if PHASE_KINDS[key] == "calls" else ""
        tb = _phase_time(b, key) if b else None
        to = _phase_time(o, key)
        ratio = f"{tb / to:.1f}x" if tb else "-"
        rss = (
            f"{b['peak_rss_mib']:.0f} / {o['peak_rss_mib']:.0f}"
            if b
            else f"{o['peak_rss_mib']:.0f}"
        )
        files = f"{b['files']:,} / {o['files']:,}" if b else f"{o['files']:,}"
        rows.append(
            [
                PHASE_LABELS[key],
                _fmt_s(tb) + (per if tb else ""),
                _fmt_s(to) + per,
                ratio,
                rss,
                files,
            ]
        )
    return rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


CMP_HEADER = [
    "phase",
    "hpcflow",
    "wfstore",
    "speed-up",
    "peak RSS MiB (hpcflow / wfstore)",
    "files (hpcflow / wfstore)",
]


def commit_time(res: dict) -> float:
    """Mean time of a single-run commit: the three one-run phases together."""
    ph = res["phases"]
    secs = sum(ph[k]["seconds"] for k in ("sub_idx", "start", "end"))
    return secs / sum(ph[k]["calls"] for k in ("sub_idx", "start", "end"))


def check_targets(
    results: list[dict], prim: dict[str, float]
) -> list[tuple[str, bool | None, str]]:
    """The issue's targets: (what, met (None: not measured), figures)."""
    out: list[tuple[str, bool | None, str]] = []
    hz = _find(results, "hpcflow-zarr", 10_000)
    wz = _find(results, "wfstore-zarr", 10_000)
    if hz and wz:
        worst = min(
            (
                (_phase_time(hz["phases"][k], k) / _phase_time(wz["phases"][k], k), k)
                for k in hz["phases"]
                if k in wz["phases"]
            ),
        )
        figures = f"slowest speed-up {worst[0]:.1f}x ({PHASE_LABELS[worst[1]]})"
        tf = wz.get("tree_floor")
        if worst[1] == "unzip" and worst[0] < 10 and tf:
            budget = _phase_time(hz["phases"]["unzip"], "unzip") / 10
            figures += (
                f"; creating its {tf['files']:,} files and {tf['folders']:,} folders with "
                f"plain system calls takes {_fmt_s(tf['seconds'])} on this disk, the 10x "
                f"budget being {_fmt_s(budget)}"
            )
        out.append(
            (
                "every phase >= 10x faster than hpcflow's Zarr store at 10k runs",
                worst[0] >= 10,
                figures,
            )
        )
    else:
        out.append(
            (
                "every phase >= 10x faster than hpcflow's Zarr store at 10k runs",
                None,
                "not measured (needs hpcflow-zarr and wfstore-zarr at 10,000 runs)",
            )
        )
    wz_any = wz or _find(results, "wfstore-zarr")
    inter = wz_any.get("interleaved") if wz_any else None
    if wz_any and inter:
        c, w = inter["commit_mean_s"], inter["write_mean_s"]
        out.append(
            (
                "single-run commit within 2x of an atomic 200-byte write (Zarr, "
                f"{wz_any['runs']:,} runs; {inter['pairs']:,} commits and writes in turn "
                "in one loop)",
                c <= 2 * w,
                f"{_fmt_s(c)} per commit vs {_fmt_s(w)} per write ({c / w:.1f}x; medians "
                f"{_fmt_s(inter['commit_median_s'])} vs {_fmt_s(inter['write_median_s'])})",
            )
        )
    elif wz_any and (wz_any.get("floor") or prim):
        c = commit_time(wz_any)
        w = (wz_any.get("floor") or prim)["atomic_write_200B_s"]
        out.append(
            (
                "single-run commit within 2x of an atomic 200-byte write (Zarr, "
                f"{wz_any['runs']:,} runs; write timed in the same process)",
                c <= 2 * w,
                f"{_fmt_s(c)} per commit vs {_fmt_s(w)} per write ({c / w:.1f}x)",
            )
        )
    hj = _find(results, "hpcflow-json")
    wj = _find(results, "wfstore-json")
    if hj and wj:
        r = commit_time(hj) / commit_time(wj)
        out.append(
            (
                f"JSON store >= 20x faster per single-run commit ({hj['runs']:,} runs)",
                r >= 20,
                f"{_fmt_s(commit_time(hj))} vs {_fmt_s(commit_time(wj))} ({r:.1f}x)",
            )
        )
    big = _find(results, "wfstore-zarr", 1_000_000)
    if big:
        for key in ("build", "read_runs", "rechunk_runs"):
            ph = big["phases"][key]
            out.append(
                (
                    f"1M runs: {PHASE_LABELS[key]} within 60 s",
                    ph["seconds"] <= 60,
                    _fmt_s(ph["seconds"]),
                )
            )
        out.append(
            (
                "1M runs: peak memory under 2 GiB",
                big["peak_rss_mib"] < 2048,
                f"{big['peak_rss_mib']:.0f} MiB",
            )
        )
    # growth of the cost per run from 10k runs up (below that, fixed costs dominate):
    sizes = sorted(r["runs"] for r in results if r["variant"] == "wfstore-zarr")
    sizes = [n for n in sizes if n >= 10_000] if sum(n >= 10_000 for n in sizes) > 1 else sizes
    if len(sizes) > 1:
        lo = _find(results, "wfstore-zarr", sizes[0])
        assert lo
        # every larger size against the smallest (not only the largest: a phase may
        # grow at 100k and not at 1M)
        growths = []
        for n in sizes[1:]:
            hi = _find(results, "wfstore-zarr", n)
            assert hi
            growths += [
                (
                    (hi["phases"][k]["seconds"] / hi["runs"])
                    / (lo["phases"][k]["seconds"] / lo["runs"]),
                    f"{PHASE_LABELS.get(k, k)} at {n:,} runs",
                )
                for k in BULK_PHASES
                if k in hi["phases"] and k in lo["phases"]
            ]
        worst_growth, worst_where = max(growths)
        out.append(
            (
                f"cost per run does not grow from {sizes[0]:,} to {sizes[-1]:,} runs "
                "(bulk phases, every size, 25% noise allowed)",
                worst_growth <= 1.25,
                f"largest growth of cost per run: {worst_growth:.2f}x ({worst_where})",
            )
        )
    return out


def render_report(data: dict) -> str:
    """The markdown report (tables, targets) of a results document."""
    results, prim = data["results"], data.get("primitives", {})
    parts = [f"Measured {data['date']} on {data['machine']} by `{data['command']}`."]
    parts += list(data.get("notes", []))
    if prim:
        parts.append(
            f"Floor measured in the same run: an atomic 200-byte write (temporary name, then "
            f"rename) {_fmt_s(prim['atomic_write_200B_s'])}, a small-file read "
            f"{_fmt_s(prim['small_read_s'])}."
        )
    r = _find(results, "wfstore-zarr", 10_000) or _find(results, "wfstore-zarr")
    tf = r.get("tree_floor") if r else None
    if r and tf:
        parts.append(
            f"Unzip's floor, measured in the same run: creating the unzipped store's "
            f"{tf['files']:,} files and {tf['folders']:,} folders with plain system calls "
            f"(Python's `os`, in a new folder beside it, after a `sync` as every phase; "
            f"wfstore's Zarr store at {r['runs']:,} runs) {_fmt_s(tf['seconds'])}."
        )
    inter = r.get("interleaved") if r else None
    if r and inter:
        parts.append(
            f"Single-run commits (`set_EAR_submission_index`) and atomic 200-byte writes "
            f"over a file on disk, timed in turn in one loop ({inter['pairs']:,} of each, "
            f"wfstore's Zarr store at {r['runs']:,} runs): "
            f"{_fmt_s(inter['commit_mean_s'])} per commit vs "
            f"{_fmt_s(inter['write_mean_s'])} per write (medians "
            f"{_fmt_s(inter['commit_median_s'])} vs {_fmt_s(inter['write_median_s'])})."
        )
    for kind, keys in (("zarr", [k for k, _, _ in PHASES]), ("json", JSON_PHASES)):
        ours = [r for r in results if r["variant"] == f"wfstore-{kind}"]
        for o in sorted(ours, key=lambda r: r["runs"]):
            base = _find(results, f"hpcflow-{kind}", o["runs"])
            title = (
                f"**{STORE_NAMES[kind]} store, {o['runs']:,} runs** "
                f"({o['elements']:,} elements, {o['parameters']:,} parameters"
            )
            if o.get("max_calls"):
                title += f"; one-commit phases timed over the first {o['max_calls']:,} calls"
            title += ")"
            rows = comparison_rows(base, o, keys)
            header = CMP_HEADER if base else ["phase", "-", "wfstore", "-", "peak RSS MiB", "files"]
            parts.append(title + "\n\n" + markdown_table(header, rows))
    # wfstore's stores with a durability asked for (opt-in, not the targets' default)
    calls = [k for k, _, kind in PHASES if kind == "calls"]
    for o in sorted(
        (r for r in results if split_variant(r["variant"])[2]),
        key=lambda r: (r["variant"], r["runs"]),
    ):
        _, kind, durability = split_variant(o["variant"])
        base = _find(results, f"hpcflow-{kind}", o["runs"])
        title = (
            f"**{STORE_NAMES[kind]} store, {o['runs']:,} runs, with "
            f"`durability=\"{durability}\"`** (opt-in, see `wfstore.durability`; "
            "one-commit phases; the targets are checked on the default)"
        )
        header = CMP_HEADER if base else ["phase", "-", "wfstore", "-", "peak RSS MiB", "files"]
        parts.append(title + "\n\n" + markdown_table(header, comparison_rows(base, o, calls)))
    sizes = sorted({r["runs"] for r in results if r["variant"].endswith("zarr")})
    if len(sizes) > 1:
        rows = []
        for key in BULK_PHASES:
            row = [PHASE_LABELS[key]]
            for n in sizes:
                cells = []
                for v in ("hpcflow-zarr", "wfstore-zarr"):
                    r = _find(results, v, n)
                    ph = r["phases"].get(key) if r else None
                    cells.append(_fmt_s(ph["seconds"] / r["runs"]) if ph and r else "-")
                row.append(" / ".join(cells))
            rows.append(row)
        peak = ["peak RSS MiB (whole process)"]
        for n in sizes:
            cells = []
            for v in ("hpcflow-zarr", "wfstore-zarr"):
                r = _find(results, v, n)
                cells.append(f"{r['peak_rss_mib']:.0f}" if r else "-")
            peak.append(" / ".join(cells))
        rows.append(peak)
        parts.append(
            "**Cost per run (hpcflow / wfstore), Zarr**\n\n"
            + markdown_table(["phase"] + [f"{n:,} runs" for n in sizes], rows)
        )
    targets = check_targets(results, prim)
    lines = [
        f"* {'met' if ok else ('NOT met' if ok is False else 'not measured')}: {what} — {fig}"
        for what, ok, fig in targets
    ]
    parts.append("**Targets**\n\n" + "\n".join(lines))
    return "\n\n".join(parts) + "\n"


def plot(data: dict, out: Path) -> bool:
    """Time per run against number of runs (log-log); False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return False
    keys = [("build", "o"), ("read_runs", "s"), ("rechunk_runs", "^"), ("zip", "D")]
    colours = {k: f"C{i}" for i, (k, _) in enumerate(keys)}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for variant, style in (("hpcflow-zarr", "--"), ("wfstore-zarr", "-")):
        rs = sorted(
            (r for r in data["results"] if r["variant"] == variant), key=lambda r: r["runs"]
        )
        if not rs:
            continue
        for key, marker in keys:
            xs = [r["runs"] for r in rs if key in r["phases"]]
            ys = [r["phases"][key]["seconds"] / r["runs"] * 1e6 for r in rs if key in r["phases"]]
            ax.plot(
                xs,
                ys,
                style,
                marker=marker,
                color=colours[key],
                label=f"{variant.split('-')[0]}: {PHASE_LABELS[key]}",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of runs")
    ax.set_ylabel("time per run (us)")
    ax.set_title("Zarr store: time per run (hpcflow 0.2.0a190 dashed, wfstore solid)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


def update_readme(readme: Path, block: str) -> None:
    """Replace the text between the bench markers of `readme` by `block`."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise SystemExit(f"error: {readme} has no {README_START} ... {README_END} block")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{block}{README_END}{tail}")


def report(data: dict, readme: Path | None, plot_path: Path | None) -> None:
    md = render_report(data)
    if plot_path is not None and plot(data, plot_path):
        rel = os.path.relpath(plot_path, readme.parent if readme else REPO)
        md += f"\n![time per run against number of runs]({rel})\n"
    if readme is not None:
        update_readme(readme, md)
        print(f"updated {readme}", file=sys.stderr)


def print_tables(data: dict) -> None:
    results = data["results"]
    prim = data.get("primitives")
    if prim:
        print(
            f"atomic 200-byte write: {_fmt_s(prim['atomic_write_200B_s'])}   "
            f"small-file read: {_fmt_s(prim['small_read_s'])}"
        )
    for r in sorted(results, key=lambda r: (r["variant"], r["runs"])):
        if not r["variant"].startswith("wfstore"):
            continue
        _, kind, durability = split_variant(r["variant"])
        base = _find(results, f"hpcflow-{kind}", r["runs"])
        keys = JSON_PHASES if kind == "json" else [k for k, _, _ in PHASES]
        how = f", durability={durability}" if durability else ""
        print(
            f"\n{kind} store{how}, {r['runs']:,} runs (peak RSS whole process: "
            f"{r['peak_rss_mib']:.0f} MiB)"
        )
        print(text_table(CMP_HEADER, comparison_rows(base, r, keys)))
    print()
    for what, ok, fig in check_targets(results, prim or {}):
        status = "met" if ok else ("NOT met" if ok is False else "not measured")
        print(f"[{status}] {what}: {fig}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        return worker_main(argv[1:])
    if argv[:1] == ["report"]:
        ap = argparse.ArgumentParser(prog="compare.py report")
        ap.add_argument("results", type=Path)
        ap.add_argument("--readme", type=Path, default=REPO / "README.md")
        ap.add_argument("--plot", type=Path, default=HERE / "results" / "time_per_run.png")
        a = ap.parse_args(argv[1:])
        data = json.loads(a.results.read_text())
        print_tables(data)
        report(data, a.readme, a.plot)
        return 0
    ap = argparse.ArgumentParser(
        prog="compare.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=10_000, help="runs of the comparison (10000)")
    ap.add_argument("--json-runs", type=int, default=1_000, help="runs of the JSON stores (1000)")
    ap.add_argument(
        "--scale",
        action="store_true",
        help="also run wfstore's Zarr store at 100k and 1M runs (and hpcflow at 1k)",
    )
    ap.add_argument(
        "--scale-runs", default="100000,1000000", help="sizes of --scale (comma separated)"
    )
    ap.add_argument(
        "--scale-calls",
        type=int,
        default=2000,
        help="one-commit calls timed per phase at the --scale sizes (2000)",
    )
    ap.add_argument(
        "--json-calls",
        type=int,
        default=200,
        help="one-commit calls timed per phase on the JSON stores (200)",
    )
    ap.add_argument(
        "--durabilities",
        default="process",
        help="also run wfstore's Zarr store at --runs with these durabilities (comma "
        "separated, as variants wfstore-zarr@NAME; '' for none) (process)",
    )
    ap.add_argument("--wfstore-only", action="store_true", help="skip hpcflow's stores")
    ap.add_argument("--no-json", action="store_true", help="skip the JSON stores")
    ap.add_argument(
        "--hpcflow-python",
        default=DEFAULT_HPCFLOW_PYTHON,
        help="Python with hpcflow-new2 0.2.0a190 (env WFSTORE_HPCFLOW_PYTHON)",
    )
    ap.add_argument("--tmp", type=Path, default=None, help="folder for the stores (a temp dir)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "compare.json")
    ap.add_argument("--readme", type=Path, default=REPO / "README.md")
    ap.add_argument("--plot", type=Path, default=HERE / "results" / "time_per_run.png")
    ap.add_argument(
        "--full-phases-below",
        type=int,
        default=1_000_000,
        help="at this many runs and more, stop after the rechunk of the runs (1000000)",
    )
    ap.add_argument("--only", help="run only these variants (comma separated, e.g. wfstore-zarr)")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every variant this many times, interleaved, keeping each phase's best",
    )
    ap.add_argument("--no-readme", action="store_true", help="do not touch README.md or the plot")
    args = ap.parse_args(argv)
    if args.runs < RUNS_PER_ITER:
        ap.error(f"--runs must be at least {RUNS_PER_ITER}")
    if not args.wfstore_only and not Path(args.hpcflow_python).exists():
        ap.error(
            f"no engine Python at {args.hpcflow_python}; give --hpcflow-python or --wfstore-only"
        )

    plan: list[tuple[str, int, int | None]] = []
    engines = ["wfstore"] if args.wfstore_only else ["hpcflow", "wfstore"]
    if args.scale and not args.wfstore_only:
        plan.append(("hpcflow-zarr", 1_000, None))
    for e in engines:
        plan.append((f"{e}-zarr", args.runs, None))
    for d in (x.strip() for x in args.durabilities.split(",")):
        if d and d not in ("full", "normal", "process"):
            ap.error(f"--durabilities: unknown durability {d!r} (full, normal, process)")
        if d:
            plan.append((f"wfstore-zarr@{d}", args.runs, None))
    if not args.no_json:
        for e in engines:
            plan.append((f"{e}-json", args.json_runs, args.json_calls))
    if args.scale:
        plan.append(("wfstore-zarr", 1_000, None))
        for n in (int(x) for x in args.scale_runs.split(",") if x):
            plan.append(("wfstore-zarr", n, args.scale_calls))

    if args.only:
        keep = set(args.only.split(","))
        plan = [p for p in plan if p[0] in keep]
    cmd = "python benches/compare.py" + "".join(f" {a}" for a in argv)
    prims: list[dict[str, float]] = []
    runs: dict[tuple[str, int], list[dict]] = {}

    def document() -> dict:
        return {
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
            "command": cmd.strip(),
            "primitives": {k: min(p[k] for p in prims) for k in prims[0]},
            "results": [best_of(rs) for rs in runs.values()],
        }

    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_root = Path(tempfile.mkdtemp(prefix="wfstore-bench-", dir=args.tmp))
    spread_folders(tmp_root)  # each variant's folder in inode groups of its own
    try:
        prims.append(time_primitives(tmp_root / "primitives"))
        # the comparison repeated, interleaved so that load changes hit all variants
        # alike, every other repeat in reverse order (a variant that runs right after
        # another leaves the disk busy for a while: hpcflow's 16,000 files at 10k
        # runs slowed the next variant's file writes); then the larger --scale sizes,
        # as many times (best of each phase, as at the comparison's size: a single run's
        # file-creating phases depend on what the disk did in the last half minute),
        # except the sizes with the shortened workload (1M), once:
        base = [p for p in plan if p[1] <= args.runs]
        todo = [p for r in range(args.repeat) for p in (base if r % 2 == 0 else base[::-1])]
        todo += [
            p
            for r in range(args.repeat)
            for p in plan
            if p[1] > args.runs and (r == 0 or p[1] < args.full_phases_below)
        ]
        for v, n, c in todo:
            stop = "rechunk_runs" if n >= args.full_phases_below else None
            res = run_variant(v, n, tmp_root, args.hpcflow_python, c, stop)
            runs.setdefault((v, n), []).append(res)
            prims.append(time_primitives(tmp_root / "primitives"))
            # partial results survive an interrupted run (``report`` reads them):
            args.out.write_text(json.dumps(document(), indent=1) + "\n")
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    data = document()
    print_tables(data)
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"results written to {args.out}", file=sys.stderr)
    if not args.no_readme:
        report(data, args.readme, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
