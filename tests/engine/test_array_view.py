"""``wfstore.hpcflow.ArrayView`` answers what zarr-python answers about the same array
(the questions the engine's tests ask of ``_get_EARs_arr()`` and rechunk backups)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from wfstore import ObjectArray, Store
from wfstore.hpcflow import ArrayView

ROWS = [[i, f"run {i}", {"k": [i, None]}, None] for i in range(7)]


@pytest.fixture
def view_and_zarr(tmp_path: Path) -> tuple[ArrayView, zarr.Array]:
    store = Store.local(tmp_path)
    store.create_group("")
    store.create_group("metadata")
    arr = ObjectArray.create(store, "metadata/runs", 0, 3, attrs={"parameter_paths": ["a"]})
    arr.append(ROWS)
    # as the engine's store reaches it: from the root group
    return ArrayView(arr, "metadata/runs"), zarr.open_group(str(tmp_path))["metadata/runs"]


def test_metadata_as_zarr(view_and_zarr: tuple[ArrayView, zarr.Array]) -> None:
    view, zarr_arr = view_and_zarr
    assert view.shape == zarr_arr.shape == (7,)
    assert view.chunks == zarr_arr.chunks == (3,)
    assert view.nchunks == zarr_arr.nchunks == 3
    assert view.dtype == zarr_arr.dtype
    assert len(view) == len(zarr_arr)
    assert view.path == zarr_arr.path
    assert view.attrs.asdict() == zarr_arr.attrs.asdict() == {"parameter_paths": ["a"]}


def test_rows_as_zarr(view_and_zarr: tuple[ArrayView, zarr.Array]) -> None:
    view, zarr_arr = view_and_zarr
    full = view[:]
    assert isinstance(full, np.ndarray) and full.dtype == object and full.shape == (7,)
    assert np.all(full == zarr_arr[:])
    assert list(view[2:5]) == list(zarr_arr[2:5])
    assert list(view[1::2]) == list(zarr_arr[1::2])
    assert view[0] == zarr_arr[0] == ROWS[0]
    assert view[-1] == zarr_arr[-1] == ROWS[-1]


@pytest.mark.parametrize("bad", [7, -8])
def test_out_of_range_index(view_and_zarr: tuple[ArrayView, zarr.Array], bad: int) -> None:
    view, zarr_arr = view_and_zarr
    with pytest.raises(IndexError):
        zarr_arr[bad]
    with pytest.raises(IndexError, match="metadata/runs"):
        view[bad]


def test_negative_step_refused_as_zarr(view_and_zarr: tuple[ArrayView, zarr.Array]) -> None:
    view, zarr_arr = view_and_zarr
    with pytest.raises(IndexError):
        zarr_arr[::-1]
    with pytest.raises(IndexError, match="step"):
        view[::-1]

