"""``python -m wfstore.hpcflow``: which first arguments are run as the engine's script."""

from __future__ import annotations

from pathlib import Path

from wfstore.hpcflow import _is_python_script


def test_python_scripts_are_run(tmp_path: Path) -> None:
    cli = tmp_path / "cli.py"
    cli.write_text("print('hi')\n")
    entry = tmp_path / "hpcflow"  # a console-script entry point
    entry.write_text("#!/opt/venv/bin/python3.11\nimport sys\n")
    assert _is_python_script(str(cli))
    assert _is_python_script(str(entry))


def test_other_arguments_go_to_the_engine_cli(tmp_path: Path) -> None:
    shell = tmp_path / "workflow"
    shell.write_text("#!/bin/sh\necho not python\n")
    assert not _is_python_script(str(shell))  # a file named like a subcommand
    assert not _is_python_script("workflow")  # a subcommand
    assert not _is_python_script(str(tmp_path))  # a folder
    assert not _is_python_script(str(tmp_path / "missing.py"))
