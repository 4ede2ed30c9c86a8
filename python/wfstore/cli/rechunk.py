"""``wfstore rechunk``: rechunk the runs and parameter base arrays of a Zarr store."""

from __future__ import annotations

from pathlib import Path

import click

from wfstore.cli.ui import (
    HELP,
    QUIET,
    core_progress,
    open_zarr,
    ui_for,
)
from wfstore.tools.stores import is_v03_store


@click.command(context_settings=HELP)
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--runs", "do_runs", is_flag=True, help="Rechunk metadata/runs (hpcflow 0.3: run_metadata)."
)
@click.option(
    "--params", "do_params", is_flag=True, help="Rechunk parameters/base (hpcflow 0.3: sources)."
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=None,
    help="Rows per chunk (default: all rows in one chunk).",
)
@click.option("--no-backup", is_flag=True, help="Do not keep the old array as <array>.bak.")
@QUIET
@click.pass_context
def rechunk(
    ctx: click.Context,
    path: Path,
    do_runs: bool,
    do_params: bool,
    chunk_size: int | None,
    no_backup: bool,
    quiet: bool,
) -> None:
    """Rechunk the runs and/or parameter base arrays of the Zarr store at PATH.

    With neither --runs nor --params both are rechunked. The old array is kept as
    runs.bak / base.bak unless --no-backup (an existing backup is kept as it is).
    An interrupted rechunk leaves the old or the new array whole. On an hpcflow 0.3
    store the arrays are metadata/run_metadata with the arrays indexed by run ID
    (run_sub_dat, run_dirs) and parameters/sources (backups <array>.bak); its run
    files are merged by `wfstore consolidate`.

    \b
    Example:
      wfstore rechunk my_workflow --runs --chunk-size 1000
    """
    ui = ui_for(ctx, quiet)
    store = open_zarr(path, "rechunk")
    if not do_runs and not do_params:
        do_runs = do_params = True
    v03 = is_v03_store(store)
    todo = [("metadata/run_metadata" if v03 else "runs", store.rechunk_runs)] if do_runs else []
    if do_params:
        todo.append(
            ("parameters/sources" if v03 else "parameters/base", store.rechunk_parameter_base)
        )
    for name, fn in todo:
        with core_progress(ui, store, f"rechunk {name}"):
            rep = fn(chunk_size=chunk_size, backup=not no_backup, status=False)
        for one in [rep, *rep.get("also", [])]:
            backup = f", backup {one['backup']}" if one.get("backup") else ""
            ui.out.print(
                f"{one.get('array', name)}: {one['rows']:,} rows, chunk size "
                f"{one['old_chunk_size']} -> {one['new_chunk_size']}{backup}"
            )
