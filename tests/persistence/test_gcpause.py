"""The garbage collector is paused during bulk commits and reads, and always comes
back as it was (issue 5)."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest
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
    for i in range(1500):
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
    assert [p.data for p in fresh.get_parameters(range(1500))] == list(range(1500))
    assert fresh.get_parameters([3])[0].data == 3
    assert loads == [False, True] and gc.isenabled()
    # reads from 100 items on are bulk reads (1,000 is a task's runs, not a job's)
    loads.clear()
    other = ZarrPersistentStore(None, None, path)
    other.get_parameters(range(1000, 1100))
    other.get_parameters(range(1100, 1199))
    assert loads == [False, True] and gc.isenabled()


def _generation_of(obj: object) -> int | None:
    for gen in (0, 1, 2):
        if any(o is obj for o in gc.get_objects(generation=gen)):
            return gen
    return None


def test_kept_objects_go_to_the_oldest_generation() -> None:
    """A bulk read's objects are moved to the oldest generation when the collector
    resumes, instead of being scanned as young objects first; without `keep` they are
    young."""
    gc.collect()
    with gc_paused(keep=True):
        kept = [[i] for i in range(1000)]
    assert _generation_of(kept) == 2 and _generation_of(kept[-1]) == 2
    assert gc.get_count()[0] < 100  # the young generation starts afresh
    with gc_paused():
        young = [[i] for i in range(10)]
    assert _generation_of(young) == 0
    # nested: the outermost pause moves what any kept block made
    with gc_paused(), gc_paused(keep=True):
        inner = [[1]]
    assert _generation_of(inner) == 2
    assert gc.get_freeze_count() == 0


def test_objects_the_application_froze_stay_frozen() -> None:
    gc.collect()
    mine = [[1], [2]]
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with gc_paused(keep=True):
            made = [[3]]
        assert gc.get_freeze_count() == frozen  # not released by an unfreeze
        assert _generation_of(mine) is None  # still frozen
        assert _generation_of(made) == 0
    finally:
        gc.unfreeze()


def test_bulk_reads_keep_their_runs_in_the_oldest_generation(tmp_path: Path) -> None:
    path = tmp_path / "wk"
    ZarrPersistentStore.write_empty_workflow(
        None, **empty_workflow_kwargs(str(path), LocalFileSystem())
    )
    store = ZarrPersistentStore(None, None, path)
    for i in range(1200):
        store.add_set_parameter(i, {"type": "x"}, save=False)
    store.save()
    params = ZarrPersistentStore(None, None, path).get_parameters(list(range(1200)))
    assert [p.data for p in params[:3]] == [0, 1, 2]
    assert _generation_of(params[0]) == 2
