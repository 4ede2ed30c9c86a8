"""``wfstore zip``: write a Zarr store into a zip archive."""

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


@click.command("zip", context_settings=HELP)
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Archive path, or a folder for <name>.zip (default: PATH.zip).",
)
@click.option("--include-execute", is_flag=True, help="Keep the execute folder.")
@click.option(
    "--include-backups",
    is_flag=True,
    help="Keep rechunk backups (runs.bak, base.bak; hpcflow 0.3: run_metadata.bak, sources.bak).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing archive.")
@QUIET
@click.pass_context
def zip_cmd(
    ctx: click.Context,
    path: Path,
    output: Path | None,
    include_execute: bool,
    include_backups: bool,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Write the Zarr store at PATH into a zip archive (read in place by hpcflow and
    wfstore). The archive appears only once complete.

    \b
    Example:
      wfstore zip my_workflow -o /archive/
    """
    ui = ui_for(ctx, quiet)
    store = open_zarr(path, "zip")
    src = Path(store.path)
    out = output if output is not None else src.parent / f"{src.name}.zip"
    with core_progress(ui, store, "zip"):
        dst = store.zip(
            str(out),
            overwrite=overwrite,
            include_execute=include_execute,
            include_rechunk_backups=include_backups,
        )
    click.echo(dst)
