"""The ``wfstore`` console command.

Subcommands: ``demo``, ``inspect``, ``verify``, ``repair``, ``rechunk``, ``zip``,
``unzip``, ``convert`` and ``bench``; ``wfstore COMMAND --help`` shows each one's options with an
example. Errors are printed as one line (``error: ...``) without a traceback.

Exit status: 0 on success; 1 when ``verify`` finds damage; 2 on any error (bad
arguments included); 130 when interrupted.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
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
from rich.table import Table

import wfstore
from wfstore.durability import DURABILITIES, ENV_VAR
from wfstore.errors import StoreError
from wfstore.recovery import DEFAULT_MIN_AGE

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


def _ui(ctx: click.Context, quiet: bool) -> UI:
    root = ctx.find_root().obj or {}
    return UI(quiet or bool(root.get("quiet")))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text


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
            click.echo(f"error: {_one_line(exc)}", err=True)
            ctx.exit(EXIT_ERROR)


_QUIET = click.option("-q", "--quiet", is_flag=True, help="No progress bars or status lines.")

_HELP = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=_Group, context_settings=_HELP)
@click.version_option(version=getattr(wfstore, "__version__", "unknown"), prog_name="wfstore")
@_QUIET
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


# --- demo --------------------------------------------------------------------------------


@cli.command(context_settings=_HELP)
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option(
    "--runs",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Number of runs in the store.",
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes marking runs started and ended.",
)
@click.option(
    "--batch",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Runs each worker commits at a time.",
)
@_QUIET
@click.pass_context
def demo(
    ctx: click.Context, path: Path | None, runs: int, workers: int, batch: int, quiet: bool
) -> None:
    """Build a realistic store and put it through its paces.

    Writes an engine-style Zarr store of RUNS runs through the store API at PATH (a
    new folder; default: a temporary one, removed at the end), runs WORKERS processes
    that mark the runs started and ended at the same time, checks nothing was lost,
    rechunks the runs and parameters, zips the store (PATH.zip), verifies the archive,
    reads every run back from it, and prints a table of timings and file counts.

    \b
    Example:
      wfstore demo --runs 2000 --workers 4
      wfstore demo /scratch/demo_wk        # keeps /scratch/demo_wk and demo_wk.zip
    """
    from wfstore.demo import run_demo

    ui = _ui(ctx, quiet)
    if path is None:
        with tempfile.TemporaryDirectory(prefix="wfstore-demo-") as tmp:
            res = run_demo(Path(tmp) / "workflow", runs, workers, batch, ui.progress)
    else:
        res = run_demo(path, runs, workers, batch, ui.progress)
    table = Table(title=f"wfstore demo: {runs:,} runs, {workers} workers")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("files", justify="right")
    table.add_column("what")
    for name, secs, files, detail in res.steps:
        table.add_row(name, f"{secs:.2f}", "" if files is None else f"{files:,}", detail)
    table.add_row("total", f"{sum(s[1] for s in res.steps):.2f}", "", "")
    ui.out.print(table)
    if path is not None:
        ui.out.print(f"store: {res.path}\narchive: {res.archive}")


# --- inspect -------------------------------------------------------------------------------


@cli.command(context_settings=_HELP)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@_QUIET
@click.pass_context
def inspect(ctx: click.Context, path: Path, as_json: bool, quiet: bool) -> None:
    """Show what the store at PATH holds.

    Kind, name, creation info, counts (tasks, loops, submissions, elements,
    iterations, runs by state, parameters set and unset), array chunk layouts, and
    file counts and sizes.

    \b
    Example:
      wfstore inspect my_workflow
      wfstore inspect my_workflow.zip --json | jq .counts.runs
    """
    ui = _ui(ctx, quiet)
    data = wfstore.info(path)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    counts = data["counts"]
    head = Table(show_header=False, title=f"{data['kind']} store {data['path']}")
    head.add_column(style="bold")
    head.add_column()
    created = data["creation_info"] or {}
    app = created.get("app_info", {}) if isinstance(created, dict) else {}
    head.add_row("name", str(data["name"]))
    head.add_row("kind", data["kind"])
    head.add_row(
        "created",
        f"{created.get('create_time', '?')} by "
        f"{app.get('name', '?')} {app.get('version', '')}".rstrip(),
    )
    head.add_row("id", str(created.get("id", "?")))
    for key in ("tasks", "loops", "submissions", "elements", "iterations"):
        head.add_row(key, f"{counts[key]:,}")
    r = counts["runs"]
    head.add_row(
        "runs",
        f"{r['total']:,} (" + ", ".join(f"{r[s]:,} {s}" for s in wfstore.api.RUN_STATES) + ")",
    )
    p = counts["parameters"]
    head.add_row("parameters", f"{p['total']:,} ({p['set']:,} set, {p['unset']:,} unset)")
    files = data["files"]
    size = f"{files['count']:,} files, {files['bytes']:,} bytes"
    if "archive_bytes" in files:
        size += f" ({files['archive_bytes']:,} bytes archived)"
    head.add_row("files", size)
    ui.out.print(head)
    if data.get("arrays"):
        arrays = Table(title="arrays")
        for col in ("path", "dtype", "shape", "chunks", "compressor", "chunk files"):
            arrays.add_column(col, justify="right" if col == "chunk files" else "left")
        for a in data["arrays"]:
            if "error" in a:
                arrays.add_row(a["path"], a["error"], "", "", "", "")
                continue
            arrays.add_row(
                a["path"],
                str(a["dtype"]),
                "x".join(map(str, a["shape"] or [])),
                "x".join(map(str, a["chunks"] or [])),
                str(a["compressor"]),
                f"{a['chunk_files']:,}",
            )
        ui.out.print(arrays)


# --- verify --------------------------------------------------------------------------------


@cli.command(context_settings=_HELP)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_QUIET
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
    ui = _ui(ctx, quiet)
    with ui.progress("verify", 0) as advance:
        report = wfstore.verify(path, progress=advance)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    elif report.ok:
        ui.out.print(
            f"ok: {report.path} ({report.kind}): {report.arrays} arrays, "
            f"{report.chunks:,} chunks, {report.documents} documents, none damaged"
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


@cli.command(context_settings=_HELP)
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
    ui = _ui(ctx, False)
    if report.dry_run:
        ui.status("dry run: nothing changed")
    for line in report.done:
        ui.out.print(line, markup=False, highlight=False)
    for line in report.kept:
        ui.out.print(f"kept: {line}", markup=False, highlight=False)
    if not report.done and not report.kept:
        ui.out.print(f"nothing to repair in {report.path} ({report.kind})", markup=False)


# --- rechunk, zip, unzip, convert -----------------------------------------------------------


def _open_zarr(path: Path, what: str) -> wfstore.ZarrPersistentStore:
    store = wfstore.open(path)
    if type(store) is not wfstore.ZarrPersistentStore:
        raise wfstore.UnsupportedStoreOperationError(
            f"{what} needs a Zarr store folder; {str(path)!r} is a {store._name} store."
        )
    return store


@contextmanager
def _core_progress(ui: UI, store: Any, label: str) -> Iterator[None]:
    """Route the store's core progress reports (rechunk, zip) to a progress bar."""
    with ui.progress(label, 0) as advance:
        # the store reports progress through its `_progress(status, label)` hook:
        store._progress = lambda status, lbl: lambda d, t: advance(d, t)
        try:
            yield
        finally:
            del store._progress


@cli.command(context_settings=_HELP)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--runs", "do_runs", is_flag=True, help="Rechunk metadata/runs.")
@click.option("--params", "do_params", is_flag=True, help="Rechunk parameters/base.")
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=None,
    help="Rows per chunk (default: all rows in one chunk).",
)
@click.option("--no-backup", is_flag=True, help="Do not keep the old array as <array>.bak.")
@_QUIET
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
    An interrupted rechunk leaves the old or the new array whole.

    \b
    Example:
      wfstore rechunk my_workflow --runs --chunk-size 1000
    """
    ui = _ui(ctx, quiet)
    store = _open_zarr(path, "rechunk")
    if not do_runs and not do_params:
        do_runs = do_params = True
    todo = [("runs", store.rechunk_runs)] if do_runs else []
    if do_params:
        todo.append(("parameters/base", store.rechunk_parameter_base))
    for name, fn in todo:
        with _core_progress(ui, store, f"rechunk {name}"):
            rep = fn(chunk_size=chunk_size, backup=not no_backup, status=False)
        backup = f", backup {rep['backup']}" if rep.get("backup") else ""
        ui.out.print(
            f"{name}: {rep['rows']:,} rows, chunk size {rep['old_chunk_size']} -> "
            f"{rep['new_chunk_size']}{backup}"
        )


@cli.command("zip", context_settings=_HELP)
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Archive path, or a folder for <name>.zip (default: PATH.zip).",
)
@click.option("--include-execute", is_flag=True, help="Keep the execute folder.")
@click.option("--include-backups", is_flag=True, help="Keep runs.bak and base.bak.")
@click.option("--overwrite", is_flag=True, help="Replace an existing archive.")
@_QUIET
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
    ui = _ui(ctx, quiet)
    store = _open_zarr(path, "zip")
    src = Path(store.path)
    out = output if output is not None else src.parent / f"{src.name}.zip"
    with _core_progress(ui, store, "zip"):
        dst = store.zip(
            str(out),
            overwrite=overwrite,
            include_execute=include_execute,
            include_rechunk_backups=include_backups,
        )
    click.echo(dst)


@cli.command(context_settings=_HELP)
@click.argument("archive", type=click.Path(path_type=Path))
@click.argument("out", required=False, type=click.Path(path_type=Path))
@_QUIET
@click.pass_context
def unzip(ctx: click.Context, archive: Path, out: Path | None, quiet: bool) -> None:
    """Expand the zip store ARCHIVE into a Zarr store folder OUT (default: ARCHIVE
    without .zip; an existing folder gets a store named after the workflow).

    Unsafe entries (absolute paths, '..', links, zip bombs) are refused.

    \b
    Example:
      wfstore unzip my_workflow.zip restored_workflow
    """
    from wfstore import _core

    ui = _ui(ctx, quiet)
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


@cli.command(context_settings=_HELP)
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(path_type=Path))
@click.option(
    "--to", "to", required=True, type=click.Choice(["json", "zarr"]), help="Kind of the new store."
)
@_QUIET
@click.pass_context
def convert(ctx: click.Context, src: Path, dst: Path, to: str, quiet: bool) -> None:
    """Copy the store SRC (any kind) into a new store DST of another kind.

    Everything the store API returns is the same in the copy; other files of the
    workflow folder (artifacts, ...) are copied as they are. Values JSON cannot hold
    (numpy arrays) stop a conversion to JSON with an error naming the parameter.

    \b
    Example:
      wfstore convert my_workflow my_workflow_json --to json
    """
    ui = _ui(ctx, quiet)
    with ui.progress(f"convert to {to}", 6) as advance:
        new = wfstore.convert(src, dst, to, progress=advance)
    click.echo(new.path)


# --- bench ---------------------------------------------------------------------------------


def _find_bench() -> Callable[[Sequence[str]], Any] | None:
    """The comparison runner (``benches/compare.py`` of a source tree, or
    ``wfstore.bench``) if there is one: its ``main(argv)``."""
    for name in ("wfstore.bench", "benches.compare"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        main = getattr(mod, "main", None)
        if callable(main):
            return main
    here = Path(__file__).resolve().parents[2] / "benches" / "compare.py"
    if here.is_file():
        spec = importlib.util.spec_from_file_location("_wfstore_benches_compare", here)
        if spec is not None and spec.loader is not None:
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            main = getattr(mod, "main", None)
            if callable(main):
                return main
    return None


@cli.command(context_settings=_HELP)
@click.option(
    "--runs",
    default=2000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Runs in the benchmark workload.",
)
@click.option("--wfstore-only", is_flag=True, help="Time wfstore alone, not hpcflow too.")
@click.option(
    "--builtin", is_flag=True, help="Use the built-in wfstore-only timing, not the runner."
)
@_QUIET
@click.pass_context
def bench(ctx: click.Context, runs: int, wfstore_only: bool, builtin: bool, quiet: bool) -> None:
    """Time wfstore (and hpcflow's store, side by side, when the comparison runner
    benches/compare.py of a source checkout and hpcflow are there) on RUNS runs.

    Without the comparison runner, wfstore alone is timed: writing the runs through
    the API, marking runs started and ended with one commit each, reading them all,
    rechunking, zipping and verifying.

    \b
    Example:
      wfstore bench --runs 5000
    """
    ui = _ui(ctx, quiet)
    runner = None if builtin else _find_bench()
    if runner is not None:
        ui.status("running the comparison runner (benches/compare.py)")
        # results go to a temporary folder: the runner's default is the source tree's
        # benches/results, which `wfstore bench` must not change
        with tempfile.TemporaryDirectory(prefix="wfstore-bench-") as tmp:
            argv = ["--runs", str(runs), "--no-readme", "--out", str(Path(tmp) / "compare.json")]
            if wfstore_only:
                argv.append("--wfstore-only")
            rc = runner(argv)
        ctx.exit(int(rc or 0))
    from wfstore.demo import build_store

    rows: list[tuple[str, float, str]] = []

    def timed(name: str, fn: Callable[[], str]) -> None:
        t0 = time.perf_counter()
        detail = fn()
        rows.append((name, time.perf_counter() - t0, detail))

    with tempfile.TemporaryDirectory(prefix="wfstore-bench-") as tmp:
        path = Path(tmp) / "wk"
        timed("write runs (API, one commit)", lambda: _n(build_store(path, runs), runs))
        store = wfstore.open(path)
        n_mark = min(runs, 500)

        def mark() -> str:
            for i in range(n_mark):
                store.set_EAR_start(i)
                store.set_EAR_end(i, 0, True)
            return f"{n_mark} runs, 2 commits each"

        timed("mark runs (commit per update)", mark)
        timed("read all runs", lambda: f"{len(wfstore.open(path).get_EARs(range(runs)))} runs")
        timed("rechunk runs", lambda: str(store.rechunk_runs(status=False)["rows"]) + " rows")
        timed("zip", lambda: store.zip(str(Path(tmp) / "wk.zip")).rsplit("/", 1)[-1])
        timed("verify zip", lambda: f"{wfstore.verify(Path(tmp) / 'wk.zip').chunks} chunks")
    table = Table(title=f"wfstore bench: {runs:,} runs (wfstore alone)")
    table.add_column("operation")
    table.add_column("seconds", justify="right")
    table.add_column("per item", justify="right")
    table.add_column("what")
    for name, secs, detail in rows:
        per = f"{1000 * secs / (n_mark if 'mark' in name else runs):.3f} ms"
        table.add_row(name, f"{secs:.3f}", per, detail)
    ui.out.print(table)
    ui.status(
        "the side-by-side comparison with hpcflow needs the benchmark runner "
        "(benches/compare.py) and hpcflow-new2 installed"
    )


def _n(_store: Any, runs: int) -> str:
    return f"{runs} runs"


def main(argv: Sequence[str] | None = None, prog_name: str = "wfstore") -> None:
    """Entry point of the ``wfstore`` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name=prog_name)


if __name__ == "__main__":
    main()
