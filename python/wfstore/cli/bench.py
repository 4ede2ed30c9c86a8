"""``wfstore bench``: time wfstore's stores (beside hpcflow's when it is there)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from rich.table import Table

import wfstore
from wfstore.cli.ui import (
    HELP,
    QUIET,
    ui_for,
)
from wfstore.tools.bench import runner
from wfstore.tools.demo import build_store

#: The comparison runner's entry point, ``main(argv) -> exit status``.
run_comparison: Callable[[Sequence[str]], int] = runner.main


@click.command(context_settings=HELP)
@click.option(
    "--runs",
    default=2000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Runs in the benchmark workload.",
)
@click.option("--wfstore-only", is_flag=True, help="Time wfstore alone, not hpcflow too.")
@click.option(
    "--hpcflow-python",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"Python with hpcflow-new2 0.2.0a190 for the engine's stores (default: "
    f"${runner.HPCFLOW_PYTHON_ENV}, else this Python if hpcflow is importable here).",
)
@click.option(
    "--hpcflow03-python",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"Python with hpcflow 0.3.0 for its own Zarr store in the 0.3 workload (default: "
    f"${runner.HPCFLOW03_PYTHON_ENV}; without one, wfstore's 0.3 store is timed alone).",
)
@click.option(
    "--generations",
    default=",".join(runner.GENERATIONS),
    show_default=True,
    help="Engine generations whose workloads run (comma separated: a190, 0.3).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Keep the comparison's figures in this JSON file (default: printed only).",
)
@click.option(
    "--builtin", is_flag=True, help="A quick wfstore-only timing instead of the comparison."
)
@QUIET
@click.pass_context
def bench(
    ctx: click.Context,
    runs: int,
    wfstore_only: bool,
    hpcflow_python: str | None,
    hpcflow03_python: str | None,
    generations: str,
    out: Path | None,
    builtin: bool,
    quiet: bool,
) -> None:
    """Time wfstore's stores on RUNS runs, beside hpcflow's own when hpcflow is there.

    The comparison runner drives one workload per engine generation through the store
    API (build, one commit per run update, cold reads, rechunk, zip, unzip) on each
    store, and prints the time of each phase and the speed-up. hpcflow-new2
    0.2.0a190's stores run in this Python when hpcflow is importable here, or in the
    Python given by --hpcflow-python; hpcflow 0.3.0's Zarr store (against wfstore's
    0.3 Zarr store, 0.3's API) in the Python given by --hpcflow03-python. Without
    an engine, wfstore is timed alone. --builtin times a few operations of wfstore alone
    instead: writing the runs, marking runs started and ended with one commit each,
    reading them all, rechunking, zipping and verifying.

    \b
    Example:
      wfstore bench --runs 5000
      wfstore bench --hpcflow-python ~/envs/hpcflow/bin/python
      wfstore bench --generations 0.3 --hpcflow03-python ~/envs/hpcflow03/bin/python
    """
    ui = ui_for(ctx, quiet)
    if not builtin:
        # the JSON stores at no more runs than the Zarr stores (the runner's 1000 at most)
        argv = ["--runs", str(runs), "--json-runs", str(min(runs, 1000)), "--no-readme"]
        wanted = [g.strip() for g in generations.split(",") if g.strip()]
        if not wfstore_only:
            engine = runner.find_hpcflow_python(hpcflow_python) if "a190" in wanted else None
            engine03 = runner.find_hpcflow03_python(hpcflow03_python) if "0.3" in wanted else None
            if engine is None and engine03 is None:
                ui.status(
                    "no engine found (give --hpcflow-python or "
                    f"${runner.HPCFLOW_PYTHON_ENV}, --hpcflow03-python or "
                    f"${runner.HPCFLOW03_PYTHON_ENV}): timing wfstore alone"
                )
                wfstore_only = True
            elif engine is None and "a190" in wanted:
                ui.status(
                    "hpcflow-new2 0.2.0a190 is not importable in this Python (give "
                    f"--hpcflow-python or ${runner.HPCFLOW_PYTHON_ENV}): the 0.3 workload only"
                )
                wanted = ["0.3"]
            if engine is not None:
                argv += ["--hpcflow-python", engine]
            if engine03 is not None:
                argv += ["--hpcflow03-python", engine03]
        argv += ["--generations", ",".join(wanted)]
        if wfstore_only:
            argv.append("--wfstore-only")
        if out is not None:
            ctx.exit(int(run_comparison([*argv, "--out", str(out)]) or 0))
        # the figures go to a temporary file: only the tables are printed
        with tempfile.TemporaryDirectory(prefix="wfstore-bench-") as tmp:
            rc = run_comparison([*argv, "--out", str(Path(tmp) / "compare.json")])
        ctx.exit(int(rc or 0))
    rows: list[tuple[str, float, str]] = []

    def timed(name: str, fn: Callable[[], str]) -> None:
        t0 = time.perf_counter()
        detail = fn()
        rows.append((name, time.perf_counter() - t0, detail))

    with tempfile.TemporaryDirectory(prefix="wfstore-bench-") as tmp:
        path = Path(tmp) / "wk"
        timed("write runs (API, one commit)", lambda: _n(build_store(path, runs), runs))
        store = wfstore.open(path)
        n_mark = min(runs, 500)

        def mark() -> str:
            for i in range(n_mark):
                store.set_EAR_start(i)
                store.set_EAR_end(i, 0, True)
            return f"{n_mark} runs, 2 commits each"

        timed("mark runs (commit per update)", mark)
        timed("read all runs", lambda: f"{len(wfstore.open(path).get_EARs(range(runs)))} runs")
        timed("rechunk runs", lambda: str(store.rechunk_runs(status=False)["rows"]) + " rows")
        timed("zip", lambda: store.zip(str(Path(tmp) / "wk.zip")).rsplit("/", 1)[-1])
        timed("verify zip", lambda: f"{wfstore.verify(Path(tmp) / 'wk.zip').chunks} chunks")
    table = Table(title=f"wfstore bench: {runs:,} runs (wfstore alone)")
    table.add_column("operation")
    table.add_column("seconds", justify="right")
    table.add_column("per item", justify="right")
    table.add_column("what")
    for name, secs, detail in rows:
        per = f"{1000 * secs / (n_mark if 'mark' in name else runs):.3f} ms"
        table.add_row(name, f"{secs:.3f}", per, detail)
    ui.out.print(table)


def _n(_store: Any, runs: int) -> str:
    return f"{runs} runs"
