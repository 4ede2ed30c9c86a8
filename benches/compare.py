"""Compare wfstore's stores with hpcflow 0.2.0a190's own, from a source tree: the
packaged runner (:mod:`wfstore.tools.bench.runner`, also ``wfstore bench``) with this
tree's defaults: results in ``benches/results/compare.json``, the tables of
``docs/benchmarks.md`` (between its ``bench:start`` and ``bench:end`` marker
comments) and the plot ``benches/results/time_per_run.png`` rewritten.

    python benches/compare.py                    # 10k runs: hpcflow vs wfstore, JSON at 1k
    python benches/compare.py --scale            # ... plus wfstore at 100k and 1M runs
    python benches/compare.py --runs 200 --wfstore-only --no-readme   # smoke run
    python benches/compare.py report benches/results/compare.json     # docs table + plot again

``python benches/compare.py --help`` lists every option.
"""

from __future__ import annotations

import sys
from pathlib import Path

from wfstore.tools.bench.runner import Defaults, main

HERE = Path(__file__).resolve().parent

#: This tree's defaults (the packaged runner's own leave the README alone).
DEFAULTS = Defaults(
    prog="python benches/compare.py",
    out=HERE / "results" / "compare.json",
    readme=HERE.parent / "docs" / "benchmarks.md",
    plot=HERE / "results" / "time_per_run.png",
)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], DEFAULTS))
