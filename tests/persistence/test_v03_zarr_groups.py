"""The members of hpcflow 0.3.0's Zarr store that hpcflow 0.3.0's own tests call on
its internals: zarr-python Groups over the legacy array groups
(:mod:`wfstore.persistence.v03.zarr_groups`), and the errors of array-output archives
(missing, not zstd, not NPZ, a dtype that does not fit)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfstore
from wfstore import _core
from wfstore.common.errors import (
    ArchiveCompressionError,
    ArrayOutputDtypeError,
    CorruptArchiveError,
    MissingArrayOutputError,
)
from wfstore.persistence.v03 import layout
from wfstore.persistence.v03.arrays import append_output_entry, decode_output_archive
from wfstore.persistence.v03.zarr_groups import LEGACY_GROUP_CREATE_ATTEMPTS
from wfstore.persistence.v03.zarr_store import V03ZarrPersistentStore

zarr = pytest.importorskip("zarr")

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "hpcflow-0.3.0"

_META = dict.fromkeys(
    (
        "task_insert_ID",
        "task_idx",
        "element_idx",
        "element_ID",
        "iteration_idx",
        "iteration_ID",
        "action_idx",
        "run_idx",
        "run_ID",
    ),
    0,
)


@pytest.fixture
def fixture_copy(copy_store):
    def make(name: str) -> Path:
        return copy_store(FIXTURES / name)

    return make


def _legacy_params(path: Path) -> dict[int, list[str]]:
    """Parameter ID -> names of the arrays in its legacy group, as on disk."""
    root = path / layout.PARAM_ARRAYS_GRP
    return {
        int(p.name[len("param_") :]): sorted(a.name for a in p.iterdir() if a.is_dir())
        for p in root.rglob("param_*")
    }


def test_parameter_array_groups_show_what_is_on_disk(fixture_copy) -> None:
    path = fixture_copy("wk_arrays_zarr")
    store = wfstore.open(path)
    on_disk = _legacy_params(path)
    assert on_disk  # the fixture has parameters with legacy arrays
    for pid in range(store._get_num_total_parameters()):
        group = store.get_parameter_data_array_group(pid)
        if pid not in on_disk:
            assert group is None
            continue
        assert isinstance(group, zarr.Group)
        assert group.path == layout.legacy_array_group(pid)
        assert sorted(group.keys()) == on_disk[pid]
        for name in on_disk[pid]:
            core = _core.NumericArray.open(store.core_store, f"{group.path}/{name}").read()
            np.testing.assert_array_equal(group[name][...], core)


def test_user_array_group_and_inner_group_creation(fixture_copy) -> None:
    path = fixture_copy("wk_seq_zarr")
    store = wfstore.open(path)
    arrays = store._get_parameter_user_array_group()
    assert arrays is not None and arrays.path == layout.PARAM_ARRAYS_GRP
    pid = 1234
    inner_path = layout.legacy_array_group(pid).rsplit("/", 1)[0]
    assert not (path / inner_path).exists()
    inner = store._get_or_create_parameter_data_array_inner_group(pid, mode="r+")
    assert inner.path == inner_path
    assert (path / inner_path / ".zgroup").is_file()
    assert store.get_parameter_data_array_group(pid) is None  # no group of its own
    assert store._require_legacy_array_inner_group(pid).path == inner_path


def test_require_inner_group_retries_concurrent_creation(fixture_copy, monkeypatch) -> None:
    store = wfstore.open(fixture_copy("wk_seq_zarr"))
    create = store._get_or_create_parameter_data_array_inner_group
    calls: list[int] = []

    def racing(pid: int, mode: str = "r+", fail: int = 2):
        calls.append(pid)
        if len(calls) <= fail:
            raise zarr.errors.ContainsGroupError(layout.legacy_array_group(pid))
        return create(pid, mode=mode)

    monkeypatch.setattr(store, "_get_or_create_parameter_data_array_inner_group", racing)
    assert store._require_legacy_array_inner_group(7).path.endswith("params_0-499")
    assert calls == [7, 7, 7]

    calls.clear()
    monkeypatch.setattr(
        store,
        "_get_or_create_parameter_data_array_inner_group",
        lambda pid, mode="r+": racing(pid, mode, fail=LEGACY_GROUP_CREATE_ATTEMPTS),
    )
    with pytest.raises(zarr.errors.ContainsGroupError):
        store._require_legacy_array_inner_group(7)
    assert len(calls) == LEGACY_GROUP_CREATE_ATTEMPTS


def test_zipped_store_array_groups_are_read_only(fixture_copy) -> None:
    store = wfstore.open(FIXTURES / "wk_seq_zarr_zip.zip")
    assert store._get_parameter_user_array_group() is not None
    with pytest.raises(wfstore.UnsupportedStoreOperationError, match="read-only"):
        store._get_or_create_parameter_data_array_inner_group(0, mode="r+")


def _output_param(store) -> int:
    n = store._get_num_total_parameters()
    return next(i for i, s in enumerate(store.get_parameter_sources(range(n))) if "EAR_ID" in s)


def test_missing_archive_is_a_file_not_found_error(fixture_copy) -> None:
    path = fixture_copy("wk_array_outputs_zarr")
    key = "parameters/array_outputs/p2/0/0.npz.zst"
    (path / key).unlink()
    store = wfstore.open(path)
    with pytest.raises(MissingArrayOutputError, match="Missing NPZ archive") as info:
        store.get_parameters([_output_param(store)])
    assert isinstance(info.value, FileNotFoundError)
    assert info.value.path == key


def test_archive_errors_say_what_is_wrong(fixture_copy) -> None:
    path = fixture_copy("wk_array_outputs_zarr")
    key = "parameters/array_outputs/p2/0/0.npz.zst"
    (path / key).write_bytes(b"not a zstd frame")
    store = wfstore.open(path)
    with pytest.raises(ArchiveCompressionError, match=r"p2/0/0\.npz\.zst"):
        store.get_parameters([_output_param(store)])
    (path / key).write_bytes(_core.compress(b"not an npz archive", "zstd"))
    store = wfstore.open(path)
    with pytest.raises(CorruptArchiveError, match=r"p2/0/0\.npz\.zst") as info:
        store.get_parameters([_output_param(store)])
    assert isinstance(info.value, ValueError)
    assert not isinstance(info.value, ArchiveCompressionError)


def test_appending_another_dtype_is_a_type_error() -> None:
    raw = append_output_entry(None, "k", np.arange(4, dtype="float64"), _META)
    with pytest.raises(ArrayOutputDtypeError, match=r"dtype int32.*dtype float64") as info:
        append_output_entry(raw, "k", np.arange(4, dtype="int32"), _META)
    assert isinstance(info.value, TypeError)


class _Workflow:
    """An engine workflow's archive reader as hpcflow 0.3.0's: it reads the archive
    back through the store's ``get_binary_file`` (counted)."""

    def __init__(self, fail: bool = False) -> None:
        self.store: V03ZarrPersistentStore | None = None
        self.reads: list[Path] = []
        self.fail = fail

    def _read_array_output_archive(self, path: Path) -> object:
        self.reads.append(Path(path))
        assert self.store is not None
        raw = self.store.get_binary_file(path)
        if self.fail:
            raise ValueError("the engine refuses it")
        return decode_output_archive(raw, "ignored")


def _bound(path: Path, workflow: _Workflow) -> V03ZarrPersistentStore:
    store = V03ZarrPersistentStore(None, workflow, path)
    workflow.store = store
    return store


def test_bound_store_reads_archives_through_the_workflows_reader(fixture_copy) -> None:
    path = fixture_copy("wk_array_outputs_zarr")
    key = "parameters/array_outputs/p2/0/0.npz.zst"
    alone = wfstore.open(path)
    param = _output_param(alone)
    expected = alone.get_parameters([param])[0].data
    workflow = _Workflow()
    store = _bound(path, workflow)
    got = store.get_parameters([param])[0].data
    np.testing.assert_array_equal(got, expected)
    reads = list(workflow.reads)
    assert path / key in reads  # (and the output's mask archive)
    assert len(set(reads)) == len(reads)
    store.get_parameters([param])  # nothing changed: the decoded archives are kept
    assert workflow.reads == reads


def test_bound_store_names_a_damaged_archive(fixture_copy) -> None:
    path = fixture_copy("wk_array_outputs_zarr")
    key = "parameters/array_outputs/p2/0/0.npz.zst"
    (path / key).write_bytes(_core.compress(b"not an npz archive", "zstd"))
    workflow = _Workflow()
    store = _bound(path, workflow)
    with pytest.raises(CorruptArchiveError, match=r"p2/0/0\.npz\.zst"):
        store.get_parameters([_output_param(store)])
    assert workflow.reads == [path / key]


def test_bound_store_passes_on_the_engines_refusal(fixture_copy) -> None:
    # an archive only the engine's reader refuses: the engine's own error
    store = _bound(fixture_copy("wk_array_outputs_zarr"), _Workflow(fail=True))
    with pytest.raises(ValueError, match="the engine refuses it"):
        store.get_parameters([_output_param(store)])
