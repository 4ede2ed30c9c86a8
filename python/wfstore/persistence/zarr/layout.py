"""The layout of wfstore's Zarr stores: array and group paths, chunk sizes, codecs,
and the small helpers that read and write rows of the engine's arrays."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from wfstore import _core
from wfstore.common.errors import ConcurrentModificationError
from wfstore.common.names import BACKUP_SUFFIX

_ATTRS = "attrs"

#: Array and group paths within a store.
TASKS_ARR = "metadata/tasks"
ELEMS_ARR = "metadata/elements"
ITERS_ARR = "metadata/iters"
RUNS_ARR = "metadata/runs"
PARAM_BASE_ARR = "parameters/base"
PARAM_SOURCES_ARR = "parameters/sources"
PARAM_ARRAYS_GRP = "parameters/arrays"

#: The ``filters`` entry of the engine's ``metadata/tasks`` array.
TASKS_CODEC: dict[str, Any] = {"id": "vlen-array", "dtype": "<i8"}
#: The compressor of parameter numpy arrays (zarr-python 2's default, which the engine
#: uses whatever the workflow's compressor).
NUMERIC_COMPRESSOR: dict[str, Any] = {
    "id": "blosc",
    "cname": "lz4",
    "clevel": 5,
    "shuffle": 1,
    "blocksize": 0,
}
#: dtype kinds stored as numeric arrays: bool, signed/unsigned int, float, complex.
_NUMERIC_KINDS = frozenset("biufc")
#: Rows handed to the Rust core per call when many are appended or read, so that
#: their encoded and decoded copies never all exist at once (bounded peak memory).
ROW_BATCH = 65536
#: Chunks read per call to the core when many are read: a chunk object each, alive
#: together (stores the engine made have a chunk per row: a read of every run of a
#: 100,000-run workflow would otherwise hold 65,536 of them at once).
CHUNK_BATCH = 1024

#: Rows per chunk of ``metadata/runs`` and of ``parameters/base`` in new stores (the
#: engine uses 1; see the module docstring).
DEFAULT_RUN_CHUNK_SIZE = 100
DEFAULT_PARAM_CHUNK_SIZE = 100

#: Entries of a store that :meth:`ZarrPersistentStore.zip` leaves out by default.
ZIP_EXCLUDE_EXECUTE = "execute"
ZIP_EXCLUDE_BACKUPS = (f"runs{BACKUP_SUFFIX}", f"base{BACKUP_SUFFIX}")


def guess_chunks(
    shape: Sequence[int],
    itemsize: int,
    low: int = 128 * 1024,
    high: int = 64 * 1024 * 1024,
) -> list[int]:
    """Chunk shape for a numeric array, chosen as zarr-python 2 chooses it when none is
    given: aim for a chunk size between `low` (128 KiB) and `high` (64 MiB) that grows
    with the array's size, halving the dimensions in turn (first to last) until the
    chunk fits (hpcflow 0.3.0 sets the limits to 500 MiB and 1 GiB)."""
    if not shape:
        return []
    step = 256 * 1024
    chunks = [float(max(int(s), 1)) for s in shape]
    total = math.prod(chunks) * itemsize
    target = step * 2 ** math.log10(total / (1024.0 * 1024.0))
    target = min(max(target, low), high)
    dim = 0
    while True:
        size = math.prod(chunks) * itemsize
        small_enough = size < target or abs(size - target) / target < 0.5
        if (small_enough and size < high) or math.prod(chunks) == 1:
            break
        k = dim % len(chunks)
        chunks[k] = math.ceil(chunks[k] / 2.0)
        dim += 1
    return [int(c) for c in chunks]


def _numeric_fill_value(dtype: np.dtype) -> Any:
    """The fill value zarr-python 2 writes for a new array of `dtype` (fill 0)."""
    if dtype.kind == "b":
        return False
    if dtype.kind == "f":
        return 0.0
    return 0


def _json_keys(obj: Any) -> Any:
    """A copy of `obj` with dict keys turned into strings (as JSON attributes store
    them), so in-memory attributes match what is read back."""
    if isinstance(obj, dict):
        return {str(k): _json_keys(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_keys(v) for v in obj]
    return obj


def _int_list(row: Any) -> list[int]:
    """A ragged int array's row (a numpy array) as a list of Python ints: numpy's
    ``tolist`` makes them in C (a task's element IDs: 200,000 at 1M runs)."""
    if isinstance(row, np.ndarray) and row.dtype.kind in "iu":
        return row.tolist()
    return [int(i) for i in row]


def _append_in_batches(arr: _core.ObjectArray, rows: list[Any]) -> None:
    """Append `rows` to `arr` (emptying the list), :data:`ROW_BATCH` rows per call."""
    while rows:
        arr.append(rows[:ROW_BATCH])
        del rows[:ROW_BATCH]


def _check_next_ids(path: str, arr: _core.ObjectArray, ids: Sequence[int]) -> None:
    """Appended rows must carry the IDs that follow the array's rows: otherwise another
    process appended rows since these IDs were given out."""
    expected = list(range(len(arr), len(arr) + len(ids)))
    if list(ids) != expected:
        raise ConcurrentModificationError(
            f"Cannot append IDs {list(ids)!r} to {path!r}: it holds {len(arr)} rows, so the "
            f"next IDs are {expected!r} (another process added items since these IDs "
            "were given out); nothing was appended."
        )


def chunk_key(path: str, chunk: int) -> str:
    """The store key of chunk `chunk` of the 1-D array `path`."""
    return f"{path}/{chunk}"


def chunk_keys(arr: _core.ObjectArray, ids: Iterable[int]) -> list[str]:
    """The store keys of the chunks of (1-D) `arr` that hold rows `ids`."""
    cs = arr.chunk_size
    return [chunk_key(arr.path, c) for c in sorted({i // cs for i in ids})]
