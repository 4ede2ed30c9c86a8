"""The Zarr persistent store, format-compatible with hpcflow 0.2.0a190's Zarr store.

A Zarr store is a Zarr v2 group (a folder) laid out as the engine lays it out:

root ``.zattrs``
    ``name``, ``ts_fmt``, ``ts_name_fmt``, ``creation_info``, ``template`` (whose
    ``tasks`` and ``loops`` hold the task/loop templates), ``template_components``,
    ``num_added_tasks``, ``tasks`` (``{"id_", "element_IDs_idx"}`` in index order),
    ``loops``, ``submissions`` and optionally ``replaced_workflow``;
``metadata/tasks``
    a ragged int array (``vlen-array`` of ``<i8``) whose row ``element_IDs_idx`` holds a
    task's element IDs;
``metadata/elements``, ``metadata/iters``, ``metadata/runs``
    msgpack object arrays of item rows (chunks of 1000, 1000 and
    :data:`DEFAULT_RUN_CHUNK_SIZE`), with the lookup lists of the rows in their
    ``.zattrs``;
``parameters/base``, ``parameters/sources``
    msgpack object arrays of encoded parameter values (chunks of
    :data:`DEFAULT_PARAM_CHUNK_SIZE`, fill value 0, empty chunks not written) and of
    parameter sources (chunks of 1000);
``parameters/arrays/param_<ID>/arr_<N>``
    the numpy arrays inside parameter values, as numeric arrays of their own.

All chunk encoding and decoding is done by the Rust core (``wfstore._core``). On the
local file system the core also does the I/O (``Store.local``); on any other fsspec file
system (memory, SFTP, ...) chunk bytes move through fsspec (``Store.fsspec``, see
:mod:`wfstore.fsspec_store`). The root attributes are a store resource (``"attrs"``):
loaded once per use and written once per commit. Rows are written to the arrays as
each commit step runs.

Chunk sizes: the engine writes ``runs`` and ``parameters/base`` with one row per chunk
(one file per run and per parameter), so that its jobs can update rows without a lock.
wfstore writes them in chunks of :data:`DEFAULT_RUN_CHUNK_SIZE` and
:data:`DEFAULT_PARAM_CHUNK_SIZE` rows by default (``run_chunk_size`` and
``param_chunk_size`` of :meth:`ZarrPersistentStore.write_empty_workflow`): about 100
times fewer files to create, read, copy and count against a file-system quota. Rows are
updated under the store lock (:mod:`wfstore.persistence.lock`), whatever the chunk size
(a rechunk holds the lock until its swap is done), so concurrent wfstore writers never
lose an update. The format is the same Zarr v2 layout
(the engine reads and writes any chunk size, as after its own rechunk); pass
``run_chunk_size=1, param_chunk_size=1`` for a store that the engine's own store class
(without wfstore's lock) will update from many processes at once.
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
import os
import re
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
from fsspec import AbstractFileSystem

from .. import _core
from ..durability import Durability
from ..errors import (
    ConcurrentModificationError,
    CorruptChunkError,
    InvalidArgumentError,
    MissingParameterData,
    MissingStoreEARError,
    MissingStoreElementError,
    MissingStoreElementIterationError,
    MissingStoreTaskError,
    ParameterAlreadySetError,
    RechunkError,
    StoreError,
    StoreIOError,
    StorePathError,
    UnsupportedStoreOperationError,
)
from ..fsspec_store import core_store, io_lock, resolve
from .base import (
    JSONDocument,
    LoopDescriptor,
    ParamSource,
    PersistentStore,
    StoreCreationInfo,
)
from .items import (
    DataPath,
    PersistentStoreFeatures,
    StoreParameter,
    ZarrStoreEAR,
    ZarrStoreElement,
    ZarrStoreElementIter,
    ZarrStoreTask,
    decode_timestamp,
    merge_param_source,
    relative_path,
)
from .lock import LINK_LOCK_NAME, LOCK_NAME, StoreLock
from .resources import CallbackStoreResource, is_local_fs

_ATTRS = "attrs"
_T = TypeVar("_T")

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
#: Names the core's rechunk uses beside an array folder (the same on every file system).
#: Name prefix of commit journals at a store's root (the core's ``JOURNAL_PREFIX``).
JOURNAL_PREFIX = ".wfstore-journal."
RECHUNK_TMP_SUFFIX = ".rechunk-tmp"
RECHUNK_OLD_SUFFIX = ".rechunk-old"
RECHUNK_COMPLETE_MARKER = ".wfstore-rechunk-complete"
#: Rows read and written at a time when rechunking over fsspec.
_RECHUNK_WINDOW_ROWS = 1 << 16
#: Seconds between refreshes of a link lock held by long work (a rechunk); well under
#: the lock's ``stale_after`` (120 s by default).
LOCK_REFRESH_S = 10.0
#: Keys of the archive that :meth:`ZarrPersistentStore.zip` leaves out by default.
#: Rows handed to the Rust core per call when many are appended or read, so that
#: their encoded and decoded copies never all exist at once (bounded peak memory).
ROW_BATCH = 65536

#: Rows per chunk of ``metadata/runs`` and of ``parameters/base`` in new stores (the
#: engine uses 1; see the module docstring).
DEFAULT_RUN_CHUNK_SIZE = 100
DEFAULT_PARAM_CHUNK_SIZE = 100

ZIP_EXCLUDE_EXECUTE = "execute"
ZIP_EXCLUDE_BACKUPS = ("runs.bak", "base.bak")


def guess_chunks(shape: Sequence[int], itemsize: int) -> list[int]:
    """Chunk shape for a numeric array, chosen as zarr-python 2 chooses it when none is
    given: aim for a chunk size between 128 KiB and 64 MiB that grows with the array's
    size, halving the dimensions in turn (first to last) until the chunk fits."""
    if not shape:
        return []
    step, low, high = 256 * 1024, 128 * 1024, 64 * 1024 * 1024
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


class ZarrStoreParameter(StoreParameter):
    """A parameter of a Zarr store: numpy arrays (and masked arrays) inside a value are
    stored as numeric arrays ``parameters/arrays/param_<ID>/arr_<N>``.

    In the encoded value an array is replaced by its index in ``type_lookup["arrays"]``
    (whose entries are ``[path, N]``); a masked array by None, with ``[path,
    [data_index, mask_index]]`` in ``type_lookup["masked_arrays"]`` (its data and mask
    being two arrays listed in ``type_lookup["arrays"]``), as the engine encodes them.
    """

    _store_kind: ClassVar[str] = "zarr"
    _extra_lookup_keys: ClassVar[tuple[str, ...]] = ("arrays", "masked_arrays")

    @classmethod
    def _is_special(cls, obj: Any) -> bool:
        return isinstance(obj, np.ndarray) and obj.dtype.kind in _NUMERIC_KINDS

    @classmethod
    def _primitive_ok(cls, obj: Any) -> bool:
        """msgpack holds integers of 64 bits (signed or unsigned) and UTF-8 strings."""
        if isinstance(obj, int) and not isinstance(obj, bool):
            return -(2**63) <= obj < 2**64
        if isinstance(obj, str):
            try:
                obj.encode("utf-8")
            except UnicodeEncodeError:
                return False
        return True

    def _encode_special(
        self, obj: Any, path: DataPath, type_lookup: dict[str, list], **kwargs: Any
    ) -> Any:
        write_array: Callable[[np.ndarray], int] | None = kwargs.get("write_array")
        if write_array is None:
            raise UnsupportedStoreOperationError(
                f"Parameter {self.id_}: numpy arrays can only be encoded by a Zarr store."
            )
        if isinstance(obj, np.ma.MaskedArray):
            data_idx = self._add_array(np.asarray(obj.data), path, type_lookup, write_array)
            mask = np.ma.getmaskarray(obj)
            mask_idx = self._add_array(mask, path, type_lookup, write_array)
            type_lookup["masked_arrays"].append([list(path), [data_idx, mask_idx]])
            return None
        return self._add_array(np.asarray(obj), path, type_lookup, write_array)

    @staticmethod
    def _add_array(
        arr: np.ndarray,
        path: DataPath,
        type_lookup: dict[str, list],
        write_array: Callable[[np.ndarray], int],
    ) -> int:
        number = write_array(arr)
        type_lookup["arrays"].append([list(path), number])
        return len(type_lookup["arrays"]) - 1

    @classmethod
    def _decode_special(
        cls, obj: Any, type_lookup: dict[str, Any], path: DataPath, **kwargs: Any
    ) -> Any:
        arrays = type_lookup.get("arrays") or []
        masked = type_lookup.get("masked_arrays") or []
        if not arrays and not masked:
            return obj
        read_array: Callable[[int], np.ndarray] | None = kwargs.get("read_array")
        if read_array is None:
            raise UnsupportedStoreOperationError(
                "numpy arrays in parameter values can only be decoded by a Zarr store."
            )
        loaded: dict[int, np.ndarray] = {}

        def load(number: int) -> np.ndarray:
            if number not in loaded:
                loaded[number] = read_array(number)
            return loaded[number]

        def place(root: Any, rel: list[Any], value: Any) -> Any:
            if not rel:
                return value
            target = root
            for comp in rel[:-1]:
                target = target[comp]
            target[rel[-1]] = value
            return root

        masked_idx = {i for _, pair in masked for i in pair}
        for idx, (arr_path, number) in enumerate(arrays):
            if idx in masked_idx:
                continue
            rel = relative_path(arr_path, path)
            if rel is not None:
                obj = place(obj, rel, load(number))
        for arr_path, (data_idx, mask_idx) in masked:
            rel = relative_path(arr_path, path)
            if rel is not None:
                value = np.ma.MaskedArray(
                    data=load(arrays[data_idx][1]), mask=load(arrays[mask_idx][1])
                )
                obj = place(obj, rel, value)
        return obj


class ZarrPersistentStore(
    PersistentStore[
        ZarrStoreTask,
        ZarrStoreElement,
        ZarrStoreElementIter,
        ZarrStoreEAR,
        ZarrStoreParameter,
    ]
):
    """A workflow store kept as a Zarr v2 group in a folder.

    Parameters
    ----------
    app:
        The engine application object, or None.
    workflow:
        The engine workflow, or None.
    path:
        The store folder.
    fs:
        The fsspec file system holding the folder (local if None). The local file
        system takes the Rust core's fast path; any other moves chunk bytes through
        fsspec. `path` may be a URL of `fs` (e.g. ``ssh://host/path``).
    """

    _name: ClassVar[str] = "zarr"
    _features: ClassVar[PersistentStoreFeatures] = PersistentStoreFeatures(
        create=True,
        edit=True,
        jobscript_parallelism=True,
        EAR_parallelism=True,
        schedulers=True,
        submission=True,
    )
    #: A run's fields are patched in its chunk, under the store lock: one file,
    #: replaced atomically (see :meth:`_patch_rows`).
    one_row_writes_are_atomic: ClassVar[bool] = True
    _commit_resources: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "tasks": (_ATTRS,),
        "loops": (_ATTRS,),
        "submissions": (_ATTRS,),
        "submission_parts": (_ATTRS,),
        "element_sets": (_ATTRS,),
        "js_metadata": (_ATTRS,),
        "template_components": (_ATTRS,),
        "loop_num_iters": (_ATTRS,),
        "loop_parents": (_ATTRS,),
    }

    #: Rows per chunk of ``metadata/runs`` and ``parameters/base`` in stores that
    #: :meth:`write_empty_workflow` makes (when not given).
    run_chunk_size: ClassVar[int] = DEFAULT_RUN_CHUNK_SIZE
    param_chunk_size: ClassVar[int] = DEFAULT_PARAM_CHUNK_SIZE

    def __init__(
        self,
        app: Any,
        workflow: Any,
        path: Path | str,
        fs: AbstractFileSystem | None = None,
        *,
        durability: Durability | None = None,
    ) -> None:
        self._core_store: _core.Store | None = None
        self._store_lock: StoreLock | None = None
        self._in_txn = False
        self._txn_holds_lock = False
        #: chunk size of arrays as last read (says whether a row update needs the lock)
        self.last_commit_report: dict[str, Any] | None = None
        # the callbacks hold the store weakly (no reference cycle: see PendingChanges)
        me = weakref.ref(self)
        self._resources = {
            _ATTRS: CallbackStoreResource(
                _ATTRS,
                load=lambda: me()._load_root_attrs(),  # type: ignore[union-attr]
                dump=lambda attrs: me()._dump_root_attrs(attrs),  # type: ignore[union-attr]
            )
        }
        super().__init__(app, workflow, path, fs, durability=durability)
        self._resources[_ATTRS].logger = self.logger

    # --- the Rust core store and arrays ------------------------------------------------

    def _open_core_store(self) -> _core.Store:
        if is_local_fs(self.fs):
            # finish any commit or rechunk that a crashed writer left half-applied
            _core.recover_journals(self.path)
            self._recover_rechunks()
            store = core_store(self.fs, self.path, durability=self.durability)
            self._recover_parameter_append(store)
            return store
        store = core_store(self.fs, self.path)
        # over other file systems commits of several keys are journaled too (where
        # keys can be renamed): finish those a crash or a lost connection cut short
        try:
            names = store.list_dir("")
        except StoreIOError as exc:  # e.g. a read-only file system that cannot list
            self.logger.warning(f"cannot look for interrupted commits: {exc}")
            return store
        if not any(n.startswith(JOURNAL_PREFIX) for n in names):
            return store
        finished = store.recover_journals()
        if finished:
            self.logger.warning(
                f"finished {finished} interrupted commit(s) in {store.location!r}"
            )
        return store

    def _recover_parameter_append(self, store: _core.Store) -> None:
        """Drop what a parameter append cut short left (see :func:`_appends_in_order`):
        rows of the sources array beyond the base array's. Checked under the store lock,
        which a live append holds until its last rename; on other file systems (no
        lock, so the append may still be at work) the next append trims them instead."""
        if not extra_parameter_sources(store, trim=False):
            return
        try:
            with self._locked():
                extra = extra_parameter_sources(store, trim=True)
                if extra:
                    self.logger.warning(
                        f"dropped {extra} parameter source(s) of an interrupted append "
                        f"in {store.location!r}"
                    )
        except StoreError as exc:  # e.g. a store this process may not write
            self.logger.warning(f"cannot finish an interrupted parameter append: {exc}")

    def _recover_rechunks(self) -> None:
        """Finish an interrupted rechunk of ``runs``/``base`` if a crash left the array
        missing (between the two renames of the swap), as the core's
        ``recover_rechunk`` does. Only then: while the array is in place, another process
        may be rechunking it, and its temporary folder must not be touched (leftovers
        of a crash are cleared by the next rechunk)."""
        for arr_path in (RUNS_ARR, PARAM_BASE_ARR):
            array_dir = os.path.join(self.path, *arr_path.split("/"))
            if not os.path.isdir(array_dir) and os.path.isdir(os.path.dirname(array_dir)):
                # a rechunk holds the store lock until its swap is done: once we have
                # the lock, a missing array is a crashed rechunk's
                with self._locked():
                    if not os.path.isdir(array_dir):
                        _core.recover_rechunk(array_dir)

    @property
    def core_store(self) -> _core.Store:
        """The Rust core's key-value store over this store."""
        if self._core_store is None:
            self._core_store = self._open_core_store()
        return self._core_store

    def _array(self, path: str, write_empty_chunks: bool = True) -> _core.ObjectArray:
        return _core.ObjectArray.open(self.core_store, path, write_empty_chunks)

    def _load_root_attrs(self) -> dict[str, Any]:
        attrs = self.core_store.read_attrs("")
        if not attrs and self.core_store.get(".zgroup") is None:
            raise StorePathError(
                f"No Zarr workflow store at {self.core_store.location!r} (no root group)."
            )
        return attrs

    def _dump_root_attrs(self, attrs: dict[str, Any]) -> None:
        self.core_store.write_attrs("", attrs)

    # --- writing safely beside other processes ------------------------------------------

    @property
    def store_lock(self) -> StoreLock | contextlib.nullcontext[None]:
        """The store's writer lock (see :mod:`wfstore.persistence.lock`), taken by every
        write that reads and rewrites data other processes may change: the root
        attributes, array attributes (lookup lists), appends, and rows of chunks that
        hold more than one row. Callable as a context manager; re-entrant."""
        if not self._is_local_fs:
            return contextlib.nullcontext()
        if self._store_lock is None:
            self._store_lock = StoreLock(self.path)
        return self._store_lock

    @property
    def _is_local_fs(self) -> bool:
        return is_local_fs(self.fs)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the store lock while the block runs. Inside a commit's transaction the
        lock, once taken, is held until the transaction is applied: what was read
        under it must not change before the staged writes reach the disk."""
        lock = self.store_lock
        if not isinstance(lock, StoreLock):
            yield
        elif self._in_txn:
            if not self._txn_holds_lock:
                lock.acquire()
                self._txn_holds_lock = True
            yield
        else:
            with lock():
                yield

    @contextlib.contextmanager
    def _commit_transaction(self, kinds: Collection[str] = ()) -> Iterator[None]:
        """One commit is one transaction of the Rust core's store: its writes are staged
        and applied all or nothing (crash-safe on the local file system, through a
        commit journal; see ``wfstore_core::txn``). If the commit raises, nothing of it
        is written. A commit that only appends parameters needs no journal (see
        :func:`_appends_in_order`)."""
        core = self.core_store
        if self._in_txn or not core.transactional:
            yield
            return
        core.begin()
        self._in_txn = True
        try:
            try:
                yield
            except BaseException:
                core.rollback()
                raise
            journal = not _appends_in_order(kinds, core.staged_keys)
            #: what the last commit wrote (for diagnostics and tests)
            self.last_commit_report = core.commit(journal=journal)
        finally:
            self._in_txn = False
            if self._txn_holds_lock:
                self._txn_holds_lock = False
                self.store_lock.release()  # type: ignore[union-attr]

    @contextlib.contextmanager
    def using_resource(self, res_label: str, action: str) -> Iterator[Any]:  # type: ignore[override]
        """As :meth:`PersistentStore.using_resource`; updating the root attributes also
        holds the store lock, from loading them to writing them back, so that
        concurrent updates from other processes are never lost."""
        if res_label == _ATTRS and action == "update":
            with self._locked(), super().using_resource(res_label, action) as data:
                yield data
        else:
            with super().using_resource(res_label, action) as data:
                yield data

    def _write_rows(
        self,
        path: str,
        make_rows: Callable[[_core.ObjectArray, dict[str, Any]], Any],
        write: Callable[[_core.ObjectArray, Any], None],
        write_empty_chunks: bool = True,
    ) -> None:
        """Make rows with ``make_rows(arr, attrs)`` and store them with
        ``write(arr, rows)``, under the store lock (the array is read once, under it).

        `attrs` are the array's attributes (lookup lists), which `make_rows` may extend;
        extended attributes are written before the rows. The lock is taken even when
        each chunk holds one row (no other writer shares it): a rechunk holds the lock
        while it copies and swaps the array, and a row written meanwhile would be lost
        or land in a chunk of the new layout."""
        with self._locked():
            arr = self._array(path, write_empty_chunks)
            orig = arr.attrs()
            attrs = copy.deepcopy(orig)
            rows = make_rows(arr, attrs)
            if attrs != orig:
                arr.set_attrs(attrs)
            write(arr, rows)

    # --- item classes ------------------------------------------------------------------

    @classmethod
    def _store_task_cls(cls) -> type[ZarrStoreTask]:
        return ZarrStoreTask

    @classmethod
    def _store_elem_cls(cls) -> type[ZarrStoreElement]:
        return ZarrStoreElement

    @classmethod
    def _store_iter_cls(cls) -> type[ZarrStoreElementIter]:
        return ZarrStoreElementIter

    @classmethod
    def _store_EAR_cls(cls) -> type[ZarrStoreEAR]:
        return ZarrStoreEAR

    @classmethod
    def _store_param_cls(cls) -> type[ZarrStoreParameter]:
        return ZarrStoreParameter

    # --- creation ----------------------------------------------------------------------

    @classmethod
    def write_empty_workflow(
        cls,
        app: Any,
        *,
        template_js: dict[str, Any],
        template_components_js: dict[str, Any],
        wk_path: str,
        fs: AbstractFileSystem,
        name: str,
        replaced_wk: str | None,
        creation_info: StoreCreationInfo,
        ts_fmt: str,
        ts_name_fmt: str,
        compressor: str | None = "blosc",
        compressor_kwargs: dict[str, Any] | None = None,
        run_chunk_size: int | None = None,
        param_chunk_size: int | None = None,
        durability: Durability | None = None,
    ) -> None:
        """Write an empty Zarr workflow store at `wk_path`, its files with the given
        durability (default: see :class:`PersistentStore`).

        `compressor` (``"blosc"``, ``"zstd"`` or None) and `compressor_kwargs` (e.g.
        ``{"cname": "zstd", "clevel": 3}``) apply to the metadata and parameter arrays.
        `run_chunk_size` and `param_chunk_size` are the rows per chunk of
        ``metadata/runs`` and ``parameters/base`` (default: the class attributes
        :attr:`run_chunk_size` and :attr:`param_chunk_size`; the engine's own stores
        use 1; see the module docstring).
        """
        durability = cls._resolve_durability(durability)
        if run_chunk_size is None:
            run_chunk_size = cls.run_chunk_size
        if param_chunk_size is None:
            param_chunk_size = cls.param_chunk_size
        sizes = {"run_chunk_size": run_chunk_size, "param_chunk_size": param_chunk_size}
        for label, size in sizes.items():
            if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 1:
                raise InvalidArgumentError(f"{label} must be a positive integer, not {size!r}.")
        fs, wk_path = resolve(fs, wk_path)
        if compressor is not None:
            compressor = compressor.lower()
            if compressor not in ("blosc", "zstd"):
                raise StorePathError(
                    f"Unknown compressor {compressor!r}; expected 'blosc', 'zstd' or None."
                )
        try:
            exists = fs.exists(f"{wk_path.rstrip('/')}/.zgroup")
            if not exists:
                fs.makedirs(wk_path, exist_ok=True)
        except OSError as exc:
            raise StoreIOError(
                exc.errno or 0, f"cannot make the store folder {wk_path!r}: {exc}", wk_path
            ) from exc
        if exists:
            raise StorePathError(f"A Zarr group already exists at {wk_path!r}.")
        attrs: dict[str, Any] = {
            "name": name,
            "ts_fmt": ts_fmt,
            "ts_name_fmt": ts_name_fmt,
            "creation_info": creation_info,
            "template": template_js,
            "template_components": template_components_js,
            "num_added_tasks": 0,
            "tasks": [],
            "loops": [],
            "submissions": [],
        }
        if replaced_wk:
            attrs["replaced_workflow"] = replaced_wk
        store = core_store(fs, wk_path, durability=durability)
        cmp: dict[str, Any] = {"compressor": compressor, "compressor_kwargs": compressor_kwargs}
        store.create_group("metadata")
        _core.ObjectArray.create(store, TASKS_ARR, 0, chunk_size=1, object_codec=TASKS_CODEC, **cmp)
        _core.ObjectArray.create(
            store, ELEMS_ARR, 0, 1000, attrs={"seq_idx": [], "src_idx": []}, **cmp
        )
        _core.ObjectArray.create(
            store,
            ITERS_ARR,
            0,
            1000,
            attrs={"loops": [], "schema_parameters": [], "parameter_paths": []},
            **cmp,
        )
        _core.ObjectArray.create(
            store, RUNS_ARR, 0, int(run_chunk_size), attrs={"parameter_paths": []}, **cmp
        )
        store.create_group("parameters")
        _core.ObjectArray.create(
            store,
            PARAM_BASE_ARR,
            0,
            int(param_chunk_size),
            fill_value=0,
            write_empty_chunks=False,
            **cmp,
        )
        _core.ObjectArray.create(store, PARAM_SOURCES_ARR, 0, 1000, **cmp)
        store.create_group(PARAM_ARRAYS_GRP)
        # the root group last: a folder without it is not (yet) a workflow store.
        store.create_group("", attrs)

    # --- simple getters ----------------------------------------------------------------

    @contextlib.contextmanager
    def cached_load(self) -> Iterator[None]:
        """Keep the root attributes loaded while the ``with``-wrapped code runs."""
        with self.using_resource(_ATTRS, "read"):
            yield

    def _attr(self, key: str) -> Any:
        with self.using_resource(_ATTRS, "read") as attrs:
            return attrs[key]

    def get_name(self) -> str:
        """Get the workflow name."""
        return self._attr("name")

    def get_ts_fmt(self) -> str:
        """Get the timestamp format."""
        return self._attr("ts_fmt")

    def get_ts_name_fmt(self) -> str:
        """Get the timestamp format for names."""
        return self._attr("ts_name_fmt")

    def get_creation_info(self) -> StoreCreationInfo:
        """Get the workflow creation data."""
        return copy.deepcopy(self._attr("creation_info"))

    def _get_persistent_template_components(self) -> dict[str, Any]:
        return self._attr("template_components")

    def _get_persistent_template(self) -> dict[str, Any]:
        return self._attr("template")

    # --- counts ------------------------------------------------------------------------

    def _get_num_persistent_tasks(self) -> int:
        if self.use_cache and self.num_tasks_cache is not None:
            return self.num_tasks_cache
        num = len(self._attr("tasks"))
        if self.use_cache:
            self.num_tasks_cache = num
        return num

    def _get_num_persistent_loops(self) -> int:
        return len(self._attr("loops"))

    def _get_num_persistent_submissions(self) -> int:
        return len(self._attr("submissions"))

    def _get_num_persistent_elements(self) -> int:
        return len(self._array(ELEMS_ARR))

    def _get_num_persistent_elem_iters(self) -> int:
        return len(self._array(ITERS_ARR))

    def _get_num_persistent_EARs(self) -> int:
        if self.use_cache and self.num_EARs_cache is not None:
            return self.num_EARs_cache
        num = len(self._array(RUNS_ARR))
        if self.use_cache:
            self.num_EARs_cache = num
        return num

    def _get_num_persistent_parameters(self) -> int:
        return len(self._array(PARAM_BASE_ARR))

    def _get_num_persistent_added_tasks(self) -> int:
        return self._attr("num_added_tasks")

    # --- persistent getters ------------------------------------------------------------

    @staticmethod
    def _rows(arr: _core.ObjectArray, ids: Sequence[int], error: type[Exception]) -> dict[int, Any]:
        """Rows `ids` of `arr`, raising `error` naming the IDs out of range."""
        n = len(arr)
        missing = [i for i in ids if not 0 <= i < n]
        if missing:
            raise error(missing)
        return dict(zip(ids, arr.get(list(ids))))

    @staticmethod
    def _decode_rows(
        arr: _core.ObjectArray, rows: Mapping[int, Any], decode: Callable[[int, Any], _T]
    ) -> dict[int, _T]:
        """`decode(id, row)` for every row; a row read from disk that does not decode
        (msgpack that is valid but not a row of this array: damaged or foreign data)
        raises :class:`~wfstore.errors.CorruptChunkError` naming the array, the chunk key
        and the row, never another exception."""
        out: dict[int, _T] = {}
        for i, row in rows.items():
            try:
                out[i] = decode(i, row)
            except StoreError:
                raise
            except Exception as exc:
                key = str(i // arr.chunk_size)
                path = f"{arr.store.location.rstrip('/')}/{arr.path}"
                err = CorruptChunkError(
                    f"corrupt chunk {key} of array {path}: row {i} cannot be decoded "
                    f"({type(exc).__name__}: {exc})"
                )
                err.path, err.key = path, key
                raise err from exc
        return out

    def _get_persistent_tasks(self, id_lst: Iterable[int]) -> dict[int, ZarrStoreTask]:
        tasks, to_load = self._get_cached_persistent_tasks(id_lst)
        if to_load:
            wanted = set(to_load)
            found: dict[int, tuple[int, int]] = {}
            for idx, t in enumerate(self._attr("tasks")):
                if t["id_"] in wanted:
                    found[t["id_"]] = (idx, t["element_IDs_idx"])
            missing = [i for i in to_load if i not in found]
            if missing:
                raise MissingStoreTaskError(missing)
            arr = self._array(TASKS_ARR)
            rows = arr.get([r for _, r in found.values()])
            by_row = {r: row for (_, r), row in zip(found.values(), rows)}
            decoded = self._decode_rows(arr, by_row, lambda _, row: _int_list(row))
            new = {
                id_: ZarrStoreTask.decode({"id_": id_, "index": idx, "element_IDs": decoded[r]})
                for id_, (idx, r) in found.items()
            }
            self.task_cache.update(new)
            tasks.update(new)
        return tasks

    def _get_persistent_loops(
        self, id_lst: Iterable[int] | None = None
    ) -> dict[int, LoopDescriptor]:
        wanted = None if id_lst is None else set(id_lst)
        return {
            idx: copy.deepcopy(loop)
            for idx, loop in enumerate(self._attr("loops"))
            if wanted is None or idx in wanted
        }

    def _get_persistent_submissions(
        self, id_lst: Iterable[int] | None = None
    ) -> dict[int, JSONDocument]:
        wanted = None if id_lst is None else set(id_lst)
        out = {
            idx: copy.deepcopy(sub)
            for idx, sub in enumerate(self._attr("submissions"))
            if wanted is None or idx in wanted
        }
        for sub in out.values():
            # attribute keys are strings; jobscript `task_elements` keys are ints:
            for js in sub.get("jobscripts", []):
                te = js.get("task_elements")
                if isinstance(te, dict):
                    js["task_elements"] = {int(k): v for k, v in te.items()}
        return out

    def _get_persistent_elements(self, id_lst: Iterable[int]) -> dict[int, ZarrStoreElement]:
        elems, to_load = self._get_cached_persistent_elements(id_lst)
        if to_load:
            arr = self._array(ELEMS_ARR)
            attrs = arr.attrs()
            rows = self._rows(arr, to_load, MissingStoreElementError)
            new = self._decode_rows(arr, rows, lambda _, r: ZarrStoreElement.decode(r, attrs))
            self.element_cache.update(new)
            elems.update(new)
        return elems

    def _get_persistent_element_iters(
        self, id_lst: Iterable[int]
    ) -> dict[int, ZarrStoreElementIter]:
        iters, to_load = self._get_cached_persistent_element_iters(id_lst)
        if to_load:
            arr = self._array(ITERS_ARR)
            attrs = arr.attrs()
            rows = self._rows(arr, to_load, MissingStoreElementIterationError)
            new = self._decode_rows(arr, rows, lambda _, r: ZarrStoreElementIter.decode(r, attrs))
            self.element_iter_cache.update(new)
            iters.update(new)
        return iters

    def _get_persistent_EARs(self, id_lst: Iterable[int]) -> dict[int, ZarrStoreEAR]:
        runs, to_load = self._get_cached_persistent_EARs(id_lst)
        if to_load:
            ts_fmt = self.ts_fmt
            arr = self._array(RUNS_ARR)
            attrs = arr.attrs()
            self._rows(arr, [i for i in to_load if not 0 <= i < len(arr)], MissingStoreEARError)
            new = {}
            cls = self._store_EAR_cls()
            fast = getattr(cls.decode, "__func__", None) is _ZARR_EAR_DECODE
            for start in range(0, len(to_load), ROW_BATCH):
                batch = to_load[start : start + ROW_BATCH]
                if fast:
                    try:
                        decoded = _core.decode_runs(
                            arr, batch, cls, attrs["parameter_paths"], ts_fmt, decode_timestamp
                        )
                    except (ValueError, TypeError, IndexError, KeyError, OverflowError):
                        pass  # not rows of runs: the Python decoder says what is wrong
                    else:
                        new.update(zip(batch, decoded))
                        continue
                rows = self._rows(arr, batch, MissingStoreEARError)
                new.update(self._decode_rows(arr, rows, lambda _, r: cls.decode(r, ts_fmt, attrs)))
                del rows
            self.EAR_cache.update(new)
            runs.update(new)
        return runs

    def _param_group(self, param_id: int) -> str:
        return f"{PARAM_ARRAYS_GRP}/param_{param_id}"

    def _array_reader(self, param_id: int) -> Callable[[int], np.ndarray]:
        group = self._param_group(param_id)

        def read(number: int) -> np.ndarray:
            return _core.NumericArray.open(self.core_store, f"{group}/arr_{number}").read()

        return read

    def _reset_cache(self) -> None:
        super()._reset_cache()
        #: IDs of parameters this object appended unset and has not set since (at most
        #: `_MAX_APPENDED_UNSET`): `set_parameter_value`'s early check reads nothing for
        #: them. Another process setting one meanwhile is caught at the commit, which
        #: reads the row under the store lock (the value is then refused and dropped).
        self._appended_unset: set[int] = set()

    def _persistent_param_is_set(self, param_id: int) -> bool:
        if param_id in self._appended_unset:
            return False
        # the parameter base row alone tells it (a set value or file is a dict, an
        # unset one is PARAM_DATA_NOT_SET): no decoding, no source row
        cached, _ = self._get_cached_persistent_parameters([param_id])
        if param_id in cached:
            return cached[param_id].is_set
        row = self._rows(self._array(PARAM_BASE_ARR), [param_id], MissingParameterData)
        return isinstance(row[param_id], dict)

    def _get_persistent_parameters(
        self, id_lst: Iterable[int], *, dataset_copy: bool = False, **kwargs: Any
    ) -> dict[int, ZarrStoreParameter]:
        # arrays are always returned as numpy arrays (copies), so `dataset_copy` (the
        # engine's choice between zarr arrays and copies) changes nothing.
        params, to_load = self._get_cached_persistent_parameters(id_lst)
        if to_load:
            base = self._array(PARAM_BASE_ARR)
            src_arr = self._array(PARAM_SOURCES_ARR)
            for bad in (base, src_arr):
                self._rows(bad, [i for i in to_load if not 0 <= i < len(bad)], MissingParameterData)
            # a batch of raw rows at a time: only one batch's rows exist besides the
            # decoded parameters
            for start in range(0, len(to_load), ROW_BATCH):
                batch = to_load[start : start + ROW_BATCH]
                data = self._rows(base, batch, MissingParameterData)
                sources = self._rows(src_arr, batch, MissingParameterData)
                new = self._decode_rows(
                    base,
                    data,
                    lambda i, row: ZarrStoreParameter.decode(
                        id_=i,
                        data=row,
                        source=sources[i],  # noqa: B023
                        fresh=True,  # rows just read, dropped after the batch
                        read_array=self._array_reader(i),
                        **kwargs,
                    ),
                )
                del data, sources
                self.parameter_cache.update(new)
                params.update(new)
        return params

    def _get_persistent_param_sources(self, id_lst: Iterable[int]) -> dict[int, ParamSource]:
        sources, to_load = self._get_cached_persistent_param_sources(id_lst)
        if to_load:
            new = self._rows(self._array(PARAM_SOURCES_ARR), to_load, MissingParameterData)
            self.param_sources_cache.update(new)
            sources.update(copy.deepcopy(new))
        return sources

    def _get_persistent_parameter_set_status(self, id_lst: Iterable[int]) -> dict[int, bool]:
        data = self._rows(self._array(PARAM_BASE_ARR), list(id_lst), MissingParameterData)
        # As the engine (hpcflow 0.2.0a190) answers: a stored parameter counts as set
        # unless its data is None, so an unset one (stored as 0) counts as set too.
        # Engine code relies on this answer; `get_parameters(...)[i].is_set` is exact.
        return {i: d is not None for i, d in data.items()}

    def _get_persistent_parameter_IDs(self) -> list[int]:
        return list(range(self._get_num_persistent_parameters()))

    # --- writers: root attributes ------------------------------------------------------

    def _append_tasks(self, tasks: Iterable[ZarrStoreTask]) -> None:
        arr = self._array(TASKS_ARR)
        start = len(arr)
        rows: list[np.ndarray] = []
        with self.using_resource(_ATTRS, "update") as attrs:
            for task in tasks:
                idx, meta, template = task.encode()
                rows.append(np.asarray(meta["element_IDs"], dtype="<i8"))
                entry = {"id_": meta["id_"], "element_IDs_idx": start + len(rows) - 1}
                attrs["tasks"].insert(idx, entry)
                attrs["template"]["tasks"].insert(idx, _json_keys(template))
                attrs["num_added_tasks"] += 1
            if rows:
                arr.append(rows)

    def _append_loops(self, loops: dict[int, LoopDescriptor]) -> None:
        with self.using_resource(_ATTRS, "update") as attrs:
            for loop in loops.values():
                attrs["loops"].append(
                    _json_keys(
                        {
                            "num_added_iterations": loop["num_added_iterations"],
                            "iterable_parameters": loop["iterable_parameters"],
                            "parents": loop["parents"],
                        }
                    )
                )
                attrs["template"]["loops"].append(_json_keys(loop["loop_template"]))

    def _append_submissions(self, subs: dict[int, JSONDocument]) -> None:
        with self.using_resource(_ATTRS, "update") as attrs:
            for idx, sub in sorted(subs.items()):
                if idx != len(attrs["submissions"]):
                    raise StorePathError(
                        f"Submission index {idx} is not the next index "
                        f"({len(attrs['submissions'])})."
                    )
                attrs["submissions"].append(_json_keys(sub))

    def _append_submission_parts(self, sub_parts: dict[int, dict[str, list[int]]]) -> None:
        with self.using_resource(_ATTRS, "update") as attrs:
            for sub_idx, parts in sub_parts.items():
                sub = attrs["submissions"][sub_idx]
                sub.setdefault("submission_parts", {}).update(_json_keys(parts))

    def _append_element_sets(self, task_id: int, es_js: Sequence[Mapping]) -> None:
        task_idx = self._get_task_id_to_idx_map()[task_id]
        with self.using_resource(_ATTRS, "update") as attrs:
            attrs["template"]["tasks"][task_idx]["element_sets"].extend(
                _json_keys(dict(es)) for es in es_js
            )

    def _update_js_metadata(self, js_meta: dict[int, dict[int, dict[str, Any]]]) -> None:
        with self.using_resource(_ATTRS, "update") as attrs:
            for sub_idx, per_js in js_meta.items():
                for js_idx, meta in per_js.items():
                    attrs["submissions"][sub_idx]["jobscripts"][js_idx].update(_json_keys(meta))

    def _update_template_components(self, tc: dict[str, Any]) -> None:
        with self.using_resource(_ATTRS, "update") as attrs:
            attrs["template_components"] = _json_keys(tc)

    def _update_loop_num_iters(self, index: int, num_iters: list[Any]) -> None:
        with self.using_resource(_ATTRS, "update") as attrs:
            attrs["loops"][index]["num_added_iterations"] = _json_keys(num_iters)

    def _update_loop_parents(self, index: int, parents: list[str]) -> None:
        with self.using_resource(_ATTRS, "update") as attrs:
            attrs["loops"][index]["parents"] = list(parents)

    # --- writers: metadata arrays ------------------------------------------------------

    def _append_task_element_IDs(self, task_ID: int, elem_IDs: list[int]) -> None:
        for t in self._attr("tasks"):
            if t["id_"] == task_ID:
                row_idx = t["element_IDs_idx"]
                break
        else:
            raise MissingStoreTaskError([task_ID])
        with self._locked():
            arr = self._array(TASKS_ARR)
            current = arr.get([row_idx])[0]
            new = np.concatenate([np.asarray(current, "<i8"), np.asarray(elem_IDs, "<i8")])
            arr.set([row_idx], [new])

    def _append_rows(self, path: str, items: Sequence[Any], encode: Callable) -> None:
        """Append `items` encoded by ``encode(item, attrs)``, a batch of
        :data:`ROW_BATCH` at a time (within the commit's transaction), so that only
        one batch of encoded rows exists at once."""
        for start in range(0, len(items), ROW_BATCH):
            batch = items[start : start + ROW_BATCH]

            def make_rows(arr: _core.ObjectArray, attrs: dict[str, Any]) -> list[Any]:
                _check_next_ids(path, arr, [item.id_ for item in batch])  # noqa: B023
                return [encode(item, attrs) for item in batch]  # noqa: B023

            self._write_rows(path, make_rows, _append_in_batches)

    def _append_elements(self, elems: Sequence[ZarrStoreElement]) -> None:
        self._append_rows(ELEMS_ARR, elems, lambda e, a: e.encode(a))

    def _append_elem_iters(self, iters: Sequence[ZarrStoreElementIter]) -> None:
        self._append_rows(ITERS_ARR, iters, lambda i, a: i.encode(a))

    def _append_EARs(self, EARs: Sequence[ZarrStoreEAR]) -> None:
        ts_fmt = self.ts_fmt
        self._append_rows(RUNS_ARR, EARs, lambda r, a: r.encode(ts_fmt, a))

    def _update_rows(
        self,
        path: str,
        ids: Sequence[int],
        decode: Callable[[Any, dict], Any],
        change: Callable[[int, Any], Any],
        encode: Callable[[Any, dict], Any],
        error: type[Exception],
    ) -> None:
        """Read rows `ids` of `path`, decode them, apply `change(id, item)`, write them
        back (one read and one write of the array)."""
        ids = list(ids)
        if not ids:
            return

        def make_rows(arr: _core.ObjectArray, attrs: dict[str, Any]) -> list[Any]:
            rows = self._rows(arr, ids, error)
            return [encode(change(i, decode(rows[i], attrs)), attrs) for i in ids]

        self._write_rows(path, make_rows, lambda arr, rows: arr.set(ids, rows))

    def _update_iters(self, ids: Sequence[int], change: Callable[[int, Any], Any]) -> None:
        self._update_rows(
            ITERS_ARR,
            ids,
            ZarrStoreElementIter.decode,
            change,
            lambda it, a: it.encode(a),
            MissingStoreElementIterationError,
        )

    def _append_elem_iter_IDs(self, elem_ID: int, iter_IDs: Iterable[int]) -> None:
        iter_IDs = list(iter_IDs)
        self._update_rows(
            ELEMS_ARR,
            [elem_ID],
            ZarrStoreElement.decode,
            lambda _, e: e.append_iteration_IDs(iter_IDs),
            lambda e, a: e.encode(a),
            MissingStoreElementError,
        )

    def _append_elem_iter_EAR_IDs(self, iter_ID: int, act_idx: int, EAR_IDs: Sequence[int]) -> None:
        self._update_iters([iter_ID], lambda _, it: it.append_EAR_IDs({act_idx: list(EAR_IDs)}))

    def _update_elem_iter_EARs_initialised(self, iter_ID: int) -> None:
        self._update_iters([iter_ID], lambda _, it: it.set_EARs_initialised())

    def _update_loop_index(self, iter_ID: int, loop_idx: Mapping[str, int]) -> None:
        self._update_iters([iter_ID], lambda _, it: it.update_loop_idx(loop_idx))

    def _patch_rows(
        self, path: str, patches: Mapping[int, dict[int, Any]], error: type[Exception]
    ) -> None:
        """Set fields of rows of `path` in place (``{row ID: {position: value}}``):
        one read and one write of each chunk concerned, without decoding the rows or
        reading the array's lookup lists; under the store lock, whatever the chunk
        size (see :meth:`_write_rows`), the array's layout read once, under it."""
        ids = list(patches)
        if not ids:
            return
        values = [patches[i] for i in ids]
        with self._locked():
            arr = self._array(path)
            n = len(arr)
            missing = [i for i in ids if not 0 <= i < n]
            if missing:
                raise error(missing)
            arr.patch(ids, values)

    def _patch_runs(self, patches: Mapping[int, dict[str, Any]]) -> None:
        ts_fmt = self.ts_fmt
        self._patch_rows(
            RUNS_ARR,
            {i: ZarrStoreEAR.encode_fields(ts_fmt, **fields) for i, fields in patches.items()},
            MissingStoreEARError,
        )

    def _update_EAR_submission_indices(self, sub_indices: Mapping[int, int]) -> None:
        self._patch_runs({i: {"submission_idx": idx} for i, idx in sub_indices.items()})

    def _update_EAR_start(
        self, EAR_id: int, s_time: datetime, s_snap: dict[str, Any] | None, s_hn: str
    ) -> None:
        self._patch_runs(
            {EAR_id: {"start_time": s_time, "snapshot_start": s_snap, "run_hostname": s_hn}}
        )

    def _update_EAR_end(
        self,
        EAR_id: int,
        e_time: datetime,
        e_snap: dict[str, Any] | None,
        ext_code: int,
        success: bool,
    ) -> None:
        self._patch_runs(
            {
                EAR_id: {
                    "end_time": e_time,
                    "snapshot_end": e_snap,
                    "exit_code": ext_code,
                    "success": success,
                }
            }
        )

    def _update_EAR_skip(self, EAR_id: int) -> None:
        self._patch_runs({EAR_id: {"skip": True}})

    # --- writers: parameters -----------------------------------------------------------

    def _array_writer(self, param_id: int) -> Callable[[np.ndarray], int]:
        """A function writing a numpy array as the next ``arr_<N>`` of parameter
        `param_id`'s group (made if needed), returning N."""
        group = self._param_group(param_id)
        store = self.core_store
        state: dict[str, int] = {}

        def write(arr: np.ndarray) -> int:
            if "next" not in state:
                existing = store.list_dir(group)
                numbers = [int(n[4:]) for n in existing if n.startswith("arr_") and n[4:].isdigit()]
                if ".zgroup" not in existing:
                    store.create_group(group)
                state["next"] = max(numbers, default=-1) + 1
            number = state["next"]
            state["next"] += 1
            _core.NumericArray.create(
                store,
                f"{group}/arr_{number}",
                arr,
                chunks=guess_chunks(arr.shape, arr.dtype.itemsize),
                compressor=NUMERIC_COMPRESSOR,
                fill_value=_numeric_fill_value(arr.dtype),
            )
            return number

        return write

    def _encode_param(self, param: StoreParameter) -> Any:
        return param.encode(write_array=self._array_writer(param.id_))

    def _append_parameters(self, params: Sequence[ZarrStoreParameter]) -> None:
        if not params:
            return
        with self._locked():
            base = self._array(PARAM_BASE_ARR, write_empty_chunks=False)
            sources = self._array(PARAM_SOURCES_ARR)
            _check_next_ids(PARAM_BASE_ARR, base, [p.id_ for p in params])
            if len(sources) > len(base):
                # rows of an append that stopped before the base array grew (see
                # `_appends_in_order`): those parameters never existed
                sources.resize(len(base))
            encoded = [self._encode_param(p) for p in params]
            _append_in_batches(sources, [dict(sorted(p.source.items())) for p in params])
            _append_in_batches(base, encoded)
        # the count seen grows with them (reset with the cache should the commit fail)
        counts = self._persistent_counts
        counts["parameters_seen"] = max(counts.get("parameters_seen", 0), params[-1].id_ + 1)
        known = self._appended_unset
        if len(known) + len(params) > _MAX_APPENDED_UNSET:
            known.clear()  # a build's many parameters: only a job's few are worth it
        if len(params) <= _MAX_APPENDED_UNSET:
            known.update(p.id_ for p in params if not p.is_set)

    def _set_parameter_values(self, set_parameters: dict[int, tuple[Any, bool]]) -> None:
        ids = list(set_parameters)
        if self._in_txn:
            # a commit's transaction (its writes staged, undone should it fail): the
            # values are encoded first (arrays in them staged), then set where the rows
            # are still unset, each chunk read once, under the lock
            with self._locked():
                arr = self._array(PARAM_BASE_ARR, write_empty_chunks=False)
                n = len(arr)
                missing = [i for i in ids if not 0 <= i < n]
                if missing:
                    raise MissingParameterData(missing)
                encoded = []
                for p_id in ids:
                    value, is_file = set_parameters[p_id]
                    param = ZarrStoreParameter.decode(p_id, None, {}, read_array=None)
                    param = param.set_file(value) if is_file else param.set_data(value)
                    encoded.append(self._encode_param(param))
                already = arr.set_unless_map(ids, encoded)
                if already:
                    raise ParameterAlreadySetError(already[0])
            self._appended_unset.difference_update(ids)
            return

        def make_rows(arr: _core.ObjectArray, attrs: dict[str, Any]) -> list[Any]:
            # the rows as they are now on disk (under the lock when it is needed; not
            # from the cache: another process may have set a parameter meanwhile)
            rows = self._rows(arr, ids, MissingParameterData)
            encoded = []
            for p_id in ids:
                value, is_file = set_parameters[p_id]
                # an unset row decodes without reading anything else; a set one raises
                param = ZarrStoreParameter.decode(p_id, rows[p_id], {}, read_array=None)
                param = param.set_file(value) if is_file else param.set_data(value)
                encoded.append(self._encode_param(param))
            return encoded

        self._write_rows(
            PARAM_BASE_ARR,
            make_rows,
            lambda arr, rows: arr.set(ids, rows),
            write_empty_chunks=False,
        )
        self._appended_unset.difference_update(ids)

    def _update_parameter_sources(self, sources: Mapping[int, ParamSource]) -> None:
        ids = list(sources)
        with self._locked():
            arr = self._array(PARAM_SOURCES_ARR)
            current = self._rows(arr, ids, MissingParameterData)
            arr.set(ids, [merge_param_source(current[i], sources[i]) for i in ids])

    # --- replaced workflows ------------------------------------------------------------

    def remove_replaced_dir(self) -> None:
        """Delete the pre-existing workflow that this one replaced (if any)."""
        with self.using_resource(_ATTRS, "update") as attrs:
            if "replaced_workflow" in attrs:
                self.logger.debug("removing temporarily renamed pre-existing workflow.")
                self.remove_path(attrs["replaced_workflow"])
                del attrs["replaced_workflow"]

    def reinstate_replaced_dir(self) -> None:
        """Move the replaced pre-existing workflow (if any) back to this path."""
        replaced = self._attr_or_none("replaced_workflow")
        if replaced:
            self.logger.debug("reinstating temporarily renamed pre-existing workflow.")
            self.rename_path(replaced, self.path)

    def _attr_or_none(self, key: str) -> Any:
        with self.using_resource(_ATTRS, "read") as attrs:
            return attrs.get(key)

    # --- archive and rechunk -----------------------------------------------------------

    def _workflow_name(self) -> str:
        name = getattr(self._workflow, "name", None)
        return name if isinstance(name, str) else self.get_name()

    def zip(
        self,
        path: str = ".",
        log: str | None = None,
        overwrite: bool = False,
        include_execute: bool = False,
        include_rechunk_backups: bool = False,
    ) -> str:
        """Write the store into a zip archive, returning its path once the archive is
        complete and closed.

        `path` is the archive's path, or an existing folder to hold ``<name>.zip``.
        Keys are stored at the archive's root; ``execute`` folders and the rechunk
        backups ``runs.bak``/``base.bak`` are left out unless included. `log`, a file
        path, receives a line per key copied and a summary, as zarr's ``copy_store``
        writes them.

        The archive is written on the local file system (as the engine writes it),
        whatever file system holds the store: a store on another file system is first
        copied (without the excluded folders) into a local temporary folder.
        """
        dst = Path(path).resolve()
        if dst.is_dir():
            dst = (dst / self._workflow_name()).with_suffix(".zip")
        if dst.exists() and not overwrite:
            raise FileExistsError(
                f"File at path already exists: {str(dst)!r}. Pass `overwrite=True` to "
                "overwrite the existing file."
            )
        # the store lock's files are the writers' business, not the workflow's
        exclude: list[str] = [LOCK_NAME, LINK_LOCK_NAME]
        if not include_execute:
            exclude.append(ZIP_EXCLUDE_EXECUTE)
        if not include_rechunk_backups:
            exclude.extend(ZIP_EXCLUDE_BACKUPS)
        tmp = dst.with_name(f".{dst.name}.wfstore-zip")
        if tmp.exists():
            tmp.unlink()
        if is_local_fs(self.fs):
            _core.zip_dir(self.path, tmp, exclude, progress=self._progress(False, "zip"))
        else:
            with tempfile.TemporaryDirectory(prefix=".wfstore-zip-", dir=dst.parent) as local:
                with io_lock(self.fs):
                    self._download(local, exclude)
                _core.zip_dir(local, tmp, exclude, progress=self._progress(False, "zip"))
        os.replace(tmp, dst)
        if log is not None:
            write_copy_log(log, dst)
        return str(dst)

    def _download(self, local: str, exclude: Sequence[str]) -> None:
        """Copy the store's files (except those under a folder named in `exclude`)
        from its file system into the local folder `local`."""
        root = self.path.rstrip("/")
        try:
            remote_files = self.fs.find(root)
        except Exception as exc:
            raise StoreIOError(0, f"cannot list {root!r}: {exc}", root) from exc
        for remote in remote_files:
            rel = remote[len(root) :].strip("/") if remote.startswith(root) else ""
            parts = rel.split("/")
            if not rel or any(p in exclude for p in parts[:-1]):
                continue
            target = os.path.join(local, *parts)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            try:
                self.fs.get_file(remote, target)
            except Exception as exc:
                raise StoreIOError(0, f"cannot copy {remote!r}: {exc}", remote) from exc

    def unzip(self, path: str = ".", log: str | None = None) -> str:
        """Not supported: this store is not an archive."""
        raise UnsupportedStoreOperationError("Not a zip store!")

    @staticmethod
    def _progress(status: bool, label: str) -> Callable[[int, int], None] | None:
        """A progress callback printing ``label: done/total`` to stderr (if `status`)."""
        if not status:
            return None

        def report(done: int, total: int) -> None:
            end = "\n" if done >= total else ""
            print(f"\r{label}: {done}/{total}", end=end, file=sys.stderr, flush=True)

        return report

    def _keeping_lock(
        self, progress: Callable[[int, int], None] | None
    ) -> Callable[[int, int], None] | None:
        """`progress`, refreshing the store lock every few seconds as well when the lock
        is a link lock (which other writers break as stale after ``stale_after``
        seconds without a refresh), for work that holds the lock long."""
        lock = self.store_lock
        if not isinstance(lock, StoreLock) or lock.protocol != "link":
            return progress
        last = time.monotonic()

        def report(done: int, total: int) -> None:
            nonlocal last
            if time.monotonic() - last > LOCK_REFRESH_S:
                lock.refresh()
                last = time.monotonic()
            if progress is not None:
                progress(done, total)

        return report

    def _rechunk(self, arr_path: str, chunk_size: int | None, backup: bool, status: bool) -> Any:
        if self.has_pending:
            raise UnsupportedStoreOperationError("Commit (save) pending changes before rechunking.")
        if chunk_size is not None and (
            not isinstance(chunk_size, numbers.Integral)
            or isinstance(chunk_size, bool)
            or chunk_size < 1
        ):
            raise InvalidArgumentError(
                f"Rechunking {arr_path}: chunk_size must be None or a positive integer, "
                f"not {chunk_size!r}."
            )
        name = arr_path.rsplit("/", 1)[-1]
        local = is_local_fs(self.fs)
        array_dir = (
            os.path.join(self.path, *arr_path.split("/"))
            if local
            else f"{self.path.rstrip('/')}/{arr_path}"
        )
        # as the engine does, an existing backup (the array as it was before the first
        # rechunk) is kept, and no new backup is made:
        backup_dir = f"{array_dir}.bak"
        progress = self._progress(status, f"Rechunking {name}")
        if local:
            # under the store lock: writers wait (up to the lock's timeout) rather than
            # write rows into the array while it is copied and swapped
            with self._locked():
                # finish or roll back a rechunk a crash interrupted (restoring an
                # earlier backup it had moved aside) before deciding whether a backup
                # exists:
                _core.recover_rechunk(array_dir)
                keep_old_backup = backup and bool(self.fs.isdir(backup_dir))
                report = _core.rechunk_object_array(
                    array_dir,
                    chunk_size,
                    backup=backup and not keep_old_backup,
                    # "full": the new chunks are on disk before the swap
                    fsync=self.durability == "full",
                    progress=self._keeping_lock(progress),
                )
        else:
            keep_old_backup = backup and bool(self.fs.isdir(backup_dir))
            report = self._rechunk_over_fsspec(
                arr_path, chunk_size, backup and not keep_old_backup, progress
            )
        self._reset_cache()
        if keep_old_backup:
            report["backup"] = backup_dir
        if status:
            print(
                f"Rechunked {name}: {report['rows']} rows, chunk size "
                f"{report['old_chunk_size']} -> {report['new_chunk_size']}"
                + (f"; backup at {report['backup']}" if report.get("backup") else ""),
                file=sys.stderr,
            )
        return report

    # --- rechunk on file systems other than the local one ------------------------------

    def _fs_remove_dir(self, path: str) -> None:
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def _fs_move_dir(self, src: str, dst: str) -> None:
        try:
            self.fs.mv(src, dst, recursive=True)
        except TypeError:  # e.g. SFTP's `mv` has no `recursive` (it renames folders whole)
            self.fs.mv(src, dst)

    def _recover_rechunk_over_fsspec(self, array_dir: str) -> None:
        """Finish or roll back an interrupted rechunk of `array_dir` (as the core's
        ``recover_rechunk`` does on the local file system, with the same names)."""
        fs = self.fs
        tmp, old = f"{array_dir}{RECHUNK_TMP_SUFFIX}", f"{array_dir}{RECHUNK_OLD_SUFFIX}"
        if not fs.exists(array_dir):
            if fs.exists(f"{tmp}/{RECHUNK_COMPLETE_MARKER}"):
                self._fs_move_dir(tmp, array_dir)
            elif fs.exists(old):
                self._fs_move_dir(old, array_dir)
        if fs.exists(array_dir):
            self._fs_remove_dir(tmp)
            self._fs_remove_dir(old)
            marker = f"{array_dir}/{RECHUNK_COMPLETE_MARKER}"
            if fs.exists(marker):
                fs.rm_file(marker)

    def _rechunk_over_fsspec(
        self,
        arr_path: str,
        chunk_size: int | None,
        backup: bool,
        progress: Callable[[int, int], None] | None,
    ) -> dict[str, Any]:
        """Rechunk `arr_path` through the core's fsspec store: the new array is built
        beside the old one (``<array>.rechunk-tmp``, rows read and written in windows),
        then swapped in by two folder moves (``<array>`` to ``<array>.bak`` or
        ``<array>.rechunk-old``, then the new one to ``<array>``). The moves are renames
        on file systems that have them (SFTP), copies elsewhere (memory, object
        stores); an interrupted swap is finished or rolled back by the next rechunk."""
        if chunk_size is not None and chunk_size < 1:
            raise InvalidArgumentError(f"chunk size must be at least 1, not {chunk_size}")
        array_dir = f"{self.path.rstrip('/')}/{arr_path}"
        tmp_key = f"{arr_path}{RECHUNK_TMP_SUFFIX}"
        tmp_dir = f"{array_dir}{RECHUNK_TMP_SUFFIX}"
        try:
            self._recover_rechunk_over_fsspec(array_dir)
            store = self.core_store
            src = _core.ObjectArray.open(store, arr_path)
            bad = src.verify()
            if bad:
                raise RechunkError(
                    f"rechunk of {array_dir} aborted, nothing changed: {len(bad)} chunk(s) "
                    "cannot be decoded: " + ", ".join(f"{k} ({r})" for k, r in bad),
                    path=array_dir,
                    bad_chunks=bad,
                )
            n, old_cs = len(src), src.chunk_size
            new_cs = chunk_size if chunk_size is not None else max(n, 1)
            self._fs_remove_dir(tmp_dir)
            try:
                filters = src.meta.get("filters") or [None]
                dst = _core.ObjectArray.create(
                    store,
                    tmp_key,
                    0,
                    chunk_size=new_cs,
                    compressor=src.meta.get("compressor"),
                    fill_value=src.fill_value,
                    attrs=src.attrs(),
                    object_codec=filters[0],
                )
                window = new_cs * max(1, -(-_RECHUNK_WINDOW_ROWS // new_cs))
                for start in range(0, n, window):
                    stop = min(start + window, n)
                    dst.append(src.get_range(start, stop))
                    if progress is not None:
                        progress(stop, n)
                store.set(f"{tmp_key}/{RECHUNK_COMPLETE_MARKER}", b"")
            except BaseException:
                with contextlib.suppress(Exception):
                    self._fs_remove_dir(tmp_dir)
                raise
            backup_dir = f"{array_dir}.bak" if backup else None
            self._fs_move_dir(array_dir, backup_dir or f"{array_dir}{RECHUNK_OLD_SUFFIX}")
            self._fs_move_dir(tmp_dir, array_dir)
            self._recover_rechunk_over_fsspec(array_dir)
        except StoreError:
            raise
        except OSError as exc:
            raise StoreIOError(
                exc.errno or 0, f"rechunk of {array_dir} failed: {exc}", array_dir
            ) from exc
        return {
            "rows": n,
            "old_chunk_size": old_cs,
            "new_chunk_size": new_cs,
            "chunks_written": -(-n // new_cs),
            "backup": backup_dir,
        }

    def rechunk_parameter_base(
        self, chunk_size: int | None = None, backup: bool = True, status: bool = True
    ) -> Any:
        """Rechunk ``parameters/base`` (default: one chunk), keeping the old array as
        ``base.bak`` if `backup`; returns a report of the rechunk."""
        return self._rechunk(PARAM_BASE_ARR, chunk_size, backup, status)

    def rechunk_runs(
        self, chunk_size: int | None = None, backup: bool = True, status: bool = True
    ) -> Any:
        """Rechunk ``metadata/runs`` (default: one chunk), keeping the old array as
        ``runs.bak`` if `backup`; returns a report of the rechunk."""
        return self._rechunk(RUNS_ARR, chunk_size, backup, status)


#: The decoder that :func:`wfstore._core.decode_runs` does the work of.
_ZARR_EAR_DECODE = ZarrStoreEAR.decode.__func__  # type: ignore[attr-defined]


_PARAM_APPEND_KEY = re.compile(
    rf"(?:{re.escape(PARAM_BASE_ARR)}|{re.escape(PARAM_SOURCES_ARR)})/(?:\d+|\.zarray)"
)


def extra_parameter_sources(store: _core.Store, trim: bool) -> int:
    """How many rows the parameter sources array has beyond the base array's (what a
    parameter append cut short leaves, see :func:`_appends_in_order`); with `trim`, drop
    them (the caller holds the store lock). 0 for a store without parameter arrays."""
    try:
        base = len(_core.ObjectArray.open(store, PARAM_BASE_ARR))
        sources = _core.ObjectArray.open(store, PARAM_SOURCES_ARR)
    except StoreError:
        return 0  # no parameter arrays (not a workflow store), or damage verify reports
    extra = len(sources) - base
    if extra <= 0:
        return 0
    if trim:
        sources.resize(base)
    return extra


#: Parameter IDs a store object remembers as appended unset by itself, at most.
_MAX_APPENDED_UNSET = 4096


def _appends_in_order(kinds: Collection[str], staged_keys: Callable[[], list[str]]) -> bool:
    """Whether a commit can be applied in order without a journal (saving a file
    creation, a rename and a removal): it commits nothing but new parameters, writes
    only chunks and shapes of the parameter base and sources arrays, and stages the
    base array's shape, which says how many parameters there are, last. Its chunks only
    change rows beyond the arrays' shapes, so whatever prefix of its renames a crash
    leaves is a valid store: at most the sources array is longer than the base array,
    which the next open of a local store or the next append trims
    (:meth:`ZarrPersistentStore._recover_parameter_append`, ``_append_parameters``)."""
    if set(kinds) != {"add_parameters"}:
        return False
    keys = staged_keys()  # (only now: a large build stages thousands)
    if not keys:
        return False
    if not all(_PARAM_APPEND_KEY.fullmatch(k) for k in keys):
        return False
    shapes = [k for k in keys if k.endswith("/.zarray")]
    return bool(shapes) and shapes[-1] == f"{PARAM_BASE_ARR}/.zarray"


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


def write_copy_log(log: str | os.PathLike[str], archive: str | os.PathLike[str]) -> None:
    """Write the log of a zip or unzip of `archive` to the file `log`: one
    ``copy <key>`` line per entry, then ``all done: N copied, 0 skipped, B bytes
    copied`` (the lines of zarr's ``copy_store``, which the engine's zip uses)."""
    import zipfile

    with zipfile.ZipFile(archive) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
    lines = [f"copy {i.filename}" for i in infos]
    total = sum(i.file_size for i in infos)
    lines.append(f"all done: {len(infos):,} copied, 0 skipped, {total:,} bytes copied")
    Path(log).write_text("\n".join(lines) + "\n")
