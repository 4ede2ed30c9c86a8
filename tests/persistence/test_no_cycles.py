"""Store objects are freed as soon as the last reference goes (no reference cycles).

A store in a reference cycle is freed by Python's cyclic collector at some later,
arbitrary moment, and its open files (a zip archive read over SFTP, say) are closed
then: in the middle of whatever runs, possibly inside another SFTP request holding
the connection's lock (a deadlock seen in this suite). Freed by reference counting,
they close where the application lets go of the store.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from fsspec.implementations.local import LocalFileSystem
from store_dump import empty_workflow_kwargs, run_scenario
from wfstore.persistence import JSONPersistentStore, ZarrPersistentStore, ZarrZipPersistentStore


@pytest.fixture
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _scenario(cls: type, path: Path) -> object:
    cls.write_empty_workflow(None, **empty_workflow_kwargs(str(path), LocalFileSystem()))
    store = cls(None, None, path)
    store.run_dir_snapshot = lambda: {"data": {}}
    run_scenario(store, "red")
    return store


@pytest.mark.parametrize("cls", [ZarrPersistentStore, JSONPersistentStore])
def test_a_used_store_is_freed_by_reference_counting(
    tmp_path: Path, cls: type, no_gc: None
) -> None:
    store = _scenario(cls, tmp_path / "wk")
    store.get_EARs([0, 1])  # type: ignore[attr-defined]
    store.get_parameters([0])  # type: ignore[attr-defined]
    ref = weakref.ref(store)
    del store
    assert ref() is None


def test_a_zip_store_and_its_archive_are_freed_by_reference_counting(
    tmp_path: Path, no_gc: None
) -> None:
    store = _scenario(ZarrPersistentStore, tmp_path / "wk")
    archive = store.zip(str(tmp_path))  # type: ignore[attr-defined]
    del store
    zs = ZarrZipPersistentStore(None, None, archive)
    assert zs.get_EARs([0])[0].id_ == 0
    ref = weakref.ref(zs)
    del zs
    assert ref() is None
