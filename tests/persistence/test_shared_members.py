"""Members of the spec that the other suites reach only indirectly, run on every store
kind (JSON, Zarr, and the zip archive of the Zarr store, read-only) and on every
file system of the store suite: the caches, ``get_task_elements``,
``get_submissions_by_ID``, ``check_parameters_exist``."""

from __future__ import annotations

import enum
from typing import Any

import pytest
from backends import Backend
from store_dump import empty_workflow_kwargs, run_scenario
from wfstore import MissingStoreTaskError, store_cls_from_str
from wfstore.persistence import ZarrZipPersistentStore


class Colour(enum.Enum):
    RED = "red"


def _store(backend: Backend, kind: str, tmp_path: Any) -> Any:
    cls = store_cls_from_str("zarr" if kind == "zip" else kind)
    path = backend.path(kind)
    cls.write_empty_workflow(None, **empty_workflow_kwargs(path, backend.fs))
    store = cls(None, None, path, backend.fs)
    store.run_dir_snapshot = lambda: {"data": {}}
    run_scenario(store, Colour.RED, insert_first=(kind == "json"))
    if kind == "zip":
        archive = store.zip(str(tmp_path / "wk.zip"))
        return ZarrZipPersistentStore(None, None, archive)
    return store


@pytest.mark.parametrize("kind", ["json", "zarr", "zip"])
def test_caches_task_elements_and_lookups(backend: Backend, kind: str, tmp_path: Any) -> None:
    store = _store(backend, kind, tmp_path)
    n_runs = store._get_num_total_EARs()
    n_params = store._get_num_total_parameters()
    assert not store.use_cache

    with store.cache_ctx():
        assert store.use_cache
        runs = store.get_EARs(range(n_runs))
        iters = store.get_element_iterations(range(store._get_num_total_elem_iters()))
        params = store.get_parameters(range(n_params))
        sources = store.get_parameter_sources(range(n_params))
        # what was loaded is cached, and served from the cache
        assert sorted(store.EAR_cache) == list(range(n_runs))
        assert sorted(store.element_iter_cache) == [i.id_ for i in iters]
        assert sorted(store.parameter_cache) == list(range(n_params))
        assert sorted(store.param_sources_cache) == list(range(n_params))
        assert store.get_EARs([0])[0] is store.EAR_cache[0]
        assert store.get_parameters([1])[0] is store.parameter_cache[1]
        assert store._get_num_total_EARs() == n_runs
        assert store.num_EARs_cache in (None, n_runs)
    # leaving the context empties every cache
    assert not store.use_cache
    for cache in (store.EAR_cache, store.element_iter_cache, store.parameter_cache):
        assert cache == {}
    assert store.num_EARs_cache is None
    assert [r.id_ for r in runs] == list(range(n_runs))
    assert len(sources) == len(params) == n_params

    # get_task_elements: elements with their iterations and runs, as dicts (the task
    # is looked up by index, through get_task, as the engine does)
    task = store.get_task(0)
    elems = list(store.get_task_elements(0))
    assert [e["id_"] for e in elems] == task.element_IDs
    first = elems[0]
    assert first["iterations"] and "EARs" in first["iterations"][0]
    some = list(store.get_task_elements(0, [len(task.element_IDs) - 1]))
    assert [e["id_"] for e in some] == task.element_IDs[-1:]
    with pytest.raises(MissingStoreTaskError):
        list(store.get_task_elements(99))

    # submissions by ID (unknown IDs ignored, as the engine does)
    subs = store.get_submissions()
    assert store.get_submissions_by_ID([0, 7]) == {0: subs[0]}
    assert list(store.check_parameters_exist([0, n_params - 1, n_params, -1])) == [
        True,
        True,
        False,
        False,
    ]
