"""``wfstore repair``: finish what interrupted writes left in a store."""

from __future__ import annotations

import json
from pathlib import Path

import click

import wfstore
from wfstore.cli.ui import (
    HELP,
    ui_for,
)
from wfstore.tools.repair import DEFAULT_MIN_AGE


@click.command(context_settings=HELP)
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--min-age",
    type=float,
    default=DEFAULT_MIN_AGE,
    show_default=True,
    help="Seconds a temporary file or rechunk folder must have been left for before it "
    "is removed (0: remove all; only when no process writes the store).",
)
@click.option("--dry-run", is_flag=True, help="Change nothing; say what would be done.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def repair(
    ctx: click.Context, path: Path, min_age: float, dry_run: bool, as_json: bool
) -> None:
    """Finish what interrupted writes left in the store at PATH, and remove their traces.

    Under the store lock: commits cut short are finished from their journals, a
    rechunk cut short is finished or cleared, a parameter append cut short is trimmed,
    and temporary files (.wfstore-tmp-*) older than --min-age are deleted. These are
    the notes of `wfstore verify`; readers never see them. Damage (chunks that do not
    decode) is not repaired: see `wfstore verify`.

    \b
    Example:
      wfstore repair --dry-run my_workflow
      wfstore repair my_workflow
    """
    report = wfstore.repair(path, min_age=min_age, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    ui = ui_for(ctx, False)
    if report.dry_run:
        ui.status("dry run: nothing changed")
    for line in report.done:
        ui.out.print(line, markup=False, highlight=False)
    for line in report.kept:
        ui.out.print(f"kept: {line}", markup=False, highlight=False)
    if not report.done and not report.kept:
        ui.out.print(f"nothing to repair in {report.path} ({report.kind})", markup=False)
