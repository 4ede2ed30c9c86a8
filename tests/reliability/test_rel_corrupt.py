"""Corrupt data read through the store API (issue 6, point 4): truncated, emptied,
replaced and bit-flipped chunks, broken ``.zarray``/``.zattrs`` JSON, wrong dtypes and
hostile sizes in ``.zarray``. Each gives a :class:`wfstore.StoreError` naming the array
path (and the chunk key for chunks); other rows still read; rechunk reports every bad
chunk and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from rel_helpers import make_store, open_store, tree_digest
from wfstore import _core
from wfstore.common.errors import (
    CorruptChunkError,
    MetadataError,
    RechunkError,
    StoreError,
)

CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda b: b[: len(b) // 2],
    "empty": lambda b: b"",
    "garbage": lambda b: b"\x00not a chunk at all" * 3,
    "blosc-size-flip": lambda b: b[:12] + bytes([b[12] ^ 0x40]) + b[13:],
    "extended": lambda b: b + b"\x01\x02\x03",
}


def _check_corrupt(err: CorruptChunkError, arr_path: str, key: str) -> None:
    assert err.path is not None and err.path.endswith(arr_path), err.path
    assert err.key == key
    assert arr_path in str(err) and key in str(err)


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_run_chunk(wk: Path, kind: str) -> None:
    before = open_store(wk).get_EARs(range(5))
    chunk = wk / "metadata/runs/2"
    chunk.write_bytes(CORRUPTIONS[kind](chunk.read_bytes()))
    store = open_store(wk)
    with pytest.raises(CorruptChunkError) as info:
        store.get_EARs([2])
    _check_corrupt(info.value, "metadata/runs", "2")
    # every other run still reads, unchanged
    assert store.get_EARs([0, 1, 3, 4]) == [before[i] for i in (0, 1, 3, 4)]
    assert open_store(wk).get_EAR_skipped(3) is True


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_parameter_chunk(wk: Path, kind: str) -> None:
    before = open_store(wk).get_parameters(range(6))
    chunk = wk / "parameters/base/1"
    chunk.write_bytes(CORRUPTIONS[kind](chunk.read_bytes()))
    store = open_store(wk)
    with pytest.raises(CorruptChunkError) as info:
        store.get_parameters([1])
    _check_corrupt(info.value, "parameters/base", "1")
    assert store.get_parameters([0, 2, 3, 4, 5]) == [before[i] for i in (0, 2, 3, 4, 5)]


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_multi_row_run_chunk(tmp_path: Path, kind: str) -> None:
    """wfstore's default layout (several runs per chunk): a damaged chunk fails every
    read and update of its runs with the chunk named, changes nothing, and the runs
    of other chunks still read and update."""
    wk = tmp_path / "wk"
    make_store(wk, run_chunk_size=2, param_chunk_size=2)
    before = open_store(wk).get_EARs(range(5))
    chunk = wk / "metadata/runs/1"  # runs 2 and 3
    chunk.write_bytes(CORRUPTIONS[kind](chunk.read_bytes()))
    damaged = tree_digest(wk)
    store = open_store(wk)
    for run in (2, 3):
        with pytest.raises(CorruptChunkError) as info:
            store.get_EARs([run])
        _check_corrupt(info.value, "metadata/runs", "1")
        with pytest.raises(CorruptChunkError) as info:
            open_store(wk).set_EAR_submission_index(run, 7)
        _check_corrupt(info.value, "metadata/runs", "1")
    assert tree_digest(wk) == damaged
    assert store.get_EARs([0, 1, 4]) == [before[i] for i in (0, 1, 4)]
    open_store(wk).set_EAR_submission_index(4, 7)
    assert open_store(wk).get_EARs([4])[0].submission_idx == 7


def test_corrupt_shared_chunks_leave_other_arrays_readable(wk: Path) -> None:
    store = open_store(wk)
    runs = store.get_EARs(range(5))
    params = store.get_parameters(range(6))
    for rel in ("metadata/elements/0", "metadata/iters/0", "metadata/tasks/1"):
        p = wk / rel
        p.write_bytes(p.read_bytes()[:-3])
    store = open_store(wk)
    with pytest.raises(CorruptChunkError) as info:
        store.get_elements([0])
    _check_corrupt(info.value, "metadata/elements", "0")
    with pytest.raises(CorruptChunkError) as info:
        store.get_element_iterations([1])
    _check_corrupt(info.value, "metadata/iters", "0")
    with pytest.raises(CorruptChunkError) as info:
        store.get_tasks()
    _check_corrupt(info.value, "metadata/tasks", "1")
    assert store.get_EARs(range(5)) == runs
    assert store.get_parameters(range(6)) == params


def test_valid_msgpack_that_is_not_a_row(wk: Path) -> None:
    """A chunk that decodes but holds something else than a run row (damage that keeps
    msgpack valid, or foreign data) is a CorruptChunkError naming chunk and row too."""
    comp = json.loads((wk / "metadata/runs/.zarray").read_text())["compressor"]
    for row in ("a string", [1, 2], {"k": 1}, None):
        (wk / "metadata/runs/4").write_bytes(_core.encode_object_chunk([row], comp))
        with pytest.raises(CorruptChunkError) as info:
            open_store(wk).get_EARs([4])
        _check_corrupt(info.value, "metadata/runs", "4")
        assert "row 4" in str(info.value)
    (wk / "parameters/base/2").write_bytes(
        _core.encode_object_chunk([{"data": [1], "type_lookup": {"tuples": [[5, 6]]}}], comp)
    )
    with pytest.raises(CorruptChunkError) as info:
        open_store(wk).get_parameters([2])
    _check_corrupt(info.value, "parameters/base", "2")


def test_every_single_bit_flip_of_a_run_chunk(wk: Path) -> None:
    """Flip each bit of a stored run chunk in turn: a read either fails with a
    CorruptChunkError naming the chunk or returns a run (Blosc/msgpack chunks carry no
    checksum, so a flip inside a string's bytes can go unnoticed) - never any other
    exception."""
    chunk = wk / "metadata/runs/1"
    good = chunk.read_bytes()
    detected = 0
    for bit in range(len(good) * 8):
        flipped = bytearray(good)
        flipped[bit // 8] ^= 1 << (bit % 8)
        chunk.write_bytes(bytes(flipped))
        try:
            open_store(wk).get_EARs([1])
        except CorruptChunkError as err:
            _check_corrupt(err, "metadata/runs", "1")
            detected += 1
    # most flips land in headers, lengths and type tags and are caught
    assert detected > len(good) * 8 // 4, (detected, len(good) * 8)


def test_corrupt_numeric_parameter_array(tmp_path: Path) -> None:
    wk = tmp_path / "wk"
    store = make_store(wk)
    pid = store.add_set_parameter({"a": np.arange(12.0).reshape(3, 4)}, {"type": "x"})
    chunk = wk / f"parameters/arrays/param_{pid}/arr_0/0.0"
    chunk.write_bytes(chunk.read_bytes()[:-5])
    store = open_store(wk)
    with pytest.raises(CorruptChunkError) as info:
        store.get_parameters([pid])
    _check_corrupt(info.value, f"parameters/arrays/param_{pid}/arr_0", "0.0")
    assert store.get_parameters([0])[0].data == {"any": {}}


@pytest.mark.parametrize("dtype", ["<i2", "<c16", "|b1", "<U4", "|O"])
def test_wrong_dtype_of_a_numeric_parameter_array(tmp_path: Path, dtype: str) -> None:
    wk = tmp_path / "wk"
    store = make_store(wk)
    pid = store.add_set_parameter(np.arange(12.0).reshape(3, 4), {"type": "x"})
    meta_path = wk / f"parameters/arrays/param_{pid}/arr_0/.zarray"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "dtype": dtype}))
    store = open_store(wk)
    with pytest.raises(StoreError) as info:
        store.get_parameters([pid])
    assert f"parameters/arrays/param_{pid}/arr_0" in str(info.value)
    if isinstance(info.value, CorruptChunkError):
        assert info.value.key == "0.0"
    assert store.get_parameters([0])[0].data == {"any": {}}


BAD_ZARRAY: dict[str, Callable[[dict], bytes]] = {
    "not-json": lambda m: b'{"zarr_format": 2, "shape": [5',
    "not-an-object": lambda m: b"[1, 2, 3]",
    "wrong-dtype": lambda m: json.dumps({**m, "dtype": "<f8"}).encode(),
    "no-shape": lambda m: json.dumps({k: v for k, v in m.items() if k != "shape"}).encode(),
    "negative-shape": lambda m: json.dumps({**m, "shape": [-1]}).encode(),
    "zero-chunk": lambda m: json.dumps({**m, "chunks": [0]}).encode(),
    "huge-chunk": lambda m: json.dumps({**m, "chunks": [2**40]}).encode(),
    "unknown-codec": lambda m: json.dumps({**m, "filters": [{"id": "pickle"}]}).encode(),
    "unknown-compressor": lambda m: json.dumps({**m, "compressor": {"id": "lzma"}}).encode(),
    "zarr-v3": lambda m: json.dumps({**m, "zarr_format": 3}).encode(),
}


@pytest.mark.parametrize("kind", sorted(BAD_ZARRAY))
def test_broken_zarray(wk: Path, kind: str) -> None:
    params = open_store(wk).get_parameters(range(6))
    meta_path = wk / "metadata/runs/.zarray"
    meta_path.write_bytes(BAD_ZARRAY[kind](json.loads(meta_path.read_text())))
    store = open_store(wk)
    with pytest.raises(StoreError) as info:
        store.get_EARs([0])
    assert "metadata/runs" in str(info.value), info.value
    assert store.get_parameters(range(6)) == params
    assert store.get_elements([0])[0].id_ == 0


def test_broken_zattrs(wk: Path) -> None:
    params = open_store(wk).get_parameters(range(6))
    (wk / "metadata/runs/.zattrs").write_bytes(b'{"parameter_paths": [')
    store = open_store(wk)
    with pytest.raises(MetadataError) as info:
        store.get_EARs([0])
    assert "metadata/runs" in str(info.value) and ".zattrs" in str(info.value)
    assert store.get_parameters(range(6)) == params
    # the root attributes: every getter that needs them fails with a MetadataError
    (wk / ".zattrs").write_bytes(b"\xff\xfe not json")
    with pytest.raises(MetadataError, match=r"\.zattrs"):
        open_store(wk).get_tasks()


def test_hostile_numeric_zarray_is_an_error_not_a_crash(tmp_path: Path) -> None:
    """Sizes that would make a reader allocate without bound are refused."""
    store = _core.Store.local(tmp_path / "s")
    _core.NumericArray.create(store, "a", np.arange(4.0))
    meta = json.loads((tmp_path / "s/a/.zarray").read_text())
    for shape, chunks in (([2**40, 2**40], [2**20, 2**20]), ([2**62, 8], [1, 8])):
        (tmp_path / "s/a/.zarray").write_text(
            json.dumps({**meta, "shape": shape, "chunks": chunks})
        )
        with pytest.raises(StoreError):
            _core.NumericArray.open(store, "a").read()


def test_rechunk_reports_bad_chunks_and_changes_nothing(wk: Path) -> None:
    for key in ("1", "3"):
        p = wk / "metadata/runs" / key
        p.write_bytes(p.read_bytes()[:5])
    before = tree_digest(wk)
    with pytest.raises(RechunkError) as info:
        open_store(wk).rechunk_runs(backup=True, status=False)
    assert [k for k, _ in info.value.bad_chunks] == ["1", "3"]
    assert "metadata/runs" in str(info.value)
    assert tree_digest(wk) == before
    assert open_store(wk).get_EARs([0, 2, 4])[1].id_ == 2
