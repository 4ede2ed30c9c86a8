"""Engine-written fixture stores read from a non-local fsspec file system (memory):
every Zarr folder, zip archive and JSON store returns what its ``.expected.json``
holds, exactly as when it is read from the local file system."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import json_fixture_names, zarr_fixture_names, zip_fixture_names
from fsspec.implementations.memory import MemoryFileSystem
from store_dump import dump_store, normalise
from test_zarr_fixtures import _check
from wfstore.persistence import (
    JSONPersistentStore,
    ZarrPersistentStore,
    ZarrZipPersistentStore,
)


def _upload(fs: MemoryFileSystem, src: Path, dst: str) -> dict[str, bytes]:
    """Copy the file or folder `src` to `dst` on `fs`; return what was written."""
    files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
    written = {}
    for p in files:
        target = dst if p == src else f"{dst}/{p.relative_to(src).as_posix()}"
        written[target] = p.read_bytes()
        fs.pipe_file(target, written[target])
    return written


def _unchanged(fs: MemoryFileSystem, written: dict[str, bytes]) -> bool:
    return {k: fs.cat_file(k) for k in written} == written


@pytest.mark.parametrize("name", zarr_fixture_names() or ["wk_seq_zarr"])
def test_zarr_fixture_over_memory_fs(name: str, fixtures_dir: Path, mem) -> None:
    fs, root = mem
    expected = json.loads((fixtures_dir / f"{name}.expected.json").read_text())
    written = _upload(fs, fixtures_dir / name, f"{root}/{name}")
    _check(ZarrPersistentStore(None, None, f"{root}/{name}", fs), "zarr", expected)
    assert _unchanged(fs, written), "reading a store must not modify it"
    assert sorted(fs.find(root)) == sorted(written)


@pytest.mark.parametrize("name", zip_fixture_names() or ["wk_seq_zarr_zip"])
def test_zip_fixture_over_memory_fs(name: str, fixtures_dir: Path, mem) -> None:
    fs, root = mem
    expected = json.loads((fixtures_dir / f"{name}.expected.json").read_text())
    written = _upload(fs, fixtures_dir / f"{name}.zip", f"{root}/{name}.zip")
    _check(ZarrZipPersistentStore(None, None, f"memory://{root}/{name}.zip"), "zip", expected)
    assert _unchanged(fs, written)


@pytest.mark.parametrize("name", json_fixture_names() or ["wk_seq_json"])
def test_json_fixture_over_memory_fs(name: str, fixtures_dir: Path, mem) -> None:
    fs, root = mem
    expected = json.loads((fixtures_dir / f"{name}.expected.json").read_text())
    written = _upload(fs, fixtures_dir / name, f"{root}/{name}")
    store = JSONPersistentStore(None, None, f"{root}/{name}", fs)
    assert normalise(dump_store(store, "json")) == normalise(expected)
    assert _unchanged(fs, written)
