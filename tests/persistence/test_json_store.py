"""Behaviour of the JSON store and the PersistentStore machinery, without the engine."""

from __future__ import annotations

import enum
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from backends import Backend
from fsspec.implementations.local import LocalFileSystem
from store_dump import empty_workflow_kwargs
from wfstore.common.errors import (
    MissingParameterData,
    MissingStoreEARError,
    ParameterAlreadySetError,
    ParameterEncodeError,
    StoreError,
    StorePathError,
    StoreResourceError,
    UnsupportedStoreOperationError,
)
from wfstore.persistence import JSONPersistentStore


class Shape(enum.Enum):
    """An enum with a tuple value."""

    SQUARE = (4, "sq")


class Point:
    """An object stored through its ``to_dict()``."""

    def to_dict(self) -> dict[str, Any]:
        return {"x": 1, "tags": ("a", "b")}


def _new_store(path: Path | str, fs: Any = None) -> JSONPersistentStore:
    fs = fs if fs is not None else LocalFileSystem()
    JSONPersistentStore.write_empty_workflow(None, **empty_workflow_kwargs(str(path), fs))
    return JSONPersistentStore(None, None, path, fs)


def _read(store: JSONPersistentStore, name: str, path: Path | str | None = None) -> Any:
    """The JSON document `name` of `store` (or of the store folder `path` on the same
    file system), read straight from the file system."""
    folder = str(path if path is not None else store.path).rstrip("/")
    return json.loads(store.fs.cat_file(f"{folder}/{name}"))


@pytest.fixture
def store(backend: Backend) -> JSONPersistentStore:
    """A new JSON store on each file system backend."""
    return _new_store(backend.path("wk"), backend.fs)


def _add_task_with_run(store: JSONPersistentStore) -> tuple[int, int, int, int]:
    t = store.add_task(0, {"element_sets": []}, save=False)
    e = store.add_element(t, 0, {}, {}, save=False)
    i = store.add_element_iteration(e, {}, [], save=False)
    r = store.add_EAR(i, 0, [0], {}, save=False)
    return t, e, i, r


def test_pending_changes_visible_before_commit(store: JSONPersistentStore) -> None:
    path = store.path
    t, e, i, r = _add_task_with_run(store)
    p = store.add_set_parameter([1, (2,)], {"type": "x"}, save=False)
    assert store.has_pending
    assert store.get_tasks()[0].element_IDs == [e]
    assert store.get_elements([e])[0].iteration_IDs == [i]
    assert store.get_element_iterations([i])[0].EAR_IDs == {0: [r]}
    assert store.get_EARs([r])[0].is_pending
    assert store.get_parameters([p])[0].data == [1, (2,)]
    assert _read(store, "metadata.json")["tasks"] == []  # nothing written yet
    store.save()
    assert not store.has_pending
    md = _read(store, "metadata.json")
    assert md["tasks"] == [{"id_": t, "element_IDs": [e], "index": 0}]
    assert md["iters"][i]["EAR_IDs"] == {"0": [r]}
    reopened = JSONPersistentStore(None, None, path, store.fs)
    assert reopened.get_EARs([r])[0].is_pending is False
    assert reopened.get_parameters([p])[0].data == [1, (2,)]


def test_parameter_kinds_round_trip(store: JSONPersistentStore) -> None:
    values = {
        "nested": {"a": [1, {"b": (2, {3, 4})}], "c": None, "d": 2.5, "e": True},
        "tuple_of_lists": ([1], [2, (3,)]),
        "set": {"x", "y"},
        "enum": Shape.SQUARE,
        "obj": Point(),
        "np_scalar": np.int64(7),
        "list_of_tuples": [(1, 2), (3, 4)],
    }
    ids = {k: store.add_set_parameter(v, {"type": k}) for k, v in values.items()}
    reopened = JSONPersistentStore(None, None, store.path, store.fs)
    got = {k: reopened.get_parameters([i])[0].data for k, i in ids.items()}
    assert got["nested"] == {"a": [1, {"b": (2, {3, 4})}], "c": None, "d": 2.5, "e": True}
    assert isinstance(got["nested"]["a"][1]["b"], tuple)
    assert got["tuple_of_lists"] == ([1], [2, (3,)])
    assert got["set"] == {"x", "y"}
    assert got["enum"] == (4, "sq")
    assert got["obj"] == {"x": 1, "tags": ("a", "b")}
    assert got["np_scalar"] == 7 and type(got["np_scalar"]) is int
    assert got["list_of_tuples"] == [(1, 2), (3, 4)]
    raw = _read(store, "parameters.json")["data"][str(ids["set"])]
    assert sorted(raw["data"]) == ["x", "y"] and raw["type_lookup"]["sets"] == [[]]


def test_sub_path_decoding(store: JSONPersistentStore) -> None:
    p = store.add_set_parameter({"a": [(1, 2), {3}]}, {"type": "x"})
    enc = _read(store, "parameters.json")["data"][str(p)]
    param = store._store_param_cls().decode(p, enc, {}, path=["a", 0])
    assert param.data == (1, 2)
    assert store._store_param_cls().decode(p, enc, {}, path=["a"]).data == [(1, 2), {3}]


def test_unencodable_values_are_rejected_naming_the_parameter(
    store: JSONPersistentStore,
) -> None:
    with pytest.raises(ParameterEncodeError, match=r"Parameter ID 0.*ndarray"):
        store.add_set_parameter({"arr": np.zeros(3)}, {"type": "x"})
    assert not store.has_pending  # nothing was added
    p = store.add_unset_parameter({"type": "x"})
    with pytest.raises(ParameterEncodeError, match=rf"Parameter ID {p}.*object"):
        store.set_parameter_value(p, [object()])
    assert not store.has_pending
    store.set_parameter_value(p, 5)
    with pytest.raises(ParameterAlreadySetError):
        store.set_parameter_value(p, 6)
    assert store.get_parameters([p])[0].data == 5


def test_unset_parameters_and_files(
    store: JSONPersistentStore, backend: Backend, tmp_path: Path
) -> None:
    p_unset = store.add_unset_parameter({"type": "EAR_output"})
    # committed at once: the engine counts a stored unset parameter (data 0) as set,
    # while the parameter itself says it is not set
    assert store.get_parameter_set_statuses([p_unset]) == [True]
    assert store.get_parameters([p_unset])[0].is_set is False
    p_pending = store.add_unset_parameter({"type": "EAR_output"}, save=False)
    assert store.get_parameter_set_statuses([p_pending]) == [False]  # pending: exact
    assert _read(store, "parameters.json")["data"][str(p_unset)] == 0
    src = tmp_path / "in.txt"
    src.write_text("hello")
    p_file = store.add_file(True, True, {"type": "input_file"}, src)
    param = store.get_parameters([p_file])[0]
    assert param.is_set and param.data is None
    assert param.file == {"store_contents": True, "path": "artifacts/input_files/0/in.txt"}
    assert backend.read_text(f"{store.path}/artifacts/input_files/0/in.txt") == "hello"
    store.set_file(False, False, p_unset, tmp_path / "out.txt")
    assert store.get_parameters([p_unset])[0].file["store_contents"] is False
    assert store.get_parameter_set_statuses([p_unset, p_file]) == [True, True]


def test_batch_update_commits_once_or_not_at_all(
    store: JSONPersistentStore, json_writes: list[str]
) -> None:
    dumps = json_writes
    with store.batch_update():
        _t, _e, _i, r = _add_task_with_run(store)
        store.add_set_parameter(1, {"type": "x"})  # save() does not commit here
        store.set_EAR_start(r)
        assert dumps == []
    assert sorted(dumps) == ["metadata.json", "parameters.json"]
    assert store.get_EARs([r])[0].start_time is not None

    before = _read(store, "metadata.json")
    with pytest.raises(RuntimeError, match="boom"), store.batch_update():
        store.add_task(1, {"element_sets": []})
        raise RuntimeError("boom")
    assert not store.has_pending
    assert _read(store, "metadata.json") == before
    assert len(store.get_tasks()) == 1


def test_failed_commit_writes_nothing_and_keeps_pending(
    store: JSONPersistentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add_task_with_run(store)
    store.add_set_parameter(1, {"type": "x"}, save=False)
    before = (_read(store, "metadata.json"), _read(store, "parameters.json"))

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store, "_append_parameters", fail)
    with pytest.raises(OSError, match="disk full"):
        store.save()
    assert (
        _read(store, "metadata.json"),
        _read(store, "parameters.json"),
    ) == before
    assert store.has_pending and store.get_tasks()[0].element_IDs == [0]
    monkeypatch.undo()
    store.save()
    assert not store.has_pending
    assert JSONPersistentStore(None, None, store.path, store.fs).get_parameters([0])[0].data == 1


def test_using_resource_nesting(store: JSONPersistentStore, json_writes: list[str]) -> None:
    dumps = json_writes
    with store.using_resource("metadata", "update") as md:
        md["name"] = "renamed"
        with store.using_resource("metadata", "update") as md2:
            assert md2 is md
            md2["ts_name_fmt"] = "%Y"
        with store.using_resource("metadata", "read") as rd:
            assert rd["name"] == "renamed" and rd is not md
            rd["name"] = "ignored"  # reads cannot change the update data
        assert dumps == []
    assert dumps == ["metadata.json"]
    assert _read(store, "metadata.json")["name"] == "renamed"
    with store.using_resource("metadata", "update"):
        pass  # unchanged: not written
    assert dumps == ["metadata.json"]
    with pytest.raises(KeyError), store.using_resource("metadata", "update") as md:
        md["name"] = "lost"
        raise KeyError("x")
    assert store.get_name() == "renamed"
    with pytest.raises(StoreResourceError, match="attrs"), store.using_resource("attrs", "read"):
        pass
    with (
        pytest.raises(StoreResourceError, match="write"),
        store.using_resource("metadata", "write"),
    ):
        pass


def test_runs_loops_submissions(store: JSONPersistentStore) -> None:
    _t, e, i, r = _add_task_with_run(store)
    store.save()
    # runs added to an already-committed iteration (whose EAR_IDs are stored):
    i2 = store.add_element_iteration(e, {}, [])
    r2 = store.add_EAR(i2, 1, [0], {})
    r3 = store.add_EAR(i, 0, [1], {})
    reopened = JSONPersistentStore(None, None, store.path, store.fs)
    assert reopened.get_element_iterations([i, i2])[0].EAR_IDs == {0: [r, r3]}
    assert reopened.get_element_iterations([i2])[0].EAR_IDs == {1: [r2]}
    store.add_loop({"name": "L"}, {}, [], {(0,): 1}, [i])
    assert store.get_element_iterations([i])[0].loop_idx == {"L": 0}
    store.update_loop_parents(0, {(0,): 3}, ["P"])
    assert store.get_loops() == {
        0: {"num_added_iterations": [[[0], 3]], "iterable_parameters": {}, "parents": ["P"]}
    }
    assert store.get_loops_by_IDs([0])[0]["parents"] == ["P"]
    store.add_submission(0, {"jobscripts": [{"task_elements": {0: [0]}}], "submission_parts": {}})
    store.add_submission_part(0, "now", [0])
    store.set_jobscript_metadata(0, 0, os_name="posix", scheduler_job_ID=None)
    sub = JSONPersistentStore(None, None, store.path, store.fs).get_submissions()[0]
    assert sub["jobscripts"][0] == {"task_elements": {0: [0]}, "os_name": "posix"}
    assert sub["submission_parts"] == {"now": [0]}
    store.set_EAR_skip(r)
    store.set_EAR_submission_index(r, 0)
    store.run_dir_snapshot = lambda: {"data": {"f": 1}}
    start = store.set_EAR_start(r)
    end = store.set_EAR_end(r, 3, False)
    run = JSONPersistentStore(None, None, store.path, store.fs).get_EARs([r])[0]
    assert (run.skip, run.submission_idx, run.exit_code, run.success) == (True, 0, 3, False)
    assert run.start_time == start and run.end_time == end  # microsecond precision
    assert run.snapshot_start == {"data": {"f": 1}}
    assert store.get_EAR_skipped(r) is True
    with pytest.raises(MissingStoreEARError, match=r"\[99\]"):
        store.get_EAR_skipped(99)


def test_param_sources_and_existence(store: JSONPersistentStore) -> None:
    p = store.add_set_parameter(1, {"type": "local_input", "b": 1})
    store.update_param_source({p: {"a": 0}}, save=False)
    assert store.get_parameter_sources([p]) == [{"type": "local_input", "b": 1, "a": 0}]
    store.save()
    assert _read(store, "parameters.json")["sources"][str(p)] == {
        "a": 0,
        "b": 1,
        "type": "local_input",
    }
    q = store.add_unset_parameter({}, save=False)
    assert list(store.check_parameters_exist([p, q, q + 1])) == [True, True, False]
    with pytest.raises(MissingParameterData):
        store.get_parameters([q + 1])


def test_caches(store: JSONPersistentStore) -> None:
    _add_task_with_run(store)
    store.save()
    with store.cache_ctx():
        assert store.use_cache
        store.get_EARs([0])
        store.get_elements([0])
        assert set(store.EAR_cache) == {0} and set(store.element_cache) == {0}
        store.get_tasks()
        assert store.num_tasks_cache == 1 and set(store.task_cache) == {0}
        store.set_EAR_skip(0)  # committing invalidates the cached run
        assert 0 not in store.EAR_cache
        assert store.get_EARs([0])[0].skip is True
    assert not store.use_cache and store.EAR_cache == {} and store.num_tasks_cache is None


def test_standalone_defaults(store: JSONPersistentStore, backend: Backend) -> None:
    assert store.workflow is None
    assert store.ts_fmt == "%Y-%m-%d %H:%M:%S.%f"
    assert store.logger is logging.getLogger("wfstore")
    assert store.is_submittable is backend.is_local  # only local stores are submittable
    assert store.get_template_components() == {"parameters": {"h0": {"type": "p1"}}}
    store.add_template_components({"parameters": {"h0": {"type": "zz"}, "h1": {}}})
    assert store.get_template_components()["parameters"] == {"h0": {"type": "p1"}, "h1": {}}
    for op in (store.zip, store.unzip, store.rechunk_runs, store.rechunk_parameter_base):
        with pytest.raises(UnsupportedStoreOperationError):
            op()
    assert issubclass(UnsupportedStoreOperationError, StoreError)
    dst = store.copy(backend.path("copied"))
    assert str(dst) == backend.path("copied")
    assert _read(store, "metadata.json", dst) == _read(store, "metadata.json")
    with pytest.raises(StorePathError):
        store.copy(dst)
    store.rename_path(str(dst), backend.path("renamed"))
    assert not backend.exists(dst) and backend.isfile(backend.path("renamed/metadata.json"))
    store.remove_path(backend.path("renamed"))
    assert not backend.exists(backend.path("renamed"))
    store.delete_no_confirm()
    assert not backend.exists(store.path)


def test_prepare_test_store_from_spec() -> None:
    spec = [{"elements": [{"iterations": [{"EARs": [{}, {}]}, {}]}]}, {"elements": [{}]}]
    tasks, elems, iters, runs = JSONPersistentStore.prepare_test_store_from_spec(spec)
    assert [t["element_IDs"] for t in tasks] == [[0], [1]]
    assert [e["iteration_IDs"] for e in elems] == [[0, 1], []]
    assert [it["EAR_IDs"] for it in iters] == [{0: [0, 1]}, {}]
    assert [r["elem_iter_ID"] for r in runs] == [0, 0]
