"""Stores written by wfstore are read by hpcflow 0.2.0a190 and vice versa.

hpcflow runs in a side virtual environment (``side_python``, tests/conftest.py), driven
through ``engine_side.py`` as a subprocess.
"""

from __future__ import annotations

import enum
import json
import subprocess
from pathlib import Path
from typing import Any

from conftest import HERE
from fsspec.implementations.local import LocalFileSystem
from store_dump import dump_store, empty_workflow_kwargs, normalise, run_scenario
from wfstore.persistence import JSONPersistentStore

ENGINE_SCRIPT = HERE / "engine_side.py"


class Colour(enum.Enum):
    """An enum parameter value."""

    RED = "red"


def _engine(side_python: Path, mode: str, path: Path, *extra: str) -> str:
    proc = subprocess.run(
        [str(side_python), str(ENGINE_SCRIPT), mode, str(path), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _write_with_wfstore(path: Path, insert_first: bool = True) -> JSONPersistentStore:
    fs = LocalFileSystem()
    JSONPersistentStore.write_empty_workflow(None, **empty_workflow_kwargs(str(path), fs))
    store = JSONPersistentStore(None, None, path, fs)
    store.run_dir_snapshot = lambda: {"data": {}}
    run_scenario(store, Colour.RED, insert_first)
    assert not store.has_pending
    return store


def _mask_times(obj: Any) -> Any:
    """Replace run timestamps (which differ between two runs of the scenario)."""
    if isinstance(obj, dict):
        return {
            k: ("<time>" if k in ("start_time", "end_time") and v else _mask_times(v))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_mask_times(v) for v in obj]
    return obj


def test_engine_reads_wfstore_store(tmp_path: Path, side_python: Path) -> None:
    path = tmp_path / "ours"
    _write_with_wfstore(path)
    ours = dump_store(JSONPersistentStore(None, None, path), "json")
    engine = json.loads(_engine(side_python, "read", path))
    assert normalise(engine) == normalise(ours)

    # spot checks of what the engine decoded:
    params = {p["id_"]: p for p in engine["parameters"]}
    assert params[1]["data"] == {
        "a": {"__tuple__": [1, {"__tuple__": [2, 3]}, [4, {"b": {"__tuple__": [5]}}]]},
        "c": {"__set__": [7, 8]},
        "d": [None, True, 1.5],
    }
    assert params[3]["data"] == {"__set__": [1, 2, 3]}
    assert params[4]["data"] == "red"
    assert params[5]["data"] == {"__tuple__": ["done", [1, 2]]}
    assert engine["parameter_sources"][5] == {"EAR_ID": 0, "type": "EAR_output"}
    assert [t["id_"] for t in engine["tasks"]] == [1, 0]
    assert engine["loops"]["0"]["parents"] == ["outer"]
    assert engine["loops"]["0"]["num_added_iterations"] == [[[0], 2]]
    assert engine["runs_skipped"] == [False, False, False, True, False]
    assert engine["runs"][0]["success"] is True and engine["runs"][0]["exit_code"] == 0
    assert engine["runs"][2]["success"] is False
    assert engine["submissions"]["0"]["jobscripts"][0]["process_ID"] == 42


def test_wfstore_reads_engine_store(tmp_path: Path, side_python: Path) -> None:
    path = tmp_path / "engine"
    _engine(side_python, "write", path)
    engine = json.loads(_engine(side_python, "read", path))
    ours = dump_store(JSONPersistentStore(None, None, path), "json")
    assert normalise(ours) == normalise(engine)
    assert ours["counts"] == {"elements": 3, "iters": 4, "runs": 5, "params": 6}


def test_files_match_engine_written_files(tmp_path: Path, side_python: Path) -> None:
    """The same API calls produce the same documents with either implementation."""
    ours_path, engine_path = tmp_path / "ours", tmp_path / "engine"
    _write_with_wfstore(ours_path, insert_first=False)
    _engine(side_python, "write", engine_path, "append")
    for name in ("metadata.json", "submissions.json", "parameters.json"):
        ours = json.loads((ours_path / name).read_text())
        theirs = json.loads((engine_path / name).read_text())
        assert _mask_times(ours) == _mask_times(theirs), name
