"""``wfstore migrate``: move a workflow to another engine generation's store layout."""

from __future__ import annotations

from pathlib import Path

import click

from wfstore.cli.ui import HELP, QUIET, ui_for
from wfstore.tools.migrate import REVERSE_TARGET, TARGETS
from wfstore.tools.migrate import migrate as run_migration
from wfstore.tools.migrate.writer import STEPS


@click.command(context_settings=HELP)
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(path_type=Path))
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Choice([*TARGETS, REVERSE_TARGET]),
    help="The engine generation whose layout DST gets.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Migrate even with runs still pending or running in a submission.",
)
@click.option("--dry-run", is_flag=True, help="Print the migration report; write nothing.")
@QUIET
@click.pass_context
def migrate(
    ctx: click.Context, src: Path, dst: Path, to: str, force: bool, dry_run: bool, quiet: bool
) -> None:
    """Migrate the hpcflow-new2 0.2.0a190 workflow SRC (Zarr folder, JSON store or
    zip archive) to a new hpcflow 0.3.0 store DST of the same kind.

    SRC is only read. What cannot be carried is refused before anything is written
    (runs still pending or running, unless --force); what was inferred or defaulted
    (skip reasons, resources, the random seed) is in the migration report, printed
    by --dry-run and stored in DST. DST appears only once complete.

    \b
    Example:
      wfstore migrate old_workflow new_workflow --to hpcflow-0.3 --dry-run
    """
    ui = ui_for(ctx, quiet)
    if dry_run:
        report = run_migration(src, dst, to, force=force, dry_run=True)
        ui.out.print(report.to_text())
        return
    with ui.progress(f"migrate to {to}", STEPS) as advance:
        report = run_migration(src, dst, to, force=force, progress=advance)
    ui.status(
        f"{len(report.inferred)} inferred, {len(report.defaults)} defaulted, "
        f"{len(report.kept_aside)} kept aside (see the report in the store)"
    )
    click.echo(dst.resolve())
