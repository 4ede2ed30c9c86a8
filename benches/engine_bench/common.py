"""What the runner, its workers and its report share: the variants, workloads and
phases, and the store-API runner's report and measuring helpers."""

from __future__ import annotations

from pathlib import Path

#: ``benches/``, where the store-API runner ``compare.py`` is.
HERE = Path(__file__).resolve().parent.parent
#: The entry point the worker and job processes run.
ENTRY = HERE / "engine.py"

#: hpcflow-new2 0.2.0a190's variants (run by the runner's own Python).
VARIANTS_A190 = ("hpcflow", "wfstore-engine", "wfstore-own")
#: hpcflow 0.3.0's (run by the Python of ``--hpcflow03-python``): its own Zarr store, and
#: wfstore registered in its place (skipped, saying why, while ``register()`` refuses
#: hpcflow 0.3.x).
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
# Its report and measuring helpers, from the installed wfstore (the engine's Python
# that runs this has wfstore installed: the wfstore variants need it).

from wfstore.tools.bench.report import (  # noqa: E402
    fmt_s,
    markdown_table,
    plot_lines,
    text_table,
    update_readme,
)
from wfstore.tools.bench.workload import count_files, peak_rss_mib, reset_peak_rss  # noqa: E402

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
    "fmt_s",
    "markdown_table",
    "peak_rss_mib",
    "plot_lines",
    "reset_peak_rss",
    "text_table",
    "update_readme",
]
