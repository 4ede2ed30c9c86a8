"""``wfstore verify``: every damaged chunk of a store (exit status 1 if any)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

import wfstore
from wfstore.cli.ui import (
    EXIT_DAMAGED,
    HELP,
    QUIET,
    ui_for,
)


@click.command(context_settings=HELP)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@QUIET
@click.pass_context
def verify(ctx: click.Context, path: Path, as_json: bool, quiet: bool) -> None:
    """Check every chunk and metadata document of the store at PATH.

    Lists each damaged item (array, chunk key, reason): chunks that do not decompress
    or decode, or hold the wrong number of rows or bytes, broken .zarray/.zattrs/
    .zgroup or JSON documents, zip entries failing their CRC. Exit status 1 if any.
    Notes (stderr) tell of traces of interrupted writes, which are not damage: commit
    journals, temporary files, a parameter append or a rechunk cut short.

    \b
    Example:
      wfstore verify my_workflow && echo sound
    """
    ui = ui_for(ctx, quiet)
    with ui.progress("verify", 0) as advance:
        report = wfstore.verify(path, progress=advance)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    elif report.ok:
        ui.out.print(
            f"ok: {report.path} ({report.kind}): {report.arrays} arrays, "
            f"{report.chunks:,} chunks, {report.documents} documents"
            + (f", {report.files:,} run/parameter/array files" if report.files else "")
            + ", none damaged"
        )
    else:
        table = Table(title=f"{len(report.bad)} damaged in {report.path}")
        table.add_column("array")
        table.add_column("key")
        table.add_column("reason")
        for bad in report.bad:
            table.add_row(bad.array or "/", bad.key, bad.reason)
        ui.out.print(table)
    if not as_json:
        for note in report.notes:  # not damage: on stderr, even when verify says ok
            ui.err.print(f"note: {note}")
    if not report.ok:
        ctx.exit(EXIT_DAMAGED)
