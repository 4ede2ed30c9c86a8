"""wfstore reads hpcflow 0.3.0 stores exactly as 0.3.0's own classes do.

Every fixture under ``tests/data/hpcflow-0.3.0`` (written by hpcflow 0.3.0 itself) is
opened through ``wfstore.open`` on a copy, and everything the 0.3.0 API returns must
equal the fixture's ``.expected.json`` (what 0.3.0's own classes read from it; no engine
is needed here). Then damaged and missing files, refused writes, missing IDs, and the
decode-once memo of run files, parameter files and chunks.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
import wfstore
from conftest import tree_digest
from store_dump import dump_store, normalise
from wfstore import _core
from wfstore.common.errors import (
    CorruptChunkError,
    CorruptFileError,
    MetadataError,
    MissingParameterData,
    MissingStoreEARError,
    MissingStoreElementError,
    MissingStoreElementIterationError,
    ReadOnlyStoreError,
    StoreError,
)
from wfstore.persistence.v03 import (
    V03JSONPersistentStore,
    V03PersistentStore,
    V03ZarrPersistentStore,
    V03ZarrZipPersistentStore,
)
from wfstore.persistence.v03 import zarr_store as v03_zarr
from wfstore.persistence.v03.items import (
    RNG_LOOKUP_KEY,
    V03StoreParameter,
    V03ZarrStoreParameter,
)

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "hpcflow-0.3.0"
A190_FIXTURES = FIXTURES.parent / "hpcflow-0.2.0a190"
NAMES = sorted(p.name[: -len(".expected.json")] for p in FIXTURES.glob("*.expected.json"))
CLASSES = {
    "zarr": V03ZarrPersistentStore,
    "zip": V03ZarrZipPersistentStore,
    "json": V03JSONPersistentStore,
}


def _source(name: str) -> Path:
    folder = FIXTURES / name
    return folder if folder.is_dir() else FIXTURES / f"{name}.zip"


def _expected(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.expected.json").read_text())


@pytest.fixture
def fixture_copy(copy_store, copy_file):
    """A writable copy of the 0.3.0 fixture `name` (folder or archive)."""

    def _copy(name: str) -> Path:
        src = _source(name)
        return copy_store(src) if src.is_dir() else copy_file(src)

    return _copy


def _digest(path: Path) -> Any:
    return tree_digest(path) if path.is_dir() else path.read_bytes()


def test_every_fixture_is_covered() -> None:
    """The fixtures of all three kinds are here (a missing folder fails)."""
    assert len(NAMES) >= 13
    kinds = {_expected(n)["kind"] for n in NAMES}
    assert kinds == {"zarr", "zip", "json"}


@pytest.mark.parametrize("name", NAMES)
def test_reads_fixture_as_hpcflow_03(name: str, fixture_copy) -> None:
    """``wfstore.open`` detects the kind and the generation, and the store returns
    through the 0.3.0 API exactly what 0.3.0's own classes read (the fixture's
    ``.expected.json``): plainly, then with the item caches on (twice); reading
    modifies nothing."""
    expected = _expected(name)
    kind = expected["kind"]
    path = fixture_copy(name)
    before = _digest(path)

    assert wfstore.detect_kind(path) == kind
    assert wfstore.detect_generation(path) == "0.3.0"
    store = wfstore.open(path)
    assert type(store) is CLASSES[kind]
    assert store.generation == "0.3.0"

    want = normalise(expected)
    assert normalise(dump_store(store, kind, generation="0.3.0")) == want
    with store.cached_load(), store.cache_ctx():
        assert normalise(dump_store(store, kind, generation="0.3.0")) == want
        assert normalise(dump_store(store, kind, generation="0.3.0")) == want
    assert not store.has_pending
    assert _digest(path) == before, "reading a store must not modify it"


def test_values_that_matter_are_read(fixture_copy) -> None:
    """Spot checks besides the whole comparison: masked NPZ outputs of runs of
    different shapes, a skip reason, an exit code, 0.3's run fields."""
    store = wfstore.open(fixture_copy("wk_array_outputs_zarr"))
    outputs = store.get_parameters(range(store._get_num_total_parameters()))
    masked = [p.data for p in outputs if p.source["type"] == "EAR_output"]
    assert [m.shape for m in masked] == [(3,), (5,), (4,), (2,)]
    assert all(isinstance(m, np.ma.MaskedArray) for m in masked)
    run = store.get_EARs([1])[0]
    assert (run.run_file_ID, run.run_file_idx, run.commands_file_ID) == (0, 1, 0)

    skipped = wfstore.open(fixture_copy("test_skipped_action_same_eleme0"))
    reasons = [skipped.get_EAR_skipped(i) for i in range(skipped._get_num_total_EARs())]
    assert 1 in reasons and all(type(r) is int for r in reasons)
    failed = wfstore.open(fixture_copy("test_action_exit_code_parsing_2"))
    assert failed.get_EARs([0])[0].exit_code == 98


def test_a190_stores_keep_their_generation(tmp_path: Path) -> None:
    """a190 stores (engine-written, and made by wfstore) are not taken for 0.3.0 ones."""
    for p in A190_FIXTURES.iterdir():
        if p.is_dir() or p.suffix == ".zip":
            assert wfstore.detect_generation(p) == "0.2.0a190", p
            assert not isinstance(wfstore.open(p), V03PersistentStore)
    for kind in ("zarr", "json"):
        made = wfstore.create(tmp_path / kind, kind=kind)
        assert wfstore.detect_generation(made.path) == "0.2.0a190"


# --- damaged and missing files ---------------------------------------------------------


def _output_param(store: V03PersistentStore) -> int:
    n = store._get_num_total_parameters()
    return next(i for i, s in enumerate(store.get_parameter_sources(range(n))) if "EAR_ID" in s)


@pytest.mark.parametrize(
    "content",
    [
        b"HPCFZ1" + b"\x00not a zstd frame",
        b"HPCFZ1" + _core.compress(b"\x92\x81", "zstd"),  # truncated msgpack inside
        b"\xc1\xc1",  # neither the header nor msgpack
        msgpack.packb({"a": 1}),  # msgpack, but not a list of maps
        msgpack.packb([{"a": 1}, 5]),  # a list, but not of maps only
    ],
)
def test_damaged_output_parameter_file_names_the_file(fixture_copy, content: bytes) -> None:
    path = fixture_copy("wk_seq_zarr")
    (path / "parameters/base_multi/0/0/1").write_bytes(content)
    store = wfstore.open(path)
    pid = _output_param(store)
    with pytest.raises(CorruptFileError, match="parameters/base_multi/0/0/1") as info:
        store.get_parameters([pid])
    assert isinstance(info.value, StoreError) and isinstance(info.value, CorruptChunkError)
    assert info.value.path == "parameters/base_multi/0/0/1"
    with pytest.raises(CorruptFileError):
        store.get_parameter_set_statuses([pid])
    # the other file still reads (parameter 0 is a non-output value, in file 0)
    assert store.get_parameters([0])[0].is_set


def test_damaged_non_output_parameter_file(fixture_copy) -> None:
    path = fixture_copy("wk_seq_zarr")
    data = (path / "parameters/base_multi/0/0/0").read_bytes()
    (path / "parameters/base_multi/0/0/0").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="parameters/base_multi/0/0/0"):
        wfstore.open(path).get_parameters([0])


@pytest.mark.parametrize(
    "content",
    [b"\x94\x01", msgpack.packb({"a": 1}), msgpack.packb([[1, 2], None, 5])],
)
def test_damaged_run_file_names_the_file(fixture_copy, content: bytes) -> None:
    path = fixture_copy("wk_seq_zarr")
    (path / "metadata/run_multi/0/0/0").write_bytes(content)
    with pytest.raises(CorruptFileError, match="metadata/run_multi/0/0/0"):
        wfstore.open(path).get_EARs([0])


def test_damaged_array_output_archive_names_the_file(fixture_copy) -> None:
    path = fixture_copy("wk_array_outputs_zarr")
    key = "parameters/array_outputs/p2/0/0.npz.zst"
    (path / key).write_bytes(_core.compress(b"not an npz archive", "zstd"))
    store = wfstore.open(path)
    with pytest.raises(CorruptFileError, match=r"p2/0/0\.npz\.zst"):
        store.get_parameters([_output_param(store)])


def test_damaged_sources_chunk_names_the_chunk(fixture_copy) -> None:
    path = fixture_copy("wk_seq_zarr")
    (path / "parameters/sources/0").write_bytes(b"garbage")
    with pytest.raises(CorruptChunkError) as info:
        wfstore.open(path).get_parameter_sources([0])
    assert info.value.key == "parameters/sources/0"


def test_damaged_json_file(fixture_copy) -> None:
    path = fixture_copy("wk_seq_json")
    (path / "runs.json").write_text("{not json")
    with pytest.raises(MetadataError, match=r"runs\.json"):
        wfstore.open(path).get_EARs([0])


def test_missing_files_read_as_not_set(fixture_copy) -> None:
    """As in 0.3.0: a run whose run file is gone has skip 0 and nothing else; an output
    whose parameter file is gone is not set."""
    path = fixture_copy("wk_seq_zarr")
    os.remove(path / "metadata/run_multi/0/0/0")
    os.remove(path / "parameters/base_multi/0/0/1")
    store = wfstore.open(path)
    run = store.get_EARs([0])[0]
    assert (run.skip, run.start_time, run.exit_code, run.success) == (0, None, None, None)
    assert run.run_file_ID == 0  # still assigned (run_sub_dat)
    pid = _output_param(store)
    assert not store.get_parameters([pid])[0].is_set
    assert store.get_parameter_set_statuses([pid]) == [False]


def test_missing_ids_raise(fixture_copy) -> None:
    store = wfstore.open(fixture_copy("wk_seq_zarr"))
    for call, error, n in (
        (store.get_EARs, MissingStoreEARError, store._get_num_total_EARs()),
        (store.get_elements, MissingStoreElementError, store._get_num_total_elements()),
        (
            store.get_element_iterations,
            MissingStoreElementIterationError,
            store._get_num_total_elem_iters(),
        ),
        (store.get_parameters, MissingParameterData, store._get_num_total_parameters()),
    ):
        with pytest.raises(error) as info:
            call([0, n])
        assert info.value.id_lst == [n]


@pytest.mark.parametrize("name", ["wk_seq_zarr_zip"])
def test_writes_are_refused(name: str, fixture_copy) -> None:
    """A zip archive is read-only (Zarr and JSON folders build:
    tests/persistence/test_v03_build.py)."""
    path = fixture_copy(name)
    before = _digest(path)
    store = wfstore.open(path)
    refused = [
        lambda: store.add_task(0, {}, 1),
        lambda: store.add_elements(0, 0, [], []),
        lambda: store.update_at_submit_metadata(0, {"x": [0]}),
    ]
    if name.endswith("_zip"):  # folders take execution-time writes (test_v03_write)
        refused += [
            lambda: store.set_EAR_start(0, None, None),
            lambda: store.set_parameter_values({0: 1}),
        ]
    for call in refused:
        with pytest.raises(ReadOnlyStoreError, match=r"does not write them yet|read-only"):
            call()
    assert _digest(path) == before


# --- decoded once, until the file changes ----------------------------------------------


def test_each_file_and_chunk_is_decoded_once(fixture_copy, monkeypatch) -> None:
    """Reading parameters and runs one ID per call (as the engine reads one element at
    a time) decodes each parameter file, run file and chunk once, not once per call."""
    decoded: Counter[str] = Counter()

    def counting(decode: Any) -> Any:
        def wrapper(raw: bytes, key: str) -> Any:
            decoded[key] += 1
            return decode(raw, key)

        return wrapper

    monkeypatch.setattr(v03_zarr, "decode_param_file", counting(v03_zarr.decode_param_file))
    monkeypatch.setattr(v03_zarr, "decode_run_file", counting(v03_zarr.decode_run_file))
    chunk_decoder = v03_zarr._chunk_decoder
    monkeypatch.setattr(v03_zarr, "_chunk_decoder", lambda *a: counting(chunk_decoder(*a)))
    store = wfstore.open(fixture_copy("wk_seq_zarr"))
    n_params, n_runs = store._get_num_total_parameters(), store._get_num_total_EARs()
    for _ in range(2):
        for i in range(n_params):
            store.get_parameters([i])
            store.get_parameter_sources([i])
        for i in range(n_runs):
            store.get_EARs([i])
    assert n_params > 5 and n_runs == 4
    assert decoded["parameters/base_multi/0/0/0"] == 1
    assert decoded["parameters/base_multi/0/0/1"] == 1
    assert decoded["metadata/run_multi/0/0/0"] == 1
    assert decoded["parameters/sources/0"] == 1
    assert decoded["metadata/run_metadata/0"] == 1
    assert max(decoded.values()) == 1


def test_a_changed_file_is_read_again(fixture_copy) -> None:
    """A run file replaced on disk (as 0.3.0's jobs replace theirs) is read anew."""
    path = fixture_copy("wk_seq_zarr")
    store = wfstore.open(path)
    assert store.get_EARs([0])[0].exit_code == 0
    run_file = path / "metadata/run_multi/0/0/0"
    entries = msgpack.unpackb(run_file.read_bytes())
    entries[0][6] = 3  # the exit code
    tmp = run_file.with_name("0.partial")
    tmp.write_bytes(msgpack.packb(entries))
    os.replace(tmp, run_file)
    assert store.get_EARs([0])[0].exit_code == 3


@pytest.mark.parametrize("name", ["wk_seq_zarr", "wk_seq_zarr_zip", "wk_seq_json"])
def test_nested_cache_blocks_keep_items_until_the_outermost_ends(name: str, fixture_copy) -> None:
    """As 0.3.0's ``cache_ctx``: a block opened inside another (the engine opens them
    inside ``cached_load``, which keeps items too) leaves the items kept when it ends,
    and only the outermost block's end drops them. (Ended by the first inner block,
    the engine's ``add_submission`` decoded each element iteration five times.)"""
    store = wfstore.open(fixture_copy(name))
    with store.cached_load():
        with store.cache_ctx():
            (run,) = store.get_EARs([0])
            (it,) = store.get_element_iterations([0])
        assert store.use_cache
        assert store.get_EARs([0])[0] is run  # from the item cache, not decoded again
        with store.cache_ctx(), store.cached_load():
            assert store.get_element_iterations([0])[0] is it
        assert store.get_element_iterations([0])[0] is it
    assert not store.use_cache and len(store.EAR_cache) == 0
    assert store.get_EARs([0])[0] is not run


@pytest.mark.parametrize("at", [[], ["rng"]])
def test_numpy_generators_are_decoded(at: list[str]) -> None:
    """A numpy random generator is stored as its bit generator's state (big integers
    as strings) and comes back as a generator in that state."""
    rng = np.random.default_rng(7)
    state = rng.bit_generator.state
    state["state"] = {k: str(v) for k, v in state["state"].items()}
    data: Any = {"rng": state, "x": (1, 2)} if at else state
    encoded = {"data": data, "type_lookup": {RNG_LOOKUP_KEY: [at]}}
    for cls in (V03StoreParameter, V03ZarrStoreParameter):
        value = cls.decode(3, encoded, {"type": "local_input"}).data
        got = value["rng"] if at else value
        assert isinstance(got, np.random.Generator)
        assert got.integers(10**9) == np.random.default_rng(7).integers(10**9)
    assert encoded["data"] is data and isinstance(data, dict), "the stored value is untouched"


@pytest.mark.parametrize("name", ["wk_seq_zarr", "wk_seq_json", "wk_array_outputs_zarr"])
def test_reads_on_another_file_system(name: str, mem: tuple[Any, str]) -> None:
    """On a file system other than the local one (fsspec's memory file system here),
    where files are decoded anew on every read, the store reads the same."""
    fs, root = mem
    src = _source(name)
    for p in src.rglob("*"):
        if p.is_file():
            fs.pipe_file(f"{root}/{name}/{p.relative_to(src).as_posix()}", p.read_bytes())
    store = wfstore.open(f"{root}/{name}", fs)
    assert isinstance(store, V03PersistentStore)
    expected = _expected(name)
    got = dump_store(store, expected["kind"], generation="0.3.0")
    assert normalise(got) == normalise(expected)


def test_short_chunk_is_corrupt(fixture_copy) -> None:
    """A chunk holding fewer rows than the array's chunk size is damage, named."""
    path = fixture_copy("wk_seq_zarr")
    chunk = _core.encode_object_chunk([{"type": "local_input"}], "blosc")
    (path / "parameters/sources/0").write_bytes(chunk)
    with pytest.raises(CorruptChunkError, match="holds 1 items, expected 100000") as info:
        wfstore.open(path).get_parameter_sources([0])
    assert info.value.key == "parameters/sources/0"


def test_damaged_row_is_corrupt_when_read(fixture_copy) -> None:
    """Object chunks are kept undecoded and each row decoded when read: a row whose
    bytes are damaged (here a string that is not UTF-8, the chunk's structure intact)
    raises CorruptChunkError naming the chunk when it is read, and the chunk's other
    rows still read."""
    path = fixture_copy("wk_seq_zarr")
    chunk_path = path / "parameters/sources/0"
    comp = json.loads((path / "parameters/sources/.zarray").read_text())["compressor"]
    (good,) = wfstore.open(path).get_parameter_sources([1])
    rows = _core.decode_object_chunk(chunk_path.read_bytes(), comp)
    rows[0] = "\u00e9" * 3
    plain = bytearray(_core.decompress(_core.encode_object_chunk(rows, comp), comp))
    plain[plain.index("\u00e9".encode())] = 0xFF  # not UTF-8; the string's length kept
    chunk_path.write_bytes(_core.compress(bytes(plain), comp))
    store = wfstore.open(path)
    assert store.get_parameter_sources([1]) == [good]
    with pytest.raises(CorruptChunkError, match="row 0") as info:
        store.get_parameter_sources([0])
    assert info.value.key == "parameters/sources/0"
