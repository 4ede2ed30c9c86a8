"""Engine-level benchmark runner: hpcflow 0.2.0a190 workflows driven through the engine,
on its own Zarr store and on wfstore registered in its place. The code is the package
``engine_bench`` beside this file (its doc says what is measured and how);
``python benches/engine.py --help`` lists the options."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # loaded by path (the tests), not run as a script
    sys.path.insert(0, str(HERE))

if __name__ == "__main__" and sys.argv[1:2] in (["phase"], ["job"], ["probe"]):
    # a worker process: imports the worker alone (not the report, which imports
    # wfstore), so that the engine's own variants measure the engine without wfstore
    from engine_bench.worker import worker_main

    sys.exit(worker_main(sys.argv[1:]))

from engine_bench.common import (  # noqa: E402
    PHASE_KEYS,
    PHASE_LABELS,
    PHASES,
    VARIANTS,
    VARIANTS_03,
    WORKLOADS,
)
from engine_bench.report import check_targets, render_report  # noqa: E402
from engine_bench.runner import main  # noqa: E402
from engine_bench.storetime import StoreTimer  # noqa: E402

__all__ = [
    "PHASES",
    "PHASE_KEYS",
    "PHASE_LABELS",
    "VARIANTS",
    "VARIANTS_03",
    "WORKLOADS",
    "StoreTimer",
    "check_targets",
    "main",
    "render_report",
]

if __name__ == "__main__":
    sys.exit(main())
