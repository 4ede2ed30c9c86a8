"""``wfstore unzip``: expand a zip store into a Zarr store folder."""

from __future__ import annotations

from pathlib import Path

import click

import wfstore
from wfstore import _core
from wfstore.cli.ui import (
    HELP,
    QUIET,
    ui_for,
)


@click.command(context_settings=HELP)
@click.argument("archive", type=click.Path(path_type=Path))
@click.argument("out", required=False, type=click.Path(path_type=Path))
@QUIET
@click.pass_context
def unzip(ctx: click.Context, archive: Path, out: Path | None, quiet: bool) -> None:
    """Expand the zip store ARCHIVE into a Zarr store folder OUT (default: ARCHIVE
    without .zip; an existing folder gets a store named after the workflow).

    Unsafe entries (absolute paths, '..', links, zip bombs) are refused.

    \b
    Example:
      wfstore unzip my_workflow.zip restored_workflow
    """
    ui = ui_for(ctx, quiet)
    store = wfstore.open(archive)
    if store._name != "zip":
        raise wfstore.UnsupportedStoreOperationError(
            f"unzip needs a zip store; {str(archive)!r} is a {store._name} store."
        )
    if out is None:
        src = Path(store.path)
        stem = src.name[:-4] if src.name.lower().endswith(".zip") else f"{src.name}_unzipped"
        dst = src.parent / stem
    else:
        dst = out.resolve()
        if dst.is_dir():
            dst = dst / store.get_name()
    if dst.exists():
        raise wfstore.StoreExistsError(f"Cannot unzip into {str(dst)!r}: it exists.")
    with ui.progress("unzip", 0) as advance:
        _core.unzip(store.path, dst, progress=lambda d, t: advance(d, t))
    click.echo(str(dst))
