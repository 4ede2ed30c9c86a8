"""Bad input through the API (issue 6, point 7): wrong types, unknown and negative IDs,
writes to the read-only zip store. Each call fails with a clear ``StoreError`` naming
the ID (or a ``TypeError``/``OverflowError`` from the bindings for a wrong argument
type), nothing changes on disk (a digest of every file before and after), nothing is
left pending, and the store takes good calls afterwards."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rel_helpers import open_store, tree_digest
from wfstore import _core
from wfstore.common.errors import (
    InvalidArgumentError,
    MissingParameterData,
    MissingStoreEARError,
    MissingStoreElementError,
    MissingStoreElementIterationError,
    MissingStoreItemError,
    MissingStoreLoopError,
    MissingStoreSubmissionError,
    MissingStoreTaskError,
    ParameterAlreadySetError,
    ParameterEncodeError,
    ReadOnlyStoreError,
    StoreError,
    UnsupportedStoreOperationError,
)
from wfstore.persistence import ZarrZipPersistentStore

Call = Callable[[Any], Any]

#: (call, error class, text the message must contain)
STORE_CASES: dict[str, tuple[Call, type[Exception], str]] = {
    "get_EARs negative": (lambda s: s.get_EARs([-1]), MissingStoreEARError, "-1"),
    "get_EARs unknown": (lambda s: s.get_EARs([0, 999]), MissingStoreEARError, "999"),
    "get_EARs str": (lambda s: s.get_EARs(["a"]), MissingStoreEARError, "'a'"),
    "get_EARs float": (lambda s: s.get_EARs([1.5]), MissingStoreEARError, "1.5"),
    "get_EARs bool": (lambda s: s.get_EARs([True]), MissingStoreEARError, "True"),
    "get_elements": (lambda s: s.get_elements([-3]), MissingStoreElementError, "-3"),
    "get_element_iterations": (
        lambda s: s.get_element_iterations([99]),
        MissingStoreElementIterationError,
        "99",
    ),
    "get_parameters str": (lambda s: s.get_parameters(["x"]), MissingParameterData, "'x'"),
    "get_parameter_sources": (
        lambda s: s.get_parameter_sources([10**9]),
        MissingParameterData,
        str(10**9),
    ),
    "get_tasks_by_IDs": (lambda s: s.get_tasks_by_IDs([7]), MissingStoreTaskError, "7"),
    "get_task": (lambda s: s.get_task(-1), MissingStoreTaskError, "-1"),
    "set_EAR_start": (lambda s: s.set_EAR_start(999), MissingStoreEARError, "999"),
    "set_EAR_end": (lambda s: s.set_EAR_end(-1, 0, True), MissingStoreEARError, "-1"),
    "set_EAR_skip": (lambda s: s.set_EAR_skip("3"), MissingStoreEARError, "'3'"),
    "set_EAR_submission_index": (
        lambda s: s.set_EAR_submission_index(5, 0),
        MissingStoreEARError,
        "5",
    ),
    "set_EARs_initialised": (
        lambda s: s.set_EARs_initialised(42),
        MissingStoreElementIterationError,
        "42",
    ),
    "add_element": (lambda s: s.add_element(99, 0, {}, {}), MissingStoreTaskError, "99"),
    "add_element_iteration": (
        lambda s: s.add_element_iteration(-1, {}, []),
        MissingStoreElementError,
        "-1",
    ),
    "add_EAR": (lambda s: s.add_EAR(99, 0, [0], {}), MissingStoreElementIterationError, "99"),
    "set_parameter_value unknown": (
        lambda s: s.set_parameter_value(999, 1),
        MissingParameterData,
        "999",
    ),
    "set_parameter_value set": (
        lambda s: s.set_parameter_value(0, 1),
        ParameterAlreadySetError,
        "0",
    ),
    "add_set_parameter unencodable": (
        lambda s: s.add_set_parameter({"a": {1, object()}}, {}),
        ParameterEncodeError,
        "object",
    ),
    "update_param_source": (
        lambda s: s.update_param_source({-2: {"a": 1}}),
        MissingParameterData,
        "-2",
    ),
    "update_loop_num_iters": (
        lambda s: s.update_loop_num_iters(3, {}),
        MissingStoreLoopError,
        "3",
    ),
    "update_loop_parents": (
        lambda s: s.update_loop_parents(-1, {}, []),
        MissingStoreLoopError,
        "-1",
    ),
    "add_submission_part": (
        lambda s: s.add_submission_part(9, "t", [0]),
        MissingStoreSubmissionError,
        "9",
    ),
    "set_jobscript_metadata": (
        lambda s: s.set_jobscript_metadata(4, 0, process_ID=1),
        MissingStoreSubmissionError,
        "4",
    ),
    "rechunk chunk 0": (
        lambda s: s.rechunk_runs(chunk_size=0, status=False),
        InvalidArgumentError,
        "chunk_size",
    ),
    "rechunk chunk -1": (
        lambda s: s.rechunk_runs(chunk_size=-1, status=False),
        InvalidArgumentError,
        "-1",
    ),
    "rechunk chunk str": (
        lambda s: s.rechunk_parameter_base(chunk_size="a", status=False),
        InvalidArgumentError,
        "'a'",
    ),
    "unzip a zarr store": (lambda s: s.unzip("x"), UnsupportedStoreOperationError, "zip"),
}


@pytest.mark.parametrize("case", sorted(STORE_CASES))
def test_store_api_bad_input(wk: Path, case: str) -> None:
    call, error, text = STORE_CASES[case]
    before = tree_digest(wk)
    store = open_store(wk)
    runs = store.get_EARs(range(5))
    with pytest.raises(error) as info:
        call(store)
    assert isinstance(info.value, StoreError)
    assert text in str(info.value), str(info.value)
    if isinstance(info.value, MissingStoreItemError):
        assert info.value.id_lst
    assert not store.has_pending
    assert tree_digest(wk) == before
    # the same store object still works: a good commit goes through
    store.set_EAR_skip(4)
    assert open_store(wk).get_EAR_skipped(4) is True
    assert open_store(wk).get_EARs([0, 1, 2, 3]) == runs[:4]


ZIP_WRITES: dict[str, Call] = {
    "add_set_parameter": lambda s: s.add_set_parameter(1, {}),
    "add_unset_parameter": lambda s: s.add_unset_parameter({}),
    "set_parameter_value": lambda s: s.set_parameter_value(5, 1),
    "add_task": lambda s: s.add_task(0, {"insert_ID": 5, "element_sets": []}),
    "add_element": lambda s: s.add_element(0, 0, {}, {}),
    "add_EAR": lambda s: s.add_EAR(0, 0, [0], {}),
    "set_EAR_start": lambda s: s.set_EAR_start(0),
    "set_EAR_skip": lambda s: s.set_EAR_skip(0),
    "update_param_source": lambda s: s.update_param_source({0: {"a": 1}}),
    "add_template_components": lambda s: s.add_template_components({"x": {"h": 1}}),
    "rechunk_runs": lambda s: s.rechunk_runs(),
    "rechunk_parameter_base": lambda s: s.rechunk_parameter_base(),
    "remove_replaced_dir": lambda s: s.remove_replaced_dir(),
    "core set": lambda s: s.core_store.set("metadata/runs/0", b"x"),
    "core delete": lambda s: s.core_store.delete("metadata/runs/0"),
    "core write_attrs": lambda s: s.core_store.write_attrs("", {}),
    "core array set": lambda s: _core.ObjectArray.open(s.core_store, "metadata/runs").set([0], [1]),
    "core array append": lambda s: _core.ObjectArray.open(s.core_store, "metadata/runs").append(
        [1]
    ),
    "core array resize": lambda s: _core.ObjectArray.open(s.core_store, "metadata/runs").resize(1),
    "core numeric create": lambda s: _core.NumericArray.create(s.core_store, "n", np.ones(3)),
}


def test_zip_store_refuses_every_write(wk: Path, tmp_path: Path) -> None:
    arc = Path(open_store(wk).zip(str(tmp_path / "wk.zip")))
    digest = tree_digest(tmp_path)
    for name, call in ZIP_WRITES.items():
        store = ZarrZipPersistentStore(None, None, arc)
        with pytest.raises(ReadOnlyStoreError) as info:
            call(store)
        assert "read-only" in str(info.value), name
        assert not store.has_pending, name
        assert tree_digest(tmp_path) == digest, name
    with pytest.raises(UnsupportedStoreOperationError):
        ZarrZipPersistentStore(None, None, arc).zip(str(tmp_path / "again.zip"))
    assert tree_digest(tmp_path) == digest


CORE_CASES: dict[str, tuple[Call, type[Exception]]] = {
    "get negative": (lambda a: a.get([-1]), TypeError),
    "get str": (lambda a: a.get(["a"]), TypeError),
    "get huge": (lambda a: a.get([2**70]), TypeError),
    "get out of range": (lambda a: a.get([5]), StoreError),
    "set mismatch": (lambda a: a.set([0, 1], [1]), InvalidArgumentError),
    "set out of range": (lambda a: a.set([5], [1]), StoreError),
    "set unencodable": (lambda a: a.set([0], [object()]), TypeError),
    "resize negative": (lambda a: a.resize(-1), OverflowError),
    "get_range reversed": (lambda a: a.get_range(4, 2), InvalidArgumentError),
    "set_attrs list": (lambda a: a.set_attrs([1, 2]), (TypeError, StoreError)),
    "store key ..": (lambda a: a.store.set("../escape", b"1"), InvalidArgumentError),
    "store key a/../..": (lambda a: a.store.set("a/../../escape", b"1"), InvalidArgumentError),
    "create chunk 0": (
        lambda a: _core.ObjectArray.create(a.store, "x", chunk_size=0),
        InvalidArgumentError,
    ),
    "create huge chunk": (
        lambda a: _core.ObjectArray.create(a.store, "x", chunk_size=2**40),
        InvalidArgumentError,
    ),
    "create existing": (lambda a: _core.ObjectArray.create(a.store, "runs"), StoreError),
    "bad compressor": (
        lambda a: _core.ObjectArray.create(a.store, "y", compressor="lzma"),
        StoreError,
    ),
    "numeric strings": (
        lambda a: _core.NumericArray.create(a.store, "n", np.array(["a"])),
        InvalidArgumentError,
    ),
    "open missing": (lambda a: _core.ObjectArray.open(a.store, "nope"), StoreError),
    "rechunk missing": (
        lambda a: _core.rechunk_array(a.store, "nope"),
        StoreError,
    ),
}


@pytest.mark.parametrize("case", sorted(CORE_CASES))
def test_core_api_bad_input(tmp_path: Path, case: str) -> None:
    call, error = CORE_CASES[case]
    root = tmp_path / "s"
    store = _core.Store.local(root)
    arr = _core.ObjectArray.create(store, "runs", chunk_size=2)
    arr.append([{"i": i} for i in range(5)])
    before = tree_digest(tmp_path)
    with pytest.raises(error):
        call(arr)
    assert tree_digest(tmp_path) == before
    assert _core.ObjectArray.open(store, "runs").get_range() == [{"i": i} for i in range(5)]
