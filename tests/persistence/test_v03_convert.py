"""``wfstore convert`` between the kinds of hpcflow 0.3 stores (same generation): a copy
reads as its source does through wfstore's classes and 0.3.0's own (Zarr to Zarr and to
zip exactly; Zarr and JSON round trips back to the source's reading), apart from what
0.3.0's two store kinds keep differently (docs/hpcflow-0.3-format.md §6 trap 9, 15:
JSON documents keep block data, at-submit values, run metadata and iterations' task and
index; Zarr sources have ``non_output_idx``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import wfstore
from click.testing import CliRunner
from wfstore.cli import cli

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from store_dump import dump_store, normalise  # noqa: E402

FIXTURES = HERE.parent / "data" / "hpcflow-0.3.0"
MAKE_FIXTURES = HERE.parent / "data" / "make_fixtures.py"


def _dump(path: Path) -> Any:
    store = wfstore.open(path)
    out = normalise(dump_store(store, store._name, "0.3.0"))
    out.pop("kind", None)
    return out


@pytest.mark.parametrize(
    "name", ["wk_seq_zarr", "wk_array_outputs_zarr", "wk_arrays_zarr", "test_loop_simple0"]
)
def test_zarr_to_zarr_and_zip_read_the_same(name: str, tmp_path: Path) -> None:
    src = FIXTURES / name
    zarr = wfstore.convert(src, tmp_path / "copy", "zarr")
    assert zarr._name == "zarr"
    assert _dump(tmp_path / "copy") == _dump(src)
    zipped = wfstore.convert(src, tmp_path / "copy.zip", "zip")
    assert zipped._name == "zip"
    assert _dump(tmp_path / "copy.zip") == _dump(src)


@pytest.mark.parametrize("name", ["wk_seq_zarr", "test_loop_simple0"])
def test_zarr_json_zarr_round_trip(name: str, tmp_path: Path) -> None:
    src = FIXTURES / name
    js = wfstore.convert(src, tmp_path / "js", "json")
    assert js._name == "json"
    back = wfstore.convert(tmp_path / "js", tmp_path / "back", "zarr")
    assert back._name == "zarr"
    assert _dump(tmp_path / "back") == _dump(src)
    # what both kinds answer alike
    a, b = _dump(src), _dump(tmp_path / "js")
    for key in ("runs", "elements", "tasks", "loops", "template", "counts"):
        assert _strip(a[key]) == _strip(b[key]), key
    assert [p["data"] for p in a["parameters"]] == [p["data"] for p in b["parameters"]]


def _strip(obj: Any) -> Any:
    """`obj` without what the kinds keep differently (run metadata)."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k != "metadata"}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def test_json_to_zarr_to_json(tmp_path: Path) -> None:
    src = FIXTURES / "wk_seq_json"
    wfstore.convert(src, tmp_path / "zarr", "zarr")
    wfstore.convert(tmp_path / "zarr", tmp_path / "js", "json")
    a, b = _dump(src), _dump(tmp_path / "js")
    # a Zarr store does not keep runs' metadata nor iterations' task ID and index
    for d in (a, b):
        for it in d["iters"]:
            it.pop("task_ID"), it.pop("index")
    assert _strip(a) == _strip(b)


def test_cli_converts_to_zip(tmp_path: Path) -> None:
    out = CliRunner().invoke(
        cli, ["convert", str(FIXTURES / "wk_seq_zarr"), str(tmp_path / "wk.zip"), "--to", "zip"]
    )
    assert out.exit_code == 0, out.output
    assert _dump(tmp_path / "wk.zip") == _dump(FIXTURES / "wk_seq_zarr")


def test_engine_reads_converted_stores_as_their_sources(
    tmp_path: Path, side_python_v03: Path
) -> None:
    """0.3.0's own classes read a Zarr store wfstore converted (from Zarr, and from
    JSON back to Zarr) as they read the source."""
    src = FIXTURES / "wk_array_outputs_zarr"
    wfstore.convert(src, tmp_path / "copy", "zarr")
    wfstore.convert(FIXTURES / "wk_seq_zarr", tmp_path / "js", "json")
    wfstore.convert(tmp_path / "js", tmp_path / "back", "zarr")
    paths = [src, tmp_path / "copy", FIXTURES / "wk_seq_zarr", tmp_path / "back"]
    proc = subprocess.run(
        [str(side_python_v03), str(MAKE_FIXTURES), "--dump", *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path)},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    dumps = json.loads(proc.stdout)
    assert normalise(dumps["copy"]) == normalise(dumps["wk_array_outputs_zarr"])
    assert normalise(dumps["back"]) == normalise(dumps["wk_seq_zarr"])


def test_unzip_and_zip(tmp_path: Path) -> None:
    """A 0.3 zip archive unzips into a 0.3 Zarr folder (writable) that zips again; all
    three read the same."""
    archive = FIXTURES / "wk_seq_zarr_zip.zip"
    folder = Path(wfstore.open(archive).unzip(str(tmp_path / "out")))
    store = wfstore.open(folder)
    assert store._name == "zarr" and store.features.create
    again = Path(store.zip(str(tmp_path / "again.zip")))
    assert _dump(folder) == _dump(archive) == _dump(again)
