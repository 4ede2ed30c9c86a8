"""pytest-benchmark benches of wfstore's Python API (run with ``pytest benches``;
the test suite, ``pytest tests``, does not collect them).

Each bench checks what it timed, so a broken operation fails rather than reports a
time; no bench asserts a time.
"""

from __future__ import annotations

import logging
import types
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.local import LocalFileSystem
from wfstore import _core
from wfstore.persistence import JSONPersistentStore, ZarrPersistentStore
from wfstore.storage.lock import StoreLock

pytest.importorskip("pytest_benchmark")

TS_FMT = "%Y-%m-%d %H:%M:%S.%f"
N_ELEMS = 200  # 1000 runs
APP = types.SimpleNamespace(
    persistence_logger=logging.getLogger("bench"),
    RunDirAppFiles=types.SimpleNamespace(take_snapshot=lambda: {"data": {}}),
)


def _row(i: int) -> list[Any]:
    return [
        i,
        i // 5,
        i % 5,
        [0],
        {"inputs.p1": 2 * (i // 5)},
        None,
        0,
        None,
        "2026-11-25 10:00:00.000000",
        None,
        {"data": {}},
        None,
        None,
        None,
        "node-0",
    ]


def _new_store(cls: type, path: Path) -> Any:
    cls.write_empty_workflow(
        APP,
        template_js={"name": "wk", "tasks": [], "loops": [], "resources": {}},
        template_components_js={"parameters": {}},
        wk_path=str(path),
        fs=LocalFileSystem(),
        name="wk",
        replaced_wk=None,
        creation_info={"app_info": {"name": "bench"}, "create_time": "x", "id": "1"},
        ts_fmt=TS_FMT,
        ts_name_fmt="%Y-%m-%d_%H%M%S",
    )
    store = cls(APP, None, path, LocalFileSystem())
    t = store.add_task(0, {"insert_ID": 0, "element_sets": []}, save=False)
    for i in range(N_ELEMS):
        p = store.add_set_parameter({"a": i}, {"type": "local_input"}, save=False)
        e = store.add_element(t, 0, {}, {}, save=False)
        it = store.add_element_iteration(e, {"inputs.p1": p}, ["inputs.p1"], save=False)
        for act in range(5):
            store.add_EAR(it, act, [0], {"inputs.p1": p}, save=False)
    store.save()
    return store


# --- the core --------------------------------------------------------------------------


def test_encode_run_rows(benchmark: Any) -> None:
    rows = [_row(i) for i in range(10_000)]
    data = benchmark(_core.encode_object_chunk, rows, "blosc")
    assert _core.decode_object_chunk(data, "blosc") == rows


def test_decode_run_rows(benchmark: Any) -> None:
    rows = [_row(i) for i in range(10_000)]
    data = _core.encode_object_chunk(rows, "blosc")
    assert benchmark(_core.decode_object_chunk, data, "blosc") == rows


def test_object_array_set_one_row(benchmark: Any, tmp_path: Path) -> None:
    store = _core.Store.local(tmp_path)
    arr = _core.ObjectArray.create(store, "runs", 0, chunk_size=1)
    arr.append([_row(i) for i in range(100)])
    new = _row(7)
    new[9] = "2026-11-25 10:00:02.000000"
    benchmark(arr.set, [7], [new])
    assert _core.ObjectArray.open(store, "runs").get([7]) == [new]


def test_object_array_read_all_chunk_size_1(benchmark: Any, tmp_path: Path) -> None:
    store = _core.Store.local(tmp_path)
    arr = _core.ObjectArray.create(store, "runs", 0, chunk_size=1)
    rows = [_row(i) for i in range(2000)]
    arr.append(rows)
    assert benchmark(lambda: _core.ObjectArray.open(store, "runs").get_range()) == rows


def test_atomic_small_write(benchmark: Any, tmp_path: Path) -> None:
    path = tmp_path / "chunk"
    benchmark(_core.write_atomic, path, b"x" * 200)
    assert path.read_bytes() == b"x" * 200


@pytest.mark.parametrize("protocol", ["fcntl", "link"])
def test_store_lock_acquire_release(benchmark: Any, tmp_path: Path, protocol: str) -> None:
    """One uncontended take and free of the store writer lock (what every commit that
    touches shared data adds)."""
    lock = StoreLock(tmp_path, protocol=protocol)

    def cycle() -> None:
        lock.acquire()
        lock.release()

    benchmark(cycle)
    assert lock.protocol == protocol and not lock.held
    other = StoreLock(tmp_path, timeout=0, protocol=protocol)
    with other():  # freed after every round
        pass


# --- the PersistentStore API -----------------------------------------------------------


@pytest.mark.parametrize("cls", [ZarrPersistentStore, JSONPersistentStore], ids=["zarr", "json"])
def test_single_run_commit(benchmark: Any, tmp_path: Path, cls: type) -> None:
    store = _new_store(cls, tmp_path / "wk")
    ids = iter(range(N_ELEMS * 5))
    started: list[int] = []
    benchmark.pedantic(
        lambda: started.append(store.set_EAR_start(next(ids)) and len(started)),
        rounds=200,
        iterations=1,
    )
    runs = cls(APP, None, tmp_path / "wk").get_EARs(range(N_ELEMS * 5))
    assert started and [r.start_time is not None for r in runs] == [
        i < len(started) for i in range(N_ELEMS * 5)
    ]


@pytest.mark.parametrize("cls", [ZarrPersistentStore, JSONPersistentStore], ids=["zarr", "json"])
def test_cold_read_all_runs(benchmark: Any, tmp_path: Path, cls: type) -> None:
    path = tmp_path / "wk"
    _new_store(cls, path)
    runs = benchmark(lambda: cls(APP, None, path).get_EARs(range(N_ELEMS * 5)))
    assert [r.id_ for r in runs] == list(range(N_ELEMS * 5))


def test_build_and_commit(benchmark: Any, tmp_path: Path) -> None:
    paths = iter(tmp_path / f"wk{i}" for i in range(1000))
    store = benchmark.pedantic(
        lambda: _new_store(ZarrPersistentStore, next(paths)), rounds=3, iterations=1
    )
    assert len(store.get_EARs(range(N_ELEMS * 5))) == N_ELEMS * 5


def test_rechunk_runs(benchmark: Any, tmp_path: Path) -> None:
    paths = iter(tmp_path / f"wk{i}" for i in range(1000))

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (_new_store(ZarrPersistentStore, next(paths)),), {}

    report = benchmark.pedantic(
        lambda store: store.rechunk_runs(backup=True, status=False),
        setup=setup,
        rounds=3,
        iterations=1,
    )
    assert report["rows"] == N_ELEMS * 5 and report["new_chunk_size"] == N_ELEMS * 5
