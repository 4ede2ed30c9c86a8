"""hpcflow 0.3's array outputs: NPZ archives compressed with zstd (one per output name
and run file, or one consolidated archive per output name), each holding the arrays of
several runs (zero padded to the largest shape) and per-entry metadata."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import numpy as np

from wfstore import _core
from wfstore.common.errors import (
    ArchiveCompressionError,
    ArrayOutputDtypeError,
    CorruptArchiveError,
    StoreError,
)

#: The per-entry metadata members of an archive (besides ``data`` and ``shape``).
METADATA_MEMBERS = (
    "task_insert_ID",
    "task_idx",
    "element_idx",
    "element_ID",
    "iteration_idx",
    "iteration_ID",
    "action_idx",
    "run_idx",
    "run_ID",
)


@dataclass
class OutputArchive:
    """A decoded array-output archive."""

    key: str
    data: np.ndarray
    run_ID: np.ndarray
    #: Each entry's real shape (entries x ndim), when the entries' shapes differ.
    shape: np.ndarray | None

    def entry(self, run_id: int) -> np.ndarray:
        """The array of run `run_id` (its padding cut off); the archive must hold
        exactly one entry of that run."""
        where = np.flatnonzero(self.run_ID == run_id)
        if len(where) != 1:
            raise _corrupt(self.key, f"{len(where)} entries of run {run_id}, expected one")
        i = int(where[0])
        shape = self.data.shape[1:] if self.shape is None else tuple(int(d) for d in self.shape[i])
        return np.array(self.data[i][tuple(slice(0, d) for d in shape)])


def _corrupt(
    key: str, reason: object, cls: type[CorruptArchiveError] = CorruptArchiveError
) -> CorruptArchiveError:
    err = cls(f"array-output archive {key!r} cannot be decoded: {reason}")
    err.path = key
    err.key = key
    return err


def decode_output_archive(raw: bytes, key: str) -> OutputArchive:
    """Decode an archive read from `key` (zstd by the core, NPZ by numpy without
    pickles); a damaged or malformed archive raises :class:`CorruptArchiveError`
    naming `key` (:class:`ArchiveCompressionError` when it is not a zstd frame)."""
    try:
        buf = _core.decompress(raw, "zstd")
    except StoreError as exc:
        raise _corrupt(key, exc, ArchiveCompressionError) from None
    try:
        with np.load(io.BytesIO(buf), allow_pickle=False) as npz:
            names = set(npz.files)
            missing = {"data", *METADATA_MEMBERS} - names
            if missing:
                raise ValueError(f"members {sorted(missing)} missing")
            data = npz["data"]
            run_ids = npz["run_ID"]
            shape = npz["shape"] if "shape" in names else None
            for name in METADATA_MEMBERS:
                member = npz[name]
                if member.ndim != 1 or len(member) != len(data):
                    raise ValueError(f"member {name!r} does not have one value per entry")
    except (StoreError, ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise _corrupt(key, exc) from None
    if data.ndim < 1:
        raise _corrupt(key, "data has no entry axis")
    if shape is not None and (
        shape.shape != (len(data), data.ndim - 1)
        or np.any(shape < 0)
        or np.any(shape > np.asarray(data.shape[1:]))
    ):
        raise _corrupt(key, "invalid shape member")
    return OutputArchive(key=key, data=data, run_ID=run_ids, shape=shape)


def append_output_entry(
    raw: bytes | None, key: str, value: np.ndarray, metadata: dict[str, int]
) -> bytes:
    """The bytes of the array-output archive `key` (its current bytes `raw`, None when
    there is none) with one more entry, as 0.3.0 appends one: `value` as a new row of
    ``data`` (zero padded to the largest shape; fixed-width strings widened, other
    dtype changes and a change of ``ndim`` refused), `metadata` (the
    :data:`METADATA_MEMBERS`) appended (``int32`` in an archive written once, ``int64``
    after an append), ``shape`` written when the entries' shapes differ; NPZ without
    pickles, zstd level 1."""
    value = np.asarray(value)
    if value.dtype.hasobject:
        raise StoreError(f"array output {key!r}: object arrays cannot be stored")
    data = value[np.newaxis, ...]
    shapes = np.asarray([value.shape], dtype=np.int32)
    meta = {k: np.asarray([int(metadata[k])], dtype=np.int32) for k in METADATA_MEMBERS}
    if raw is not None:
        buf = _core.decompress(raw, "zstd")
        with np.load(io.BytesIO(buf), allow_pickle=False) as npz:
            prev = {name: npz[name] for name in npz.files}
        old = prev["data"]
        if old.ndim != value.ndim + 1:
            raise StoreError(
                f"array output {key!r}: {value.ndim} dimensions, earlier entries "
                f"{old.ndim - 1}"
            )
        dtype = _widened(key, old.dtype, value.dtype)
        old_shapes = (
            prev["shape"]
            if "shape" in prev
            else np.broadcast_to(old.shape[1:], (old.shape[0], value.ndim)).copy()
        )
        shapes = np.concatenate((old_shapes, shapes), axis=0)
        top = tuple(max(old.shape[a + 1], value.shape[a]) for a in range(value.ndim))
        data = np.zeros((old.shape[0] + 1, *top), dtype=dtype)
        data[(slice(None, -1), *(slice(0, n) for n in old.shape[1:]))] = old
        data[(-1, *(slice(0, n) for n in value.shape))] = value
        meta = {
            k: np.append(prev[k], np.asarray([int(metadata[k])], dtype=np.int64))
            for k in METADATA_MEMBERS
        }
    members: dict[str, np.ndarray] = {"data": data, **meta}
    if not np.all(shapes == shapes[0]):
        members["shape"] = shapes
    out = io.BytesIO()
    np.savez(out, **members)
    return _core.compress(out.getvalue(), {"id": "zstd", "level": 1})


def _widened(key: str, old: np.dtype, new: np.dtype) -> np.dtype:
    if old == new:
        return old
    if old.kind == new.kind and old.kind in "SU":
        return old if old.itemsize >= new.itemsize else new
    raise ArrayOutputDtypeError(
        f"array output {key!r}: dtype {new} does not match the earlier entries' dtype {old}"
    )
