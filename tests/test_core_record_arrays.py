"""The core's numeric arrays of structured (record) and integer dtypes against
zarr-python 2.17.2 + numcodecs (the test-only oracle): what the core writes, zarr-python
reads as the same values with the same ``.zarray`` document, and what zarr-python
writes (chunks left out where they hold fill values only), the core reads as the same
values; rows read and set by the core's row operations agree with numpy indexing.

hpcflow 0.3.0 keeps ``metadata/run_sub_dat`` and ``metadata/run_dirs`` (structured
dtypes, given in ``.zarray`` as a list descr, fill value base64 of one row) and the
integer arrays of a submission group (``js_*``, N-dimensional) in such arrays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import wfstore
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numcodecs import Blosc, Zstd
from wfstore import _core

FIELD_TYPES = ["|u1", "<u2", "<u4", "<u8", "|i1", "<i2", "<i4", "<i8", "<f4", "<f8", "|b1"]
INT_TYPES = ["|u1", "<u2", "<u4", "<i2", "<i4", "<i8"]
#: (the core's compressor config, the numcodecs compressor zarr-python writes with)
COMPRESSORS: list[tuple[dict[str, Any] | None, Any]] = [
    (None, None),
    (
        {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0},
        Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE, blocksize=0),
    ),
    ({"id": "zstd", "level": 1}, Zstd(level=1)),
]

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def record_dtypes(draw: Any) -> np.dtype:
    n = draw(st.integers(1, 4))
    types = draw(st.lists(st.sampled_from(FIELD_TYPES), min_size=n, max_size=n))
    return np.dtype([(f"f{i}_{t[1:]}", t) for i, t in enumerate(types)])


def _rows(draw: Any, dtype: np.dtype, n: int) -> np.ndarray:
    """`n` random rows of `dtype` (random bytes, then floats and bools made valid)."""
    raw = draw.draw(st.binary(min_size=n * dtype.itemsize, max_size=n * dtype.itemsize))
    rows = np.frombuffer(raw, dtype=dtype).copy()
    for name in dtype.names or ():
        kind = dtype.fields[name][0].kind  # type: ignore[index]
        if kind == "b":
            rows[name] = rows[name].view(np.uint8) % 2 == 1
        elif kind == "f":
            vals = rows[name]
            rows[name] = np.where(np.isfinite(vals), vals, 0.5)
    return rows


def _fill(dtype: np.dtype) -> tuple[Any, ...]:
    """All ones in every integer field (hpcflow 0.3.0's "not set"), 0 in the others."""
    out: list[Any] = []
    for name in dtype.names or ():
        sub = dtype.fields[name][0]  # type: ignore[index]
        out.append(int(np.iinfo(sub).max) if sub.kind in "iu" else sub.type(0))
    return tuple(out)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@SETTINGS
@given(data=st.data())
def test_core_records_read_by_zarr(tmp_path_factory: pytest.TempPathFactory, data: Any) -> None:
    """The core's record array: zarr-python reads its values, and its ``.zarray`` is
    byte for byte what zarr-python writes for the same array."""
    dtype = data.draw(record_dtypes())
    n = data.draw(st.integers(0, 40))
    chunk = data.draw(st.integers(1, 16))
    cfg, codec = data.draw(st.sampled_from(COMPRESSORS))
    sep = data.draw(st.sampled_from([".", "/"]))
    rows = _rows(data, dtype, n)
    fill = _fill(dtype)
    root = tmp_path_factory.mktemp("core")
    _core.NumericArray.create(
        _core.Store.local(str(root)),
        "a",
        rows,
        chunks=[chunk],
        compressor=cfg,
        fill_value=fill,
        dimension_separator=sep,
    )
    got = zarr.open_array(str(root / "a"), mode="r")
    assert _same(got[:], rows)
    ref = root / "ref"
    zarr.create(
        shape=(n,),
        chunks=(chunk,),
        dtype=dtype,
        compressor=codec,
        fill_value=fill,
        store=zarr.DirectoryStore(str(ref), dimension_separator=sep),
    )
    assert (root / "a" / ".zarray").read_bytes() == (ref / ".zarray").read_bytes()


@SETTINGS
@given(data=st.data())
def test_zarr_records_read_and_updated_by_core(
    tmp_path_factory: pytest.TempPathFactory, data: Any
) -> None:
    """A record array zarr-python wrote (rows set here and there, empty chunks not
    written): the core reads the same values, whole and by rows; rows the core sets,
    zarr-python reads back; chunks of fill values only are deleted when asked."""
    dtype = data.draw(record_dtypes())
    n = data.draw(st.integers(1, 40))
    chunk = data.draw(st.integers(1, 16))
    _cfg, codec = data.draw(st.sampled_from(COMPRESSORS))
    fill = _fill(dtype)
    root = tmp_path_factory.mktemp("zarr")
    z = zarr.create(
        shape=(n,),
        chunks=(chunk,),
        dtype=dtype,
        compressor=codec,
        fill_value=fill,
        write_empty_chunks=False,
        store=zarr.DirectoryStore(str(root / "a"), dimension_separator="/"),
    )
    ids = sorted(set(data.draw(st.lists(st.integers(0, n - 1), max_size=n))))
    if ids:
        z.set_coordinate_selection((np.asarray(ids),), _rows(data, dtype, len(ids)))
    store = _core.Store.local(str(root))
    arr = _core.NumericArray.open(store, "a", write_empty_chunks=False)
    expect = z[:]
    assert _same(arr.read(), expect)
    pick = data.draw(st.lists(st.integers(0, n - 1), max_size=20))
    assert _same(arr.get_rows(pick), expect[pick])
    assert _same(np.asarray([arr.fill]), np.asarray([fill], dtype=dtype))
    # the core sets rows (some back to the fill value): zarr-python reads them
    sets = data.draw(st.lists(st.integers(0, n - 1), max_size=12))
    new = _rows(data, dtype, len(sets))
    back_to_fill = data.draw(st.booleans())
    if back_to_fill:
        new[:] = np.asarray(fill, dtype=dtype)
    arr.set_rows(sets, new)
    expect[sets] = new
    assert _same(zarr.open_array(str(root / "a"), mode="r")[:], expect)
    # a chunk file exists exactly where a chunk holds more than fill values (neither
    # writer writes empty chunks; the core deletes one set back to fill values)
    fill_row = np.asarray(fill, dtype=dtype).tobytes()
    for c in range(-(-n // chunk)):
        part = expect[c * chunk : (c + 1) * chunk]
        all_fill = all(r.tobytes() == fill_row for r in part)
        assert (root / "a" / str(c)).exists() is not all_fill


@SETTINGS
@given(data=st.data())
def test_integer_arrays_both_ways(tmp_path_factory: pytest.TempPathFactory, data: Any) -> None:
    """N-dimensional integer arrays (a submission's ``js_*``): the core's read by
    zarr-python with the same ``.zarray``, zarr-python's read by the core."""
    dtype = np.dtype(data.draw(st.sampled_from(INT_TYPES)))
    shape = tuple(data.draw(st.lists(st.integers(0, 6), min_size=1, max_size=3)))
    chunks = [data.draw(st.integers(1, max(1, s))) for s in shape]
    cfg, codec = data.draw(st.sampled_from(COMPRESSORS))
    values = np.frombuffer(
        data.draw(st.binary(min_size=int(np.prod(shape)) * dtype.itemsize,
                            max_size=int(np.prod(shape)) * dtype.itemsize)),
        dtype=dtype,
    ).reshape(shape)
    fill = int(data.draw(st.sampled_from([0, -1 if dtype.kind == "i" else 1])))
    root = tmp_path_factory.mktemp("int")
    store = _core.Store.local(str(root))
    _core.NumericArray.create(
        store, "c", values, chunks=chunks, compressor=cfg, fill_value=fill,
        dimension_separator="/",
    )
    assert _same(zarr.open_array(str(root / "c"), mode="r")[:], values)
    ref = zarr.create(
        shape=shape,
        chunks=tuple(chunks),
        dtype=dtype,
        compressor=codec,
        fill_value=fill,
        store=zarr.DirectoryStore(str(root / "z"), dimension_separator="/"),
    )
    ref[...] = values
    assert (root / "c" / ".zarray").read_bytes() == (root / "z" / ".zarray").read_bytes()
    assert _same(_core.NumericArray.open(store, "z").read(), values)


def test_record_array_errors(tmp_path: Path) -> None:
    """Typed errors naming the array: a row beyond the array, a damaged chunk; dtypes
    the core does not store (padded records, object fields) refused."""
    store = _core.Store.local(str(tmp_path))
    dtype = np.dtype([("a", "|u1"), ("b", "<u4")])
    arr = _core.NumericArray.create(
        store, "m/r", np.zeros(4, dtype), chunks=[2], compressor=None, fill_value=(255, 7)
    )
    with pytest.raises(wfstore.StoreIndexError, match=r"index 9.*m/r") as info:
        arr.get_rows([9])
    assert info.value.index == 9
    (tmp_path / "m" / "r" / "1").write_bytes(b"bad")
    with pytest.raises(wfstore.CorruptChunkError) as bad:
        _core.NumericArray.open(store, "m/r").read()
    assert bad.value.key == "1" and "m/r" in str(bad.value.path)
    padded = np.dtype({"names": ["a", "b"], "formats": ["|u1", "<u4"], "offsets": [0, 4]})
    with pytest.raises(ValueError, match=r"padding|packed"):
        _core.NumericArray.create(store, "p", np.zeros(2, padded))
    with pytest.raises((TypeError, ValueError)):
        _core.NumericArray.create(store, "o", np.zeros(2, [("a", "O")]))
