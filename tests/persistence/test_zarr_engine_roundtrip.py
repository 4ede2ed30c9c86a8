"""Zarr and zip stores written by wfstore are read by hpcflow 0.2.0a190's own store
classes (and vice versa), which must agree with wfstore.

hpcflow runs in the side virtual environment (``side_python``, tests/conftest.py) through the
script :data:`ENGINE_SCRIPT`, run as ``python -c`` (so it needs no file of its own).
"""

from __future__ import annotations

import enum
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import HERE
from fsspec.implementations.local import LocalFileSystem
from store_dump import dump_store, empty_workflow_kwargs, normalise, run_scenario
from wfstore import _core
from wfstore.common.errors import StorePathError
from wfstore.persistence import ZarrPersistentStore, ZarrZipPersistentStore

#: Run by the side venv: ``read zarr|zip PATH`` prints what hpcflow's store returns;
#: ``write PATH`` writes the shared scenario (appending tasks) with hpcflow's store.
ENGINE_SCRIPT = """
import enum, json, logging, sys, types
sys.path.insert(0, sys.argv[1])
import hpcflow.app  # initialises hpcflow
from fsspec.implementations.local import LocalFileSystem
from hpcflow.sdk.persistence.zarr import ZarrPersistentStore, ZarrZipPersistentStore
from store_dump import TS_FMT, dump_store, empty_workflow_kwargs, run_scenario

class Colour(enum.Enum):
    RED = "red"

mode, path = sys.argv[2], sys.argv[3]
app = types.SimpleNamespace(
    persistence_logger=logging.getLogger("engine"),
    RunDirAppFiles=types.SimpleNamespace(take_snapshot=lambda: {"data": {}}),
)
wk = types.SimpleNamespace(ts_fmt=TS_FMT, _in_batch_mode=False, name="wk", path=path)
if mode == "write":
    fs = LocalFileSystem()
    ZarrPersistentStore.write_empty_workflow(app, **empty_workflow_kwargs(path, fs))
    run_scenario(ZarrPersistentStore(app, wk, path, fs), Colour.RED, False)
else:
    kind = sys.argv[4]
    if kind == "zip":
        from fsspec.implementations.zip import ZipFileSystem
        store = ZarrZipPersistentStore(app, wk, "", ZipFileSystem(fo=path, mode="r"))
    else:
        store = ZarrPersistentStore(app, wk, path, LocalFileSystem())
    get = store.get_parameters
    store.get_parameters = lambda ids, **kw: get(ids, dataset_copy=True, **kw)
    print(json.dumps(dump_store(store, kind)))
"""


class Colour(enum.Enum):
    """An enum parameter value."""

    RED = "red"


def _engine(side_python: Path, *args: str) -> str:
    proc = subprocess.run(
        [str(side_python), "-c", ENGINE_SCRIPT, str(HERE), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _write_with_wfstore(path: Path, fs: Any = None, **kwargs: Any) -> ZarrPersistentStore:
    """The engine scenario plus numpy parameters, written by wfstore on `fs` (local if
    None)."""
    fs = fs if fs is not None else LocalFileSystem()
    ZarrPersistentStore.write_empty_workflow(None, **empty_workflow_kwargs(str(path), fs), **kwargs)
    store = ZarrPersistentStore(None, None, path, fs)
    store.run_dir_snapshot = lambda: {"data": {}}
    # tasks appended, not inserted: hpcflow 0.2.0a190's Zarr store reads element IDs of
    # the tasks array by task ID from a selection made in task *index* order, so it
    # swaps the element IDs of tasks inserted before others (its own stores too).
    run_scenario(store, Colour.RED, insert_first=False)
    store.add_set_parameter(
        {
            "arr": np.arange(12, dtype="<f8").reshape(3, 4),
            # a list: hpcflow 0.2.0a190 cannot decode an array inside a tuple (it
            # restores tuples before arrays); wfstore can (test_zarr_store.py).
            "t": [np.array([1, 2], dtype="<i4"), (5,)],
            "m": np.ma.MaskedArray([1.0, 2.0, 3.0], mask=[True, False, False]),
        },
        {"type": "local_input"},
    )
    p = store.add_unset_parameter({"type": "EAR_output"})
    store.set_parameter_value(p, np.eye(2, dtype=bool))
    assert not store.has_pending
    return store


def test_engine_reads_wfstore_zarr_store(tmp_path: Path, side_python: Path) -> None:
    path = tmp_path / "ours"
    _write_with_wfstore(path, compressor="zstd", compressor_kwargs={"level": 3})
    ours = dump_store(ZarrPersistentStore(None, None, path), "zarr")
    engine = json.loads(_engine(side_python, "read", str(path), "zarr"))
    assert normalise(engine) == normalise(ours)

    params = {p["id_"]: p for p in engine["parameters"]}
    assert params[1]["data"]["c"] == {"__set__": [7, 8]}
    assert params[6]["data"]["arr"]["__ndarray__"]["shape"] == [3, 4]
    assert params[6]["data"]["t"][1] == {"__tuple__": [5]}
    assert params[6]["data"]["m"]["__masked__"]["mask"]["__ndarray__"]["data"] == [
        True,
        False,
        False,
    ]
    assert params[7]["data"]["__ndarray__"]["dtype"] == "|b1"
    assert [t["id_"] for t in engine["tasks"]] == [0, 1]
    assert [t["element_IDs"] for t in engine["tasks"]] == [[0, 2], [1]]
    assert engine["runs_skipped"] == [False, False, False, True, False]


def test_engine_reads_a_store_left_by_a_cut_off_parameter_append(
    tmp_path: Path, side_python: Path
) -> None:
    """A parameter append applied without a journal and cut off before its last rename
    leaves the sources array longer than the base array: hpcflow reads the store as it
    was before the append."""
    path = tmp_path / "ours"
    _write_with_wfstore(path)
    ours = dump_store(ZarrPersistentStore(None, None, path), "zarr")
    sources = _core.ObjectArray.open(_core.Store.local(path), "parameters/sources")
    sources.append([{"type": "stray"}])
    engine = json.loads(_engine(side_python, "read", str(path), "zarr"))
    assert normalise(engine) == normalise(ours)
    assert len(ours["parameters"]) == len(sources) - 1


def test_engine_reads_rechunked_and_zipped(tmp_path: Path, side_python: Path) -> None:
    path = tmp_path / "ours"
    store = _write_with_wfstore(path)
    store.rechunk_runs(status=False)
    store.rechunk_parameter_base(status=False)
    ours = dump_store(ZarrPersistentStore(None, None, path), "zarr")
    engine = json.loads(_engine(side_python, "read", str(path), "zarr"))
    assert normalise(engine) == normalise(ours)

    archive = store.zip(str(tmp_path / "ours.zip"))
    ours_zip = dump_store(ZarrZipPersistentStore(None, None, archive), "zip")
    engine_zip = json.loads(_engine(side_python, "read", archive, "zip"))
    assert normalise(engine_zip) == normalise(ours_zip)
    ours["kind"] = "zip"
    assert normalise(ours_zip) == normalise(ours)


def test_wfstore_reads_engine_zarr_store(tmp_path: Path, side_python: Path) -> None:
    path = tmp_path / "engine"
    _engine(side_python, "write", str(path))
    engine = json.loads(_engine(side_python, "read", str(path), "zarr"))
    ours = dump_store(ZarrPersistentStore(None, None, path), "zarr")
    assert normalise(ours) == normalise(engine)
    assert ours["counts"] == {"elements": 3, "iters": 4, "runs": 5, "params": 6}

    # and wfstore keeps writing to it; the engine reads the result:
    store = ZarrPersistentStore(None, None, path)
    store.add_set_parameter({"x": np.arange(3)}, {"type": "local_input"})
    store.set_EAR_skip(1)
    ours = dump_store(ZarrPersistentStore(None, None, path), "zarr")
    engine = json.loads(_engine(side_python, "read", str(path), "zarr"))
    assert normalise(engine) == normalise(ours)
    assert engine["runs_skipped"][1] is True


class _Point:
    """A parameter value class stored through ``to_dict()``, as the engine's are."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def to_dict(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y}


def test_engine_reads_files_and_to_dict_values(tmp_path: Path, side_python: Path) -> None:
    """Files (stored contents and references) and ``to_dict()`` values written by
    wfstore read the same with the engine."""
    path = tmp_path / "ours"
    store = _write_with_wfstore(path)
    src = tmp_path / "in.txt"
    src.write_text("hello")
    p_stored = store.add_file(True, True, {"type": "input_file"}, src)
    p_ref = store.add_file(False, True, {"type": "input_file"}, tmp_path / "ref.txt")
    p_out = store.add_unset_parameter({"type": "EAR_output"})
    with pytest.raises(StorePathError, match="not inside the workflow"):
        store.set_file(True, False, p_out, tmp_path / "elsewhere.txt", contents="x")
    run_file = path / "execute" / "t_0" / "r_0" / "out.txt"
    store.set_file(True, False, p_out, run_file, contents="result")
    p_obj = store.add_set_parameter(_Point(1, 2), {"type": "local_input"})
    assert not store.has_pending

    ours = dump_store(ZarrPersistentStore(None, None, path), "zarr")
    engine = json.loads(_engine(side_python, "read", str(path), "zarr"))
    assert normalise(engine) == normalise(ours)
    params = {p["id_"]: p for p in engine["parameters"]}
    assert params[p_stored]["file"] == {
        "store_contents": True,
        "path": "artifacts/input_files/0/in.txt",
    }
    assert (path / "artifacts/input_files/0/in.txt").read_text() == "hello"
    assert params[p_ref]["file"]["store_contents"] is False
    assert params[p_ref]["file"]["path"] == "../ref.txt"  # relative, as the engine has it
    assert params[p_out]["file"]["store_contents"] is True
    assert (path / params[p_out]["file"]["path"]).read_text() == "result"
    assert params[p_obj]["data"] == {"x": 1, "y": 2}
