"""hpcflow 0.3's Zarr store (a folder: created, built and written by wfstore through
:mod:`.building`, :mod:`.zarr_writes` and :mod:`.execution`) and its zip archive
(read-only), read through the Rust core.

Runs are read from three places (``run_metadata``, ``run_sub_dat``, the run files),
parameter values from parameter files and, for numpy values, from Zarr arrays or NPZ
archives. Each chunk of an object array (a ``sources`` chunk holds 100,000 rows), each
run file, parameter file and archive is decoded once and kept, indexed, until it
changes on disk (:class:`~wfstore.persistence.v03.files.FileMemo`): reading every
element of a workflow decodes each of them once, not once per element.
"""

from __future__ import annotations

import contextlib
import copy
import json
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from fsspec import AbstractFileSystem

from wfstore import _core
from wfstore.common.durability import Durability
from wfstore.common.errors import (
    CorruptChunkError,
    MetadataError,
    MissingArrayOutputError,
    MissingParameterData,
    MissingStoreEARError,
    MissingStoreElementError,
    MissingStoreElementIterationError,
    MissingStoreItemError,
    MissingStoreTaskError,
    ReadOnlyStoreError,
    StoreError,
    UnsupportedStoreOperationError,
)
from wfstore.persistence.base import ParamSource
from wfstore.persistence.items import PersistentStoreFeatures, copy_tree
from wfstore.persistence.readcache import ReadCache
from wfstore.persistence.resources import CallbackStoreResource, is_local_fs
from wfstore.persistence.v03 import layout, writes
from wfstore.persistence.v03.arrays import OutputArchive, decode_output_archive
from wfstore.persistence.v03.blocks import decode_block_dependencies
from wfstore.persistence.v03.building import BUILD_MEMBERS, V03BuildMembers
from wfstore.persistence.v03.execution import RunTimePending, V03RunTimeWrites
from wfstore.persistence.v03.files import (
    FileMemo,
    always_new,
    decode_param_file,
    decode_run_file,
    local_stamp,
)
from wfstore.persistence.v03.items import (
    V03StoreEAR,
    V03StoreTask,
    V03ZarrStoreElement,
    V03ZarrStoreElementIter,
    V03ZarrStoreParameter,
)
from wfstore.persistence.v03.maintenance import V03Maintenance
from wfstore.persistence.v03.store import V03PersistentStore
from wfstore.persistence.v03.zarr_groups import V03ZarrGroups
from wfstore.persistence.v03.zarr_writes import V03ZarrWrites
from wfstore.persistence.zarr.archive import write_copy_log
from wfstore.persistence.zarr.layout import _ATTRS, chunk_key
from wfstore.storage.fsspec import core_zip_store

_SubDat = tuple["int | None", "int | None", "int | None", "int | None"]
_UNSUBMITTED: _SubDat = (None, None, None, None)


class _ChunkedReader:
    """Rows of a one-dimensional Zarr array (object or structured dtype) of a core
    store, each chunk decoded once through `memo` until it changes."""

    def __init__(self, path: str, memo: FileMemo[Any], length: int, chunk: int) -> None:
        self.path = path
        self.length = length
        self.chunk = chunk
        self._memo = memo

    def __len__(self) -> int:
        return self.length

    def rows(self, ids: Sequence[int], error: type[MissingStoreItemError]) -> list[Any]:
        """The rows `ids` (in that order); IDs beyond the array raise `error`."""
        bad = [i for i in ids if not 0 <= i < self.length]
        if bad:
            raise error(bad)
        out = []
        last, rows = -1, None
        for i in ids:
            c, j = divmod(i, self.chunk)
            if c != last:  # (a chunk looked up once per run of IDs in it)
                last, rows = c, self._memo.get(chunk_key(self.path, c))
            out.append(self._fill(j) if rows is None else rows[j])
        return out

    def _fill(self, j: int) -> Any:
        raise NotImplementedError


class _ObjectReader(_ChunkedReader):
    """An object array of msgpack rows (numcodecs' ``MsgPack`` filter)."""

    def __init__(self, path: str, memo: FileMemo[Any], meta: dict[str, Any]) -> None:
        try:
            (length,) = meta["shape"]
            (chunk,) = meta["chunks"]
        except (ValueError, KeyError, TypeError) as exc:
            raise MetadataError(f"invalid metadata .zarray of {path}: {exc}") from None
        super().__init__(path, memo, length, chunk)
        self.meta = meta

    def _fill(self, j: int) -> Any:
        return self.meta.get("fill_value", 0)


class _StructReader(_ChunkedReader):
    """A structured-dtype array (``run_sub_dat``, ``run_dirs``), through the core's
    ``NumericArray`` (its chunks decoded by the core, kept in `memo`)."""

    def __init__(self, path: str, memo: FileMemo[Any], arr: _core.NumericArray) -> None:
        if len(arr.shape) != 1:
            raise MetadataError(f"{path} is not one-dimensional: shape {arr.shape}")
        super().__init__(path, memo, len(arr), arr.chunks[0])
        self.dtype = arr.numpy_dtype
        self.fill_row = arr.fill

    def _fill(self, j: int) -> Any:
        return self.fill_row

    def all(self) -> np.ndarray:
        """Every row, as one structured array."""
        out = np.empty(self.length, dtype=self.dtype)
        for c in range((self.length + self.chunk - 1) // self.chunk):
            start, stop = c * self.chunk, min((c + 1) * self.chunk, self.length)
            rows = self._memo.get(chunk_key(self.path, c))
            out[start:stop] = self.fill_row if rows is None else rows[: stop - start]
        return out


def _chunk_decoder(
    meta: Callable[[str], dict[str, Any]], array: Callable[[str], _core.NumericArray]
) -> Callable[[bytes, str], Any]:
    """Decodes a chunk of any array of a store by its ``.zarray`` (`meta` of its path):
    object chunks to the core's ``ObjectChunk`` (uncompressed rows, each decoded when
    read: a kept chunk holds its bytes, not its rows as Python objects), numeric and
    structured chunks by the core's ``NumericArray`` (`array` of its path)."""

    def decode(raw: bytes, key: str) -> Any:
        path = key.rsplit("/", 1)[0]
        try:
            doc = meta(path)
            if doc.get("dtype") == "|O":  # rows decoded when read (Zarr v2 chunks are whole)
                rows = doc["chunks"][0]
                return _core.split_object_chunk(raw, doc.get("compressor"), rows, path, key)
            return array(path).decode_chunk(raw, key)
        except CorruptChunkError as exc:
            exc.path, exc.key = path, key
            raise
        except (StoreError, ValueError, TypeError, KeyError) as exc:
            err = CorruptChunkError(f"chunk {key!r} of {path} cannot be decoded: {exc}")
            err.path, err.key = path, key
            raise err from None

    return decode


#: The memo stamp of every file while the change marker is unchanged.
_MARKED = "marked"


class V03ZarrPersistentStore(
    V03Maintenance,
    V03BuildMembers,
    V03ZarrWrites,
    V03RunTimeWrites,
    V03ZarrGroups,
    V03PersistentStore,
):
    """An hpcflow 0.3 Zarr store (a folder): created (``write_empty_workflow``), built
    and submitted (0.3.0's ``PersistentStore`` members, :mod:`.building`, committed by
    :mod:`.zarr_writes` in one transaction per save), and written at execution time
    (run starts, ends, skips and output values, :mod:`.execution`), in 0.3.0's layout.

    Parameters
    ----------
    app, workflow:
        The engine's application and workflow objects, or None (standalone).
    path:
        The store's folder.
    fs:
        Its fsspec file system (local if None).
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

    def __init__(
        self,
        app: Any,
        workflow: Any,
        path: Path | str,
        fs: AbstractFileSystem | None = None,
        *,
        durability: Durability | None = None,
    ) -> None:
        self._init_commit_state()  # (the shared Zarr commit machinery, ZarrTransactions)
        me = weakref.ref(self)
        self._rcache = ReadCache(lambda: me()._read_change_marker())  # type: ignore[union-attr]
        self._resources = {
            _ATTRS: CallbackStoreResource(
                _ATTRS,
                load=lambda: me()._load_root_attrs(),  # type: ignore[union-attr]
                dump=lambda attrs: me()._dump_root_attrs(attrs),  # type: ignore[union-attr]
            )
        }
        super().__init__(app, workflow, path, fs, durability=durability)
        self._resources[_ATTRS].logger = self.logger
        self._run_pending = RunTimePending()
        self._init_build()
        self._core_store = self._open_core_store()
        self._recover_missing_arrays()  # a rechunk killed between its two renames
        #: How decoded files are validated (see :meth:`_validate_memos`): by the
        #: change marker ("marker") while the store has one, else by `_memo_base`
        #: (stat stamps on a local folder; None: files that never change, a zip).
        self._memo_base = self._stamp()
        self._memo_mode = "base"
        #: Files this object's write session or transaction under way wrote (or
        #: staged), decoded as written (``(memo, key, value)``; dropped if the
        #: transaction rolls back), kept in the memos if it completes (see
        #: :meth:`_write_session`)
        self._session_files: list[tuple[FileMemo[Any], str, Any]] = []
        self._num_arrays: dict[str, _core.NumericArray] = {}
        self._struct_readers: dict[str, _StructReader] = {}
        #: Tasks decoded from the root attributes and the tasks array, kept while the
        #: memos are valid (the engine asks for them at most calls; each holds its
        #: element IDs)
        self._task_memo: dict[int, V03StoreTask] = {}

        def stamp(key: str) -> object:
            store = me()
            if store is None or (store._writing() and store._written_now(key)):
                return object()  # a commit reads what it staged: never a memo
            # (a read outside any read operation is one by itself, and a read after
            # this object's own write checks again: both read the marker here)
            store._validate_memos()
            if store._memo_mode == "marker":
                return _MARKED
            base = store._memo_base
            return None if base is None else base(key)

        stamp_fn = stamp if self._memo_base is not None else None
        self._metas: FileMemo[dict[str, Any]] = FileMemo(
            self.core_store.get, stamp_fn, _decode_attrs
        )
        self._chunks: FileMemo[Any] = FileMemo(
            self.core_store.get,
            stamp_fn,
            _chunk_decoder(
                lambda p: me()._zarray(p),  # type: ignore[union-attr]
                lambda p: me()._num_array(p),  # type: ignore[union-attr]
            ),
        )
        self._run_files: FileMemo[list[Any]] = FileMemo(
            self.core_store.get, stamp_fn, decode_run_file
        )
        self._param_files: FileMemo[list[dict[str, Any]]] = FileMemo(
            self.core_store.get, stamp_fn, decode_param_file
        )
        self._archives: FileMemo[OutputArchive] = FileMemo(
            self.core_store.get,
            stamp_fn,
            lambda raw, key: me()._decode_archive(raw, key),  # type: ignore[union-attr]
        )
        self._root_attrs: FileMemo[dict[str, Any]] = FileMemo(
            self.core_store.get, stamp_fn, _decode_attrs
        )
        # (the memos forget what the read cache forgets: one rule, one state)
        self._rcache.follow(lambda keys: me()._forget_memos(keys))  # type: ignore[union-attr]
        try:
            opened = self._root_attrs.get(".zattrs") or {}
        except StoreError:
            opened = {}
        #: the workflow this one replaced, as the root attributes said at the open
        self._replaced_at_open = opened.get("replaced_workflow")

    def _stamp(self) -> Callable[[str], object] | None:
        if is_local_fs(self.fs):
            return local_stamp(str(self.path))
        # another file system: no cheap change test, so decoded files are kept for
        # one call only (each getter clears them when it starts)
        return always_new

    # --- validating what was decoded -----------------------------------------------------

    def _memos(self) -> tuple[FileMemo[Any], ...]:
        return (
            self._metas,
            self._chunks,
            self._run_files,
            self._param_files,
            self._archives,
            self._root_attrs,
        )

    def _forget_memos(self, keys: Collection[str] | None) -> None:
        """Forget the decoded files `keys` (None: everything)."""
        if keys is None:
            for memo in self._memos():
                memo.clear()
            self._num_arrays.clear()
            self._struct_readers.clear()
            self._task_memo.clear()
            return
        for memo in self._memos():
            memo.forget(keys)
        prefix = f"{layout.TASKS_ARR}/"
        if any(k == ".zattrs" or k.startswith(prefix) for k in keys):
            self._task_memo.clear()
        for key in keys:
            arr, _, name = key.rpartition("/")
            if name == ".zarray":
                self._num_arrays.pop(arr, None)
                self._struct_readers.pop(arr, None)

    def _begin_read(self) -> None:
        self._rcache.begin()
        self._validate_memos()

    def _end_read(self) -> None:
        self._rcache.end()

    @contextlib.contextmanager
    def _read_op(self) -> Iterator[None]:
        """The block is one read operation (see :meth:`_validate_memos`)."""
        self._begin_read()
        try:
            yield
        finally:
            self._end_read()

    def _validate_memos(self) -> None:
        """Make the decoded files valid for use now, once per read operation (and at
        every call outside one), by the a190 read cache's rule: the change marker is
        read and the read cache catches up with it; the memos forget what it forgets
        (:meth:`ReadCache.follow`, :mod:`wfstore.persistence.readcache`). A store
        without a marker (no wfstore writer has written it) falls back to stat stamps
        on a local folder and to decoding afresh at every operation elsewhere."""
        rc = self._rcache
        if self._memo_base is None or self._wdepth or not rc.due():
            # (while this object writes, its own writes are what it must not take
            # from the memos: _written_now)
            return
        value = rc.read_marker()
        if value is not None:
            self._memo_mode = "marker"
            rc.catch_up(value)
            return
        if self._memo_mode == "marker" or self._memo_base is always_new:
            rc.clear()
        rc.label, self._memo_mode = None, "base"

    def _held_file(self, memo: FileMemo[Any], key: str) -> Any:
        """The decoded file `key` from `memo`, if it is what is on disk: in this
        object's write session, or its commit's transaction once that holds the store
        lock, when the change marker read under the lock is the clean value the memos
        are valid under (in a transaction the memos first catch up with it: another
        process's commit since names the files it changed), and the file not yet
        written by this session or transaction. Else None (read it). A job's output
        then rewrites its jobscript's parameter file without decoding it again."""
        if self._memo_mode != "marker":
            return None
        rc = self._rcache
        if self._in_txn:
            start = self._held_marker()
            if start is None or key in self.core_store.staged_keys():
                return None
            rc.catch_up(start)
        else:
            start = self._session_start
            if start is None or any(k == key for _, k, _ in self._session_files):
                return None
        return memo.held(key, _MARKED) if rc.current(start) else None

    def _written_now(self, key: str) -> bool:
        """Whether `key` may have been changed by this object's commit or write session
        under way (staged in its transaction, or written in its session; a session
        that does not name its keys may have changed any). Its other keys' decoded
        files stay valid while it writes: they were validated when the commit began
        (:meth:`_commit_transaction`), and a write session holds the store lock."""
        if self._in_txn and key in self.core_store.staged_keys():
            return True
        if self._wdepth:
            keys = self._session_keys
            return keys is None or key in keys
        return False

    def _written_now_under(self, path: str) -> bool:
        """Whether a key of the array `path` may have been changed by this object's
        commit or write session under way (see :meth:`_written_now`)."""
        prefix = f"{path}/"
        if self._in_txn and any(k.startswith(prefix) for k in self.core_store.staged_keys()):
            return True
        if self._wdepth:
            keys = self._session_keys
            return keys is None or any(k.startswith(prefix) for k in keys)
        return False

    @contextlib.contextmanager
    def _commit_transaction(self, kinds: Collection[str] = ()) -> Iterator[None]:
        # the decoded files a commit reads (sources, run_sub_dat, ...) are made valid
        # once, as at the start of a read operation: a job's commit of its run's start
        # then decodes no shared chunk again
        outer = not (self._in_txn or self._wdepth)
        if outer:
            self._validate_memos()
        try:
            with super()._commit_transaction(kinds):
                yield
        except BaseException:
            if outer:  # (rolled back: the files it staged were not written)
                self._session_files.clear()
            raise

    @contextlib.contextmanager
    def _write_session(
        self, keys: list[str] | None = None, planned: bool = False
    ) -> Iterator[None]:
        try:
            with super()._write_session(keys, planned):
                yield
        finally:
            # the read cache has forgotten what the session wrote (and the memos with
            # it); the files it recorded are kept as written if it completed under the
            # lock and ended on the clean value the cache now holds (nobody else wrote
            # between its writes and that value)
            if not self._wdepth:
                files, self._session_files = self._session_files, []
                if self._rcache.current(self._session_end):
                    for memo, key, decoded in files:
                        memo.keep(key, _MARKED, decoded)

    def _zarray(self, path: str) -> dict[str, Any]:
        """The ``.zarray`` document of the array `path` (decoded once while valid)."""
        meta = self._metas.get(f"{path}/.zarray")
        if meta is None:
            raise MetadataError(f"no array at {path!r} (no .zarray)")
        return meta

    def _num_array(self, path: str) -> _core.NumericArray:
        """The core's ``NumericArray`` at `path` (opened once while valid; afresh in
        a commit or write session that may have changed its ``.zarray``)."""
        if self._writing() and self._written_now(f"{path}/.zarray"):
            return _core.NumericArray.open(self.core_store, path)
        self._validate_memos()
        arr = self._num_arrays.get(path)
        if arr is None:
            arr = _core.NumericArray.open(self.core_store, path)
            self._num_arrays[path] = arr
        return arr

    # --- item classes -------------------------------------------------------------------

    @classmethod
    def _store_task_cls(cls) -> type[V03StoreTask]:
        return V03StoreTask

    @classmethod
    def _store_elem_cls(cls) -> type[V03ZarrStoreElement]:
        return V03ZarrStoreElement

    @classmethod
    def _store_iter_cls(cls) -> type[V03ZarrStoreElementIter]:
        return V03ZarrStoreElementIter

    @classmethod
    def _store_EAR_cls(cls) -> type[V03StoreEAR]:
        return V03StoreEAR

    @classmethod
    def _store_param_cls(cls) -> type[V03ZarrStoreParameter]:
        return V03ZarrStoreParameter

    # --- root attributes ----------------------------------------------------------------

    def _attrs(self) -> dict[str, Any]:
        if (_ATTRS, "update") in self._resources_in_use or (
            self._writing() and self._written_now(".zattrs")
        ):
            # a commit: the root attributes as it is changing them
            with self.using_resource(_ATTRS, "read") as data:
                return data
        attrs = self._root_attrs.get(".zattrs")
        if attrs is None:
            raise MetadataError(f"no root attributes (.zattrs) in {self.core_store.location}")
        return attrs

    def _meta_doc(self) -> dict[str, Any]:
        return self._attrs()

    def _get_num_persistent_submissions(self) -> int:
        return len(self._attrs()["submissions"])

    def _get_num_persistent_added_tasks(self) -> int:
        return int(self._attrs()["num_added_tasks"])

    def _get_persistent_loops(self, id_lst: Iterable[int] | None = None) -> dict[int, Any]:
        loops = self._attrs()["loops"]
        ids = range(len(loops)) if id_lst is None else [i for i in id_lst if 0 <= i < len(loops)]
        return {i: copy.deepcopy(loops[i]) for i in ids}

    def _get_persistent_submissions(self, id_lst: Iterable[int] | None = None) -> dict[int, Any]:
        subs = self._attrs()["submissions"]
        ids = range(len(subs)) if id_lst is None else [i for i in id_lst if 0 <= i < len(subs)]
        return {i: copy.deepcopy(subs[i]) for i in ids}

    # --- arrays -------------------------------------------------------------------------

    def _objects(self, path: str) -> _ObjectReader:
        return _ObjectReader(path, self._chunks, self._zarray(path))

    def _structs(self, path: str) -> _StructReader:
        if self._writing() and self._written_now(f"{path}/.zarray"):
            return _StructReader(path, self._chunks, self._num_array(path))
        self._validate_memos()  # (before a kept reader is used: its chunking may be old)
        reader = self._struct_readers.get(path)
        if reader is None:  # (kept, as the array, while the memos are valid)
            reader = _StructReader(path, self._chunks, self._num_array(path))
            self._struct_readers[path] = reader
        return reader

    def _array_attrs(self, path: str) -> dict[str, Any]:
        """The attributes (lookup lists) of the array `path`, decoded once while valid
        (as its ``.zarray``): every decode of its rows reads them. Not a copy."""
        return self._metas.get(f"{path}/.zattrs") or {}

    def _get_num_persistent_elements(self) -> int:
        return len(self._objects(layout.ELEMS_ARR))

    def _get_num_persistent_elem_iters(self) -> int:
        return len(self._objects(layout.ITERS_ARR))

    def _get_num_persistent_EARs(self) -> int:
        return len(self._objects(layout.RUN_META_ARR))

    def _get_num_persistent_parameters(self) -> int:
        return len(self._objects(layout.PARAM_SOURCES_ARR))

    def _get_persistent_parameter_IDs(self) -> list[int]:
        return list(range(self._get_num_persistent_parameters()))

    def _get_persistent_tasks(self, id_lst: Iterable[int]) -> dict[int, V03StoreTask]:
        tasks, to_load = self._get_cached_persistent_tasks(id_lst)
        if to_load:
            self._validate_memos()
            decoded = self._task_memo
            if self._writing() and (
                self._written_now(".zattrs") or self._written_now_under(layout.TASKS_ARR)
            ):
                decoded = {}  # (a commit adding tasks or elements: what it staged)
            missing = [i for i in to_load if i not in decoded]
            if missing:
                decoded.update(self._decode_tasks(missing))
            # (each handed out with its own list: the engine adds to the lists it holds)
            new = {i: decoded[i].copy() for i in to_load if i in decoded}
            self.task_cache.update(new)
            tasks.update(new)
        return tasks

    def _decode_tasks(self, ids: list[int]) -> dict[int, V03StoreTask]:
        """The tasks `ids` from the root attributes and the tasks array."""
        wanted = set(ids)
        meta = [(idx, t) for idx, t in enumerate(self._attrs()["tasks"]) if t["id_"] in wanted]
        # (a small array of vlen-array rows, read through the core's ObjectArray)
        arr = _core.ObjectArray.open(self.core_store, layout.TASKS_ARR)
        rows_at = [t["element_IDs_idx"] for _, t in meta]
        bad = [i for i in rows_at if not 0 <= i < len(arr)]
        if bad:
            raise MissingStoreTaskError(bad)
        rows = arr.get(rows_at) if rows_at else []
        new = {
            t["id_"]: V03StoreTask.decode({"id_": t["id_"], "index": idx, "element_IDs": list(row)})
            for (idx, t), row in zip(meta, rows)
        }
        return new

    def _get_persistent_elements(self, id_lst: Iterable[int]) -> dict[int, V03ZarrStoreElement]:
        elems, to_load = self._get_cached_persistent_elements(id_lst)
        if to_load:
            self._validate_memos()
            rows = self._objects(layout.ELEMS_ARR).rows(to_load, MissingStoreElementError)
            attrs = self._array_attrs(layout.ELEMS_ARR)
            new = {i: V03ZarrStoreElement.decode(r, attrs) for i, r in zip(to_load, rows)}
            self.element_cache.update(new)
            elems.update(new)
        return elems

    def _get_persistent_element_iters(
        self, id_lst: Iterable[int]
    ) -> dict[int, V03ZarrStoreElementIter]:
        iters, to_load = self._get_cached_persistent_element_iters(id_lst)
        if to_load:
            self._validate_memos()
            rows = self._objects(layout.ITERS_ARR).rows(to_load, MissingStoreElementIterationError)
            attrs = self._array_attrs(layout.ITERS_ARR)
            new = {i: V03ZarrStoreElementIter.decode(r, attrs) for i, r in zip(to_load, rows)}
            self.element_iter_cache.update(new)
            iters.update(new)
        return iters

    # --- runs ---------------------------------------------------------------------------

    def _run_sub_dat(self, run_ids: Sequence[int]) -> dict[int, _SubDat]:
        """Each run's ``(submission_idx, commands_file_ID, run_file_ID, run_file_idx)``
        (None where not set), through :meth:`_get_run_submission_metadata` (0.3.0's
        name for it, which the engine's tests replace)."""
        return self._get_run_submission_metadata(run_ids)

    def _get_run_submission_metadata(self, run_ids: Iterable[int]) -> dict[int, _SubDat]:
        """Each run's ``run_sub_dat`` values (None where not set; a run beyond
        ``run_sub_dat``, which is resized after ``run_metadata`` grows, is not
        submitted)."""
        run_ids = list(run_ids)
        arr = self._structs(layout.RUN_SUB_DAT_ARR)
        inside = [i for i in run_ids if 0 <= i < len(arr)]
        out = dict.fromkeys(run_ids, _UNSUBMITTED)
        for i, row in zip(inside, arr.rows(inside, MissingStoreEARError)):
            out[i] = layout.run_sub_dat_tuple(row)
        return out

    def _run_exec_data(self, sub_dat: dict[int, _SubDat]) -> dict[int, list[Any] | None]:
        """Each run's run-file entry (None: no file or entry yet), each run file read
        once."""
        out: dict[int, list[Any] | None] = {}
        for run_id, (sub_idx, _cmd, file_id, file_idx) in sub_dat.items():
            entry = None
            if sub_idx is not None and file_id is not None and file_idx is not None:
                entries = self._run_files.get(layout.run_file_key(sub_idx, file_id))
                if entries is not None and file_idx < len(entries):
                    entry = entries[file_idx]
            out[run_id] = entry
        return out

    def _get_persistent_EARs(self, id_lst: Iterable[int]) -> dict[int, V03StoreEAR]:
        runs, to_load = self._get_cached_persistent_EARs(id_lst)
        if to_load:
            self._validate_memos()
            meta_rows = self._objects(layout.RUN_META_ARR).rows(to_load, MissingStoreEARError)
            attrs = self._array_attrs(layout.RUN_META_ARR)
            sub_dat = self._run_sub_dat(to_load)
            exec_dat = self._run_exec_data(sub_dat)
            ts_fmt = self.get_ts_fmt()
            new = {
                i: V03StoreEAR.decode_parts(row, sub_dat[i], exec_dat[i], ts_fmt, attrs)
                for i, row in zip(to_load, meta_rows)
            }
            self.EAR_cache.update(new)
            runs.update(new)
        return runs

    def get_dirs_array(self) -> np.ndarray:
        with self._read_op():  # (one marker read, not one per file the read opens)
            return self._structs(layout.RUN_DIRS_ARR).all()

    # --- parameters ---------------------------------------------------------------------

    def _sources(self, ids: Sequence[int]) -> list[ParamSource]:
        return self._objects(layout.PARAM_SOURCES_ARR).rows(ids, MissingParameterData)

    def _get_persistent_param_sources(self, id_lst: Iterable[int]) -> dict[int, ParamSource]:
        sources, to_load = self._get_cached_persistent_param_sources(id_lst)
        if to_load:
            self._validate_memos()
            new = dict(zip(to_load, self._sources(to_load)))
            self.param_sources_cache.update(new)
            sources.update((i, copy_tree(src)) for i, src in new.items())
        return sources

    def _base_values(self, ids: Sequence[int]) -> tuple[dict[int, Any], dict[int, ParamSource]]:
        """The encoded value of each parameter (None: not set or nowhere to be found)
        and its source; every sources chunk and parameter file is decoded at most
        once."""
        sources = dict(zip(ids, self._sources(ids)))
        values: dict[int, Any] = {}
        outputs: dict[int, tuple[int, int]] = {}
        for i, src in sources.items():
            if src.get("type") == "EAR_output":
                if src.get("EAR_ID") is not None and src.get("output_idx") is not None:
                    outputs[i] = (int(src["EAR_ID"]), int(src["output_idx"]))
                else:
                    values[i] = None
            else:
                values[i] = self._param_entry(0, 0, 0, src.get("non_output_idx"))
        if outputs:
            sub_dat = self._run_sub_dat(sorted({run for run, _ in outputs.values()}))
            for i, (run, out_idx) in outputs.items():
                sub_idx, _cmd, file_id, file_idx = sub_dat[run]
                if sub_idx is None or file_id is None or file_idx is None:
                    values[i] = None  # the run has no run file yet: nowhere to be
                else:
                    values[i] = self._param_entry(sub_idx, file_id + 1, file_idx, out_idx)
        return values, sources

    def _param_entry(self, sub_idx: int, number: int, idx: int, key: Any) -> Any:
        if key is None:
            return None
        entries = self._param_files.get(layout.param_file_key(sub_idx, number))
        if entries is None or idx >= len(entries):
            return None
        return entries[idx].get(str(key))

    def _get_persistent_parameters(
        self, id_lst: Iterable[int], *, dataset_copy: bool = False, **kwargs: Any
    ) -> dict[int, V03ZarrStoreParameter]:
        params, to_load = self._get_cached_persistent_parameters(id_lst)
        if to_load:
            self._validate_memos()
            values, sources = self._base_values(to_load)
            has_outputs = None
            new = {}
            for i in to_load:
                value, src = values[i], sources[i]
                context = None
                if (
                    isinstance(value, dict)
                    and value.get("type_lookup")
                    and src.get("type") == "EAR_output"
                ):
                    if has_outputs is None:
                        has_outputs = bool(self.core_store.list_dir(layout.ARRAY_OUTPUTS_DIR))
                    if has_outputs or _has_npz_entries(value["type_lookup"]):
                        context = self._output_context(i, src)
                new[i] = V03ZarrStoreParameter.decode(
                    id_=i,
                    data=value,
                    source=copy_tree(src),  # (the memo's row: handed out as a copy)
                    read_array=self._array_reader(i, context),
                    **kwargs,
                )
            self.parameter_cache.update(new)
            params.update(new)
        return params

    def _get_persistent_parameter_set_status(self, id_lst: Iterable[int]) -> dict[int, bool]:
        self._validate_memos()
        ids = list(id_lst)
        values, _ = self._base_values(ids)
        # as hpcflow 0.3 answers: a value counts as set unless it is None (an unset
        # non-output parameter, stored as 0, counts as set)
        return {i: values[i] is not None for i in ids}

    # --- numpy arrays -------------------------------------------------------------------

    def _output_context(self, param_id: int, src: ParamSource) -> tuple[V03StoreEAR, str] | None:
        """The run whose output parameter `param_id` is, and the output's name."""
        run = self.get_EARs([int(src["EAR_ID"])])[0]
        for name, pid in run.data_idx.items():
            if name.startswith("outputs.") and pid == param_id:
                return run, name[len("outputs.") :]
        return None

    def _disabled_outputs(self, run: V03StoreEAR) -> list[str]:
        """The output names the run's task does not write to NPZ archives (its own
        ``disable_array_outputs`` and its schemas')."""
        it = self.get_element_iterations([run.elem_iter_ID])[0]
        task_ID = self.get_elements([it.element_ID])[0].task_ID
        attrs = self._attrs()
        names: list[str] = []
        for task in attrs["template"].get("tasks") or []:
            if task.get("id_") != task_ID:
                continue
            names += task.get("disable_array_outputs") or []
            for schema in task.get("schema") or []:
                if isinstance(schema, str) and schema.startswith("hash:"):
                    schema = attrs["template_components"].get("task_schemas", {}).get(schema[5:])
                if isinstance(schema, dict):
                    names += schema.get("disable_array_outputs") or []
        return [n[len("outputs.") :] if n.startswith("outputs.") else n for n in names]

    def _array_reader(
        self, param_id: int, context: tuple[V03StoreEAR, str] | None
    ) -> Callable[[list[Any], int | None, bool], np.ndarray]:
        group = layout.legacy_array_group(param_id)
        disabled: list[str] | None = None

        def read(path: list[Any], number: int | None, mask: bool) -> np.ndarray:
            nonlocal disabled
            if context is not None:
                run, output = context
                name = ".".join([output, *map(str, path)])
                if disabled is None:
                    disabled = self._disabled_outputs(run)
                off = any(d and (name == d or name.startswith(f"{d}.")) for d in disabled)
                if mask:
                    name = f"{name}.{layout.MASK_SUFFIX}"
                archive = (
                    self._output_archive(name, run.run_file_ID)
                    if run.run_file_ID is not None
                    else None
                )
                if (number is None or not off) and archive is not None:
                    return archive.entry(run.id_)
                if number is None:
                    raise self._missing_archive(name, run.run_file_ID)
            elif number is None:
                raise MissingParameterData([param_id])
            return _core.NumericArray.open(self.core_store, f"{group}/arr_{number}").read()

        return read

    def _missing_archive(self, name: str, run_file_id: int | None) -> MissingArrayOutputError:
        """The error for output array `name`, kept only in an NPZ archive, whose
        archive (of run file `run_file_id`) does not exist."""
        key = layout.array_output_key(name, run_file_id) if run_file_id is not None else None
        err = MissingArrayOutputError(
            f"Missing NPZ archive for array output {name!r}: "
            f"{key if key is None else str(Path(self.path) / key)}."
        )
        err.path = key
        return err

    def _decode_archive(self, raw: bytes, key: str) -> OutputArchive:
        """The array-output archive `key` (bytes `raw`) decoded. Bound to an engine
        workflow, through the workflow's own reader (``_read_array_output_archive``,
        which reads the file back through :meth:`get_binary_file`), as 0.3.0's store
        reads archives: the engine owns the archive format (it writes and consolidates
        archives itself), and a workflow that overrides or counts its reader sees
        every archive read. Standalone (no workflow), by :func:`decode_output_archive`.
        Either way a damaged archive raises that function's typed error naming `key`
        (the engine's own error when only the engine's reader refuses it)."""
        read = getattr(self.workflow, "_read_array_output_archive", None)
        if read is None:
            return decode_output_archive(raw, key)
        try:
            got = read(Path(self.path) / key)
        except Exception:
            decode_output_archive(raw, key)  # the typed error naming the archive
            raise
        return OutputArchive(key=key, data=got.data, run_ID=got.run_ID, shape=got.shape)

    def _output_archive(self, name: str, run_file_id: int) -> OutputArchive | None:
        """The archive holding the entries of run file `run_file_id` of output `name`:
        its shard, else the output's consolidated archive, else None."""
        shard = self._archives.get(layout.array_output_key(name, run_file_id))
        if shard is not None:
            return shard
        return self._archives.get(layout.consolidated_output_key(name))

    # --- execution-time writes (run files, parameter files) ------------------------------

    def _file_writer(self) -> _core.Store:
        """The core store run files and parameter files are written through (the
        store's own: on a local folder with the store's durability, ``"full"``
        flushing file and folder as 0.3.0's ``atomic_write``; inside a commit, its
        transaction)."""
        return self.core_store

    def write_run_fields(self, updates: Mapping[int, Mapping[str, Any]]) -> None:
        """Set execution-time fields of submitted runs in their run files, as 0.3.0's
        ``_update_run_execution_metadata`` does: `updates` maps run IDs to field names
        (``skip``, ``success``, ``start_time``, ``end_time`` (datetimes),
        ``snapshot_start``, ``snapshot_end``, ``exit_code``, ``run_hostname``,
        ``port_number``) and values. Each run file is read, updated and written back
        once. A run without a run file (not submitted) raises ``ValueError`` before
        anything is written."""
        if not updates:
            return
        with self._read_op():  # (the marker read once for these reads)
            sub_dat = self._run_sub_dat(list(updates))
            ts_fmt = self.get_ts_fmt()
        per_file: dict[tuple[int, int], dict[int, dict[int, Any]]] = {}
        for run_id, fields in updates.items():
            sub_idx, _cmd, file_id, file_idx = sub_dat[run_id]
            if sub_idx is None or file_id is None or file_idx is None:
                raise ValueError(f"run {run_id} has no run file (it is not submitted)")
            per_file.setdefault((sub_idx, file_id), {})[file_idx] = writes.run_fields(
                fields, ts_fmt
            )
        store = self._file_writer()
        # a write session (the store lock held, the change marker naming the files
        # written: readers forget those files, and only those)
        with self._keyed_write([layout.run_file_key(*k) for k in per_file]):
            for (sub_idx, file_id), file_updates in per_file.items():
                key = layout.run_file_key(sub_idx, file_id)
                held = self._held_file(self._run_files, key)
                new = writes.update_run_file(store, sub_idx, file_id, file_updates, held)
                self._session_files.append((self._run_files, key, new))
        for run_id in updates:
            self.EAR_cache.pop(run_id, None)

    def write_output_values(self, values: Mapping[int, Any]) -> list[int]:
        """Write encoded values (``{"data", "type_lookup"}``, ``{"file"}`` or None for
        unset) of run-output parameters to their parameter files, as 0.3.0 places them:
        file ``run_file_ID + 1`` of the source run's submission, entry ``run_file_idx``,
        key ``output_idx``. Each file is read, updated and written back once.

        Returns the IDs not written because their source run has no run file yet
        (0.3.0 drops those values silently). A parameter that is not a run output
        raises ``ValueError`` before anything is written."""
        if not values:
            return []
        ids = list(values)
        with self._read_op():  # (the marker read once for these reads)
            sources = dict(zip(ids, self._sources(ids)))
        placed: dict[int, tuple[int, int]] = {}
        for i, src in sources.items():
            if src.get("type") != "EAR_output" or src.get("output_idx") is None:
                raise ValueError(f"parameter {i} is not a run output: {src!r}")
            if src.get("EAR_ID") is not None:
                placed[i] = (int(src["EAR_ID"]), int(src["output_idx"]))
        runs = sorted({run for run, _ in placed.values()})
        with self._read_op():
            lookup = self._get_run_file_lookup(runs, file_offset=1)
        where = {
            run: (sub_idx, number, idx)
            for sub_idx, files in lookup.items()
            for number, runs in files.items()
            for run, idx in runs.items()
        }
        per_file: dict[tuple[int, int], dict[tuple[int, Any], Any]] = {}
        dropped = [i for i in ids if i not in placed]
        for i, (run, out_idx) in placed.items():
            if run not in where:
                dropped.append(i)
                continue
            sub_idx, number, file_idx = where[run]
            per_file.setdefault((sub_idx, number), {})[(file_idx, out_idx)] = values[i]
        store = self._file_writer()
        with self._keyed_write([layout.param_file_key(*k) for k in per_file]):
            for (sub_idx, number), file_updates in per_file.items():
                key = layout.param_file_key(sub_idx, number)
                held = self._held_file(self._param_files, key)
                new = writes.update_param_file(store, sub_idx, number, file_updates, held)
                self._session_files.append((self._param_files, key, new))
        for i in ids:
            self.parameter_cache.pop(i, None)
        return sorted(dropped)

    def _get_submission_metadata_group_path(self, sub_idx: int) -> Path:
        """The folder of submission `sub_idx`'s group (0.3.0's helper)."""
        return Path(self.path) / layout.SUBMISSIONS_GRP / str(sub_idx)

    def _get_jobscripts_at_submit_metadata_arr_path(self, sub_idx: int) -> Path:
        """The folder of submission `sub_idx`'s ``js_at_submit_md`` array (0.3.0's
        helper)."""
        return self._get_submission_metadata_group_path(sub_idx) / layout.JS_AT_SUBMIT_MD

    def _get_run_file_lookup(
        self,
        id_lst: Iterable[int],
        submission_metadata: Mapping[int, Any] | None = None,
        file_offset: int = 0,
    ) -> dict[int, dict[int, dict[int, int]]]:
        """Where runs' data live: ``{submission: {run file ID + file_offset: {run ID:
        run-file index}}}``, runs without a run file left out (0.3.0's lookup, which
        output values are placed by: file offset 1 for parameter files)."""
        ids = list(id_lst)
        sub_dat = submission_metadata if submission_metadata is not None else self._run_sub_dat(ids)
        out: dict[int, dict[int, dict[int, int]]] = {}
        for run_id in ids:
            sub_idx, _cmd, file_id, file_idx = sub_dat[run_id]
            if sub_idx is None or file_id is None or file_idx is None:
                continue
            out.setdefault(sub_idx, {}).setdefault(file_id + file_offset, {})[run_id] = file_idx
        return out

    # --- submissions --------------------------------------------------------------------

    def _submission_group(self, sub_idx: int) -> str:
        return f"{layout.SUBMISSIONS_GRP}/{sub_idx}"

    def get_submission_at_submit_metadata(
        self, sub_idx: int, metadata_attr: dict[str, Any] | None
    ) -> dict[str, Any]:
        attrs = self.core_store.read_attrs(self._submission_group(sub_idx))
        return {k: attrs.get(k) for k in layout.SUBMISSION_AT_SUBMIT_KEYS}

    def get_jobscript_at_submit_metadata(
        self, sub_idx: int, js_idx: int, metadata_attr: dict[str, Any] | None
    ) -> dict[str, Any]:
        arr = _core.ObjectArray.open(
            self.core_store, f"{self._submission_group(sub_idx)}/{layout.JS_AT_SUBMIT_MD}"
        )
        row = arr.get([js_idx])[0] if 0 <= js_idx < len(arr) else None
        if not isinstance(row, list):  # not set yet (no chunk: the fill value)
            return dict.fromkeys(layout.JOBSCRIPT_AT_SUBMIT_KEYS)
        return dict(zip(layout.JOBSCRIPT_AT_SUBMIT_KEYS, row))

    def _block_array(self, sub_idx: int, name: str) -> tuple[np.ndarray, dict[str, Any]]:
        path = f"{self._submission_group(sub_idx)}/{name}"
        data = _core.NumericArray.open(self.core_store, path).read()
        return data, self.core_store.read_attrs(path)

    @staticmethod
    def _block_number(shapes: list[list[Any]], js_idx: int, blk_idx: int) -> int:
        return sum(len(js) for js in shapes[:js_idx]) + blk_idx

    def get_jobscript_block_run_ID_array(
        self, sub_idx: int, js_idx: int, blk_idx: int, run_ID_arr: Any
    ) -> np.ndarray:
        if run_ID_arr is not None:
            return np.asarray(run_ID_arr)
        data, attrs = self._block_array(sub_idx, layout.JS_RUN_IDS)
        shapes = attrs["block_shapes"]
        n_acts, n_elems = shapes[js_idx][blk_idx]
        return data[self._block_number(shapes, js_idx, blk_idx), :n_acts, :n_elems]

    def get_jobscript_block_task_elements_map(
        self, sub_idx: int, js_idx: int, blk_idx: int, task_elems_map: Any
    ) -> dict[int, list[int]]:
        if task_elems_map is not None:
            return task_elems_map
        data, attrs = self._block_array(sub_idx, layout.JS_TASK_ELEMS)
        shapes = attrs["block_shapes"]
        n_cols, n_rows = shapes[js_idx][blk_idx]  # [columns - 1, rows]
        block = data[self._block_number(shapes, js_idx, blk_idx), :n_rows, : n_cols + 1]
        return {int(row[0]): row[1:].tolist() for row in block}

    def get_jobscript_block_task_actions_array(
        self, sub_idx: int, js_idx: int, blk_idx: int, task_actions_arr: Any
    ) -> np.ndarray:
        if task_actions_arr is not None:
            return np.asarray(task_actions_arr)
        data, attrs = self._block_array(sub_idx, layout.JS_TASK_ACTS)
        counts = attrs["block_num_acts"]
        start = sum(sum(js) for js in counts[:js_idx]) + sum(counts[js_idx][:blk_idx])
        return data[start : start + counts[js_idx][blk_idx]]

    def get_jobscript_block_dependencies(
        self, sub_idx: int, js_idx: int, blk_idx: int, js_dependencies: Any
    ) -> dict[tuple[int, int], Any]:
        if js_dependencies is not None:
            return js_dependencies
        data, _ = self._block_array(sub_idx, layout.JS_DEPS)
        return decode_block_dependencies(data.tolist()).get((js_idx, blk_idx), {})

    def get_binary_file(self, path: str | Path) -> bytes:
        """The bytes of a file of the workflow (read through the core store): `path`
        absolute or relative to the workflow's folder (an absolute path outside it is
        read from the local file system, as 0.3.0 reads it)."""
        p = Path(path)
        if p.is_absolute() and not p.is_relative_to(str(self.path)):
            if not p.is_file():
                raise FileNotFoundError(f"File at location {str(p)!r} does not exist.")
            return p.read_bytes()
        key = _relative_key(path, str(self.path))
        data = self.core_store.get(key)
        if data is None:
            raise FileNotFoundError(f"File at location {key!r} does not exist.")
        return data


def _relative_key(path: str | Path, root: str) -> str:
    p = Path(path)
    if p.is_absolute():
        p = p.relative_to(root)
    return p.as_posix()


def _has_npz_entries(type_lookup: dict[str, Any]) -> bool:
    """Whether a value has numpy arrays kept in NPZ archives (a null array number)."""
    return any(n is None for _, n in type_lookup.get("arrays") or []) or any(
        pair[0] is None for _, pair in type_lookup.get("masked_arrays") or []
    )


def _read_only(name: str) -> Callable[..., Any]:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise ReadOnlyStoreError(f"{name}: a zipped hpcflow 0.3 store is read-only")

    refuse.__name__ = name
    return refuse


def _decode_attrs(raw: bytes, key: str) -> dict[str, Any]:
    try:
        attrs = json.loads(raw)
    except ValueError as exc:
        raise MetadataError(f"invalid attributes {key!r}: {exc}") from None
    if not isinstance(attrs, dict):
        raise MetadataError(f"invalid attributes {key!r}: not an object")
    return attrs


class V03ZarrZipPersistentStore(V03ZarrPersistentStore):
    """An hpcflow 0.3 Zarr store in a zip archive (``Workflow.zip``), read in place."""

    _name: ClassVar[str] = "zip"
    _features = V03PersistentStore._features

    def _open_core_store(self) -> _core.Store:
        return core_zip_store(self.fs, self.path)

    @property
    def is_submittable(self) -> bool:
        return False

    def _stamp(self) -> Callable[[str], object] | None:
        return None  # an archive's entries never change

    def _require_writable(self) -> None:
        raise ReadOnlyStoreError("a zipped hpcflow 0.3 store is read-only")

    def zip(self, *args: Any, **kwargs: Any) -> str:
        raise UnsupportedStoreOperationError("Not a Zarr store!")

    def unzip(self, path: str = ".", log: str | None = None, status: bool = True) -> str:
        """Expand the archive (a local file) into a new 0.3 Zarr store folder: `path`,
        or a folder named after the workflow in the existing folder `path`; `log`
        receives zarr's ``copy_store`` lines (by the core's zip reader and extractor)."""
        if not is_local_fs(self.fs):
            raise UnsupportedStoreOperationError("unzip reads local archives only")
        dst = Path(path).resolve()
        if dst.is_dir():
            dst = dst / self._workflow_name()
        if dst.exists():
            raise FileExistsError(f"Directory at path already exists: {str(dst)!r}.")
        _core.unzip(str(self.path), str(dst))
        if log is not None:
            write_copy_log(log, str(self.path))
        return str(dst)

    for _name_ in (*BUILD_MEMBERS, "remove_replaced_dir", "reinstate_replaced_dir"):
        vars()[_name_] = _read_only(_name_)
    del _name_

    def write_run_fields(self, updates: Mapping[int, Mapping[str, Any]]) -> None:
        raise ReadOnlyStoreError("a zipped hpcflow 0.3 store is read-only")

    def write_output_values(self, values: Mapping[int, Any]) -> list[int]:
        raise ReadOnlyStoreError("a zipped hpcflow 0.3 store is read-only")

    def get_binary_file(self, path: str | Path) -> bytes:
        """The bytes of an entry of the archive: `path` relative to its root, or
        absolute below the archive's own path (as the engine forms paths in it)."""
        p = Path(path)
        if p.is_absolute() and p.is_relative_to(str(self.path)):
            p = p.relative_to(str(self.path))
        key = p.as_posix()
        data = self.core_store.get(key)
        if data is None:
            raise FileNotFoundError(f"File within zip at location {key!r} does not exist.")
        return data
