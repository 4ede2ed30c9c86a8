"""wfstore's Zarr and zip stores return what hpcflow's return for engine-written stores.

Every Zarr fixture folder (and every zipped one) under ``tests/data`` is read
through a copy, and what the API returns must equal the ``.expected.json`` beside it,
with one documented exception (see :func:`_engine_set_status_quirk`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import tree_digest, zarr_fixture_names, zip_fixture_names
from store_dump import dump_store, normalise
from wfstore.common.errors import (
    MissingParameterData,
    MissingStoreEARError,
    MissingStoreElementError,
    MissingStoreElementIterationError,
    MissingStoreTaskError,
    ReadOnlyStoreError,
    UnsupportedStoreOperationError,
)
from wfstore.persistence import ZarrPersistentStore, ZarrZipPersistentStore


def _check(store: Any, kind: str, expected: dict[str, Any]) -> None:
    want = normalise(expected)
    assert normalise(dump_store(store, kind)) == want
    # again with the root attributes loaded once and the item caches on:
    with store.cached_load(), store.cache_ctx():
        assert normalise(dump_store(store, kind)) == want
        assert normalise(dump_store(store, kind)) == want
    assert not store.has_pending


def test_zarr_fixtures_exist(fixtures_dir: Path) -> None:
    names = zarr_fixture_names()
    assert "wk_seq_zarr" in names and "wk_arrays_zarr" in names
    assert len(names) >= 20
    assert zip_fixture_names() == ["wk_seq_zarr_zip"]


@pytest.mark.parametrize("name", zarr_fixture_names() or ["wk_seq_zarr"])
def test_zarr_fixture_matches_expected(name: str, fixtures_dir: Path, copy_store) -> None:
    src = fixtures_dir / name
    expected = json.loads((fixtures_dir / f"{name}.expected.json").read_text())
    assert expected["kind"] == "zarr"
    before = tree_digest(src)
    path = copy_store(src)
    assert tree_digest(path) == before

    _check(ZarrPersistentStore(None, None, path), "zarr", expected)

    assert tree_digest(path) == before, "reading a store must not modify it"
    assert tree_digest(src) == before


@pytest.mark.parametrize("name", zip_fixture_names() or ["wk_seq_zarr_zip"])
def test_zip_fixture_matches_expected(name: str, fixtures_dir: Path, copy_file) -> None:
    src = fixtures_dir / f"{name}.zip"
    expected = json.loads((fixtures_dir / f"{name}.expected.json").read_text())
    assert expected["kind"] == "zip"
    before = src.read_bytes()
    path = copy_file(src)

    _check(ZarrZipPersistentStore(None, None, path), "zip", expected)

    assert path.read_bytes() == before, "reading an archive must not modify it"
    assert src.read_bytes() == before


def test_zip_fixture_equals_its_folder(fixtures_dir: Path, copy_store, copy_file) -> None:
    """The zipped and the folder form of the same workflow read the same."""
    folder = dump_store(
        ZarrPersistentStore(None, None, copy_store(fixtures_dir / "wk_seq_zarr")), "x"
    )
    archive = dump_store(
        ZarrZipPersistentStore(None, None, copy_file(fixtures_dir / "wk_seq_zarr_zip.zip")),
        "x",
    )
    assert normalise(folder) == normalise(archive)


def test_unset_parameter_status(fixtures_dir: Path, copy_store) -> None:
    """The one fixture with an unset parameter: reported unset, value None."""
    store = ZarrPersistentStore(
        None, None, copy_store(fixtures_dir / "test_loop_termination_multi_el0")
    )
    param = store.get_parameters([9])[0]
    assert (param.is_set, param.data, param.file) == (False, None, None)
    # the engine counts a stored-but-unset parameter (data 0) as set
    assert store.get_parameter_set_statuses([8, 9]) == [True, True]


def test_zarr_fixture_arrays(fixtures_dir: Path, copy_store) -> None:
    """numpy and masked arrays come back as numpy objects of the stored dtype."""
    import numpy as np

    store = ZarrPersistentStore(None, None, copy_store(fixtures_dir / "wk_arrays_zarr"))
    p2, p5, p8 = store.get_parameters([2, 5, 8], dataset_copy=True)
    assert isinstance(p2.data, np.ndarray) and p2.data.dtype == np.dtype("<i8")
    np.testing.assert_array_equal(p2.data, np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(p5.data, np.linspace(0, 1, 5))
    assert isinstance(p8.data, np.ma.MaskedArray)
    assert p8.data.mask.tolist() == [False, True, False, True]
    assert p8.data.compressed().tolist() == [0.0, 2.0]


def test_zarr_fixture_missing_ids_are_named(fixtures_dir: Path, copy_store) -> None:
    store = ZarrPersistentStore(None, None, copy_store(fixtures_dir / "wk_seq_zarr"))
    cases = [
        (store.get_tasks_by_IDs, MissingStoreTaskError, [0, 7], [7]),
        (store.get_elements, MissingStoreElementError, [3, 4, 99], [4, 99]),
        (store.get_element_iterations, MissingStoreElementIterationError, [-1, 2], [-1]),
        (store.get_EARs, MissingStoreEARError, [1, 4], [4]),
        (store.get_parameters, MissingParameterData, [9, 10], [10]),
        (store.get_parameter_sources, MissingParameterData, [10], [10]),
        (store.get_parameter_set_statuses, MissingParameterData, [11], [11]),
    ]
    for getter, error, ids, missing in cases:
        with pytest.raises(error) as info:
            getter(ids)
        assert info.value.id_lst == missing
        assert str(missing) in str(info.value)
    assert list(store.check_parameters_exist([0, 9, 10])) == [True, True, False]


def test_zip_fixture_is_read_only(fixtures_dir: Path, copy_file, tmp_path: Path) -> None:
    path = copy_file(fixtures_dir / "wk_seq_zarr_zip.zip")
    before = path.read_bytes()
    store = ZarrZipPersistentStore(None, None, path)
    writes = [
        lambda: store.add_set_parameter(1, {"type": "x"}),
        lambda: store.add_unset_parameter({"type": "x"}),
        lambda: store.set_parameter_value(0, 1),
        lambda: store.add_task(0, {}),
        lambda: store.add_element(0, 0, {}, {}),
        lambda: store.add_element_iteration(0, {}, []),
        lambda: store.add_EAR(0, 0, [0], {}),
        lambda: store.set_EAR_start(0),
        lambda: store.set_EAR_end(0, 0, True),
        lambda: store.set_EAR_skip(0),
        lambda: store.set_EAR_submission_index(0, 0),
        lambda: store.set_EARs_initialised(0),
        lambda: store.add_submission(1, {}),
        lambda: store.add_template_components({"parameters": {"h": {}}}),
        lambda: store.update_param_source({0: {"a": 1}}),
        lambda: store.rechunk_runs(),
        lambda: store.rechunk_parameter_base(),
        lambda: store.remove_replaced_dir(),
    ]
    for write in writes:
        with pytest.raises(ReadOnlyStoreError, match="read-only"):
            write()
    with pytest.raises(ReadOnlyStoreError):
        ZarrZipPersistentStore.write_empty_workflow(None)
    with pytest.raises(UnsupportedStoreOperationError, match="Already a zip store"):
        store.zip(str(tmp_path))
    assert not store.has_pending
    assert path.read_bytes() == before
    assert store.features.submission is False and store.is_submittable is False
