"""Behaviour kept by the speed-ups of the commit paths (issue 5): JSON resources
encoded once per commit, and persistent counts read once per batch of additions."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.local import LocalFileSystem
from store_dump import empty_workflow_kwargs
from wfstore.persistence import JSONPersistentStore, ZarrPersistentStore

STORES = [JSONPersistentStore, ZarrPersistentStore]


def _new(cls: type, path: Path) -> Any:
    cls.write_empty_workflow(None, **empty_workflow_kwargs(str(path), LocalFileSystem()))
    return cls(None, None, path)


def _add_iter(store: Any) -> int:
    t = store.add_task(store._get_num_total_tasks(), {"element_sets": []}, save=False)
    e = store.add_element(t, 0, {}, {}, save=False)
    return store.add_element_iteration(e, {}, [], save=False)


def test_json_resource_writes_compact_json_readable_by_json(tmp_path: Path) -> None:
    store = _new(JSONPersistentStore, tmp_path / "wk")
    it = _add_iter(store)
    run = store.add_EAR(it, 0, [0], {})
    raw = (tmp_path / "wk" / "metadata.json").read_bytes()
    doc = json.loads(raw)
    assert len(doc["runs"]) == 1 and b"\n" not in raw
    assert JSONPersistentStore(None, None, tmp_path / "wk").get_EARs([run])[0].id_ == run


def test_json_commit_sees_changes_made_by_another_store(
    tmp_path: Path, json_writes: list[str]
) -> None:
    """A store that wrote a file must not trust its own copy once another writer
    (another process) changed the file: no change is lost and nothing unchanged is
    written."""
    path = tmp_path / "wk"
    a = _new(JSONPersistentStore, path)
    it = _add_iter(a)
    r0 = a.add_EAR(it, 0, [0], {})  # a wrote metadata.json
    b = JSONPersistentStore(None, None, path)
    b.set_EAR_start(r0)  # another writer changes it
    dumps = json_writes
    del json_writes[:]
    with a.using_resource("metadata", "update"):
        pass  # no change: nothing written, b's change kept
    assert dumps == []
    a.set_EAR_end(r0, 0, True)  # a's commit keeps b's start time
    run = JSONPersistentStore(None, None, path).get_EARs([r0])[0]
    assert run.start_time is not None and run.end_time is not None
    assert dumps == ["metadata.json"]
    with a.using_resource("metadata", "update"):
        pass  # the file holds what a wrote last: still nothing written
    assert dumps == ["metadata.json"]


def test_json_resource_rewrites_an_engine_indented_file_only_when_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "wk"
    _new(JSONPersistentStore, path)
    meta = path / "metadata.json"
    meta.write_text(json.dumps(json.loads(meta.read_text()), indent=2))  # as hpcflow writes
    before = meta.read_bytes()
    store = JSONPersistentStore(None, None, path)
    with store.using_resource("metadata", "update"):
        pass
    assert meta.read_bytes() == before
    with store.using_resource("metadata", "update") as md:
        md["name"] = "renamed"
    assert json.loads(meta.read_bytes())["name"] == "renamed"


@pytest.mark.parametrize("cls", STORES, ids=["json", "zarr"])
def test_batch_of_additions_reads_persistent_counts_once(
    tmp_path: Path, cls: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _new(cls, tmp_path / "wk")
    calls: list[str] = []
    for name in ("_get_num_persistent_EARs", "_get_num_persistent_parameters"):
        orig = getattr(store, name)
        monkeypatch.setattr(store, name, lambda o=orig, n=name: (calls.append(n), o())[1])
    it = _add_iter(store)
    runs = [store.add_EAR(it, 0, [0], {}, save=False) for _ in range(20)]
    params = [store.add_set_parameter(i, {"type": "x"}, save=False) for i in range(20)]
    assert runs == list(range(20)) and params == list(range(20))
    assert sorted(calls) == ["_get_num_persistent_EARs", "_get_num_persistent_parameters"]
    store.save()
    assert len(store.get_EARs(range(20))) == 20


@pytest.mark.parametrize("cls", STORES, ids=["json", "zarr"])
def test_pending_items_take_what_is_added_to_them_without_a_copy_per_read(
    tmp_path: Path, cls: type
) -> None:
    """Iterations and runs added to a pending element or iteration are merged into it
    once, when added: reads during the batch return the merged item itself (the engine
    reads every item back while it builds), items already handed out never change, and
    the commit writes what the reads showed."""
    path = tmp_path / "wk"
    store = _new(cls, path)
    t = store.add_task(0, {"element_sets": []}, save=False)
    e = store.add_element(t, 0, {}, {}, save=False)
    first_elem = store.get_elements([e])[0]
    it0 = store.add_element_iteration(e, {}, [], save=False)
    first_iter = store.get_element_iterations([it0])[0]
    it1 = store.add_element_iteration(e, {}, [], save=False)
    runs = [store.add_EAR(it0, a, [0], {}, save=False) for a in (0, 1, 0)]
    store.set_EARs_initialised(it0, save=False)
    elem = store.get_elements([e])[0]
    iters = store.get_element_iterations([it0, it1])
    assert elem.iteration_IDs == [it0, it1]
    assert iters[0].EAR_IDs == {0: [runs[0], runs[2]], 1: [runs[1]]}
    assert iters[0].EARs_initialised and not iters[1].EARs_initialised
    assert iters[1].EAR_IDs is None
    assert store.get_elements([e])[0] is elem
    assert store.get_element_iterations([it0])[0] is iters[0]
    # what was handed out before the additions is as it was then
    assert first_elem.iteration_IDs == [] and first_iter.EAR_IDs is None
    assert not first_iter.EARs_initialised
    store.save()
    back = cls(None, None, path)
    assert back.get_elements([e])[0].iteration_IDs == [it0, it1]
    got = back.get_element_iterations([it0, it1])
    assert got[0].EAR_IDs == {0: [runs[0], runs[2]], 1: [runs[1]]}
    assert got[0].EARs_initialised and not got[1].EARs_initialised
    # additions to committed items are pending changes, merged when read
    it2 = store.add_element_iteration(e, {}, [], save=False)
    r3 = store.add_EAR(it1, 2, [0], {}, save=False)
    store.set_EARs_initialised(it1, save=False)
    assert store.get_elements([e])[0].iteration_IDs == [it0, it1, it2]
    merged = store.get_element_iterations([it1])[0]
    assert merged.EAR_IDs == {2: [r3]} and merged.EARs_initialised
    store.save()
    again = cls(None, None, path).get_element_iterations([it1])[0]
    assert again.EAR_IDs == {2: [r3]} and again.EARs_initialised


@pytest.mark.parametrize("cls", STORES, ids=["json", "zarr"])
def test_ids_follow_what_another_store_committed(tmp_path: Path, cls: type) -> None:
    """Counts are re-read once nothing is pending, so IDs follow rows another process
    committed in between."""
    path = tmp_path / "wk"
    a = _new(cls, path)
    it = _add_iter(a)
    assert [a.add_EAR(it, 0, [0], {}, save=False) for _ in range(2)] == [0, 1]
    a.save()
    b = cls(None, None, path)
    assert b.add_EAR(it, 1, [0], {}) == 2
    assert b.add_set_parameter(5, {"type": "x"}) == 0
    assert a.add_EAR(it, 2, [0], {}) == 3
    assert a.add_set_parameter(6, {"type": "x"}) == 1
    runs = cls(None, None, path).get_EARs(range(4))
    assert [r.action_idx for r in runs] == [0, 0, 1, 2]


@pytest.mark.parametrize(
    "text", ["2026-11-25 10:00:00.000000", "2024-02-29 23:59:59.999999", "0001-01-01 00:00:00.5"]
)
def test_timestamps_in_the_engine_format_decode_as_strptime_does(text: str) -> None:
    from datetime import datetime, timezone

    from wfstore.persistence.items import decode_timestamp

    fmt = "%Y-%m-%d %H:%M:%S.%f"
    want = datetime.strptime(text, fmt).replace(tzinfo=timezone.utc).astimezone()
    assert decode_timestamp(text, fmt) == want


@pytest.mark.parametrize(
    "text",
    ["2026-11-25T10:00:00.000000", "2026-13-25 10:00:00.000000", "2026-11-25 10:00:00.00000x",
     "2026-11-25 10:00:00.00+000"],
)
def test_malformed_timestamps_are_refused_as_strptime_refuses_them(text: str) -> None:
    from wfstore.persistence.items import decode_timestamp

    with pytest.raises(ValueError):
        decode_timestamp(text, "%Y-%m-%d %H:%M:%S.%f")


def test_zarr_rows_appended_and_read_in_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wfstore.common.errors import MissingParameterData, MissingStoreEARError
    from wfstore.persistence.zarr import layout

    monkeypatch.setattr(layout, "ROW_BATCH", 3)
    store = _new(ZarrPersistentStore, tmp_path / "wk")
    it = _add_iter(store)
    runs = [store.add_EAR(it, i % 4, [i], {}, save=False) for i in range(10)]
    params = [
        store.add_set_parameter({"v": i}, {"type": "x", "i": i}, save=False) for i in range(7)
    ]
    store.save()
    cold = ZarrPersistentStore(None, None, tmp_path / "wk")
    got = cold.get_EARs(runs[::-1])
    assert [(r.id_, r.action_idx, r.commands_idx) for r in got] == [
        (i, i % 4, [i]) for i in reversed(range(10))
    ]
    assert [p.data for p in cold.get_parameters(params)] == [{"v": i} for i in range(7)]
    assert [s["i"] for s in cold.get_parameter_sources(params)] == list(range(7))
    with pytest.raises(MissingStoreEARError) as exc:
        ZarrPersistentStore(None, None, tmp_path / "wk").get_EARs([*range(10), 11, 12, 13, 14])
    assert all(str(i) in str(exc.value) for i in (11, 12, 13, 14))
    with pytest.raises(MissingParameterData):
        cold.get_parameters([7])


def test_zarr_rows_read_one_id_per_call(tmp_path: Path) -> None:
    """One ID per call (the engine's usual ask, read without grouping by chunk) gets
    each row of a chunk, first, middle and last, as a batch read does."""
    from wfstore.common.errors import MissingParameterData, MissingStoreEARError

    path = tmp_path / "wk"
    kw = empty_workflow_kwargs(str(path), LocalFileSystem())
    ZarrPersistentStore.write_empty_workflow(None, **kw, run_chunk_size=3, param_chunk_size=4)
    store = ZarrPersistentStore(None, None, path)
    it = _add_iter(store)
    runs = [store.add_EAR(it, 0, [i], {}, save=False) for i in range(10)]
    params = [store.add_set_parameter({"v": i}, {"i": i}, save=False) for i in range(7)]
    store.save()
    one = ZarrPersistentStore(None, None, path)
    assert [one.get_EARs([r])[0].commands_idx for r in runs] == [[i] for i in range(10)]
    assert [one.get_parameters([p])[0].data for p in params] == [{"v": i} for i in range(7)]
    assert [one.get_parameter_sources([p])[0]["i"] for p in params] == list(range(7))
    assert [r.commands_idx for r in one.get_EARs(runs)] == [[i] for i in range(10)]
    with pytest.raises(MissingStoreEARError, match="10"):
        one.get_EARs([10])
    with pytest.raises(MissingParameterData, match="-1"):
        one.get_parameters([-1])


def _runs_store(path: Path, ts_fmt: str | None = None) -> ZarrPersistentStore:
    kw = empty_workflow_kwargs(str(path), LocalFileSystem())
    if ts_fmt:
        kw["ts_fmt"] = ts_fmt
    ZarrPersistentStore.write_empty_workflow(None, **kw, run_chunk_size=3)
    store = ZarrPersistentStore(None, None, path)
    store.run_dir_snapshot = lambda: {"data": {"f": [1, 2.5]}}
    it = _add_iter(store)
    p = store.add_set_parameter(1, {"type": "a"}, save=False)
    for act in range(7):
        store.add_EAR(it, act, [0, act], {"inputs.p1": p, f"outputs.o{act}": p}, save=False)
    store.save()
    store.set_EAR_submission_index(1, 4)
    store.set_EAR_start(2)
    store.set_EAR_end(2, 3, False)
    store.set_EAR_skip(5)
    store.set_EAR_start(6)
    return store


def _read_runs(path: Path, fast: bool, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    import wfstore.persistence.zarr.store as zs

    with monkeypatch.context() as m:
        if not fast:
            m.setattr(zs, "_ZARR_EAR_DECODE", None)
        return ZarrPersistentStore(None, None, path).get_EARs(list(range(7)))


@pytest.mark.parametrize("ts_fmt", [None, "%d/%m/%Y %H:%M:%S"])
def test_runs_decoded_in_the_core_equal_the_python_decoder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ts_fmt: str | None
) -> None:
    """Reading runs builds them in the core (``_core.decode_runs``): the same objects,
    field for field and type for type, as the Python decoder makes."""
    from wfstore import _core

    path = tmp_path / "wk"
    _runs_store(path, ts_fmt)
    calls: list[int] = []
    orig = _core.decode_runs
    monkeypatch.setattr(_core, "decode_runs", lambda *a: (calls.append(1), orig(*a))[1])
    fast = _read_runs(path, True, monkeypatch)
    assert calls == [1, 1, 1]  # the core built them, a chunk (of 3 runs) at a time
    slow = _read_runs(path, False, monkeypatch)
    assert fast == slow
    for f, s in zip(fast, slow):
        assert type(f) is type(s)
        assert {k: type(v) for k, v in vars(f).items()} == {k: type(v) for k, v in vars(s).items()}
        assert list(vars(f)) == list(vars(s))
    assert fast[2].start_time is not None and fast[2].start_time.tzinfo is not None
    assert fast[2].start_time.utcoffset() == slow[2].start_time.utcoffset()
    assert fast[1].submission_idx == 4 and fast[5].skip is True and fast[2].exit_code == 3
    assert fast[0].data_idx == {"inputs.p1": 0, "outputs.o0": 0}


def test_a_row_that_is_not_a_run_is_reported_by_the_python_decoder(tmp_path: Path) -> None:
    from wfstore import _core
    from wfstore.common.errors import CorruptChunkError

    path = tmp_path / "wk"
    store = _runs_store(path)
    arr = _core.ObjectArray.open(store.core_store, "metadata/runs")
    arr.set([4], [[4, "not", "a run"]])
    fresh = ZarrPersistentStore(None, None, path)
    assert len(fresh.get_EARs([0, 1, 2, 3])) == 4
    with pytest.raises(CorruptChunkError, match="row 4 cannot be decoded") as info:
        fresh.get_EARs([4])
    assert info.value.key == "1"


@pytest.mark.parametrize("param_chunk_size", [1, 100])
def test_setting_a_parameter_another_store_set_meanwhile_is_refused(
    tmp_path: Path, param_chunk_size: int
) -> None:
    """The commit checks the parameter's row as it is on disk, not a cached copy: a
    value another process set first is kept."""
    from wfstore.common.errors import ParameterAlreadySetError

    path = tmp_path / "wk"
    kw = empty_workflow_kwargs(str(path), LocalFileSystem())
    ZarrPersistentStore.write_empty_workflow(None, **kw, param_chunk_size=param_chunk_size)
    a = ZarrPersistentStore(None, None, path)
    p = a.add_unset_parameter({"type": "x"})
    assert a.get_parameters([p])[0].is_set is False  # now cached by a
    b = ZarrPersistentStore(None, None, path)
    b.set_parameter_value(p, "first")
    with pytest.raises(ParameterAlreadySetError):
        a.set_parameter_value(p, "second")
    assert ZarrPersistentStore(None, None, path).get_parameters([p])[0].data == "first"


@pytest.mark.parametrize("tz", ["UTC", "Europe/London", "Australia/Lord_Howe", "America/St_Johns"])
def test_core_timestamps_equal_pythons_across_zone_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tz: str
) -> None:
    """Run timestamps are made local in the core with the zone looked up once per
    quarter hour: across daylight-saving changes (on the hour, on the half hour) and
    date lines they equal the Python decoder's, value, offset and zone name."""
    import time

    from wfstore import _core

    monkeypatch.setenv("TZ", tz)
    time.tzset()
    try:
        path = tmp_path / "wk"
        store = _runs_store(path)
        arr = _core.ObjectArray.open(store.core_store, "metadata/runs")
        stamps = [
            "2026-03-29 00:59:59.999999",  # London: the hour before summer time
            "2026-03-29 01:00:00.000000",
            "2026-04-04 14:59:59.500000",  # Lord Howe: half an hour back at 15:00 UTC
            "2026-04-04 15:00:00.000001",
            "2026-11-01 04:29:00.000000",  # St John's (-3:30 / -2:30)
            "2026-12-31 23:59:59.999999",
            "2024-02-29 12:00:00.000000",
        ]
        arr.patch(list(range(7)), [{7: s, 8: s} for s in stamps])
        fast = _read_runs(path, True, monkeypatch)
        slow = _read_runs(path, False, monkeypatch)
        for f, s in zip(fast, slow):
            for when in ("start_time", "end_time"):
                a, b = getattr(f, when), getattr(s, when)
                assert (a, a.utcoffset(), a.tzname()) == (b, b.utcoffset(), b.tzname())
                assert a.replace(tzinfo=None) == b.replace(tzinfo=None)  # same wall time
                assert (a.microsecond, a.fold) == (b.microsecond, b.fold)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_run_ids_checked_against_the_count_seen_then_the_store(tmp_path: Path) -> None:
    """Per-run updates check IDs against the run count seen last, and read the store's
    count only for IDs beyond it: runs another process added are found, bad IDs are
    still refused."""
    from wfstore.common.errors import MissingStoreEARError

    path = tmp_path / "wk"
    a = _runs_store(path)
    b = ZarrPersistentStore(None, None, path)
    it = b.add_element_iteration(0, {}, [])
    new = b.add_EAR(it, 0, [0], {})  # added by another store object
    assert new == 7
    a.set_EAR_submission_index(6, 9)  # known: no count read
    a.set_EAR_submission_index(new, 8)  # beyond the count seen: read, found
    for bad in (-1, 8, 10**9, 2.0, True, "3"):
        with pytest.raises(MissingStoreEARError):
            a.set_EAR_submission_index(bad, 1)  # type: ignore[arg-type]
    fresh = ZarrPersistentStore(None, None, path).get_EARs([6, new])
    assert [r.submission_idx for r in fresh] == [9, 8]


def test_appends_and_reads_in_batches_keep_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Appends are encoded, and runs and parameters read, a batch of ``ROW_BATCH`` rows
    at a time: with a batch of 3, eleven runs and parameters (new lookup paths in later
    batches) come back whole and in order."""
    from wfstore.persistence.zarr import layout

    monkeypatch.setattr(layout, "ROW_BATCH", 3)
    path = tmp_path / "wk"
    store = _new(ZarrPersistentStore, path)
    it = _add_iter(store)
    params = [store.add_set_parameter({"v": i}, {"type": "a"}, save=False) for i in range(11)]
    runs = [
        store.add_EAR(it, i, [i], {f"inputs.p{i}": params[i]}, save=False) for i in range(11)
    ]
    store.save()
    fresh = ZarrPersistentStore(None, None, path)
    got = fresh.get_EARs(runs)
    assert [r.action_idx for r in got] == list(range(11))
    assert [r.data_idx for r in got] == [{f"inputs.p{i}": params[i]} for i in range(11)]
    assert [p.data for p in fresh.get_parameters(params)] == [{"v": i} for i in range(11)]


def test_many_chunks_are_read_a_batch_of_chunks_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store with a chunk per row (as the engine makes them) is read at most
    ``CHUNK_BATCH`` chunks per call to the core, so that only that many chunk objects
    exist at once; every row comes back, in the order asked for."""
    from wfstore.persistence.zarr import layout

    path = tmp_path / "wk"
    ZarrPersistentStore.write_empty_workflow(
        None,
        **empty_workflow_kwargs(str(path), LocalFileSystem()),
        run_chunk_size=1,
        param_chunk_size=1,
    )
    store = ZarrPersistentStore(None, None, path)
    it = _add_iter(store)
    params = [store.add_set_parameter({"v": i}, {"type": "a"}, save=False) for i in range(7)]
    runs = [store.add_EAR(it, i, [i], {}, save=False) for i in range(7)]
    store.save()
    monkeypatch.setattr(layout, "CHUNK_BATCH", 2)
    calls: list[int] = []
    orig = ZarrPersistentStore._object_chunks

    def counting(self: Any, rc: Any, arr: Any, chunk_ids: Any) -> Any:
        calls.append(len(chunk_ids))
        return orig(self, rc, arr, chunk_ids)

    monkeypatch.setattr(ZarrPersistentStore, "_object_chunks", counting)
    fresh = ZarrPersistentStore(None, None, path)
    assert [r.action_idx for r in fresh.get_EARs(runs[::-1])] == list(reversed(range(7)))
    assert calls == [2, 2, 2, 1]
    calls.clear()
    assert [p.data for p in fresh.get_parameters(params)] == [{"v": i} for i in range(7)]
    assert max(calls) == 2


@pytest.mark.parametrize("cls", STORES)
def test_param_is_set_answers_as_get_parameters(tmp_path: Path, cls: type) -> None:
    """`set_parameter_value` refuses a set parameter by asking `_is_param_set`, which
    the Zarr store answers from the base row alone: it must agree with
    ``get_parameters(...)[i].is_set`` for unset, set, file, pending and cached
    parameters."""
    store = _new(cls, tmp_path / "wk")
    src = {"type": "local_input"}
    unset = store.add_unset_parameter(src)
    value = store.add_set_parameter({"a": [1, 2]}, src)
    none = store.add_set_parameter(None, src)
    (tmp_path / "f.txt").write_text("x")
    file = store.add_file(False, True, src, tmp_path / "f.txt")
    pending_unset = store.add_unset_parameter(src, save=False)
    pending_set = store.add_set_parameter(3, src, save=False)
    ids = [unset, value, none, file, pending_unset, pending_set]
    for fresh in (False, True):
        s = cls(None, None, tmp_path / "wk") if fresh else store
        for i in ids:
            if fresh and i in (pending_unset, pending_set):
                continue
            assert s._is_param_set(i) is s.get_parameters([i])[0].is_set, i
    assert [store._is_param_set(i) for i in (unset, value, none, file)] == [False, True, True, True]
    store.get_parameters([unset])  # cached: answered from the cache
    assert store._is_param_set(unset) is False
    from wfstore.common.errors import ParameterAlreadySetError

    with pytest.raises(ParameterAlreadySetError):
        store.set_parameter_value(value, 1)
    store.set_parameter_value(unset, 5)
    assert cls(None, None, tmp_path / "wk").get_parameters([unset])[0].data == 5


@pytest.mark.parametrize("cls", STORES)
def test_param_ids_added_by_another_store_are_accepted(tmp_path: Path, cls: type) -> None:
    """Parameter IDs are checked against the count seen last and the store is read
    again only for an ID beyond it: a parameter another process added meanwhile can be
    set, and an ID beyond the store's count is still refused, naming it."""
    from wfstore.common.errors import MissingParameterData

    path = tmp_path / "wk"
    a = _new(cls, path)
    p0 = a.add_unset_parameter({"type": "x"})
    a.set_parameter_value(p0, 0)  # a has seen one parameter
    b = cls(None, None, path)
    p1 = b.add_unset_parameter({"type": "x"})
    a.set_parameter_value(p1, 1)
    a.update_param_source({p1: {"type": "y"}})
    with pytest.raises(MissingParameterData, match=str(p1 + 1)):
        a.set_parameter_value(p1 + 1, 2)
    with pytest.raises(MissingParameterData):
        a.update_param_source({p1 + 5: {"type": "y"}})
    with pytest.raises(MissingParameterData):
        a.set_parameter_value(-1, 2)
    got = cls(None, None, path).get_parameters([p0, p1])
    assert [p.data for p in got] == [0, 1] and got[1].source["type"] == "y"


def _task_with_elements(store: Any, n: int) -> tuple[int, list[int]]:
    t = store.add_task(store._get_num_total_tasks(), {"element_sets": []}, save=False)
    elems = []
    for _ in range(n):
        e = store.add_element(t, 0, {}, {}, save=False)
        it = store.add_element_iteration(e, {}, [], save=False)
        store.add_EAR(it, 0, [0], {}, save=False)
        store.set_EARs_initialised(it, save=False)
        elems.append(e)
    return t, elems


@pytest.mark.parametrize("cls", STORES)
@pytest.mark.parametrize("committed", [False, True])
def test_task_elements_read_per_batch_not_per_element(
    tmp_path: Path, cls: type, committed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """get_task_elements reads each kind of item once per batch of elements (the
    engine reads whole tasks this way), and yields what the per-element reads gave."""
    store = _new(cls, tmp_path / "wk")
    t, elems = _task_with_elements(store, 7)
    if committed:
        store.save()
        store = cls(None, None, tmp_path / "wk")
    calls: dict[str, int] = {"get_element_iterations": 0, "get_EARs": 0}
    for name in calls:
        orig = getattr(store, name)

        def counted(ids: Any, _orig: Any = orig, _name: str = name) -> Any:
            calls[_name] += 1
            return _orig(ids)

        monkeypatch.setattr(store, name, counted)
    got = list(store.get_task_elements(t))
    assert calls == {"get_element_iterations": 1, "get_EARs": 1}
    assert [d["id_"] for d in got] == elems
    for d, e in zip(got, elems):
        (it,) = store.get_element_iterations(store.get_elements([e])[0].iteration_IDs)
        runs = [r.to_dict() for r in store.get_EARs(it.EAR_IDs[0])]
        assert d["iterations"] == [it.to_dict({0: runs})]
    # positions within the task, as a list indexes them (negative too)
    picked = list(store.get_task_elements(t, [3, 0, -1]))
    assert [d["id_"] for d in picked] == [elems[3], elems[0], elems[-1]]
    with pytest.raises(IndexError):
        list(store.get_task_elements(t, [7]))


@pytest.mark.parametrize("cls", STORES)
def test_tasks_asked_for_once_per_element_are_built_once(
    tmp_path: Path, cls: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine asks for a task once per element of it: the task with its pending
    element IDs appended is built once per call, not once per repeated ID, and the
    element positions of get_task_elements never build it."""
    store = _new(cls, tmp_path / "wk")
    t, elems = _task_with_elements(store, 5)
    task_cls = type(store.get_tasks()[0])
    built = []
    orig = task_cls.append_element_IDs

    def counting(self: Any, pend: Any) -> Any:
        built.append(len(pend))
        return orig(self, pend)

    monkeypatch.setattr(task_cls, "append_element_IDs", counting)
    got = store.get_tasks_by_IDs([t] * 5)
    assert len(built) == 1 and [x.element_IDs for x in got] == [elems] * 5
    del built[:]
    assert [d["id_"] for d in store.get_task_elements(t, [2])] == [elems[2]]
    assert built == []


def test_debug_records_built_only_when_a_handler_takes_them(tmp_path: Path) -> None:
    """The engine's loggers are at debug level with handlers at higher ones: a record
    per item added is built only when some handler would emit it."""
    import logging

    class App:  # the engine's app as the store sees it: its persistence logger
        persistence_logger = logging.getLogger("wfstore-test-app.persistence")

    logger = App.persistence_logger
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    made = []
    factory = logging.getLogRecordFactory()

    def counting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        rec = factory(*args, **kwargs)
        made.append(rec)
        return rec

    handler = Collect(level=logging.INFO)
    logger.addHandler(handler)
    logging.setLogRecordFactory(counting_factory)
    try:
        ZarrPersistentStore.write_empty_workflow(
            None, **empty_workflow_kwargs(str(tmp_path / "wk"), LocalFileSystem())
        )
        store = ZarrPersistentStore(App(), None, tmp_path / "wk")
        _task_with_elements(store, 3)
        assert made == [] and records == []
        handler.setLevel(logging.DEBUG)
        _task_with_elements(store, 1)
        msgs = [r.getMessage() for r in records]
        assert "Adding store element." in msgs and "Adding store EAR." in msgs
        assert len(made) == len(records)
    finally:
        logging.setLogRecordFactory(factory)
        logger.removeHandler(handler)


def test_task_batches_are_read_with_the_collector_paused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading a task batch by batch (as the engine reads whole tasks) runs each batch
    of ``_GC_PAUSE_ITEMS`` items or more with the cyclic garbage collector paused, and
    reads of fewer with it running. (The rule is the base class's: one store kind shows
    it.)"""
    import wfstore.persistence.base as base

    cls = ZarrPersistentStore
    store = _new(cls, tmp_path / "wk")
    t, elems = _task_with_elements(store, base._ELEMENT_BATCH + 1)
    store.save()
    store = cls(None, None, tmp_path / "wk")
    asked: list[tuple[int, bool]] = []
    for name in (
        "_get_persistent_elements",
        "_get_persistent_element_iters",
        "_get_persistent_EARs",
    ):
        orig = getattr(store, name)

        def tracked(ids: Any, _orig: Any = orig, **kw: Any) -> Any:
            ids = list(ids)
            asked.append((len(ids), gc.isenabled()))
            return _orig(ids, **kw)

        monkeypatch.setattr(store, name, tracked)
    got = list(store.get_task_elements(t))
    assert [d["id_"] for d in got] == elems
    assert max(n for n, _ in asked) == base._ELEMENT_BATCH
    assert all(on == (n < base._GC_PAUSE_ITEMS) for n, on in asked)
    assert any(not on for _, on in asked) and any(on for _, on in asked)
    assert gc.isenabled()


def test_item_caches_keep_items_only_while_caching(tmp_path: Path) -> None:
    """Items read outside ``cache_ctx`` are not kept by the store object (the engine
    keeps its store as long as the workflow: they would be held for its life); inside
    it they are kept and a second read of the same ID is served from them."""
    path = tmp_path / "wk"
    _runs_store(path)
    store = ZarrPersistentStore(None, None, path)
    first = store.get_EARs([0, 1])
    assert len(store.EAR_cache) == 0 and len(store._cache["EARs"]) == 0
    store.EAR_cache.update({5: first[0]})  # (what a getter does with what it loaded)
    store.EAR_cache[6] = first[1]
    assert 5 not in store.EAR_cache and 6 not in store.EAR_cache
    with store.cache_ctx():
        (run,) = store.get_EARs([1])
        assert store.EAR_cache == {1: run}
        assert store.get_EARs([1])[0] is run  # from the item cache
    assert len(store._cache["EARs"]) == 0  # forgotten at the block's end, as before
