"""The garbage collector is paused during bulk commits and reads, and always comes
back as it was (issue 5)."""

from __future__ import annotations

import gc
import threading
import types
import weakref
from pathlib import Path

import pytest
import wfstore.persistence.base as base
from fsspec.implementations.local import LocalFileSystem
from store_dump import empty_workflow_kwargs
from wfstore.persistence import ZarrPersistentStore
from wfstore.persistence.gcpause import gc_paused


def test_pauses_nest_and_restore_the_state() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with gc_paused(False):
        assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # the application's choice is kept
    finally:
        gc.enable()


def test_an_exception_restores_the_collector() -> None:
    with pytest.raises(KeyError), gc_paused():
        raise KeyError
    assert gc.isenabled()


def test_threads_share_one_pause() -> None:
    inside = threading.Barrier(2)
    leave = threading.Event()

    def hold() -> None:
        with gc_paused():
            inside.wait()
            leave.wait()

    t = threading.Thread(target=hold)
    t.start()
    with gc_paused():
        inside.wait()
    assert not gc.isenabled()  # the other thread still pauses it
    leave.set()
    t.join()
    assert gc.isenabled()


def test_commits_and_bulk_reads_run_paused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "wk"
    ZarrPersistentStore.write_empty_workflow(
        None, **empty_workflow_kwargs(str(path), LocalFileSystem())
    )
    store = ZarrPersistentStore(None, None, path)
    seen: list[bool] = []
    orig = ZarrPersistentStore._append_parameters
    monkeypatch.setattr(
        ZarrPersistentStore,
        "_append_parameters",
        lambda self, ps: (seen.append(gc.isenabled()), orig(self, ps))[1],
    )
    n = base._GC_PAUSE_ITEMS
    for i in range(n):
        store.add_set_parameter(i, {"type": "x"}, save=False)
    store.save()
    assert seen == [False] and gc.isenabled()
    loads: list[bool] = []
    orig_get = ZarrPersistentStore._get_persistent_parameters
    monkeypatch.setattr(
        ZarrPersistentStore,
        "_get_persistent_parameters",
        lambda self, ids, **kw: (loads.append(gc.isenabled()), orig_get(self, ids, **kw))[1],
    )
    fresh = ZarrPersistentStore(None, None, path)
    assert [p.data for p in fresh.get_parameters(range(n))] == list(range(n))
    assert fresh.get_parameters([3])[0].data == 3
    assert loads == [False, True] and gc.isenabled()
    # reads from _GC_PAUSE_ITEMS items on are bulk reads; fewer (a batch of a task's
    # elements, a job's runs) run with the collector on
    loads.clear()
    other = ZarrPersistentStore(None, None, path)
    other.get_parameters(range(n))
    other.get_parameters(range(n - 1))
    assert loads == [False, True] and gc.isenabled()


def test_a_bulk_read_starts_with_a_collection_of_the_young_generations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A paused read first collects the young and middle generations (the caller's
    young cyclic garbage, which the read's allocations would have had collected),
    not all of them; nothing is collected on purpose for a small read, or while the
    application keeps the collector off."""
    path = tmp_path / "wk"
    ZarrPersistentStore.write_empty_workflow(
        None, **empty_workflow_kwargs(str(path), LocalFileSystem())
    )
    store = ZarrPersistentStore(None, None, path)
    n = base._GC_PAUSE_ITEMS
    for i in range(n):
        store.add_set_parameter(i, {"type": "x"}, save=False)
    store.save()
    asked: list[int] = []
    real_collect = gc.collect

    def collect(generation: int = 2) -> int:
        asked.append(generation)
        return real_collect(generation)

    monkeypatch.setattr(gc, "collect", collect)
    got = ZarrPersistentStore(None, None, path).get_parameters(list(range(n)))
    assert [p.data for p in got[:3]] == [0, 1, 2] and asked == [1]
    asked.clear()
    ZarrPersistentStore(None, None, path).get_parameters(list(range(n - 1)))
    assert asked == []
    gc.disable()
    try:
        ZarrPersistentStore(None, None, path).get_parameters(list(range(n)))
        assert asked == [] and not gc.isenabled()
    finally:
        gc.enable()

    asked.clear()
    with gc_paused(collect_young=True), gc_paused(collect_young=True):
        assert asked == [1]  # before the block, once, by the outermost pause
    assert asked == [1]


def _made_by_wfstore(obj: object) -> bool:
    if isinstance(obj, types.FunctionType):
        return obj.__module__.startswith("wfstore")
    return type(obj).__module__.startswith("wfstore")


class _Record:
    def __init__(self, value: object) -> None:
        self.value = value


def _build(store: ZarrPersistentStore, n_elements: int) -> list[int]:
    runs = []
    task = store.add_task(0, {"insert_ID": 0, "element_sets": [], "schema": ["s"]}, save=False)
    store.add_element_set(task, {"label": "es0", "repeats": []}, save=False)
    src = {"type": "local_input", "task_insert_ID": 0, "element_set_idx": 0}
    for i in range(n_elements):
        p1 = store.add_set_parameter({"a": i}, src, save=False)
        p2 = store.add_unset_parameter(src, save=False)
        elem = store.add_element(task, 0, {"inputs.p1": i}, {"inputs.p1": 0}, save=False)
        data_idx = {"inputs.p1": p1, "outputs.p2": p2}
        it = store.add_element_iteration(elem, data_idx, ["inputs.p1"], save=False)
        for act in range(5):
            runs.append(store.add_EAR(it, act, [0, 1], data_idx, save=False))
    return runs


def test_a_build_makes_no_cyclic_garbage_and_frees_its_records_at_the_commit(
    tmp_path: Path,
) -> None:
    """A build's pending records are not part of reference cycles: they are freed by
    reference counting after the commit, and read back as written."""
    path = tmp_path / "wk"
    ZarrPersistentStore.write_empty_workflow(
        None, **empty_workflow_kwargs(str(path), LocalFileSystem())
    )
    store = ZarrPersistentStore(None, None, path)
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds stays in gc.garbage
    try:
        runs = _build(store, 400)  # 2,000 runs
        gc.collect()
        # (other threads of the test process may have made garbage meanwhile)
        ours = [o for o in gc.garbage if _made_by_wfstore(o)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert ours == []  # the build made no cyclic garbage (was a closure per value)
    pending = store._pending
    records = [
        *pending.add_EARs.values(),
        *pending.add_elements.values(),
        *pending.add_elem_iters.values(),
        *pending.add_parameters.values(),
    ]
    assert len(records) == 2000 + 400 + 400 + 800
    ear = pending.add_EARs[runs[7]]
    assert ear.commands_idx == [0, 1]
    refs = [weakref.ref(r) for r in records[::97]]
    del records, ear
    store.save()
    assert all(r() is None for r in refs)  # freed by reference counting at the commit
    fresh = ZarrPersistentStore(None, None, path)
    got = fresh.get_EARs([runs[0], runs[-1]])
    assert [r.commands_idx for r in got] == [[0, 1], [0, 1]]
    assert fresh.get_element_iterations([0])[0].EAR_IDs == {a: [a] for a in range(5)}
    assert fresh.get_parameters([0])[0].data == {"a": 0}


def test_pending_records_do_not_share_the_callers_lists(tmp_path: Path) -> None:
    path = tmp_path / "wk"
    ZarrPersistentStore.write_empty_workflow(
        None, **empty_workflow_kwargs(str(path), LocalFileSystem())
    )
    store = ZarrPersistentStore(None, None, path)
    task = store.add_task(0, {"insert_ID": 0, "element_sets": [], "schema": ["s"]}, save=False)
    store.add_element_set(task, {"label": "es0", "repeats": []}, save=False)
    elem = store.add_element(task, 0, {}, {}, save=False)
    schema = ["inputs.p1"]
    it = store.add_element_iteration(elem, {}, schema, save=False)
    cmds = [0, 1]
    run = store.add_EAR(it, 0, cmds, {}, save=False)
    schema.append("later")
    cmds.append(2)
    store.save()
    fresh = ZarrPersistentStore(None, None, path)
    assert fresh.get_EARs([run])[0].commands_idx == [0, 1]
    assert fresh.get_element_iterations([it])[0].schema_parameters == ["inputs.p1"]
