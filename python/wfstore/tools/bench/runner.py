"""Compare wfstore's PersistentStores with hpcflow 0.2.0a190's and hpcflow 0.3.0's own,
in one run (``wfstore bench``; ``python benches/compare.py`` in a source tree).

One workload per engine generation (:mod:`~wfstore.tools.bench.workload`) is driven
through the PersistentStore API on each store variant:

* ``hpcflow-zarr`` / ``hpcflow-json``: hpcflow 0.2.0a190's ``ZarrPersistentStore`` and
  ``JSONPersistentStore``, run by a Python where hpcflow is importable: the one given
  by ``--hpcflow-python`` (or ``$WFSTORE_HPCFLOW_PYTHON``), else this one when hpcflow
  is importable here;
* ``wfstore-zarr`` / ``wfstore-json``: wfstore's (run by this Python), with the default
  durability;
* ``hpcflow03-zarr`` / ``wfstore03-zarr`` (``--generations`` has ``0.3``, the default):
  hpcflow 0.3.0's own ``ZarrPersistentStore``, run by the Python given by
  ``--hpcflow03-python`` (or ``$WFSTORE_HPCFLOW03_PYTHON``), and wfstore's 0.3 Zarr
  store, through 0.3's API (the 0.3 workload,
  :func:`~wfstore.tools.bench.workload.run_workload_v03`); without a 0.3.0 Python,
  wfstore's alone;
* ``wfstore-zarr@NAME`` (``--durabilities``): wfstore's Zarr store with the durability
  ``NAME`` (see :mod:`wfstore.common.durability`), reported apart, its one-commit phases
  only; the targets are checked on the default.

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

    wfstore bench                                # 2000 runs, beside hpcflow if found
    python benches/compare.py                    # 10k runs: hpcflow vs wfstore, JSON at 1k
    python benches/compare.py --scale            # ... plus wfstore at 100k and 1M runs
    python benches/compare.py --runs 200 --wfstore-only --no-readme   # smoke run
    python benches/compare.py report benches/results/compare.json     # README + plot again
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wfstore.common.durability import DURABILITIES
from wfstore.tools.bench import workload
from wfstore.tools.bench.report import best_of, print_tables, report
from wfstore.tools.bench.workload import RUNS_PER_ITER, split_variant, time_primitives

#: The environment variable naming a Python where hpcflow-new2 0.2.0a190 is installed.
HPCFLOW_PYTHON_ENV = "WFSTORE_HPCFLOW_PYTHON"
#: The environment variable naming a Python where hpcflow 0.3.0 (PyPI ``hpcflow``) is.
HPCFLOW03_PYTHON_ENV = "WFSTORE_HPCFLOW03_PYTHON"
#: The engine generations whose workloads the runner knows.
GENERATIONS = ("a190", "0.3")


def hpcflow_importable() -> bool:
    """Whether hpcflow can be imported in this Python."""
    return importlib.util.find_spec("hpcflow") is not None


def find_hpcflow_python(given: str | None = None) -> str | None:
    """The Python that runs hpcflow's variants: `given`, else ``$WFSTORE_HPCFLOW_PYTHON``,
    else this Python when hpcflow is importable in it; None when there is none."""
    if given:
        return given
    env = os.environ.get(HPCFLOW_PYTHON_ENV)
    if env:
        return env
    if hpcflow_importable():
        return sys.executable
    return None


def find_hpcflow03_python(given: str | None = None) -> str | None:
    """The Python that runs hpcflow 0.3.0's own store: `given`, else
    ``$WFSTORE_HPCFLOW03_PYTHON``; None when there is none (this Python is not tried:
    its ``hpcflow`` may be a190's)."""
    return given or os.environ.get(HPCFLOW03_PYTHON_ENV) or None


def _python_for(
    variant: str, hpcflow_python: str | None, hpcflow03_python: str | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command starting a worker of `variant` (without its arguments) and its
    environment."""
    env = dict(os.environ)
    # wfstore's variants have the default durability unless their name gives one
    env.pop("WFSTORE_DURABILITY", None)
    durability = split_variant(variant)[2]
    if durability:
        env["WFSTORE_DURABILITY"] = durability
    if variant.startswith("hpcflow"):
        engine = hpcflow03_python if variant.startswith("hpcflow03") else hpcflow_python
        if not engine:
            raise SystemExit(f"error: no Python with the engine for {variant}")
        if os.path.realpath(engine) != os.path.realpath(sys.executable):
            env.pop("PYTHONPATH", None)  # another environment: nothing of this one's
        # by path: wfstore need not be installed in the engine's environment
        return [engine, str(Path(workload.__file__).resolve())], env
    return [sys.executable, "-m", workload.__name__], env


def run_variant(
    variant: str,
    n_runs: int,
    tmp_root: Path,
    hpcflow_python: str | None,
    max_calls: int | None,
    stop_after: str | None = None,
    hpcflow03_python: str | None = None,
) -> dict:
    """Run one variant at one size in a subprocess; return its figures."""
    os.sync()  # nothing the previous variant wrote is still being written back
    workdir = Path(tempfile.mkdtemp(prefix=f"{variant}-{n_runs}-", dir=tmp_root))
    result = workdir / "result.json"
    python, env = _python_for(variant, hpcflow_python, hpcflow03_python)
    cmd = [
        *python,
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
        # removed then), so that no variant is timed while the disk deletes another's
        result.unlink(missing_ok=True)
    print(f"   done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return res


@dataclass(frozen=True)
class Defaults:
    """Where a caller's results go by default: the command name recorded with them, the
    results file, and the README whose table (and the plot beside it) is rewritten
    (None: only when asked for with ``--readme``)."""

    prog: str = "wfstore bench"
    out: Path = Path("wfstore-bench.json")
    readme: Path | None = None
    plot: Path | None = None


def main(argv: Sequence[str] | None = None, defaults: Defaults = Defaults()) -> int:
    """Run the comparison (or, with ``report RESULTS``, report saved results again);
    returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:
        ap = argparse.ArgumentParser(prog=f"{defaults.prog} report")
        ap.add_argument("results", type=Path)
        ap.add_argument("--readme", type=Path, default=defaults.readme)
        ap.add_argument("--plot", type=Path, default=defaults.plot)
        a = ap.parse_args(argv[1:])
        data = json.loads(a.results.read_text())
        print_tables(data)
        report(data, a.readme, a.plot)
        return 0
    ap = argparse.ArgumentParser(
        prog=defaults.prog,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        default="",
        help="also run wfstore's Zarr store at --runs with these durabilities (comma "
        f"separated, as variants wfstore-zarr@NAME; of {', '.join(DURABILITIES)}) (none)",
    )
    ap.add_argument("--wfstore-only", action="store_true", help="skip hpcflow's stores")
    ap.add_argument("--no-json", action="store_true", help="skip the JSON stores")
    ap.add_argument(
        "--hpcflow-python",
        default=None,
        help="Python with hpcflow-new2 0.2.0a190 (default: $WFSTORE_HPCFLOW_PYTHON, else this "
        "Python if hpcflow is importable here)",
    )
    ap.add_argument(
        "--hpcflow03-python",
        default=None,
        help="Python with hpcflow 0.3.0 for its own Zarr store in the 0.3 workload (default: "
        f"${HPCFLOW03_PYTHON_ENV}; without one, wfstore's 0.3 store is timed alone)",
    )
    ap.add_argument(
        "--generations",
        default=",".join(GENERATIONS),
        help="engine generations whose workloads run (comma separated, of "
        f"{', '.join(GENERATIONS)}) ({','.join(GENERATIONS)})",
    )
    ap.add_argument("--v03-runs", type=int, default=None, help="runs of the 0.3 workload (--runs)")
    ap.add_argument("--tmp", type=Path, default=None, help="folder for the stores (a temp dir)")
    ap.add_argument("--out", type=Path, default=defaults.out, help=f"results ({defaults.out})")
    ap.add_argument(
        "--readme",
        type=Path,
        default=defaults.readme,
        help=f"README whose benchmark table is rewritten ({defaults.readme or 'none'})",
    )
    ap.add_argument("--plot", type=Path, default=defaults.plot, help="plot beside the table")
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
    ap.add_argument("--no-readme", action="store_true", help="do not touch the README or the plot")
    args = ap.parse_args(argv)
    if args.runs < RUNS_PER_ITER:
        ap.error(f"--runs must be at least {RUNS_PER_ITER}")
    generations = [g.strip() for g in args.generations.split(",") if g.strip()]
    for g in generations:
        if g not in GENERATIONS:
            ap.error(f"--generations: unknown generation {g!r} ({', '.join(GENERATIONS)})")
    v03_runs = args.runs if args.v03_runs is None else args.v03_runs
    if "0.3" in generations and v03_runs < RUNS_PER_ITER:
        ap.error(f"--v03-runs must be at least {RUNS_PER_ITER}")
    if "0.3" in generations and not args.wfstore_only:
        args.hpcflow03_python = find_hpcflow03_python(args.hpcflow03_python)
        if args.hpcflow03_python is None:
            print(
                "hpcflow 0.3.0's Python not given (--hpcflow03-python or "
                f"${HPCFLOW03_PYTHON_ENV}): timing wfstore's 0.3 store alone",
                file=sys.stderr,
            )
        elif not Path(args.hpcflow03_python).exists():
            ap.error(f"no hpcflow 0.3.0 Python at {args.hpcflow03_python}")
    else:
        args.hpcflow03_python = None
    if "a190" in generations and not args.wfstore_only:
        args.hpcflow_python = find_hpcflow_python(args.hpcflow_python)
        if args.hpcflow_python is None:
            ap.error(
                "hpcflow is not importable in this Python: give --hpcflow-python (or "
                f"${HPCFLOW_PYTHON_ENV}) or --wfstore-only"
            )
        if not Path(args.hpcflow_python).exists():
            ap.error(
                f"no engine Python at {args.hpcflow_python}; give --hpcflow-python or "
                "--wfstore-only"
            )

    plan: list[tuple[str, int, int | None]] = []
    engines = ["wfstore"] if args.wfstore_only else ["hpcflow", "wfstore"]
    for d in (x.strip() for x in args.durabilities.split(",")):
        if d and d not in DURABILITIES:
            ap.error(f"--durabilities: unknown durability {d!r} ({', '.join(DURABILITIES)})")
    if "a190" in generations:
        if args.scale and not args.wfstore_only:
            plan.append(("hpcflow-zarr", 1_000, None))
        for e in engines:
            plan.append((f"{e}-zarr", args.runs, None))
        for d in (x.strip() for x in args.durabilities.split(",")):
            if d:
                plan.append((f"wfstore-zarr@{d}", args.runs, None))
        if not args.no_json:
            for e in engines:
                plan.append((f"{e}-json", args.json_runs, args.json_calls))
    if "0.3" in generations:
        if args.hpcflow03_python:
            plan.append(("hpcflow03-zarr", v03_runs, None))
        plan.append(("wfstore03-zarr", v03_runs, None))
    if args.scale and "a190" in generations:
        plan.append(("wfstore-zarr", 1_000, None))
        for n in (int(x) for x in args.scale_runs.split(",") if x):
            plan.append(("wfstore-zarr", n, args.scale_calls))

    if args.only:
        keep = set(args.only.split(","))
        plan = [p for p in plan if p[0] in keep]
    cmd = defaults.prog + "".join(f" {a}" for a in argv)
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
    try:
        prims.append(time_primitives(tmp_root / "primitives"))
        # the comparison repeated, interleaved so that load changes hit all variants
        # alike, every other repeat in reverse order (a variant that runs right after
        # another may find the disk still busy with its writes); then the larger
        # --scale sizes, as many times (best of each phase, as at the comparison's
        # size), except the sizes with the shortened workload (1M), once:
        base = [p for p in plan if p[1] <= max(args.runs, v03_runs)]
        todo = [p for r in range(args.repeat) for p in (base if r % 2 == 0 else base[::-1])]
        todo += [
            p
            for r in range(args.repeat)
            for p in plan
            if p[1] > max(args.runs, v03_runs) and (r == 0 or p[1] < args.full_phases_below)
        ]
        for v, n, c in todo:
            stop = "rechunk_runs" if n >= args.full_phases_below else None
            res = run_variant(v, n, tmp_root, args.hpcflow_python, c, stop, args.hpcflow03_python)
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
    if not args.no_readme and args.readme is not None:
        report(data, args.readme, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
