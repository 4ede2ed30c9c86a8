"""Writing Zarr stores with wfstore: layout, round trips, numpy values, rechunk, zip,
unzip and path operations. zarr-python 2.17.2 is used as an oracle of the layout."""

from __future__ import annotations

import enum
import json
import os
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest
import zarr
from backends import Backend
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem
from store_dump import dump_store, empty_workflow_kwargs, normalise, run_scenario
from wfstore.common import names
from wfstore.common.errors import (
    InvalidArgumentError,
    ParameterEncodeError,
    ReadOnlyStoreError,
    RechunkError,
    StoreIOError,
    StorePathError,
    UnsupportedStoreOperationError,
)
from wfstore.persistence import (
    JSONPersistentStore,
    ZarrPersistentStore,
    ZarrZipPersistentStore,
)
from wfstore.persistence.readcache import without_group_marker
from wfstore.persistence.zarr import (
    DEFAULT_PARAM_CHUNK_SIZE,
    DEFAULT_RUN_CHUNK_SIZE,
    guess_chunks,
)
from wfstore.persistence.zarr import rechunk as rechunk_mod
from wfstore.persistence.zarr.transactions import store_lock_at
from wfstore.storage import lock as lock_mod


class Colour(enum.Enum):
    """An enum parameter value."""

    RED = "red"


def _new(backend: Backend, name: str = "wk", **kwargs: Any) -> ZarrPersistentStore:
    path = backend.path(name)
    ZarrPersistentStore.write_empty_workflow(
        None, **empty_workflow_kwargs(path, backend.fs), **kwargs
    )
    store = ZarrPersistentStore(None, None, path, backend.fs)
    store.run_dir_snapshot = lambda: {"data": {}}
    return store


def _scenario_store(backend: Backend, name: str = "wk", **kwargs: Any) -> ZarrPersistentStore:
    store = _new(backend, name, **kwargs)
    run_scenario(store, Colour.RED)
    assert not store.has_pending
    return store


def _dump(path: Path | str, cls: type = ZarrPersistentStore, fs: Any = None) -> Any:
    return normalise(dump_store(cls(None, None, path, fs), "zarr"))


# --- layout ----------------------------------------------------------------------------


BLOSC = {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0}


@pytest.mark.parametrize(
    ("compressor", "kwargs", "want"),
    [
        ("blosc", None, BLOSC),
        ("Blosc", {"cname": "zstd", "clevel": 3}, {**BLOSC, "cname": "zstd", "clevel": 3}),
        ("zstd", None, {"id": "zstd", "level": 1}),
        ("zstd", {"level": 5}, {"id": "zstd", "level": 5}),
        (None, None, None),
    ],
)
def test_empty_layout(backend: Backend, compressor: Any, kwargs: Any, want: Any) -> None:
    path = backend.path("wk")
    _new(backend, compressor=compressor, compressor_kwargs=kwargs)
    root = backend.zarr_group(path)
    attrs = root.attrs.asdict()
    assert attrs["name"] == "wk_rt" and attrs["num_added_tasks"] == 0
    for key in ("tasks", "loops", "submissions"):
        assert attrs[key] == []
    assert "replaced_workflow" not in attrs
    expected = {
        "metadata/tasks": (1, {}, [{"id": "vlen-array", "dtype": "<i8"}], 0),
        "metadata/elements": (1000, {"seq_idx": [], "src_idx": []}, None, 0),
        "metadata/iters": (
            1000,
            {"loops": [], "schema_parameters": [], "parameter_paths": []},
            None,
            0,
        ),
        "metadata/runs": (DEFAULT_RUN_CHUNK_SIZE, {"parameter_paths": []}, None, 0),
        "parameters/base": (DEFAULT_PARAM_CHUNK_SIZE, {}, None, 0),
        "parameters/sources": (1000, {}, None, 0),
    }
    for arr_path, (chunks, arr_attrs, filters, fill) in expected.items():
        meta = backend.read_json(path, arr_path, ".zarray")
        assert meta["chunks"] == [chunks], arr_path
        assert meta["shape"] == [0]
        assert meta["dtype"] == "|O"
        assert meta["compressor"] == want, arr_path
        assert meta["fill_value"] == fill
        if filters:
            assert meta["filters"] == filters
        else:
            assert meta["filters"][0]["id"] == "msgpack2"
        assert root[arr_path].attrs.asdict() == arr_attrs
    assert isinstance(root["parameters/arrays"], zarr.Group)


@pytest.mark.parametrize("sizes", [(1, 1), (7, 3)])
def test_chunk_sizes_of_runs_and_parameters(backend: Backend, sizes: tuple[int, int]) -> None:
    """``run_chunk_size=1, param_chunk_size=1`` is the engine's own layout; any sizes
    hold the same data."""
    runs_cs, base_cs = sizes
    path = backend.path("wk")
    _scenario_store(backend, run_chunk_size=runs_cs, param_chunk_size=base_cs)
    assert backend.read_json(path, "metadata/runs", ".zarray")["chunks"] == [runs_cs]
    assert backend.read_json(path, "parameters/base", ".zarray")["chunks"] == [base_cs]
    other = backend.path("wk-default")
    _scenario_store(backend, "wk-default")

    def timeless(dump: dict) -> dict:
        for run in dump["runs"]:
            run["start_time"] = run["start_time"] is not None
            run["end_time"] = run["end_time"] is not None
        return dump

    assert timeless(_dump(path, fs=backend.fs)) == timeless(_dump(other, fs=backend.fs))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10"])
def test_bad_chunk_sizes_are_refused(tmp_path: Path, bad: Any) -> None:
    kw = empty_workflow_kwargs(str(tmp_path / "wk"), LocalFileSystem())
    for name in ("run_chunk_size", "param_chunk_size"):
        with pytest.raises(InvalidArgumentError, match=name):
            ZarrPersistentStore.write_empty_workflow(None, **kw, **{name: bad})
    assert not (tmp_path / "wk").exists()


def test_empty_layout_replaced_and_bad_compressor(backend: Backend) -> None:
    kw = empty_workflow_kwargs(backend.path("wk"), backend.fs)
    ZarrPersistentStore.write_empty_workflow(None, **{**kw, "replaced_wk": "/old"})
    assert backend.zarr_group(kw["wk_path"]).attrs["replaced_workflow"] == "/old"
    before = backend.read_bytes(backend.path("wk/.zattrs"))
    with pytest.raises(StorePathError):  # a store is there already
        ZarrPersistentStore.write_empty_workflow(None, **kw)
    assert backend.read_bytes(backend.path("wk/.zattrs")) == before
    with pytest.raises(StorePathError, match="compressor"):
        ZarrPersistentStore.write_empty_workflow(
            None, **{**kw, "wk_path": backend.path("x")}, compressor="lzma"
        )
    assert not backend.exists(backend.path("x"))


def test_missing_store_is_named(backend: Backend) -> None:
    path = backend.path("nothing_here")
    with pytest.raises(StorePathError, match="nothing_here"):
        ZarrPersistentStore(None, None, path, backend.fs).get_name()
    archive = backend.path("nothing.zip")
    with pytest.raises(StoreIOError, match=r"nothing\.zip"):
        ZarrZipPersistentStore(None, None, archive, backend.fs).get_name()
    assert not backend.exists(path) and not backend.exists(archive)


# --- round trips -------------------------------------------------------------------


@pytest.mark.parametrize("compressor", ["blosc", "zstd", None])
def test_scenario_round_trip(backend: Backend, compressor: Any) -> None:
    store = _scenario_store(backend, compressor=compressor)
    written = normalise(dump_store(store, "zarr"))
    assert _dump(store.path, fs=backend.fs) == written
    assert written["counts"] == {"elements": 3, "iters": 4, "runs": 5, "params": 6}
    params = {p["id_"]: p for p in written["parameters"]}
    assert params[3]["data"] == {"__set__": [1, 2, 3]}
    assert params[4]["data"] == "red"
    assert params[5]["data"] == {"__tuple__": ["done", [1, 2]]}
    assert [t["id_"] for t in written["tasks"]] == [1, 0]
    assert written["tasks"][1]["element_IDs"] == [0, 2]
    assert written["loops"]["0"] == {
        "num_added_iterations": [[[0], 2]],
        "iterable_parameters": {"p1": {"input_task": 0, "output_tasks": [0]}},
        "parents": ["outer"],
    }
    assert written["runs_skipped"] == [False, False, False, True, False]
    assert written["runs"][0]["success"] is True
    assert written["runs"][2]["exit_code"] == 1
    assert written["submissions"]["0"]["jobscripts"][0]["process_ID"] == 42
    assert written["template_components"]["parameters"] == {
        "h0": {"type": "p1"},
        "h1": {"type": "p2"},
    }

    # zarr-python reads the same rows:
    root = backend.zarr_group(store.path)
    assert len(root["metadata/runs"]) == 5
    assert root["metadata/tasks"][1].tolist() == [1]
    assert root["parameters/base"][5]["data"] == ["done", [1, 2]]
    assert root["parameters/sources"][5] == {"EAR_ID": 0, "type": "EAR_output"}
    assert root.attrs["tasks"] == [
        {"id_": 1, "element_IDs_idx": 1},
        {"id_": 0, "element_IDs_idx": 0},
    ]


def test_attributes_written_compact(backend: Backend) -> None:
    """Attribute documents are compact JSON with sorted keys (the root one holds the
    template and submissions, read by every job process: indented, as zarr writes
    it, it is several times larger); zarr-python reads them as written. Array
    metadata stays as zarr writes it."""
    store = _new(backend)
    run_scenario(store, Colour.RED)
    root_doc = backend.read_bytes(backend.path("wk", ".zattrs"))
    attrs = json.loads(root_doc)
    assert attrs["name"] == "wk_rt" and attrs["submissions"]
    assert root_doc == json.dumps(
        attrs, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    ).encode()
    assert backend.zarr_group(store.path).attrs.asdict() == attrs
    runs_attrs = backend.read_bytes(backend.path("wk", "metadata/runs/.zattrs"))
    assert b"\n" not in runs_attrs and json.loads(runs_attrs)["parameter_paths"]
    runs_meta = backend.read_text(backend.path("wk", "metadata/runs/.zarray"))
    assert runs_meta.startswith('{\n    "')


def test_pending_merged_before_commit(backend: Backend) -> None:
    store = _scenario_store(backend, param_chunk_size=1)
    fs = backend.fs
    p = store.add_unset_parameter({"type": "EAR_output"}, save=False)
    e = store.add_element(0, 0, {}, {}, save=False)
    assert store.get_parameter_set_statuses([p]) == [False]
    assert store.get_tasks_by_IDs([0])[0].element_IDs == [0, 2, e]
    assert _dump(store.path, fs=fs)["counts"]["params"] == 6
    store.save()
    assert _dump(store.path, fs=fs)["counts"] == {
        "elements": 4,
        "iters": 4,
        "runs": 5,
        "params": 7,
    }
    # an unset parameter is the fill value: no chunk is written for it
    assert not backend.exists(f"{store.path}/parameters/base/{p}")
    store.set_parameter_value(p, [1, 2])
    assert backend.isfile(f"{store.path}/parameters/base/{p}")
    assert ZarrPersistentStore(None, None, store.path, fs).get_parameters([p])[0].data == [1, 2]


def test_batch_update(backend: Backend) -> None:
    store = _new(backend)
    fs = backend.fs
    with store.batch_update():
        store.add_set_parameter(1, {"type": "a"})
        store.add_set_parameter(2, {"type": "a"})
        assert _dump(store.path, fs=fs)["counts"]["params"] == 0
    assert _dump(store.path, fs=fs)["counts"]["params"] == 2
    with pytest.raises(RuntimeError), store.batch_update():
        store.add_set_parameter(3, {"type": "a"})
        raise RuntimeError("boom")
    assert not store.has_pending
    assert _dump(store.path, fs=fs)["counts"]["params"] == 2


def test_numpy_parameters(backend: Backend) -> None:
    store = _new(backend)
    big = np.arange(200_000, dtype="<f8").reshape(400, 500)
    masked = np.ma.MaskedArray([1.5, 2.5, 3.5], mask=[False, True, False])
    value = {
        "a": np.arange(6, dtype="<i4").reshape(2, 3),
        "t": (np.array([True, False]), "x"),
        "m": masked,
        "big": big,
        "plain": [1, {"b": np.float32(2.5)}],
    }
    p0 = store.add_set_parameter(value, {"type": "local_input"})
    p1 = store.add_unset_parameter({"type": "EAR_output"})
    p2 = store.add_set_parameter(np.ma.MaskedArray([[1, 2]], mask=[[True, False]]), {})
    store.set_parameter_value(p1, np.eye(3))

    fresh = ZarrPersistentStore(None, None, store.path, backend.fs)
    got0, got1, got2 = (p.data for p in fresh.get_parameters([p0, p1, p2]))
    assert got0["a"].dtype == np.dtype("<i4")
    np.testing.assert_array_equal(got0["a"], value["a"])
    assert isinstance(got0["t"], tuple) and got0["t"][1] == "x"
    np.testing.assert_array_equal(got0["t"][0], [True, False])
    assert isinstance(got0["m"], np.ma.MaskedArray)
    assert got0["m"].mask.tolist() == [False, True, False]
    np.testing.assert_array_equal(got0["m"].data, masked.data)
    np.testing.assert_array_equal(got0["big"], big)
    assert got0["plain"] == [1, {"b": 2.5}]
    np.testing.assert_array_equal(got1, np.eye(3))
    assert got2.mask.tolist() == [[True, False]]

    # the engine's layout, read by zarr-python:
    root = backend.zarr_group(store.path)
    base = root["parameters/base"][p0]
    lookup = base["type_lookup"]
    assert lookup["tuples"] == [["t"]]
    assert [p for p, _ in lookup["arrays"]] == [["a"], ["t", 0], ["m"], ["m"], ["big"]]
    assert lookup["masked_arrays"] == [[["m"], [2, 3]]]
    assert base["data"]["a"] == 0 and base["data"]["m"] is None
    grp = root[f"parameters/arrays/param_{p0}"]
    assert sorted(grp.array_keys()) == ["arr_0", "arr_1", "arr_2", "arr_3", "arr_4"]
    np.testing.assert_array_equal(grp["arr_4"][:], big)
    assert list(grp["arr_4"].chunks) == guess_chunks(big.shape, 8) == [200, 250]
    meta = backend.read_json(store.path, "parameters/arrays/param_0/arr_1/.zarray")
    assert meta["fill_value"] is False and meta["compressor"] == BLOSC
    assert root[f"parameters/arrays/param_{p1}/arr_0"][:].tolist() == np.eye(3).tolist()


def test_guess_chunks_matches_zarr() -> None:
    from zarr.util import guess_chunks as zarr_guess

    for shape, size in [
        ((2, 3), 8),
        ((5,), 8),
        ((400, 500), 8),
        ((10_000_000,), 4),
        ((3, 4000, 5000), 2),
        ((0, 7), 8),
        ((1,), 1),
    ]:
        assert tuple(guess_chunks(shape, size)) == zarr_guess(shape, size), shape


def test_unencodable_value_named(backend: Backend) -> None:
    store = _new(backend)
    with pytest.raises(ParameterEncodeError) as info:
        store.add_set_parameter({"x": object()}, {"type": "a"})
    assert "object" in str(info.value)
    with pytest.raises(ParameterEncodeError):
        store.add_set_parameter(np.array(["a", "b"]), {"type": "a"})
    assert not store.has_pending


# --- rechunk -------------------------------------------------------------------------


@pytest.mark.parametrize("backup", [True, False])
def test_rechunk(backend: Backend, backup: bool, capsys: pytest.CaptureFixture) -> None:
    # the engine's layout (one row per chunk), as rechunking is mostly done on its stores
    store = _scenario_store(backend, run_chunk_size=1, param_chunk_size=1)
    path, fs = store.path, backend.fs
    before = _dump(path, fs=fs)
    rep = store.rechunk_runs(backup=backup, status=True)
    assert rep["rows"] == 5 and rep["new_chunk_size"] == 5 and rep["chunks_written"] == 1
    assert "Rechunking runs: 5/5" in capsys.readouterr().err
    rep = store.rechunk_parameter_base(chunk_size=4, backup=backup, status=False)
    assert rep["old_chunk_size"] == 1 and rep["new_chunk_size"] == 4
    assert rep["chunks_written"] == 2
    assert capsys.readouterr().err == ""
    assert backend.read_json(path, "metadata/runs/.zarray")["chunks"] == [5]
    assert backend.isdir(f"{path}/metadata/runs.bak") is backup
    assert backend.isdir(f"{path}/parameters/base.bak") is backup
    assert sorted(fs.ls(f"{path}/metadata/runs", detail=False))[-1].endswith("/0")
    assert [p for p in fs.find(path) if "rechunk" in p[len(path) :]] == []
    assert _dump(path, fs=fs) == before
    assert normalise(dump_store(store, "zarr")) == before
    root = backend.zarr_group(path)
    assert root["metadata/runs"].attrs.asdict() == {
        "parameter_paths": ["resources.any", "inputs.p1", "outputs.p2", "inputs.p3"]
    }
    assert root["metadata/runs"].chunks == (5,) and len(root["metadata/runs"]) == 5
    if backup:
        assert backend.read_json(path, "metadata/runs.bak/.zarray")["chunks"] == [1]
        # a second rechunk keeps the first backup (the original chunking), as the
        # engine does:
        rep = store.rechunk_runs(chunk_size=2, status=False)
        assert rep["backup"] == f"{path}/metadata/runs.bak"
        assert backend.read_json(path, "metadata/runs.bak/.zarray")["chunks"] == [1]
        assert backend.read_json(path, "metadata/runs/.zarray")["chunks"] == [2]
        assert _dump(path, fs=fs) == before
    # still writable after rechunking:
    store.set_EAR_skip(0)
    store.add_set_parameter([1], {"type": "a"})
    fresh = ZarrPersistentStore(None, None, path, fs)
    assert fresh.get_EAR_skipped(0) is True
    assert fresh.get_parameters([6])[0].data == [1]


@pytest.mark.parametrize("protocol", ["fcntl", "link"])
def test_rechunk_holds_the_store_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    """Writers (even of one-row chunks, which need no lock against each other) and
    crash recovery on open wait while a rechunk copies and swaps an array: a row
    written meanwhile would be lost or land in a chunk of the new layout."""
    monkeypatch.setenv(lock_mod.ENV_VAR, protocol)
    backend = Backend("local", LocalFileSystem(), str(tmp_path))
    store = _scenario_store(backend, run_chunk_size=1, param_chunk_size=1)
    path = store.path
    started, go = threading.Event(), threading.Event()
    real = rechunk_mod._core.rechunk_array

    def paused(*args: Any, **kwargs: Any) -> Any:
        started.set()
        assert go.wait(30)
        # the array is missing for a moment during the swap: an opening store must
        # not "recover" it meanwhile (it waits for the lock)
        return real(*args, **kwargs)

    monkeypatch.setattr(rechunk_mod._core, "rechunk_array", paused)
    errors: list[BaseException] = []

    def run(fn: Any) -> threading.Thread:
        def target() -> None:
            try:
                fn()
            except BaseException as exc:  # reported by the test
                errors.append(exc)

        t = threading.Thread(target=target)
        t.start()
        return t

    rechunk = run(lambda: store.rechunk_runs(backup=False, status=False))
    assert started.wait(30)
    writer_store = ZarrPersistentStore(None, None, path, backend.fs)
    writer = run(lambda: writer_store.set_EAR_skip(1))
    writer.join(0.5)
    assert writer.is_alive(), "a row was written while the rechunk held the lock"
    go.set()
    rechunk.join(30)
    writer.join(30)
    assert not errors and not rechunk.is_alive() and not writer.is_alive()
    fresh = ZarrPersistentStore(None, None, path, backend.fs)
    assert fresh.get_EAR_skipped(1) is True
    assert backend.read_json(path, "metadata/runs/.zarray")["chunks"] == [5]
    assert [r.id_ for r in fresh.get_EARs(list(range(5)))] == list(range(5))


def test_recovery_on_open_waits_for_the_lock(tmp_path: Path) -> None:
    """An array missing on open (a rechunk between the two renames of its swap) is
    recovered only under the store lock, so never behind a live rechunk's back."""
    backend = Backend("local", LocalFileSystem(), str(tmp_path))
    store = _scenario_store(backend, run_chunk_size=1)
    runs = Path(store.path, "metadata", "runs")
    runs.rename(f"{runs}{names.RECHUNK_OLD_SUFFIX}")  # the swap's first step
    holder = store_lock_at(store.path)
    holder.acquire()
    got: list[Any] = []
    t = threading.Thread(
        target=lambda: got.append(
            ZarrPersistentStore(None, None, store.path, backend.fs).get_EARs([0, 4])
        )
    )
    t.start()
    t.join(0.5)
    assert t.is_alive() and not runs.exists()  # waiting, nothing touched
    holder.release()
    t.join(30)
    assert runs.is_dir() and [r.id_ for r in got[0]] == [0, 4]


def test_link_lock_refreshed_by_long_rechunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(lock_mod.ENV_VAR, "link")
    monkeypatch.setattr(rechunk_mod, "LOCK_REFRESH_S", 0.0)
    backend = Backend("local", LocalFileSystem(), str(tmp_path))
    store = _scenario_store(backend, run_chunk_size=1)
    lock = store.store_lock
    assert isinstance(lock, lock_mod.StoreLock)
    seen: list[float] = []
    real_refresh = lock.refresh

    def refresh() -> None:
        before = os.stat(lock.path).st_mtime_ns
        os.utime(lock.path, ns=(before - 10**10, before - 10**10))  # 10 s old
        real_refresh()
        seen.append(time.time() - os.stat(lock.path).st_mtime)

    monkeypatch.setattr(lock, "refresh", refresh)
    progress: list[tuple[int, int]] = []
    def make_progress(status: bool, label: str) -> Any:
        return lambda done, total: progress.append((done, total))

    monkeypatch.setattr(ZarrPersistentStore, "_progress", staticmethod(make_progress))
    store.rechunk_runs(backup=False, status=True)
    assert progress and progress[-1] == (5, 5)  # the caller's progress still reported
    assert seen and all(age < 5 for age in seen)  # the lock's age started again


def test_rechunk_refuses_pending(backend: Backend) -> None:
    store = _scenario_store(backend)
    store.add_set_parameter(1, {}, save=False)
    with pytest.raises(UnsupportedStoreOperationError, match="pending"):
        store.rechunk_runs(status=False)


def test_rechunk_bad_chunks_and_recovery_over_fsspec() -> None:
    fs = fsspec.filesystem("memory")
    backend = Backend("memory", fs, f"/wfstore-test-{uuid.uuid4().hex}")
    try:
        store = _scenario_store(backend, run_chunk_size=1)
        runs = f"{store.path}/metadata/runs"
        fs.pipe_file(f"{runs}/1", b"junk")
        fs.pipe_file(f"{runs}/3", b"more junk")

        def files() -> dict[str, bytes]:  # but the change marker (see readcache)
            marker = names.CHANGE_MARKER_NAME
            return {
                p: without_group_marker(fs.cat_file(p))
                for p in fs.find(store.path)
                if marker not in p
            }

        before = files()
        with pytest.raises(RechunkError) as info:
            store.rechunk_runs(status=False)
        assert sorted(k for k, _ in info.value.bad_chunks) == ["1", "3"]
        assert info.value.path.endswith(runs)  # the core names it by the store's URL
        assert files() == before  # unchanged
        with pytest.raises(InvalidArgumentError, match="chunk_size"):
            store.rechunk_parameter_base(chunk_size=0, status=False)

        # an interrupted swap (old array moved away, new one complete) is finished by
        # the next rechunk:
        good = _scenario_store(backend, "wk2")
        expected = _dump(good.path, fs=fs)
        base = f"{good.path}/parameters/base"
        good.rechunk_parameter_base(backup=False, status=False)
        fs.mv(base, f"{base}.rechunk-tmp", recursive=True)
        fs.pipe_file(f"{base}.rechunk-tmp/.wfstore-rechunk-complete", b"")
        good.rechunk_parameter_base(chunk_size=2, backup=False, status=False)
        assert not [p for p in fs.find(good.path) if "rechunk" in p[len(good.path) :]]
        assert backend.read_json(base, ".zarray")["chunks"] == [2]
        assert _dump(good.path, fs=fs) == expected
    finally:
        fs.rm(backend.root, recursive=True)


# --- zip / unzip ---------------------------------------------------------------------


def test_zip_and_unzip(backend: Backend, tmp_path: Path) -> None:
    """A store on any file system is zipped into a local archive; archives are read in
    place on any file system and unzipped into local stores."""
    store = _scenario_store(backend)
    fs = backend.fs
    fs.makedirs(f"{store.path}/artifacts/submissions/0/execute", exist_ok=True)
    fs.pipe_file(f"{store.path}/artifacts/submissions/0/execute/f.txt", b"x")
    fs.pipe_file(f"{store.path}/artifacts/submissions/0/js_0.sh", b"echo")
    fs.makedirs(f"{store.path}/metadata/runs.bak", exist_ok=True)
    fs.pipe_file(f"{store.path}/metadata/runs.bak/.zarray", b"{}")
    before = _dump(store.path, fs=fs)

    out = tmp_path / "out"
    out.mkdir()
    archive = store.zip(str(out))
    assert archive == str(out / "wk_rt.zip")
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        assert zf.testzip() is None
    assert ".zattrs" in names and ".zgroup" in names
    assert "metadata/runs/.zarray" in names
    assert "artifacts/submissions/0/js_0.sh" in names
    assert not any("execute" in n or "runs.bak" in n for n in names)
    assert not any(".wfstore" in n for n in names)  # no lock files
    # the scenario took the lock: on the root .zgroup, which holds the change marker
    assert not [p for p in backend.fs.ls(store.path, detail=False) if ".wfstore" in p]

    with pytest.raises(FileExistsError, match="overwrite"):
        store.zip(str(out))
    full = store.zip(archive, overwrite=True, include_execute=True, include_rechunk_backups=True)
    with zipfile.ZipFile(full) as zf:
        names = zf.namelist()
    assert "artifacts/submissions/0/execute/f.txt" in names
    assert "metadata/runs.bak/.zarray" in names
    assert sorted(p.name for p in out.iterdir()) == ["wk_rt.zip"]

    zstore = ZarrZipPersistentStore(None, None, archive)
    assert normalise(dump_store(zstore, "zarr")) == before
    # the archive on the backend's file system, read in place:
    fs.put_file(archive, backend.path("copy.zip"))
    remote_zip = ZarrZipPersistentStore(None, None, backend.path("copy.zip"), fs)
    assert normalise(dump_store(remote_zip, "zarr")) == before
    assert _dump(remote_zip.unzip(str(tmp_path / "from_fs"))) == before
    # zarr-python reads the archive too:
    zroot = zarr.open_group(zarr.storage.ZipStore(archive, mode="r"), mode="r")
    assert zroot.attrs["name"] == "wk_rt" and len(zroot["metadata/runs"]) == 5

    new = zstore.unzip(str(tmp_path / "unzipped"))
    assert new == str(tmp_path / "unzipped")
    assert _dump(Path(new)) == before
    assert zstore.unzip(str(out)) == str(out / "wk_rt")
    with pytest.raises(FileExistsError):
        zstore.unzip(str(out))  # out/wk_rt exists now
    with pytest.raises(UnsupportedStoreOperationError, match="Not a zip store"):
        store.unzip(str(tmp_path))
    with pytest.raises(ReadOnlyStoreError, match="read-only"):
        remote_zip.add_set_parameter(1, {})

    # the unzipped store is a normal, writable Zarr store:
    wstore = ZarrPersistentStore(None, None, new)
    wstore.add_set_parameter({"z": 1}, {"type": "a"})
    assert ZarrPersistentStore(None, None, new).get_parameters([6])[0].data == {"z": 1}


def test_zip_to_file_path(backend: Backend, tmp_path: Path) -> None:
    store = _scenario_store(backend)
    dst = tmp_path / "named.zip"
    assert store.zip(str(dst)) == str(dst)
    assert zipfile.is_zipfile(dst)


# --- paths ---------------------------------------------------------------------------


def test_copy_delete_and_replaced_dirs(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _scenario_store(backend)
    fs = backend.fs
    before = _dump(store.path, fs=fs)
    copied = store.copy()
    assert str(copied) == backend.path("wk_copy")
    assert _dump(str(copied), fs=fs) == before
    with pytest.raises(StorePathError):
        store.copy(copied)

    old = backend.path("old")
    fs.makedirs(old, exist_ok=True)
    fs.pipe_file(f"{old}/f", b"x")
    kw = empty_workflow_kwargs(backend.path("new"), fs)
    ZarrPersistentStore.write_empty_workflow(None, **{**kw, "replaced_wk": old})
    new = ZarrPersistentStore(None, None, backend.path("new"), fs)
    new.remove_replaced_dir()
    assert not backend.exists(old)
    assert "replaced_workflow" not in backend.zarr_group(backend.path("new")).attrs
    new.reinstate_replaced_dir()  # nothing to reinstate
    assert backend.isdir(backend.path("new"))

    monkeypatch.setattr("builtins.input", lambda _: "n")
    ZarrPersistentStore(None, None, str(copied), fs).delete()
    assert backend.exists(str(copied))
    monkeypatch.setattr("builtins.input", lambda _: "y")
    ZarrPersistentStore(None, None, str(copied), fs).delete()
    assert not backend.exists(str(copied))

    archive = store.zip(str(tmp_path / "a.zip"))
    zstore = ZarrZipPersistentStore(None, None, archive)
    zcopy = zstore.copy(tmp_path / "b.zip")
    assert _dump(zcopy, ZarrZipPersistentStore) == before
    zstore.delete_no_confirm()
    assert not Path(archive).exists()


def test_zip_and_unzip_write_a_copy_log(backend: Backend, tmp_path: Path) -> None:
    store = _scenario_store(backend)
    log = tmp_path / "zip.log"
    archive = store.zip(str(tmp_path / "a.zip"), log=str(log))
    with zipfile.ZipFile(archive) as zf:
        names = [i.filename for i in zf.infolist() if not i.is_dir()]
        size = sum(i.file_size for i in zf.infolist())
    lines = log.read_text().splitlines()
    assert lines[:-1] == [f"copy {n}" for n in names] and "copy .zattrs" in lines
    assert lines[-1] == f"all done: {len(names):,} copied, 0 skipped, {size:,} bytes copied"
    ulog = tmp_path / "unzip.log"
    ZarrZipPersistentStore(None, None, archive).unzip(str(tmp_path / "u"), log=str(ulog))
    assert ulog.read_text() == log.read_text()


def test_url_paths_without_a_file_system() -> None:
    """Stores made and opened by URL alone (``fs=None``) live on the URL's file system."""
    fs = fsspec.filesystem("memory")
    root = f"/wfstore-test-{uuid.uuid4().hex}"
    try:
        for cls, name in ((ZarrPersistentStore, "zarr"), (JSONPersistentStore, "json")):
            url = f"memory://{root}/{name}"
            cls.write_empty_workflow(None, **empty_workflow_kwargs(url, None))
            store = cls(None, None, url)
            assert isinstance(store.fs, MemoryFileSystem) and store.path == f"{root}/{name}"
            p = store.add_set_parameter({"k": (1,)}, {"type": "x"})
            assert cls(None, None, url).get_parameters([p])[0].data == {"k": (1,)}
        assert fs.isfile(f"{root}/zarr/.zgroup") and fs.isfile(f"{root}/json/metadata.json")
    finally:
        fs.rm(root, recursive=True)
