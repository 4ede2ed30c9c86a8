"""What the commands share: output (tables on stdout, status and progress on stderr),
exit statuses, common options, opening a Zarr store for a command."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

import wfstore

#: Exit status when ``verify`` finds damage.
EXIT_DAMAGED = 1
#: Exit status on errors.
EXIT_ERROR = 2


class UI:
    """Output of one command: tables and results on stdout, status lines and
    progress bars on stderr (progress only on a terminal and without ``--quiet``)."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        # markup off: paths and reasons are printed as they are, "[...]" included
        self.err = Console(stderr=True, highlight=False, markup=False)
        wide = None if sys.stdout.isatty() else 200
        self.out = Console(highlight=False, markup=False, width=wide, soft_wrap=False)
        self.show_progress = not quiet and self.err.is_terminal

    def status(self, message: str) -> None:
        """A status line on stderr (not with ``--quiet``)."""
        if not self.quiet:
            self.err.print(message)

    @contextmanager
    def progress(self, label: str, total: int) -> Iterator[Callable[..., None]]:
        """A progress bar; yields ``advance(done, total=None)``."""
        if not self.show_progress:
            yield lambda done, total=None: None
            return
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.err) as prog:
            task = prog.add_task(label, total=total)

            def advance(done: float, total: float | None = None) -> None:
                if total is not None:
                    prog.update(task, total=total)
                prog.update(task, completed=done)

            yield advance


def ui_for(ctx: click.Context, quiet: bool) -> UI:
    root = ctx.find_root().obj or {}
    return UI(quiet or bool(root.get("quiet")))


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text


QUIET = click.option("-q", "--quiet", is_flag=True, help="No progress bars or status lines.")

HELP = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def open_zarr(path: Path, what: str) -> Any:
    """The Zarr store folder at `path`, of either engine generation
    (``wfstore.ZarrPersistentStore`` or hpcflow 0.3's ``V03ZarrPersistentStore``)."""
    store = wfstore.open(path)
    if store._name != "zarr" or not hasattr(store, "rechunk_runs"):
        raise wfstore.UnsupportedStoreOperationError(
            f"{what} needs a Zarr store folder; {str(path)!r} is a {store._name} store."
        )
    return store


@contextmanager
def core_progress(ui: UI, store: Any, label: str) -> Iterator[None]:
    """Route the store's core progress reports (rechunk, zip) to a progress bar."""
    with ui.progress(label, 0) as advance:
        # the store reports progress through its `_progress(status, label)` hook:
        store._progress = lambda status, lbl: lambda d, t: advance(d, t)
        try:
            yield
        finally:
            del store._progress
