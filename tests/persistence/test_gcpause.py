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
