"""Rows of msgpack object arrays are decoded from their bytes straight to Python
objects (``rust/wfstore-py/src/decode.rs``). They must come out exactly as
msgpack-python's ``unpackb(raw=False)`` makes them (the engine's reader, through
numcodecs), and exactly as the core's ``rmpv`` path (``_core.decode_object_chunk``)
makes them, whatever widths the writer chose for numbers and lengths; bad bytes are a
CorruptChunkError naming the chunk.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from wfstore import _core
from wfstore._core import ObjectArray, Store
from wfstore.common.errors import CorruptChunkError

msgpack = pytest.importorskip("msgpack")


def strict(v: Any) -> Any:
    """A form of `v` in which values of different types never compare equal (1, 1.0,
    True; 0.0 and -0.0; list and tuple)."""
    if isinstance(v, float):
        return ("float", struct.pack("<d", v))
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, [strict(x) for x in v])
    if isinstance(v, dict):
        return ("dict", [(strict(k), strict(x)) for k, x in v.items()])
    return (type(v).__name__, v)


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.sampled_from([-(2**63), -(2**31) - 1, -129, -33, -32, 127, 128, 2**16, 2**32, 2**64 - 1])
    | st.floats()
    | st.text(max_size=40)
    | st.text(min_size=32, max_size=300)
    | st.binary(max_size=300)
)
values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=20)
    | st.dictionaries(st.text(max_size=6), children, max_size=20),
    max_leaves=40,
)

_HYP = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def write_raw_chunk(tmp: Path, chunk: bytes, n: int) -> ObjectArray:
    """An uncompressed one-chunk object array of `n` rows whose chunk is `chunk`."""
    store = Store.local(str(tmp))
    arr = ObjectArray.create(store, "a", chunk_size=n, compressor=None)
    arr.append([None] * n)
    (tmp / "a" / "0").write_bytes(chunk)
    return ObjectArray.open(store, "a")


def chunk_of(items: list[Any], **packer: Any) -> bytes:
    return msgpack.packb([*items, "|O", [len(items)]], use_bin_type=True, **packer)


@_HYP
@given(items=st.lists(values, min_size=1, max_size=6), single_float=st.booleans(),
       wanted=st.lists(st.integers(min_value=0, max_value=5), max_size=8))
def test_rows_decode_as_msgpack_python(
    tmp_path_factory: Any, items: list[Any], single_float: bool, wanted: list[int]
) -> None:
    try:
        chunk = chunk_of(items, use_single_float=single_float)
    except OverflowError:  # a float beyond float32's range
        assume(False)
        return
    arr = write_raw_chunk(tmp_path_factory.mktemp("a"), chunk, len(items))
    expected = msgpack.unpackb(chunk, raw=False, strict_map_key=False)[:-2]
    assert strict(arr.get_range()) == strict(expected)
    assert strict(_core.decode_object_chunk(chunk, None)) == strict(expected)
    idx = [i for i in wanted if i < len(items)]
    assert strict(arr.get(idx)) == strict([expected[i] for i in idx])
    # an ObjectChunk (rows kept as bytes, decoded when read) reads the same rows
    rows = _core.split_object_chunk(chunk, None, len(items), "a", "0")
    assert len(rows) == len(items)
    assert strict([rows[i] for i in idx]) == strict([expected[i] for i in idx])
    assert strict(rows[-1]) == strict(expected[-1])
    assert rows.nbytes >= len(chunk) - 8
    with pytest.raises(IndexError):
        rows[len(items)]
    with pytest.raises(CorruptChunkError, match=f"holds {len(items)} items"):
        _core.split_object_chunk(chunk, None, len(items) + 1, "a", "0")


def test_every_width_of_numbers_strings_and_containers(tmp_path: Path) -> None:
    # hand-made encodings: the widest forms for small values, which packers never
    # choose but other writers may
    items = [
        b"\xcc\x05",  # uint8 5
        b"\xcd\x00\x05",  # uint16 5
        b"\xce\x00\x00\x00\x05",  # uint32 5
        b"\xcf\x00\x00\x00\x00\x00\x00\x00\x05",  # uint64 5
        b"\xd0\xfb",  # int8 -5
        b"\xd1\xff\xfb",  # int16 -5
        b"\xd2\xff\xff\xff\xfb",  # int32 -5
        b"\xd3\xff\xff\xff\xff\xff\xff\xff\xfb",  # int64 -5
        b"\xd0\x05",  # int8 +5
        b"\xca" + struct.pack(">f", 1.5),  # float32
        b"\xd9\x02hi",  # str8
        b"\xda\x00\x02hi",  # str16
        b"\xdb\x00\x00\x00\x02hi",  # str32
        b"\xc4\x01\x00",  # bin8
        b"\xdc\x00\x01\x01",  # array16 [1]
        b"\xdd\x00\x00\x00\x01\x01",  # array32 [1]
        b"\xde\x00\x01\xa1k\x01",  # map16 {"k": 1}
        b"\xdf\x00\x00\x00\x01\xa1k\x01",  # map32 {"k": 1}
        b"\x81\x92\x01\x02\xa1v",  # {[1, 2]: "v"}: an array key becomes a tuple
    ]
    n = len(items)
    chunk = b"\xdc" + struct.pack(">H", n + 2) + b"".join(items) + b"\xa2|O\x91" + bytes([n])
    arr = write_raw_chunk(tmp_path, chunk, n)
    expected = [5, 5, 5, 5, -5, -5, -5, -5, 5, 1.5, "hi", "hi", "hi", b"\x00", [1], [1],
                {"k": 1}, {"k": 1}, {(1, 2): "v"}]
    assert strict(arr.get_range()) == strict(expected)
    assert strict(_core.decode_object_chunk(chunk, None)) == strict(expected)


@pytest.mark.parametrize(
    "item, why",
    [
        (b"\xa2\xff\xfe", "UTF-8"),  # a string that is not UTF-8
        (b"\xd4\x01\x00", "extension"),  # fixext1
        (b"\x92\xa1a\xc7\x01\x05\x00", "extension"),  # ext8 inside an array
    ],
)
def test_bad_rows_are_corrupt_chunks(tmp_path: Path, item: bytes, why: str) -> None:
    chunk = b"\x94\x01" + item + b"\xa2|O\x91\x02"
    arr = write_raw_chunk(tmp_path, chunk, 2)
    with pytest.raises(CorruptChunkError) as ei:
        arr.get_range()
    assert ei.value.key == "0" and why in str(ei.value)
    with pytest.raises(CorruptChunkError):
        arr.get([1])
    # the good row of the chunk still reads on its own
    assert arr.get([0]) == [1]
    # so with an ObjectChunk: the bad row is an error naming the chunk when read
    rows = _core.split_object_chunk(chunk, None, 2, "a", "a/0")
    assert rows[0] == 1
    with pytest.raises(CorruptChunkError) as ei:
        rows[1]
    assert ei.value.path == "a" and ei.value.key == "a/0" and why in str(ei.value)


def test_unhashable_map_key_is_a_type_error(tmp_path: Path) -> None:
    # {{}: 1}: a map as a map key cannot be a dict key in Python
    chunk = b"\x93\x81\x80\x01\xa2|O\x91\x01"
    arr = write_raw_chunk(tmp_path, chunk, 1)
    with pytest.raises(TypeError):
        arr.get_range()


def test_absent_chunks_read_as_the_fill_value(tmp_path: Path) -> None:
    store = Store.local(str(tmp_path))
    arr = ObjectArray.create(store, "a", chunk_size=2, write_empty_chunks=False)
    arr.append([0, 0, 0, {"x": [1, 2]}, 0])  # 0: the engine's fill value
    assert not (tmp_path / "a" / "0").exists()
    assert arr.get_range() == [0, 0, 0, {"x": [1, 2]}, 0]
    assert arr.get([4, 3, 0, 3]) == [0, {"x": [1, 2]}, 0, {"x": [1, 2]}]
