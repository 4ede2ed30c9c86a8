"""``wfstore inspect``: what a store holds."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

import wfstore
from wfstore.cli.ui import (
    HELP,
    QUIET,
    ui_for,
)
from wfstore.tools.inspect import RUN_STATES


@click.command(context_settings=HELP)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@QUIET
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
    ui = ui_for(ctx, quiet)
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
    head.add_row("engine", f"hpcflow {data['generation']}")
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
        f"{r['total']:,} (" + ", ".join(f"{r[s]:,} {s}" for s in RUN_STATES) + ")",
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
