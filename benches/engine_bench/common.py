"""What the runner, its workers and its report share: the variants, workloads and
phases, and the store-API runner's report and measuring helpers."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

#: ``benches/``, where the store-API runner ``compare.py`` is.
HERE = Path(__file__).resolve().parent.parent
#: The entry point the worker and job processes run.
ENTRY = HERE / "engine.py"

VARIANTS = ("hpcflow", "wfstore-engine", "wfstore-own")
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


@functools.cache
def _shared() -> tuple[ModuleType, ModuleType]:
    """(report helpers, measuring helpers) of the store-API runner: the packaged
    ``wfstore.tools.bench`` when this wfstore has it, else ``benches/compare.py``."""
    try:
        from wfstore.tools.bench import report, workload  # type: ignore[import-not-found]

        return report, workload
    except ImportError:
        pass
    spec = importlib.util.spec_from_file_location("_wfstore_bench_compare", HERE / "compare.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"error: cannot load {HERE / 'compare.py'}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod, mod


def fmt_s(seconds: float | None) -> str:
    return str(_shared()[0]._fmt_s(seconds))


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    return str(_shared()[0].markdown_table(header, rows))


def text_table(header: list[str], rows: list[list[str]]) -> str:
    return str(_shared()[0].text_table(header, rows))


def update_readme(readme: Path, block: str) -> None:
    _shared()[0].update_readme(readme, block)


def reset_peak_rss() -> bool:
    return bool(_shared()[1]._reset_peak_rss())


def peak_rss_mib() -> float:
    return float(_shared()[1]._peak_rss_mib())


def count_files(path: Path) -> int:
    return int(_shared()[1].count_files(path))
