"""``wfstore consolidate``: merge the run files and parameter files of finished
submissions of an hpcflow 0.3 Zarr store."""

from __future__ import annotations

import json
from pathlib import Path

import click

from wfstore.cli.ui import HELP, QUIET, ui_for
from wfstore.persistence.v03.consolidate import DEFAULT_RUNS_PER_FILE
from wfstore.tools.consolidate import consolidate as consolidate_store


@click.command(context_settings=HELP)
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "-s",
    "--submission",
    "submissions",
    type=click.IntRange(min=0),
    multiple=True,
    help="A submission to consolidate (repeatable; default: every finished one).",
)
@click.option(
    "--runs-per-file",
    type=click.IntRange(min=1),
    default=DEFAULT_RUNS_PER_FILE,
    show_default=True,
    help="Runs per consolidated run file (and parameter file).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@QUIET
@click.pass_context
def consolidate(
    ctx: click.Context,
    path: Path,
    submissions: tuple[int, ...],
    runs_per_file: int,
    as_json: bool,
    quiet: bool,
) -> None:
    """Merge the run files and output parameter files of finished submissions of the
    hpcflow 0.3 Zarr store at PATH into files of --runs-per-file runs each, which
    hpcflow 0.3.0 reads unchanged (the runs' run_sub_dat rows point at them).

    A submission with a run neither ended nor skipped is refused. Safe to interrupt:
    a kill leaves every value readable; running it again (or `wfstore repair`)
    finishes the clean-up.

    \b
    Example:
      wfstore consolidate my_workflow --submission 0
    """
    ui = ui_for(ctx, quiet)
    reports = consolidate_store(path, list(submissions) or None, runs_per_file)
    if as_json:
        click.echo(json.dumps(reports, indent=2))
        return
    if not reports:
        ui.out.print("no finished submission to consolidate")
    for rep in reports:
        what = "already consolidated" if rep["already"] else "consolidated"
        ui.out.print(
            f"submission {rep['submission']}: {rep['runs']:,} runs {what}, "
            f"{rep['files_before']:,} -> {rep['files_after']:,} run/parameter files "
            f"({rep['removed']:,} removed)"
        )
