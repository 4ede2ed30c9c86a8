"""What the runner, its workers and its report share: the variants, workloads and
phases, and the store-API runner's measuring helpers."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

#: ``benches/``, where the store-API runner ``compare.py`` is.
HERE = Path(__file__).resolve().parent.parent
#: The entry point the worker and job processes run.
ENTRY = HERE / "engine.py"

#: hpcflow-new2 0.2.0a190's variants (run by the runner's own Python).
VARIANTS_A190 = ("hpcflow", "wfstore-engine", "wfstore-own")
#: hpcflow 0.3.0's (run by the Python of ``--hpcflow03-python``): its own Zarr store, and
#: wfstore registered in its place (skipped, saying why, where the probe finds it cannot
#: run).
VARIANTS_03 = ("hpcflow-0.3", "wfstore-0.3")
VARIANTS = VARIANTS_A190 + VARIANTS_03
#: The variant each is compared with: its engine generation's own store.
BASELINE = {
    "hpcflow": "hpcflow",
    "wfstore-engine": "hpcflow",
    "wfstore-own": "hpcflow",
    "hpcflow-0.3": "hpcflow-0.3",
    "wfstore-0.3": "hpcflow-0.3",
}
#: The engines' own stores.
ENGINE_VARIANTS = ("hpcflow", "hpcflow-0.3")
#: wfstore's own layout: rows per chunk of the runs and of the parameter base.
OWN_CHUNK = 100
WORKLOADS = ("sequence", "loop", "arrays")
LOOP_ITERATIONS = 20
#: (key, label) in the order the phases run on one workflow.
PHASES: list[tuple[str, str]] = [
    ("make", "make"),
    ("read", "open + read runs, inputs, outputs"),
    ("show", "list every run's state (show)"),
    ("submission", "add a submission"),
    ("jobs", "jobs: start, save an output, end"),
    ("zip", "zip"),
    ("read_zip", "open the zip + read runs"),
    ("rechunk", "rechunk (with backup)"),
]
PHASE_LABELS = dict(PHASES)
PHASE_KEYS = [k for k, _ in PHASES]

# --- shared with the store-API runner -------------------------------------------------
# Its measuring helpers (peak RSS, files, hpcflow's zip closer) are wfstore's
# (`wfstore/tools/bench/workload.py`, standard library only at module level), loaded by
# path without importing the `wfstore` package: the worker processes of the engine's
# own variants must not carry wfstore's modules (their peak RSS is the baseline).


def _load_bench_workload() -> Any:
    spec = importlib.util.find_spec("wfstore")  # finds the package, does not import it
    if spec is None or spec.origin is None:
        raise ImportError("wfstore is not installed in this Python")
    path = Path(spec.origin).parent / "tools" / "bench" / "workload.py"
    mod_spec = importlib.util.spec_from_file_location("_engine_bench_measure", path)
    if mod_spec is None or mod_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod


_measure = _load_bench_workload()
count_files = _measure.count_files
peak_rss_mib = _measure.peak_rss_mib
reset_peak_rss = _measure.reset_peak_rss
engine_zip_closer = _measure.engine_zip_closer

__all__ = [
    "BASELINE",
    "ENGINE_VARIANTS",
    "ENTRY",
    "HERE",
    "LOOP_ITERATIONS",
    "OWN_CHUNK",
    "PHASES",
    "PHASE_KEYS",
    "PHASE_LABELS",
    "VARIANTS",
    "VARIANTS_03",
    "VARIANTS_A190",
    "WORKLOADS",
    "count_files",
    "engine_zip_closer",
    "peak_rss_mib",
    "reset_peak_rss",
]
