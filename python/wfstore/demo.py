"""The main job until the ``wfstore`` command exists: a short demo of the core.

It writes a workflow-like Zarr store (an engine-style ``metadata/runs`` object array
with one row per run, chunk size 1 as the engine writes it, and a parameter array),
reads it back, updates every run in one batch, rechunks the runs with a backup, zips
the store, reads the runs straight out of the archive, unzips it and checks that every
row survived each step. It prints a table of what it did.

Run ``python -m wfstore.demo [PATH] [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from wfstore import NumericArray, ObjectArray, Store, _core


def _count_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def _run_row(i: int) -> list[Any]:
    # The shape of an engine run row: id, elem iter, action, commands, data idx, ...
    return [i, i // 5, 0, i % 5, None, 0, {"inputs.p1": 2 * (i // 5)}, None, None, None,
            None, None, None, "node-0"]


def run_demo(path: Path, runs: int, out: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every step on a new store at ``path``; returns the figures printed."""
    if path.exists() and any(path.iterdir()):
        raise SystemExit(f"error: {path} exists and is not empty; give a new folder")
    path.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, float, str]] = []

    def step(name: str, fn: Callable[[], str]) -> None:
        t0 = time.perf_counter()
        detail = fn()
        rows.append((name, time.perf_counter() - t0, detail))

    store = Store.local(path)
    expected = [_run_row(i) for i in range(runs)]
    state: dict[str, Any] = {}

    def create() -> str:
        store.create_group("", attrs={"name": "demo", "ts_fmt": "%Y-%m-%d %H:%M:%S.%f"})
        store.create_group("metadata")
        store.create_group("parameters")
        arr = ObjectArray.create(store, "metadata/runs", chunk_size=1, compressor="blosc",
                                 attrs={"parameter_paths": ["inputs.p1"]})
        arr.append(expected)
        NumericArray.create(store, "parameters/arrays/p1", np.arange(runs, dtype="<f8"))
        state["arr"] = arr
        return f"{runs} runs, {_count_files(path)} files"

    def read_all() -> str:
        got = ObjectArray.open(store, "metadata/runs").get_range()
        assert got == expected, "rows read back differ"
        return f"{len(got)} rows"

    def update() -> str:
        arr = state["arr"]
        for row in expected:
            row[8] = "2026-11-25 10:00:00.000000"
        arr.set(list(range(runs)), expected)
        return f"{runs} start times set in one call"

    def rechunk() -> str:
        rep = _core.rechunk_object_array(path / "metadata" / "runs", None, backup=True)
        got = ObjectArray.open(store, "metadata/runs").get_range()
        assert got == expected, "rows differ after rechunk"
        return (f"chunk size {rep['old_chunk_size']} -> {rep['new_chunk_size']}, "
                f"{_count_files(path)} files (with backup)")

    archive = path.with_suffix(".zip")

    def zip_() -> str:
        rep = _core.zip_dir(path, archive, exclude=["runs.bak", "base.bak", "execute"])
        return f"{rep['entries']} entries, {archive.stat().st_size:,} bytes"

    def read_zip() -> str:
        zs = Store.zip(archive)
        got = ObjectArray.open(zs, "metadata/runs").get_range()
        assert got == expected, "rows differ in the archive"
        p1 = NumericArray.open(zs, "parameters/arrays/p1").read()
        assert np.array_equal(p1, np.arange(runs, dtype="<f8"))
        return f"{len(got)} rows read in place"

    unzipped = path.parent / (path.name + "-unzipped")

    def unzip() -> str:
        rep = _core.unzip(archive, unzipped)
        got = ObjectArray.open(Store.local(unzipped), "metadata/runs").get_range()
        assert got == expected, "rows differ after unzip"
        return f"{rep['entries']} files restored, rows identical"

    step("create + append", create)
    step("read all runs", read_all)
    step("update all runs", update)
    step("rechunk runs", rechunk)
    step("zip", zip_)
    step("read runs from zip", read_zip)
    step("unzip", unzip)

    out(f"wfstore demo: {runs} runs in {path}")
    width = max(len(r[0]) for r in rows)
    out(f"{'step'.ljust(width)}  {'seconds':>8}  what")
    for name, secs, detail in rows:
        out(f"{name.ljust(width)}  {secs:8.3f}  {detail}")
    return {"rows": rows, "archive": str(archive), "unzipped": str(unzipped)}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m wfstore.demo``."""
    ap = argparse.ArgumentParser(prog="python -m wfstore.demo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", nargs="?", help="new folder for the store (default: a temporary one)")
    ap.add_argument("--runs", type=int, default=10_000, help="number of runs (default 10000)")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    if args.path:
        run_demo(Path(args.path).resolve(), args.runs)
    else:
        with tempfile.TemporaryDirectory(prefix="wfstore-demo-") as tmp:
            run_demo(Path(tmp) / "workflow", args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
