"""wfstore's Zarr store (:class:`ZarrPersistentStore`): the engine's Zarr v2 layout, its
chunks read and written by the Rust core.

Modules: :mod:`.store` (the store class), :mod:`.layout` (array paths, chunk sizes,
row helpers), :mod:`.transactions` (the core store, recovery, the store lock,
commits), :mod:`.parameters` (parameter values, numpy arrays included),
:mod:`.rechunk` and :mod:`.archive` (zip and unzip)."""

from wfstore.persistence.zarr.archive import write_copy_log
from wfstore.persistence.zarr.layout import (
    DEFAULT_PARAM_CHUNK_SIZE,
    DEFAULT_RUN_CHUNK_SIZE,
    ELEMS_ARR,
    ITERS_ARR,
    PARAM_ARRAYS_GRP,
    PARAM_BASE_ARR,
    PARAM_SOURCES_ARR,
    RUNS_ARR,
    TASKS_ARR,
    guess_chunks,
)
from wfstore.persistence.zarr.parameters import ZarrStoreParameter, extra_parameter_sources
from wfstore.persistence.zarr.store import ZarrPersistentStore

__all__ = [
    "DEFAULT_PARAM_CHUNK_SIZE",
    "DEFAULT_RUN_CHUNK_SIZE",
    "ELEMS_ARR",
    "ITERS_ARR",
    "PARAM_ARRAYS_GRP",
    "PARAM_BASE_ARR",
    "PARAM_SOURCES_ARR",
    "RUNS_ARR",
    "TASKS_ARR",
    "ZarrPersistentStore",
    "ZarrStoreParameter",
    "extra_parameter_sources",
    "guess_chunks",
    "write_copy_log",
]
