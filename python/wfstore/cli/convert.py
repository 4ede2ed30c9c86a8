"""``wfstore convert``: copy a store into a new store of another kind."""

from __future__ import annotations

from pathlib import Path

import click

import wfstore
from wfstore.cli.ui import (
    HELP,
    QUIET,
    ui_for,
)


@click.command(context_settings=HELP)
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(path_type=Path))
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Choice(["json", "zarr", "zip"]),
    help="Kind of the new store (zip: hpcflow 0.3 stores).",
)
@QUIET
@click.pass_context
def convert(ctx: click.Context, src: Path, dst: Path, to: str, quiet: bool) -> None:
    """Copy the store SRC (any kind) into a new store DST of another kind, of the same
    engine generation (hpcflow 0.3 stores also to a zip archive).

    Everything the store API returns is the same in the copy; other files of the
    workflow folder (artifacts, ...) are copied as they are. Values JSON cannot hold
    (numpy arrays) stop a conversion to JSON with an error naming the parameter.

    \b
    Example:
      wfstore convert my_workflow my_workflow_json --to json
    """
    ui = ui_for(ctx, quiet)
    with ui.progress(f"convert to {to}", 6) as advance:
        new = wfstore.convert(src, dst, to, progress=advance)
    click.echo(new.path)
