"""wfstore's Rust core against zarr-python 2.17.2 + numcodecs (the test-only oracle).

Arrays written by wfstore must read identically with zarr-python and vice versa, for
object (msgpack) arrays and numeric arrays, with every compressor the engine uses.
"""

from __future__ import annotations

import math
import random
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
numcodecs = pytest.importorskip("numcodecs")
msgpack = pytest.importorskip("msgpack")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from wfstore import _core  # noqa: E402
from wfstore._core import NumericArray, ObjectArray, Store  # noqa: E402

# --------------------------------------------------------------------------------------
# compressors: (id, wfstore name, wfstore kwargs, numcodecs codec or None)


def _compressor_cases() -> list[Any]:
    cases = [
        pytest.param("blosc", None, numcodecs.Blosc(), id="blosc-default-lz4"),
    ]
    for cname in ("zstd", "zlib", "blosclz"):
        for shuffle in (0, 1, 2):
            cases.append(
                pytest.param(
                    "blosc",
                    {"cname": cname, "shuffle": shuffle},
                    numcodecs.Blosc(cname=cname, shuffle=shuffle),
                    id=f"blosc-{cname}-shuffle{shuffle}",
                )
            )
    cases.append(pytest.param("zstd", None, numcodecs.Zstd(), id="zstd"))
    cases.append(pytest.param(None, None, None, id="none"))
    return cases


COMPRESSORS = _compressor_cases()
#: a smaller set for the combinatorially larger tests
FEW_COMPRESSORS = [
    c
    for c in COMPRESSORS
    if c.id in ("blosc-default-lz4", "blosc-zstd-shuffle2", "zstd", "none")
]


def canon(v: Any) -> Any:
    """A type-strict, comparable form of a decoded msgpack value (so that 1, 1.0 and
    True, or 0.0 and -0.0, are told apart; tuples are lists after msgpack)."""
    if v is None:
        return ("none",)
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("float", struct.pack("<d", v))
    if isinstance(v, str):
        return ("str", v)
    if isinstance(v, (bytes, bytearray)):
        return ("bytes", bytes(v))
    if isinstance(v, (list, tuple)):
        return ("list", tuple(canon(x) for x in v))
    if isinstance(v, dict):
        return ("dict", tuple((canon(k), canon(x)) for k, x in v.items()))
    raise AssertionError(f"unexpected decoded type {type(v)!r}: {v!r}")


def canon_list(values: Any) -> list[Any]:
    return [canon(x) for x in list(values)]


def obj_ndarray(values: list[Any]) -> np.ndarray:
    """A 1-D numpy object array holding `values` element by element."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


def zarr_object_array(path: Path, n: int, chunk: int, codec: Any, **kw: Any) -> Any:
    return zarr.open_array(
        str(path),
        mode="w",
        shape=(n,),
        chunks=(chunk,),
        dtype=object,
        object_codec=numcodecs.MsgPack(),
        compressor=codec,
        fill_value=0,
        **kw,
    )


SAMPLE_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    127,
    128,
    -33,
    255,
    65536,
    2**31,
    2**63 - 1,
    -(2**63),
    2**63,
    2**64 - 1,
    1.5,
    -0.0,
    1e308,
    -2.2250738585072014e-308,
    math.inf,
    "",
    "str",
    "ünïcødé ✓ 𝄞",
    "x" * 300,
    b"",
    b"\x00\x01bytes\xff",
    [],
    [1, [2, [3, [4]]]],
    (1, "tuple"),
    {},
    {"a": 1, "b": [None, {"c": b"x", "d": 2.5}], "": True},
    {"nested": {"deep": {"deeper": [1, 2, 3]}}},
    list(range(50)),
]


def sample(n: int, seed: int, truthy: bool = False) -> list[Any]:
    """`n` values drawn from SAMPLE_VALUES (only truthy ones with `truthy`: zarr's
    write_empty_chunks=False drops a chunk whose items are all falsy when the fill
    value is 0, so b"" or [] would read back as 0 from zarr itself)."""
    rng = random.Random(seed)
    pool = [v for v in SAMPLE_VALUES if v] if truthy else SAMPLE_VALUES
    return [rng.choice(pool) for _ in range(n)]


# --------------------------------------------------------------------------------------
# object arrays written by wfstore -> read by zarr


@pytest.mark.parametrize("chunk_size", [1, 3, None])
@pytest.mark.parametrize("cname, ckw, codec", COMPRESSORS)
def test_object_written_by_wfstore_read_by_zarr(
    tmp_path: Path, cname: Any, ckw: Any, codec: Any, chunk_size: Any
) -> None:
    store = Store.local(tmp_path)
    init_len = 5 if chunk_size is None else 0
    arr = ObjectArray.create(
        store, "grp/arr", length=init_len, chunk_size=chunk_size, compressor=cname,
        compressor_kwargs=ckw,
    )
    model: list[Any] = [0] * init_len
    expected_chunk = 5 if chunk_size is None else chunk_size
    assert arr.chunk_size == expected_chunk

    vals = sample(11, seed=1)
    assert arr.append(vals) == init_len + 11
    model += vals
    # overwrite some rows, in random order, with repeats of chunks
    idx = [10, 0, 7, 3, 9, 1, 10]
    new = sample(len(idx), seed=2)
    arr.set(idx, new)
    for i, v in zip(idx, new):
        model[i] = v
    more = sample(4, seed=3)
    arr.append(more)
    model += more
    # shrink (partial last chunk) then grow: the grown rows are fill (0)
    arr.resize(len(model) - 6)
    model = model[:-6]
    arr.resize(len(model) + 4)
    model += [0] * 4
    arr.set([len(model) - 1], [{"last": (1, 2)}])
    model[-1] = {"last": [1, 2]}

    z = zarr.open_array(str(tmp_path / "grp" / "arr"), mode="r")
    assert z.dtype == np.dtype(object)
    assert z.shape == (len(model),)
    assert z.chunks == (expected_chunk,)
    assert z.fill_value == 0
    got = z[:]
    assert isinstance(got, np.ndarray) and got.dtype == object
    assert canon_list(got) == canon_list(model)
    # wfstore reads the same rows back
    assert canon_list(arr.get_range()) == canon_list(model)
    arr2 = ObjectArray.open(store, "grp/arr")
    assert len(arr2) == len(model)
    assert canon_list(arr2.get_range()) == canon_list(model)


@pytest.mark.parametrize("cname, ckw, codec", COMPRESSORS)
def test_object_compressor_config_matches_numcodecs(cname: Any, ckw: Any, codec: Any) -> None:
    expected = None if codec is None else codec.get_config()
    assert _core.compressor_config(cname, ckw) == expected
    # and a numcodecs configuration mapping is taken as is
    if codec is not None:
        assert _core.compressor_config(codec.get_config()) == expected


# --------------------------------------------------------------------------------------
# object arrays written by zarr -> read by wfstore


@pytest.mark.parametrize("write_empty_chunks", [True, False])
@pytest.mark.parametrize("chunk", [1, 3, 40])
@pytest.mark.parametrize("cname, ckw, codec", COMPRESSORS)
def test_object_written_by_zarr_read_by_wfstore(
    tmp_path: Path, cname: Any, ckw: Any, codec: Any, chunk: int, write_empty_chunks: bool
) -> None:
    n = 23
    z = zarr_object_array(
        tmp_path / "a", n, chunk, codec, write_empty_chunks=write_empty_chunks
    )
    model: list[Any] = [0] * n
    # partial writes: rows 2..8 and row 20; the chunks in between stay absent, and
    # (with write_empty_chunks=False) a chunk written only with fill values is deleted
    vals = sample(7, seed=4, truthy=not write_empty_chunks)
    z[2:9] = obj_ndarray(vals)
    model[2:9] = vals
    z[20] = "row20"
    model[20] = "row20"
    z[14:16] = obj_ndarray([0, 0])  # fill values only

    chunk_files = sorted(p.name for p in (tmp_path / "a").iterdir() if p.name != ".zarray")
    n_chunks = -(-n // chunk)
    assert len(chunk_files) < n_chunks or chunk == 40  # some chunks absent

    store = Store.local(tmp_path)
    arr = ObjectArray.open(store, "a")
    assert len(arr) == n
    assert arr.chunk_size == chunk
    assert arr.fill_value == 0
    assert canon_list(arr.get_range()) == canon_list(model)
    assert canon_list(arr.get_range()) == canon_list(z[:])
    rng = random.Random(chunk)
    idx = [rng.randrange(n) for _ in range(40)]
    assert canon_list(arr.get(idx)) == [canon(model[i]) for i in idx]
    assert canon_list(arr.get(np.array(idx, dtype=np.int64))) == [canon(model[i]) for i in idx]
    assert canon_list(arr.get_range(3, 17)) == canon_list(model[3:17])
    assert arr.get([]) == []
    assert arr.verify() == []


@pytest.mark.parametrize("dtype", ["<i8", ">i8", "<i4", "<u8", "<f8"])
def test_vlen_array_rows_read_as_zarr_reads_them(tmp_path: Path, dtype: str) -> None:
    """`vlen-array` rows (a task's element IDs) come back as zarr-python returns
    them: numpy arrays of the codec's dtype, writable, equal values (64-bit integers
    take a path from bytes; the largest unsigned ones do not fit it)."""
    big = [2**64 - 1, 2**63] if dtype == "<u8" else [2**31 - 1] if dtype == "<i4" else []
    limits = [-(2**63), 2**63 - 1] if dtype.endswith("i8") else []
    rows = [[], [0, 1, 2], [5] * 700, big + limits + [7], [3]]
    z = zarr.open_array(
        str(tmp_path / "t"),
        mode="w",
        shape=(len(rows) + 2,),
        chunks=(3,),
        dtype=object,
        object_codec=numcodecs.VLenArray(dtype),
        fill_value=None,
    )
    for i, r in enumerate(rows):
        z[i] = np.array(r, dtype=dtype)
    arr = ObjectArray.open(Store.local(tmp_path), "t")
    want = z[: len(rows)]
    for got in (arr.get(list(range(len(rows)))), arr.get_range(0, len(rows))):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert isinstance(g, np.ndarray) and g.dtype == w.dtype == np.dtype(dtype)
            assert g.tolist() == w.tolist()
            assert g.flags.writeable
    # a row never written reads as zarr reads it
    (absent,) = arr.get([len(rows)])
    assert type(absent) is type(z[len(rows)]) and np.array_equal(absent, z[len(rows)])


def test_object_written_by_zarr_whole_and_tuples(tmp_path: Path) -> None:
    vals = SAMPLE_VALUES * 2
    z = zarr_object_array(tmp_path / "a", len(vals), 4, numcodecs.Blosc())
    z[:] = obj_ndarray(vals)
    arr = ObjectArray.open(Store.local(tmp_path), "a")
    # msgpack turns tuples into lists
    assert canon_list(arr.get_range()) == canon_list(vals)
    assert [type(x) for x in arr.get_range()] == [type(x) for x in z[:]]


def test_empty_object_arrays(tmp_path: Path) -> None:
    store = Store.local(tmp_path)
    ObjectArray.create(store, "w", length=0, chunk_size=3)
    z = zarr.open_array(str(tmp_path / "w"), mode="r")
    assert z.shape == (0,)
    assert list(z[:]) == []
    zarr_object_array(tmp_path / "z", 0, 3, numcodecs.Blosc())
    arr = ObjectArray.open(store, "z")
    assert len(arr) == 0
    assert arr.get_range() == []
    # an array of fill values only, with no chunk written
    zarr_object_array(tmp_path / "f", 5, 2, numcodecs.Blosc())
    assert ObjectArray.open(store, "f").get_range() == [0] * 5


# --------------------------------------------------------------------------------------
# .zarray byte for byte


def _zarray_pair(tmp_path: Path, cname: Any, ckw: Any, codec: Any, chunk: int, n: int,
                 **zkw: Any) -> tuple[bytes, bytes]:
    store = Store.local(tmp_path / "w")
    ObjectArray.create(store, "a", length=n, chunk_size=chunk, compressor=cname,
                       compressor_kwargs=ckw)
    zarr.open_array(
        str(tmp_path / "z"), mode="w", shape=(n,), chunks=(chunk,), dtype=object,
        object_codec=numcodecs.MsgPack(), compressor=codec, fill_value=0, **zkw,
    )
    return (tmp_path / "w" / "a" / ".zarray").read_bytes(), (
        tmp_path / "z" / ".zarray"
    ).read_bytes()


@pytest.mark.parametrize("chunk, n", [(1, 0), (7, 20), (1000, 3)])
@pytest.mark.parametrize("cname, ckw, codec", COMPRESSORS)
def test_object_zarray_bytes_match_zarr_with_dot_separator(
    tmp_path: Path, cname: Any, ckw: Any, codec: Any, chunk: int, n: int
) -> None:
    """wfstore writes `"dimension_separator": "."` as the engine's stores have it
    (zarr-python writes it only when given): with it, the documents are identical."""
    ours, theirs = _zarray_pair(
        tmp_path, cname, ckw, codec, chunk=chunk, n=n, dimension_separator="."
    )
    assert ours == theirs


# --------------------------------------------------------------------------------------
# chunk codec: encode_object_chunk / decode_object_chunk vs numcodecs


@pytest.mark.parametrize("cname, ckw, codec", COMPRESSORS)
def test_chunk_codec_matches_numcodecs(cname: Any, ckw: Any, codec: Any) -> None:
    comp = _core.compressor_config(cname, ckw)
    for seed, n in [(5, 1), (6, 3), (7, 20)]:
        items = sample(n, seed)
        ref_raw = numcodecs.MsgPack().encode(obj_ndarray(items))
        ours = _core.encode_object_chunk(items, comp)
        # wfstore-encoded bytes decode with numcodecs to exactly numcodecs' msgpack
        raw = ours if codec is None else bytes(codec.decode(ours))
        assert raw == ref_raw
        assert canon_list(numcodecs.MsgPack().decode(raw)) == canon_list(items)
        # numcodecs-encoded bytes decode with wfstore
        theirs = ref_raw if codec is None else codec.encode(ref_raw)
        assert canon_list(_core.decode_object_chunk(bytes(theirs), comp)) == canon_list(items)
        # bytes-level compress/decompress agree with numcodecs too
        if codec is not None:
            assert bytes(codec.decode(_core.compress(ref_raw, comp))) == ref_raw
            assert _core.decompress(bytes(codec.encode(ref_raw)), comp) == ref_raw


# --------------------------------------------------------------------------------------
# hypothesis: arbitrary msgpack-able values both ways through zarr

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.sampled_from([-(2**63), 2**63 - 1, 2**63, 2**64 - 1, 0, -1])
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
msgpack_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4)
    | st.tuples(children, children)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)

_HYP = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_HYP
@given(
    values=st.lists(msgpack_values, max_size=12),
    chunk=st.integers(min_value=1, max_value=5),
    comp=st.sampled_from([None, "blosc", "zstd"]),
)
def test_hypothesis_wfstore_to_zarr(values: list[Any], chunk: int, comp: Any) -> None:
    with tempfile.TemporaryDirectory() as d:
        arr = ObjectArray.create(Store.local(d), "a", chunk_size=chunk, compressor=comp)
        arr.append(values)
        got = zarr.open_array(str(Path(d) / "a"), mode="r")[:]
        assert canon_list(got) == canon_list(values)


@_HYP
@given(
    values=st.lists(msgpack_values, max_size=12),
    chunk=st.integers(min_value=1, max_value=5),
    comp=st.sampled_from([None, "blosc", "zstd"]),
)
def test_hypothesis_zarr_to_wfstore(values: list[Any], chunk: int, comp: Any) -> None:
    codec = {None: None, "blosc": numcodecs.Blosc(), "zstd": numcodecs.Zstd()}[comp]
    with tempfile.TemporaryDirectory() as d:
        z = zarr_object_array(Path(d) / "a", len(values), chunk, codec)
        if values:
            z[:] = obj_ndarray(values)
        arr = ObjectArray.open(Store.local(d), "a")
        assert canon_list(arr.get_range()) == canon_list(values)
        if values:
            idx = list(range(len(values)))[::-1]
            assert canon_list(arr.get(idx)) == [canon(values[i]) for i in idx]


@_HYP
@given(items=st.lists(msgpack_values, min_size=1, max_size=8))
def test_hypothesis_chunk_codec_matches_msgpack(items: list[Any]) -> None:
    ref = numcodecs.MsgPack().encode(obj_ndarray(items))
    assert _core.encode_object_chunk(items, None) == ref
    assert canon_list(_core.decode_object_chunk(ref, None)) == canon_list(items)


# --------------------------------------------------------------------------------------
# numeric arrays

NUMERIC_DTYPES = [
    "|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8",
    "<f2", "<f4", "<f8", "<c8", "<c16", ">i4", ">f8",
]

SHAPES = [
    pytest.param((), None, id="0d"),
    pytest.param((0,), (3,), id="1d-empty"),
    pytest.param((7,), (3,), id="1d-partial"),
    pytest.param((7,), (7,), id="1d-one-chunk"),
    pytest.param((5,), (1,), id="1d-chunk1"),
    pytest.param((4, 5), (2, 3), id="2d"),
    pytest.param((4, 0), (2, 2), id="2d-zero-dim"),
    pytest.param((3, 4, 5), (2, 3, 2), id="3d"),
    pytest.param((2, 3, 4), (5, 5, 5), id="3d-chunk-bigger"),
    pytest.param((0, 2, 3), (1, 1, 1), id="3d-empty"),
]


def make_data(dtype: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    n = int(np.prod(shape)) if shape else 1
    if dt.kind == "b":
        flat = rng.integers(0, 2, n).astype(bool)
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        flat = rng.integers(info.min, info.max, n, dtype=dt.newbyteorder("="), endpoint=True)
        if n >= 2:
            flat[0], flat[1] = info.min, info.max
    elif dt.kind == "f":
        flat = (rng.standard_normal(n) * 100).astype(dt.newbyteorder("="))
        if n >= 3:
            flat[1] = np.nan
            flat[2] = -0.0
    else:
        flat = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(
            dt.newbyteorder("=")
        )
        if n >= 2:
            flat[1] = complex(np.nan, 1.0)
    return flat.astype(dt).reshape(shape)


def fill_values(dtype: str) -> list[Any]:
    """Fill values as (wfstore argument, zarr argument, numpy value)."""
    kind = np.dtype(dtype).kind
    if kind == "b":
        return [(False, False), (True, True)]
    if kind == "i":
        return [(0, 0), (-7, -7)]
    if kind == "u":
        return [(0, 0), (int(np.iinfo(np.dtype(dtype)).max),) * 2]
    if kind == "f":
        return [(0, 0), (1.5, 1.5), (-2.25, -2.25), (math.nan, math.nan)]
    return [([0.0, 0.0], 0j), ([1.5, -2.0], complex(1.5, -2.0))]


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("shape, chunks", SHAPES)
@pytest.mark.parametrize("dtype", NUMERIC_DTYPES)
def test_numeric_written_by_wfstore_read_by_zarr(
    tmp_path: Path, dtype: str, shape: tuple[int, ...], chunks: Any
) -> None:
    data = make_data(dtype, shape, seed=len(shape))
    comps = [c.values for c in FEW_COMPRESSORS]
    cname, ckw, _codec = comps[(NUMERIC_DTYPES.index(dtype) + len(shape)) % len(comps)]
    store = Store.local(tmp_path)
    for k, (wfill, zfill) in enumerate(fill_values(dtype)):
        path = f"n{k}"
        arr = NumericArray.create(
            store, path, data, chunks=chunks, compressor=cname, compressor_kwargs=ckw,
            fill_value=wfill,
        )
        assert arr.dtype == dtype
        assert list(arr.shape) == list(shape)
        z = zarr.open_array(str(tmp_path / path), mode="r")
        assert z.dtype == np.dtype(dtype)
        assert z.shape == shape
        if chunks is not None:
            assert z.chunks == tuple(chunks)
        assert_same(z[...], data)
        assert_same(arr.read(), data)
        assert_same(NumericArray.open(store, path).read(), data)
        # the fill value as zarr decodes it
        np.testing.assert_array_equal(np.asarray(z.fill_value), np.asarray(zfill, dtype=dtype))
        # ... and as zarr uses it: growing the array exposes fill values
        if len(shape) >= 1:
            zw = zarr.open_array(str(tmp_path / path), mode="r+")
            new_shape = (shape[0] + 3, *shape[1:])
            zw.resize(new_shape)
            grown = zw[shape[0]:]
            np.testing.assert_array_equal(grown, np.full(grown.shape, zfill, dtype=dtype))
            # and wfstore reads zarr's resized array (absent chunks -> fill)
            expected = np.full(new_shape, zfill, dtype=dtype)
            expected[: shape[0]] = data
            assert_same(NumericArray.open(store, path).read(), expected)


@pytest.mark.parametrize("cname, ckw, codec", COMPRESSORS)
@pytest.mark.parametrize("dtype", ["|b1", "<i2", "<u8", "<f4", "<c16", ">i4"])
def test_numeric_compressors_both_ways(
    tmp_path: Path, dtype: str, cname: Any, ckw: Any, codec: Any
) -> None:
    data = make_data(dtype, (9, 11), seed=3)
    store = Store.local(tmp_path)
    wfill = [0.0, 0.0] if np.dtype(dtype).kind == "c" else 0
    NumericArray.create(
        store, "w", data, chunks=[4, 5], compressor=cname, compressor_kwargs=ckw,
        fill_value=wfill,
    )
    z = zarr.open_array(str(tmp_path / "w"), mode="r")
    assert (None if z.compressor is None else z.compressor.get_config()) == (
        None if codec is None else codec.get_config()
    )
    assert_same(z[...], data)
    zarr.open_array(
        str(tmp_path / "z"), mode="w", shape=data.shape, chunks=(4, 5), dtype=dtype,
        compressor=codec, fill_value=0,
    )[...] = data
    assert_same(NumericArray.open(store, "z").read(), data)


@pytest.mark.parametrize("write_empty_chunks", [True, False])
@pytest.mark.parametrize("shape, chunks", SHAPES)
@pytest.mark.parametrize("dtype", NUMERIC_DTYPES)
def test_numeric_written_by_zarr_read_by_wfstore(
    tmp_path: Path, dtype: str, shape: tuple[int, ...], chunks: Any, write_empty_chunks: bool
) -> None:
    data = make_data(dtype, shape, seed=7)
    comps = [c.values for c in FEW_COMPRESSORS]
    _cname, _ckw, codec = comps[(NUMERIC_DTYPES.index(dtype) + 1) % len(comps)]
    kind = np.dtype(dtype).kind
    fills = [f[1] for f in fill_values(dtype)]
    if kind == "f":
        fills.append(np.nan)
    if kind == "c":
        fills.append(complex(np.nan, 0.0))
    store = Store.local(tmp_path)
    for k, fill in enumerate(fills):
        path = f"z{k}"
        z = zarr.open_array(
            str(tmp_path / path), mode="w", shape=shape, chunks=chunks, dtype=dtype,
            compressor=codec, fill_value=fill, write_empty_chunks=write_empty_chunks,
        )
        expected = np.full(shape, fill, dtype=dtype)
        if shape == ():
            z[...] = data
            expected[...] = data
        elif shape[0] > 0:
            # a partial write: only the first row/plane; the other chunks stay absent
            z[:1] = data[:1]
            expected[:1] = data[:1]
            if shape[0] > 3 and data[3:4].size:
                # a region written with fill values only
                z[3:4] = np.full(data[3:4].shape, fill, dtype=dtype)
        assert_same(z[...], expected)  # the oracle agrees with itself
        arr = NumericArray.open(store, path)
        assert arr.dtype == dtype
        assert list(arr.shape) == list(shape)
        assert list(arr.chunks) == list(z.chunks)
        assert_same(arr.read(), expected)


@pytest.mark.parametrize("dtype", ["<f2", "<f4", "<f8", ">f8"])
def test_numeric_nan_fill_written_by_wfstore(tmp_path: Path, dtype: str) -> None:
    data = make_data(dtype, (5,))
    NumericArray.create(Store.local(tmp_path), "a", data, chunks=[2], fill_value=float("nan"))
    z = zarr.open_array(str(tmp_path / "a"), mode="r")
    assert np.isnan(z.fill_value)
    assert_same(z[...], data)


@pytest.mark.parametrize("dtype", ["<c8", "<c16"])
@pytest.mark.parametrize(
    "fill, expected", [(0j, 0j), (complex(1.5, -2), complex(1.5, -2)), ([0.5, 2.0], 0.5 + 2j)],
    ids=["complex0", "complex", "list"],
)
def test_numeric_complex_fill(tmp_path: Path, dtype: str, fill: Any, expected: complex) -> None:
    data = make_data(dtype, (5,))
    NumericArray.create(Store.local(tmp_path), "a", data, chunks=[2], fill_value=fill)
    z = zarr.open_array(str(tmp_path / "a"), mode="r")
    assert z.fill_value == expected
    assert_same(z[...], data)


@pytest.mark.parametrize(
    "fill", [None, 0, 1.5, float("nan")], ids=["default", "int0", "float", "nan"]
)
@pytest.mark.parametrize("dtype", ["<c8", "<c16"])
def test_numeric_complex_real_fill(tmp_path: Path, dtype: str, fill: Any) -> None:
    data = make_data(dtype, (5,))
    kw = {} if fill is None else {"fill_value": fill}
    NumericArray.create(Store.local(tmp_path), "a", data, chunks=[2], **kw)
    z = zarr.open_array(str(tmp_path / "a"), mode="r")
    np.testing.assert_array_equal(
        np.asarray(z.fill_value), np.asarray(0 if fill is None else fill, dtype=dtype)
    )
    assert_same(z[...], data)


@pytest.mark.parametrize("fill", [float("nan"), math.inf, -math.inf, 0.25, -3])
@pytest.mark.parametrize("dtype", ["<f4", "<f8"])
def test_numeric_float_fill_spelled_as_zarr(tmp_path: Path, dtype: str, fill: float) -> None:
    """The fill value in `.zarray` is spelled as zarr-python spells it ("NaN",
    "Infinity", "-Infinity"); zarr 2.17.2 itself cannot read back infinities under
    numpy 2, so the documents are compared."""
    import json

    data = make_data(dtype, (3,))
    NumericArray.create(Store.local(tmp_path), "w", data, chunks=[2], fill_value=fill)
    # init_array only writes the document (open_array would fail reading it back)
    zarr.storage.init_array(zarr.storage.DirectoryStore(str(tmp_path / "z")), shape=(3,),
                            chunks=(2,), dtype=dtype, fill_value=fill)
    ours = json.loads((tmp_path / "w" / ".zarray").read_text())["fill_value"]
    theirs = json.loads((tmp_path / "z" / ".zarray").read_text())["fill_value"]
    if isinstance(theirs, str):
        assert ours == theirs
    else:  # zarr writes -3.0 where wfstore may write -3: the same value
        assert isinstance(ours, (int, float)) and not isinstance(ours, bool)
        assert float(ours) == theirs


def test_numeric_zarray_matches_zarr_fields(tmp_path: Path) -> None:
    """The numeric `.zarray` wfstore writes parses to the same document zarr writes
    (apart from the dimension separator zarr omits)."""
    import json

    data = make_data("<i4", (6, 4))
    NumericArray.create(Store.local(tmp_path), "w", data, chunks=[4, 3], compressor="blosc")
    zarr.open_array(str(tmp_path / "z"), mode="w", shape=(6, 4), chunks=(4, 3), dtype="<i4",
                    compressor=numcodecs.Blosc(), fill_value=0)
    ours = json.loads((tmp_path / "w" / ".zarray").read_text())
    theirs = json.loads((tmp_path / "z" / ".zarray").read_text())
    assert ours.pop("dimension_separator", ".") == "."
    assert ours == theirs
