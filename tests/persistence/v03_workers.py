"""Child processes of the hpcflow 0.3.0 concurrency and SIGKILL tests.

    python v03_workers.py record STORE WORKER RUN...   # record starts, outputs, ends
    python v03_workers.py record-numpy STORE WORKER RUN...   # outputs with numpy arrays
    python v03_workers.py consolidate STORE STAGE N    # SIGKILL itself at (STAGE, N)
    python v03_workers.py rechunk STORE runs|params N  # SIGKILL at the N-th progress call

``record``: through wfstore's 0.3 store, for each run: ``set_EAR_start`` and save,
``set_parameter_values`` of its output (a value with the worker's and run's numbers)
and ``set_EAR_end`` (exit code = worker) and save; prints ``ACK <run>`` after each
run's last save. ``consolidate``: consolidates submission 0 (10 runs per file) and
kills itself with SIGKILL after step N of STAGE (``written``, ``swapped``,
``removed``) of :func:`wfstore.persistence.v03.consolidate.consolidate_submission`.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import numpy as np
import wfstore
from wfstore.persistence.v03 import consolidate as cons


def value(worker: int, run: int, numpy: bool = False) -> Any:
    """The output value worker `worker` records for `run` (with `numpy`: a numpy array,
    its length and dtype varying by run, inside the value)."""
    v: Any = np.arange(run % 4 + 1, dtype="<f8" if run % 2 else "<i8") * run if numpy else [run] * 3
    return {"worker": worker, "run": run, "v": v}


def same_value(got: Any, want: Any) -> bool:
    """Whether a value read back equals the recorded one (numpy arrays elementwise, of
    the same dtype)."""
    if isinstance(want, np.ndarray):
        return isinstance(got, np.ndarray) and got.dtype == want.dtype and np.array_equal(got, want)
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(
            same_value(got[k], want[k]) for k in want
        )
    return bool(got == want)


def record(path: str, worker: int, runs: list[int], numpy: bool = False) -> None:
    store = wfstore.open(path)
    outs = {r.id_: r.data_idx["outputs.p2"] for r in store.get_EARs(runs)}
    for r in runs:
        store.set_EAR_start(r, None, None)
        store.save()
        store.set_parameter_values({outs[r]: value(worker, r, numpy)})
        store.set_EAR_end(r, worker, r % 2 == 0, False)
        store.save()
        print(f"ACK {r}", flush=True)


def consolidate(path: str, stage: str, n: int) -> None:
    def hook(s: str, i: int) -> None:
        if s == stage and i == n:
            os.kill(os.getpid(), signal.SIGKILL)

    cons.consolidate_submission(wfstore.open(path), 0, 10, hook=hook)
    print("DONE", flush=True)


def rechunk(path: str, which: str, calls: int) -> None:
    """Rechunk run_metadata (``runs``) or sources (``params``) one row per chunk,
    SIGKILLed at the `calls`-th progress report of the core's rechunk."""
    seen = 0

    def progress(status: bool, label: str) -> object:
        def report(done: int, total: int) -> None:
            nonlocal seen
            seen += 1
            if seen == calls:
                os.kill(os.getpid(), signal.SIGKILL)

        return report

    store = wfstore.open(path)
    store._progress = progress
    fn = store.rechunk_runs if which == "runs" else store.rechunk_parameter_base
    fn(chunk_size=1, backup=True, status=False)
    print("DONE", flush=True)


if __name__ == "__main__":
    if sys.argv[1] in ("record", "record-numpy"):
        runs = [int(a) for a in sys.argv[4:]]
        record(sys.argv[2], int(sys.argv[3]), runs, numpy=sys.argv[1] == "record-numpy")
    elif sys.argv[1] == "rechunk":
        rechunk(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        consolidate(sys.argv[2], sys.argv[3], int(sys.argv[4]))
