"""The ``wfstore`` console command.

Subcommands: ``demo``, ``inspect``, ``verify``, ``repair``, ``rechunk``, ``consolidate``,
``zip``, ``unzip``, ``convert``, ``migrate`` and ``bench``; ``wfstore COMMAND --help`` shows
each one's options with an example. Errors are printed as one line (``error: ...``)
without a traceback.

Exit status: 0 on success; 1 when ``verify`` finds damage; 2 on any error (bad
arguments included); 130 when interrupted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import click

import wfstore
from wfstore.cli import (
    bench,
    consolidate,
    convert,
    demo,
    inspect,
    migrate,
    rechunk,
    repair,
    unzip,
    verify,
    zip,
)
from wfstore.cli.ui import EXIT_ERROR, HELP, QUIET, one_line
from wfstore.common.durability import DURABILITIES, ENV_VAR
from wfstore.common.errors import StoreError


class _Group(click.Group):
    """Turns errors into one line on stderr and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            ctx.exit(130)
        except (StoreError, OSError, ValueError, KeyError, TypeError) as exc:
            click.echo(f"error: {one_line(exc)}", err=True)
            ctx.exit(EXIT_ERROR)


@click.group(cls=_Group, context_settings=HELP)
@click.version_option(version=getattr(wfstore, "__version__", "unknown"), prog_name="wfstore")
@QUIET
@click.option(
    "--durability",
    type=click.Choice(DURABILITIES),
    default=None,
    help="What the writes of the stores the command opens survive: full (each write "
    "flushed to disk), normal (renamed into place, as hpcflow writes) or process (safe "
    f"against crashed processes only; faster commits). Default: ${ENV_VAR}, else normal.",
)
@click.pass_context
def cli(ctx: click.Context, quiet: bool, durability: str | None) -> None:
    """wfstore: inspect, check, rechunk, archive and convert workflow stores
    (hpcflow's Zarr, JSON and zip stores).

    \b
    Examples:
      wfstore demo                     # the main job, on a temporary store
      wfstore inspect my_workflow      # what a store holds
      wfstore verify my_workflow.zip   # every damaged chunk (exit status 1 if any)
    """
    ctx.obj = {"quiet": quiet}
    if durability is not None:
        # the stores this command opens, and those of the processes it starts (demo)
        os.environ[ENV_VAR] = durability


for _command in (
    demo.demo,
    inspect.inspect,
    verify.verify,
    repair.repair,
    rechunk.rechunk,
    consolidate.consolidate,
    zip.zip_cmd,
    unzip.unzip,
    convert.convert,
    migrate.migrate,
    bench.bench,
):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None, prog_name: str = "wfstore") -> None:
    """Entry point of the ``wfstore`` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name=prog_name)


if __name__ == "__main__":
    main()
