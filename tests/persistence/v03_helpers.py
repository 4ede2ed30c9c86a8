"""Helpers of the tests of wfstore's verbs on hpcflow 0.3.0 stores: stores with a
submission made by hpcflow 0.3.0 in its side environment, runs finished through
wfstore's 0.3 store, and what 0.3.0's own classes read (``make_fixtures.py --dump``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import wfstore
from store_dump import normalise

HERE = Path(__file__).resolve().parent
MAKE_SUBMITTED = HERE / "v03_make_submitted.py"
MAKE_FIXTURES = HERE.parent / "data" / "make_fixtures.py"


def make_submitted(side_python: Path, out: Path, n_runs: int, shared: bool = False) -> Path:
    """An hpcflow 0.3.0 Zarr store of `n_runs` runs, each with a run file of its own
    (with `shared`, one run file and one output parameter file for all), in submission
    0 (made by 0.3.0 under `out`); returns its path."""
    res = subprocess.run(
        [str(side_python), str(MAKE_SUBMITTED), str(out), str(n_runs)]
        + (["--shared-files"] if shared else []),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    return Path(res.stdout.strip().splitlines()[-1])


def output_params(store: Any, runs: list[int]) -> dict[int, int]:
    """Each run's output parameter ID (``outputs.p2``)."""
    return {r.id_: r.data_idx["outputs.p2"] for r in store.get_EARs(runs)}


def run_value(run: int) -> Any:
    """The output value the tests record for `run`."""
    return {"run": run, "v": [run] * 3, "s": f"r{run}"}


def finish_runs(path: Path, runs: list[int], skip: tuple[int, ...] = ()) -> None:
    """Start, set the output of and end each of `runs` (or skip those in `skip`)
    through wfstore's 0.3 store, one save per run."""
    store = wfstore.open(path)
    outs = output_params(store, runs)
    for r in runs:
        if r in skip:
            store.set_EAR_skip({r: 3})
        else:
            store.set_EAR_start(r, None, None)
            store.save()
            store.set_parameter_values({outs[r]: run_value(r)})
            store.set_EAR_end(r, r % 5, r % 2 == 0, False)
        store.save()


def engine_dump(side_python: Path, *paths: Path) -> dict[str, Any]:
    """What hpcflow 0.3.0's own classes read from each store (by folder name)."""
    res = subprocess.run(
        [str(side_python), str(MAKE_FIXTURES), "--dump", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    dumps: dict[str, Any] = json.loads(res.stdout)
    return dumps


def without_run_files(dump: dict[str, Any]) -> dict[str, Any]:
    """`dump` with the runs' run-file ID and index (which consolidation changes) left
    out; the rest must read the same."""
    text = json.dumps(dump)
    obj = json.loads(text)

    def strip(o: Any) -> None:
        if isinstance(o, dict):
            o.pop("run_file_ID", None)
            o.pop("run_file_idx", None)
            for v in o.values():
                strip(v)
        elif isinstance(o, list):
            for v in o:
                strip(v)

    strip(obj)
    out: dict[str, Any] = normalise(obj)
    return out
