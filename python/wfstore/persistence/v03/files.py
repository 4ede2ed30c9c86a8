"""hpcflow 0.3's files that are not Zarr chunks: run files (plain msgpack) and parameter
files (``HPCFZ1`` + a zstd frame of msgpack), decoded by the Rust core, and the memo
that decodes each such file once for as long as it does not change.

The issue's 135 s to read a 10,000-run workflow come from decoding the whole parameter
file (and the whole sources chunk) again for every element read; here a file is
decoded once, indexed, and served from memory until it changes. When it has changed is
the store's business (:class:`FileMemo` asks a stamp function): wfstore's 0.3 Zarr
store validates its memos by the store's change marker (see
:mod:`wfstore.persistence.v03.zarr_store`), falling back to :func:`local_stamp` (size,
modification time, inode of the opened file) for a store no wfstore writer has marked
and for JSON documents; files in a zip
archive never change.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from wfstore import _core
from wfstore.common.errors import CorruptFileError, StoreError
from wfstore.persistence.v03.layout import PARAM_FILE_MAGIC

_T = TypeVar("_T")

#: A numcodecs msgpack object chunk is ``[item..., dtype, shape]``; wrapping a plain
#: msgpack value as the one item of such a chunk lets the core's decoder (the one
#: msgpack decoder of wfstore) decode it: fixarray of 3, the value, "|O", [1].
_CHUNK_HEAD = b"\x93"
_CHUNK_TAIL = b"\xa2|O\x91\x01"


def decode_msgpack(raw: bytes) -> Any:
    """One msgpack value (strings as str, binary as bytes, maps as dicts), decoded by
    the core. Raises ``CodecError`` (a ``StoreError``) on bytes that are not exactly
    one msgpack value."""
    items = _core.decode_object_chunk(_CHUNK_HEAD + raw + _CHUNK_TAIL, None)
    if len(items) != 1:  # pragma: no cover - the core checks the item count
        raise ValueError("not one msgpack value")
    return items[0]


def _corrupt(key: str, what: str, reason: object) -> CorruptFileError:
    err = CorruptFileError(f"{what} {key!r} cannot be decoded: {reason}")
    err.path = key
    err.key = key
    return err


#: The types of a parameter file's entries (msgpack maps decode as dicts) and of a
#: run file's (an array of fields, or nil).
_MAP = frozenset({dict})
_RUN_ENTRY = frozenset({list, type(None)})


def decode_param_file(raw: bytes, key: str) -> list[dict[str, Any]]:
    """A parameter file's entries (one dict per entry, keyed by the string of an
    output's index or a non-output parameter's ``non_output_idx``). A file without the
    ``HPCFZ1`` header is plain msgpack. Raises :class:`CorruptFileError` naming `key`."""
    try:
        if raw.startswith(PARAM_FILE_MAGIC):
            raw = _core.decompress(raw[len(PARAM_FILE_MAGIC) :], "zstd")
        value = decode_msgpack(raw)
    except (StoreError, ValueError) as exc:
        raise _corrupt(key, "parameter file", exc) from None
    # (the types of the entries as a set: a run's file holds thousands of entries,
    # and a generator over them cost as much as decoding them)
    if not isinstance(value, list) or not set(map(type, value)) <= _MAP:
        raise _corrupt(key, "parameter file", "not a list of maps")
    return value


def decode_run_file(raw: bytes, key: str) -> list[list[Any] | None]:
    """A run file's entries: per run-file index, None or the nine run fields. Raises
    :class:`CorruptFileError` naming `key`."""
    try:
        value = decode_msgpack(raw)
    except (StoreError, ValueError) as exc:
        raise _corrupt(key, "run file", exc) from None
    if not isinstance(value, list) or not set(map(type, value)) <= _RUN_ENTRY:
        raise _corrupt(key, "run file", "not a list of run entries")
    return value


class FileMemo(Generic[_T]):
    """Decoded files by key, each decoded once until it changes.

    `read` gives a key's bytes (None when missing); `stamp` a token that changes when
    the file does (None: the file is missing, or a store whose files never change:
    then a decoded file is kept for the memo's life).
    """

    def __init__(
        self,
        read: Callable[[str], bytes | None],
        stamp: Callable[[str], object] | None,
        decode: Callable[[bytes, str], _T],
    ) -> None:
        self._read = read
        self._stamp = stamp
        self._decode = decode
        self._memo: dict[str, tuple[object, _T | None]] = {}
        #: Files decoded (for tests and diagnostics: a memo hit decodes nothing).
        self.decodes = 0

    def get(self, key: str) -> _T | None:
        """The decoded file at `key`, or None if there is no such file."""
        stamp = self._stamp(key) if self._stamp is not None else None
        hit = self._memo.get(key)
        if hit is not None and hit[0] == stamp and (self._stamp is not None or hit[1] is not None):
            return hit[1]
        raw = self._read(key)
        value = None
        if raw is not None:
            self.decodes += 1
            value = self._decode(raw, key)
        self._memo[key] = (stamp, value)
        return value

    def held(self, key: str, stamp: object) -> _T | None:
        """The decoded file `key` if it is held under `stamp` (nothing is read)."""
        hit = self._memo.get(key)
        return hit[1] if hit is not None and hit[0] == stamp else None

    def keep(self, key: str, stamp: object, value: _T) -> None:
        """Hold `value` as the decoded file `key` under `stamp` (a file this process
        wrote: not decoded again)."""
        self._memo[key] = (stamp, value)

    def clear(self) -> None:
        """Forget every decoded file."""
        self._memo.clear()

    def forget(self, keys: Iterable[str]) -> None:
        """Forget the decoded files `keys` (keys not held are ignored)."""
        for key in keys:
            self._memo.pop(key, None)


def local_stamp(root: str) -> Callable[[str], object]:
    """A :class:`FileMemo` stamp for the files of the local folder `root`: size,
    modification time and inode (an atomic replace changes the inode), or None when
    the file is missing. Taken from the opened file (``fstat``), not by ``stat``: on
    NFS, opening a file revalidates its attributes with the server (close-to-open
    consistency), while ``stat`` may answer from an attribute cache up to a minute old.
    """

    def stamp(key: str) -> object:
        try:
            fd = os.open(os.path.join(root, *key.split("/")), os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        return (st.st_size, st.st_mtime_ns, st.st_ino)

    return stamp


def always_new(key: str) -> object:
    """A :class:`FileMemo` stamp that equals no other: for file systems without a cheap
    change test, whose decoded files the store drops at the start of each read."""
    return object()
