"""Writing hpcflow 0.3's files that are not Zarr chunks: run files (plain msgpack) and
parameter files (``HPCFZ1`` + one zstd level-1 frame of msgpack), as 0.3.0 writes them
(docs/hpcflow-0.3-format.md §1.4, §1.6).

Both kinds are updated by read-modify-write of the whole file: the current entries are
decoded, the given fields or keys replaced, and the file written back through a core
store's ``set`` (the core's one write path: a temporary name in the same folder, then a
rename; with ``"full"`` durability the file and its folder are flushed, as 0.3.0's
``atomic_write`` does). A reader never sees a half-written file. Two writers of one file
would lose each other's updates: as in 0.3.0, a run file (and the parameter file of its
outputs) has one writer at a time by the submission's run-file assignment.

The encoders here are pure (bytes in, bytes out); :func:`update_run_file` and
:func:`update_param_file` do one file's read-modify-write on a core store.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from wfstore import _core
from wfstore.persistence.v03.files import decode_param_file, decode_run_file
from wfstore.persistence.v03.layout import (
    PARAM_FILE_MAGIC,
    RUN_FILE_FIELDS,
    param_file_key,
    run_file_key,
)

#: numcodecs' msgpack object chunk of one item is ``fixarray(3), item, "|O", [1]``: the
#: core's chunk encoder (the one msgpack encoder of wfstore) encodes a plain value as
#: the bytes between this head and tail.
_CHUNK_HEAD = b"\x93"
_CHUNK_TAIL = b"\xa2|O\x91\x01"

#: The compressor of a parameter file's frame (0.3.0: zstandard level 1, the content
#: size recorded, no checksum).
PARAM_FILE_COMPRESSOR: dict[str, Any] = {"id": "zstd", "level": 1}

#: Fields a new run-file entry gets before its updates (0.3.0's defaults: skip 0).
_RUN_FIELD_DEFAULTS: dict[str, Any] = {"skip": 0}
_TIME_FIELDS = ("start_time", "end_time")


def encode_msgpack(value: Any) -> bytes:
    """One value as plain msgpack (strings as str, bytes as bin, floats as float 64),
    encoded by the core exactly as ``msgpack.packb`` does with its defaults."""
    chunk = _core.encode_object_chunk([value], None)
    if not (chunk.startswith(_CHUNK_HEAD) and chunk.endswith(_CHUNK_TAIL)):
        raise ValueError("unexpected object chunk framing from the core encoder")
    return chunk[len(_CHUNK_HEAD) : len(chunk) - len(_CHUNK_TAIL)]


def encode_run_file(entries: list[list[Any] | None]) -> bytes:
    """A run file's bytes: its entries (None or the nine run fields) as msgpack."""
    return encode_msgpack(entries)


def encode_param_file(entries: list[dict[str, Any]]) -> bytes:
    """A parameter file's bytes: ``HPCFZ1`` and a zstd level-1 frame of the msgpack of
    its entries (one dict per entry, string keys)."""
    return PARAM_FILE_MAGIC + _core.compress(encode_msgpack(entries), PARAM_FILE_COMPRESSOR)


def run_fields(fields: Mapping[str, Any], ts_fmt: str) -> dict[int, Any]:
    """Run-file field updates by field position, from updates by field name
    (``start_time``, ``end_time``: datetimes, written as `ts_fmt` strings; ``skip``
    None is written as 0, as 0.3.0 does). Unknown names raise ``KeyError``."""
    out: dict[int, Any] = {}
    for name, value in fields.items():
        pos = RUN_FILE_FIELDS.index(name) if name in RUN_FILE_FIELDS else None
        if pos is None:
            raise KeyError(f"not a run-file field: {name!r}")
        if value is None:
            value = _RUN_FIELD_DEFAULTS.get(name)
        elif name in _TIME_FIELDS and isinstance(value, datetime):
            value = value.strftime(ts_fmt)  # as 0.3.0: the datetime's own wall time
        out[pos] = value
    return out


def apply_run_updates(
    entries: list[list[Any] | None], updates: Mapping[int, Mapping[int, Any]]
) -> list[list[Any] | None]:
    """`entries` with `updates` (run-file index -> field position -> encoded value)
    applied: the list padded with None, a missing entry created as skip 0 and the rest
    None, only the given fields replaced. `entries` is not modified (an entry updated
    is copied; the others are shared: a run file holds thousands)."""
    out: list[list[Any] | None] = list(entries)
    if updates:
        need = max(updates) + 1
        out.extend([None] * (need - len(out)))
    for idx, fields in updates.items():
        entry = out[idx]
        if entry is None:
            entry = [_RUN_FIELD_DEFAULTS.get(name) for name in RUN_FILE_FIELDS]
        else:
            entry = entry + [None] * (len(RUN_FILE_FIELDS) - len(entry))
        for pos, value in fields.items():
            entry[pos] = value
        out[idx] = entry
    return out


def apply_param_updates(
    entries: list[dict[str, Any]], updates: Mapping[tuple[int, Any], Any]
) -> list[dict[str, Any]]:
    """`entries` with `updates` ((entry index, key) -> encoded value) applied: the list
    padded with empty dicts, keys stored as strings. `entries` is not modified (an
    entry updated is copied; the others are shared)."""
    out = list(entries)
    if updates:
        need = max(idx for idx, _ in updates) + 1
        out.extend({} for _ in range(need - len(out)))
    copied: set[int] = set()
    for (idx, key), value in updates.items():
        if idx not in copied:
            out[idx] = dict(out[idx])
            copied.add(idx)
        out[idx][str(key)] = value
    return out


def update_run_file(
    store: _core.Store,
    sub_idx: int,
    file_id: int,
    updates: Mapping[int, Mapping[int, Any]],
    current: list[list[Any] | None] | None = None,
) -> list[list[Any] | None]:
    """Apply `updates` (run-file index -> field position -> encoded value) to run file
    `file_id` of submission `sub_idx` in `store` and write it back; returns the new
    entries. `current`: the file's entries if the caller knows them (not changed;
    else the file is read). A damaged file raises
    :class:`~wfstore.common.errors.CorruptFileError` (and is left as it is)."""
    key = run_file_key(sub_idx, file_id)
    if current is None:
        raw = store.get(key)
        current = [] if raw is None else decode_run_file(raw, key)
    new = apply_run_updates(current, updates)
    store.set(key, encode_run_file(new))
    return new


def update_param_file(
    store: _core.Store,
    sub_idx: int,
    number: int,
    updates: Mapping[tuple[int, Any], Any],
    current: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Apply `updates` ((entry index, key) -> encoded value) to parameter file `number`
    of submission `sub_idx` in `store` and write it back; returns the new entries.
    `current`: the file's entries if the caller knows them (not changed; else the
    file is read). A damaged file raises
    :class:`~wfstore.common.errors.CorruptFileError`."""
    key = param_file_key(sub_idx, number)
    if current is None:
        raw = store.get(key)
        current = [] if raw is None else decode_param_file(raw, key)
    new = apply_param_updates(current, updates)
    store.set(key, encode_param_file(new))
    return new
