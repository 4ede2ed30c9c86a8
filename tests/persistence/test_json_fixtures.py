"""wfstore's JSON store returns what hpcflow's returns for engine-written stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import json_fixture_names, tree_digest
from store_dump import dump_store, normalise
from wfstore.common.errors import (
    MissingParameterData,
    MissingStoreEARError,
    MissingStoreElementError,
    MissingStoreElementIterationError,
    MissingStoreTaskError,
)
from wfstore.persistence import JSONPersistentStore


def test_json_fixtures_exist(fixtures_dir: Path) -> None:
    assert "wk_seq_json" in json_fixture_names()


@pytest.mark.parametrize("name", json_fixture_names() or ["wk_seq_json"])
def test_json_fixture_matches_expected(name: str, fixtures_dir: Path, copy_store) -> None:
    src = fixtures_dir / name
    expected = json.loads((fixtures_dir / f"{name}.expected.json").read_text())
    before = tree_digest(src)
    path = copy_store(src)
    assert tree_digest(path) == before

    store = JSONPersistentStore(None, None, path)
    got = dump_store(store, "json")
    assert normalise(got) == normalise(expected)
    # same answers again, with the metadata cached and with the item caches on:
    with store.cached_load(), store.cache_ctx():
        assert normalise(dump_store(store, "json")) == normalise(expected)
        assert normalise(dump_store(store, "json")) == normalise(expected)

    assert not store.has_pending
    assert tree_digest(path) == before, "reading a store must not modify it"
    assert tree_digest(src) == before


def test_json_fixture_missing_ids_are_named(fixtures_dir: Path, copy_store) -> None:
    store = JSONPersistentStore(None, None, copy_store(fixtures_dir / "wk_seq_json"))
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
    with pytest.raises(MissingStoreTaskError):
        store.get_task(1)
    assert list(store.check_parameters_exist([0, 9, 10])) == [True, True, False]
