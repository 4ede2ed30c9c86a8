"""Every array of the engine-written (hpcflow 0.2.0a190) fixture stores reads with
wfstore exactly as zarr-python reads it, and reading leaves the store untouched."""

from __future__ import annotations

import hashlib
import random
import shutil
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")

from wfstore._core import NumericArray, ObjectArray, Store  # noqa: E402

#: The engine-written fixture stores, part of the repository (tests/data/README.md).
FIXTURES_ROOT = Path(__file__).resolve().parent / "data" / "hpcflow-0.2.0a190"

ZIP_NAME = "wk_seq_zarr_zip.zip"


def canon(v: Any) -> Any:
    """Type-strict comparable form of a decoded msgpack value."""
    if v is None:
        return ("none",)
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, (int, np.integer)):
        return ("int", int(v))
    if isinstance(v, float):
        return ("float", struct.pack("<d", v))
    if isinstance(v, str):
        return ("str", v)
    if isinstance(v, bytes):
        return ("bytes", v)
    if isinstance(v, (list, tuple)):
        return ("list", tuple(canon(x) for x in v))
    if isinstance(v, dict):
        return ("dict", tuple((canon(k), canon(x)) for k, x in v.items()))
    if isinstance(v, np.ndarray):  # items of a vlen-array object codec
        return ("ndarray", v.dtype.str, v.shape, v.tobytes())
    raise AssertionError(f"unexpected decoded type {type(v)!r}: {v!r}")


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    } | {str(p.relative_to(root)) + "/": "dir" for p in root.rglob("*") if p.is_dir()}


def folder_arrays() -> list[Any]:
    """(store name, array path) of every `.zarray` under each fixture store folder
    (raises when the fixtures are missing: collection fails, nothing is skipped)."""
    out = []
    for store in sorted(p for p in FIXTURES_ROOT.iterdir() if p.is_dir()):
        for za in sorted(store.rglob(".zarray")):
            rel = za.parent.relative_to(store).as_posix()
            out.append(pytest.param(store.name, rel, id=f"{store.name}:{rel}"))
    return out


def zip_arrays() -> list[Any]:
    archive = FIXTURES_ROOT / ZIP_NAME
    with zipfile.ZipFile(archive) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith("/.zarray") or n == ".zarray")
    return [
        pytest.param(n[: -len("/.zarray")], id=f"zip:{n[: -len('/.zarray')]}") for n in names
    ]


FOLDER_ARRAYS = folder_arrays()
ZIP_ARRAYS = zip_arrays()


def test_fixture_inventory(fixtures_root: Path) -> None:
    """The parametrisation found the arrays (a test over nothing cannot fail)."""
    assert len(FOLDER_ARRAYS) >= 100
    ids = {p.id for p in FOLDER_ARRAYS}
    assert any(".bak" in i for i in ids), "no rechunk backup (*.bak) array found"
    assert any("parameters/arrays/" in i for i in ids), "no parameters/arrays/* found"
    assert ZIP_ARRAYS, "no arrays found in the zip fixture"


def compare_array(wstore: Any, zarr_arr: Any, path: str) -> None:
    dtype = zarr_arr.dtype
    expected = zarr_arr[...]
    if dtype == np.dtype(object):
        arr = ObjectArray.open(wstore, path)
        assert len(arr) == zarr_arr.shape[0]
        assert arr.chunk_size == zarr_arr.chunks[0]
        assert arr.num_chunks == zarr_arr.nchunks
        got = arr.get_range()
        assert [canon(x) for x in got] == [canon(x) for x in expected]
        n = len(arr)
        if n:
            rng = random.Random(path)
            idx = [rng.randrange(n) for _ in range(min(3 * n, 60))]
            assert [canon(x) for x in arr.get(idx)] == [canon(expected[i]) for i in idx]
            lo, hi = sorted((rng.randrange(n + 1), rng.randrange(n + 1)))
            assert [canon(x) for x in arr.get_range(lo, hi)] == [
                canon(x) for x in expected[lo:hi]
            ]
        assert arr.verify() == []
        meta_fill = zarr_arr.fill_value
        assert canon(arr.fill_value) == canon(meta_fill)
    else:
        arr = NumericArray.open(wstore, path)
        assert arr.dtype == dtype.str
        assert tuple(arr.shape) == zarr_arr.shape
        assert tuple(arr.chunks) == zarr_arr.chunks
        got = arr.read()
        assert got.dtype == expected.dtype
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
    assert wstore.read_attrs(path) == zarr_arr.attrs.asdict()


@pytest.mark.parametrize("store_name, path", FOLDER_ARRAYS)
def test_fixture_folder_array(
    fixtures_root: Path, tmp_path: Path, store_name: str, path: str
) -> None:
    copy = tmp_path / store_name
    shutil.copytree(fixtures_root / store_name, copy)
    before = tree_digest(copy)
    wstore = Store.local(copy)
    zarr_arr = zarr.open_array(str(copy / path), mode="r")
    compare_array(wstore, zarr_arr, path)
    assert tree_digest(copy) == before, "reading modified the store"


@pytest.mark.parametrize("path", ZIP_ARRAYS)
def test_fixture_zip_array(fixtures_root: Path, tmp_path: Path, path: str) -> None:
    archive = tmp_path / ZIP_NAME
    shutil.copy2(fixtures_root / ZIP_NAME, archive)
    before = hashlib.sha256(archive.read_bytes()).hexdigest()
    try:
        wstore = Store.zip(archive)
    except (NotImplementedError, BaseException) as e:  # a panic is a BaseException
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        pytest.xfail(f"Store.zip is not working yet: {type(e).__name__}: {e}")
    assert wstore.read_only
    zs = zarr.storage.ZipStore(str(archive), mode="r")
    try:
        zarr_arr = zarr.open_array(store=zs, path=path, mode="r")
        compare_array(wstore, zarr_arr, path)
    finally:
        zs.close()
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == before


def test_fixture_zip_matches_folder_listing(fixtures_root: Path) -> None:
    """The zip store lists the same keys as the archive holds."""
    archive = fixtures_root / ZIP_NAME
    wstore = Store.zip(archive)
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    top = sorted({n.split("/", 1)[0] for n in names})
    assert sorted(wstore.list_dir("")) == top
    for n in names[:50]:
        if not n.endswith("/"):
            with zipfile.ZipFile(archive) as zf:
                assert wstore.get(n) == zf.read(n)
    assert wstore.get("no/such/key") is None
