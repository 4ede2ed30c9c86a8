"""``wfstore demo``: build a realistic store and put it through its paces."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from rich.table import Table

from wfstore.cli.ui import (
    HELP,
    QUIET,
    ui_for,
)
from wfstore.tools.demo import run_demo


@click.command(context_settings=HELP)
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option(
    "--runs",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Number of runs in the store.",
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes marking runs started and ended.",
)
@click.option(
    "--batch",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Runs each worker commits at a time.",
)
@QUIET
@click.pass_context
def demo(
    ctx: click.Context, path: Path | None, runs: int, workers: int, batch: int, quiet: bool
) -> None:
    """Build a realistic store and put it through its paces.

    Writes an engine-style Zarr store of RUNS runs through the store API at PATH (a
    new folder; default: a temporary one, removed at the end), runs WORKERS processes
    that mark the runs started and ended at the same time, checks nothing was lost,
    rechunks the runs and parameters, zips the store (PATH.zip), verifies the archive,
    reads every run back from it, and prints a table of timings and file counts.

    \b
    Example:
      wfstore demo --runs 2000 --workers 4
      wfstore demo /scratch/demo_wk        # keeps /scratch/demo_wk and demo_wk.zip
    """
    ui = ui_for(ctx, quiet)
    if path is None:
        with tempfile.TemporaryDirectory(prefix="wfstore-demo-") as tmp:
            res = run_demo(Path(tmp) / "workflow", runs, workers, batch, ui.progress)
    else:
        res = run_demo(path, runs, workers, batch, ui.progress)
    table = Table(title=f"wfstore demo: {runs:,} runs, {workers} workers")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("files", justify="right")
    table.add_column("what")
    for name, secs, files, detail in res.steps:
        table.add_row(name, f"{secs:.2f}", "" if files is None else f"{files:,}", detail)
    table.add_row("total", f"{sum(s[1] for s in res.steps):.2f}", "", "")
    ui.out.print(table)
    if path is not None:
        ui.out.print(f"store: {res.path}\narchive: {res.archive}")
