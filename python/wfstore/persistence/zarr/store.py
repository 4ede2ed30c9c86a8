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
system (memory, SFTP, ...) chunk bytes move through fsspec (``core_store`` of
:mod:`wfstore.storage.fsspec`). The root attributes are a store resource (``"attrs"``):
loaded once per use and written once per commit. Rows are written to the arrays as
each commit step runs.

Chunk sizes: the engine writes ``runs`` and ``parameters/base`` with one row per chunk
(one file per run and per parameter), so that its jobs can update rows without a lock.
wfstore writes them in chunks of :data:`DEFAULT_RUN_CHUNK_SIZE` and
:data:`DEFAULT_PARAM_CHUNK_SIZE` rows by default (``run_chunk_size`` and
``param_chunk_size`` of :meth:`ZarrPersistentStore.write_empty_workflow`): about 100
times fewer files to create, read, copy and count against a file-system quota. Rows are
updated under the store lock (:mod:`wfstore.storage.lock`), whatever the chunk size
(a rechunk holds the lock until its swap is done), so concurrent wfstore writers never
lose an update. The format is the same Zarr v2 layout
(the engine reads and writes any chunk size, as after its own rechunk); pass
``run_chunk_size=1, param_chunk_size=1`` for a store that the engine's own store class
(without wfstore's lock) will update from many processes at once.
"""

from __future__ import annotations

import contextlib
import copy
import numbers
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from fsspec import AbstractFileSystem

from wfstore import _core
from wfstore.common.durability import Durability
from wfstore.common.errors import (
    CorruptChunkError,
    InvalidArgumentError,
    MissingStoreEARError,
    MissingStoreElementError,
    MissingStoreElementIterationError,
    MissingStoreTaskError,
    StoreError,
)
from wfstore.persistence.base import (
    JSONDocument,
    LoopDescriptor,
    PersistentStore,
    StoreCreationInfo,
)
from wfstore.persistence.items import (
    IDList,
    PersistentStoreFeatures,
    ZarrStoreEAR,
    ZarrStoreElement,
    ZarrStoreElementIter,
    ZarrStoreTask,
    copy_tree,
    decode_timestamp,
)
from wfstore.persistence.readcache import ENTRY_BYTES, ReadCache
from wfstore.persistence.resources import CallbackStoreResource
from wfstore.persistence.zarr import layout
from wfstore.persistence.zarr.archive import ZarrArchive
from wfstore.persistence.zarr.attrs import ZarrAttrUpdates
from wfstore.persistence.zarr.creation import finish_new_store, new_root_attrs, new_store_folder
from wfstore.persistence.zarr.layout import (
    _ATTRS,
    DEFAULT_PARAM_CHUNK_SIZE,
    DEFAULT_RUN_CHUNK_SIZE,
    ELEMS_ARR,
    ITERS_ARR,
    PARAM_ARRAYS_GRP,
    PARAM_BASE_ARR,
    PARAM_SOURCES_ARR,
    RUNS_ARR,
    TASKS_ARR,
    TASKS_CODEC,
    _int_list,
    _json_keys,
    chunk_keys,
)
from wfstore.persistence.zarr.parameters import ZarrParameters, ZarrStoreParameter
from wfstore.persistence.zarr.rechunk import ZarrRechunk
from wfstore.persistence.zarr.rows import ZarrRowWrites
from wfstore.persistence.zarr.transactions import ZarrTransactions
from wfstore.storage.fsspec import core_store

_T = TypeVar("_T")


class ZarrPersistentStore(
    ZarrTransactions,
    ZarrAttrUpdates,
    ZarrRowWrites,
    ZarrParameters,
    ZarrArchive,
    ZarrRechunk,
    PersistentStore[
        ZarrStoreTask,
        ZarrStoreElement,
        ZarrStoreElementIter,
        ZarrStoreEAR,
        ZarrStoreParameter,
    ],
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
        self._init_commit_state()
        # the callbacks hold the store weakly (no reference cycle: see PendingChanges)
        me_ = weakref.ref(self)
        #: chunks read (their rows decoded when read) and array metadata, kept while the
        #: change marker is unchanged
        self._rcache = ReadCache(lambda: me_()._read_change_marker())  # type: ignore[union-attr]
        # the callbacks hold the store weakly (no reference cycle: see PendingChanges)
        me = weakref.ref(self)
        self._resources = {
            _ATTRS: CallbackStoreResource(
                _ATTRS,
                load=lambda: me()._load_root_attrs(),  # type: ignore[union-attr]
                dump=lambda attrs: me()._dump_root_attrs(attrs),  # type: ignore[union-attr]
                load_shared=lambda: me()._root_attrs_for_read(),  # type: ignore[union-attr]
            )
        }
        super().__init__(app, workflow, path, fs, durability=durability)
        self._resources[_ATTRS].logger = self.logger

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
        fs, wk_path, compressor = new_store_folder(fs, wk_path, compressor)
        attrs = new_root_attrs(
            name=name,
            ts_fmt=ts_fmt,
            ts_name_fmt=ts_name_fmt,
            creation_info=creation_info,
            template_js=template_js,
            template_components_js=template_components_js,
            replaced_wk=replaced_wk,
        )
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
        finish_new_store(store, attrs)

    # --- simple getters ----------------------------------------------------------------

    @contextlib.contextmanager
    def cached_load(self) -> Iterator[None]:
        """Keep the root attributes loaded while the ``with``-wrapped code runs; the
        block is one read operation (the change marker is read once, see
        :mod:`wfstore.persistence.readcache`)."""
        self._begin_read()
        try:
            with self.using_resource(_ATTRS, "read"):
                yield
        finally:
            self._end_read()

    def _begin_read(self) -> None:
        self._rcache.begin()

    def _end_read(self) -> None:
        self._rcache.end()

    @property
    def read_cache(self) -> ReadCache:
        """This store object's cache of chunks and array metadata (see
        :mod:`wfstore.persistence.readcache`; its counters are for tests and
        diagnostics)."""
        return self._rcache

    def _read_array(self, rc: ReadCache | None, path: str) -> _core.ObjectArray:
        """Array `path` for reading: its metadata from the read cache `rc` if held
        there, else read (and kept in `rc`)."""
        if rc is None:
            return self._array(path)
        entry = rc.meta.get(path)
        if entry is None:
            entry = rc.meta[path] = [self._array(path), None]
            rc.meta_reads += 1
        return entry[0]

    def _read_attrs(self, rc: ReadCache | None, arr: _core.ObjectArray) -> dict[str, Any]:
        """The attributes (lookup lists) of `arr`, from the read cache if held there.
        Not a copy: callers must not change them."""
        entry = None if rc is None else rc.meta.get(arr.path)
        if entry is None or entry[0] is not arr:
            return arr.attrs()
        if entry[1] is None:
            entry[1] = arr.attrs()
            rc.meta_reads += 1  # type: ignore[union-attr]
        return entry[1]

    def _object_chunks(
        self, rc: ReadCache | None, arr: _core.ObjectArray, chunk_ids: Sequence[int]
    ) -> list[_core.ObjectChunk] | None:
        """Chunks `chunk_ids` of `arr` as ``ObjectChunk`` objects (their rows' encoded
        bytes, each row decoded when read), from the read cache `rc` or read in one call
        to the core and kept there; None if the array's codec is not msgpack.

        The cache holds chunks in this form, not as decoded rows: a chunk takes 1/10 to
        1/40 of the memory (a job's working set, every chunk it touches, fits the
        default bound), the cycle collector has no objects of it to visit, and a row
        handed out is always a new object (nobody can change what the cache holds)."""
        caching = rc is not None and rc.chunks.max_bytes > 0
        got: list[_core.ObjectChunk | None] = [
            rc.chunks.get((arr.path, c)) if caching else None  # type: ignore[union-attr]
            for c in chunk_ids
        ]
        todo = [c for c, ch in zip(chunk_ids, got) if ch is None]
        if not todo:
            return got  # type: ignore[return-value]
        read = arr.read_chunks(todo)
        if read is None:
            return None
        if rc is not None:
            rc.decodes += len(todo)
        fresh = dict(zip(todo, read))
        if caching:
            for c, ch in fresh.items():
                rc.chunks.put((arr.path, c), ch, ch.nbytes + ENTRY_BYTES)  # type: ignore[union-attr]
        return [fresh[c] if ch is None else ch for c, ch in zip(chunk_ids, got)]

    def _chunk_groups(
        self, rc: ReadCache | None, arr: _core.ObjectArray, ids: Sequence[int]
    ) -> Iterator[tuple[_core.ObjectChunk | None, list[int], list[int]]]:
        """Rows `ids` of `arr` (all in range) grouped by chunk: ``(chunk, row IDs,
        positions in the chunk)``, the chunks from :meth:`_object_chunks` (None if the
        codec is not msgpack), read the chunks of about
        :data:`~wfstore.persistence.zarr.layout.ROW_BATCH` rows, and at most
        :data:`~wfstore.persistence.zarr.layout.CHUNK_BATCH` chunks, at a time."""
        cs = arr.chunk_size
        by_chunk: dict[int, list[int]] = {}
        for i in ids:
            by_chunk.setdefault(i // cs, []).append(i)
        keys = list(by_chunk)
        step = max(1, min(layout.ROW_BATCH // cs, layout.CHUNK_BATCH))
        for start in range(0, len(keys), step):
            part = keys[start : start + step]
            chunks = self._object_chunks(rc, arr, part)
            for k, c in enumerate(part):
                rows = by_chunk[c]
                yield (None if chunks is None else chunks[k]), rows, [i - c * cs for i in rows]

    def _read_rows(
        self,
        rc: ReadCache | None,
        arr: _core.ObjectArray,
        ids: Sequence[int],
        error: type[Exception],
    ) -> dict[int, Any]:
        """Rows `ids` of `arr` (raising `error` naming the IDs out of range), decoded
        from their chunks held in the read cache `rc` (see :meth:`_object_chunks`):
        each row a new object, only the rows asked for decoded."""
        n = len(arr)
        if len(ids) == 1:  # (as the engine mostly asks: no grouping)
            i = ids[0]
            if not 0 <= i < n:
                raise error([i])
            c, pos = divmod(i, arr.chunk_size)
            chunks = self._object_chunks(rc, arr, (c,))
            return {i: arr.get([i])[0] if chunks is None else chunks[0][pos]}
        missing = [i for i in ids if not 0 <= i < n]
        if missing:
            raise error(missing)
        out: dict[int, Any] = {}
        for chunk, rows, pos in self._chunk_groups(rc, arr, ids):
            out.update(zip(rows, self._group_rows(arr, chunk, rows, pos)))
        return {i: out[i] for i in ids}

    @staticmethod
    def _group_rows(
        arr: _core.ObjectArray, chunk: _core.ObjectChunk | None, rows: list[int], pos: list[int]
    ) -> list[Any]:
        """One group of :meth:`_chunk_groups` decoded: from its chunk, or read as they
        are if the array is not msgpack (a task's element IDs)."""
        return arr.get(rows) if chunk is None else chunk.get(pos)

    def _root_attrs_for_read(self) -> tuple[dict[str, Any], bool]:
        """The root attributes for a read use, and whether they are the read cache's
        (parsed once while the change marker is unchanged, as array metadata are: at
        10,000 runs with a submission they are over a megabyte of JSON, which a job
        would otherwise parse at every call). Callers hand out copies of what may be
        changed."""
        rc = self._reader()
        if rc is None:
            return self._load_root_attrs(), False
        entry = rc.meta.get(_ROOT)
        if entry is None:
            entry = rc.meta[_ROOT] = [None, self._root_attrs_by_content(rc)]
            rc.meta_reads += 1
        return entry[1], True

    def _root_attrs_by_content(self, rc: ReadCache) -> dict[str, Any]:
        """The root attributes read afresh: their document is read, and if its bytes
        are those the attributes parsed last were parsed from (a digest), those are
        used again (after other processes' commits that the marker's history cannot
        name, e.g. while a job computes, a job would otherwise parse over a megabyte
        of JSON again, and hold two copies for a while)."""
        data = self.core_store.get(".zattrs")
        if data is None:
            return self._load_root_attrs()
        attrs: dict[str, Any] = rc.by_digest(_ROOT, data, _core.Store.parse_attrs)
        return attrs

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
        return copy_tree(self._attr("template"))

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
        return len(self._read_array(self._reader(), ELEMS_ARR))

    def _get_num_persistent_elem_iters(self) -> int:
        return len(self._read_array(self._reader(), ITERS_ARR))

    def _get_num_persistent_EARs(self) -> int:
        if self.use_cache and self.num_EARs_cache is not None:
            return self.num_EARs_cache
        num = len(self._read_array(self._reader(), RUNS_ARR))
        if self.use_cache:
            self.num_EARs_cache = num
        return num

    def _get_num_persistent_parameters(self) -> int:
        return len(self._read_array(self._reader(), PARAM_BASE_ARR))

    def _get_num_persistent_added_tasks(self) -> int:
        return self._attr("num_added_tasks")

    # --- persistent getters ------------------------------------------------------------

    @staticmethod
    def _decode_rows(
        arr: _core.ObjectArray, rows: Mapping[int, Any], decode: Callable[[int, Any], _T]
    ) -> dict[int, _T]:
        """`decode(id, row)` for every row; a row read from disk that does not decode
        (msgpack that is valid but not a row of this array: damaged or foreign data)
        raises :class:`~wfstore.common.errors.CorruptChunkError` naming the array, the chunk key
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
            # each task handed out has its own copy of the list (the engine adds to it)
            new = {
                id_: ZarrStoreTask(id_=id_, index=idx, is_pending=False, element_IDs=lst.copy())
                for id_, (idx, lst) in self._task_lists(found).items()
            }
            self.task_cache.update(new)
            tasks.update(new)
        return tasks

    def _persistent_task_element_IDs(self) -> dict[int, tuple[int, Sequence[int]]]:
        found = {t["id_"]: (idx, t["element_IDs_idx"]) for idx, t in enumerate(self._attr("tasks"))}
        return self._task_lists(found)  # (the kept lists themselves: read only)

    def _task_lists(self, found: Mapping[int, tuple[int, int]]) -> dict[int, tuple[int, IDList]]:
        """``{task ID: (index, element IDs)}`` for `found` (``{task ID: (index, row of
        the tasks array)}``): each list (and its positions, for the engine's
        ``element_IDs.index``) built once while its array is unchanged and kept in the
        read cache (a job's every call reads a task's whole list), not a copy."""
        rc = self._reader()
        held = {} if rc is None else rc.derived.setdefault(TASKS_ARR, {})
        rows = [r for _, r in found.values() if r not in held]
        if rows:
            arr = self._read_array(rc, TASKS_ARR)
            by_row = self._read_rows(rc, arr, rows, MissingStoreTaskError)
            built = self._decode_rows(arr, by_row, lambda _, row: IDList(_int_list(row)))
            held.update(built)
            if rc is not None:
                rc.derivations += len(built)
        return {id_: (idx, held[r]) for id_, (idx, r) in found.items()}

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
            rc = self._reader()
            arr = self._read_array(rc, ELEMS_ARR)
            attrs = self._read_attrs(rc, arr)
            rows = self._read_rows(rc, arr, to_load, MissingStoreElementError)
            # the decoders build new containers: nothing handed out is the cache's
            new = self._decode_rows(arr, rows, lambda _, r: ZarrStoreElement.decode(r, attrs))
            self.element_cache.update(new)
            elems.update(new)
        return elems

    def _get_persistent_element_iters(
        self, id_lst: Iterable[int]
    ) -> dict[int, ZarrStoreElementIter]:
        iters, to_load = self._get_cached_persistent_element_iters(id_lst)
        if to_load:
            rc = self._reader()
            arr = self._read_array(rc, ITERS_ARR)
            attrs = self._read_attrs(rc, arr)
            rows = self._read_rows(rc, arr, to_load, MissingStoreElementIterationError)
            new = self._decode_rows(arr, rows, lambda _, r: ZarrStoreElementIter.decode(r, attrs))
            self.element_iter_cache.update(new)
            iters.update(new)
        return iters

    def _get_persistent_EARs(self, id_lst: Iterable[int]) -> dict[int, ZarrStoreEAR]:
        runs, to_load = self._get_cached_persistent_EARs(id_lst)
        if to_load:
            ts_fmt = self.ts_fmt
            rc = self._reader()
            arr = self._read_array(rc, RUNS_ARR)
            attrs = self._read_attrs(rc, arr)
            n = len(arr)
            missing = [i for i in to_load if not 0 <= i < n]
            if missing:
                raise MissingStoreEARError(missing)
            new: dict[int, ZarrStoreEAR] = {}
            cls = self._store_EAR_cls()
            fast = getattr(cls.decode, "__func__", None) is _ZARR_EAR_DECODE

            def decode(_: int, row: Any) -> ZarrStoreEAR:
                return cls.decode(row, ts_fmt, attrs)

            for chunk, rows, pos in self._chunk_groups(rc, arr, to_load):
                if fast and chunk is not None:
                    # the core builds the runs straight from the rows' bytes
                    try:
                        built = _core.decode_runs(
                            chunk, pos, cls, attrs["parameter_paths"], ts_fmt, decode_timestamp
                        )
                    except (ValueError, TypeError, IndexError, KeyError, OverflowError):
                        pass  # not rows of runs: the Python decoder says what is wrong
                    else:
                        new.update(zip(rows, built))
                        continue
                got = self._group_rows(arr, chunk, rows, pos)
                new.update(self._decode_rows(arr, dict(zip(rows, got)), decode))
            self.EAR_cache.update(new)
            runs.update(new)
        return runs

    # --- writers: root attributes ------------------------------------------------------

    def _append_submissions(self, subs: dict[int, JSONDocument]) -> None:
        self._append_submission_docs(subs)

    def _append_submission_parts(self, sub_parts: dict[int, dict[str, list[int]]]) -> None:
        with self.using_resource(_ATTRS, "update") as attrs:
            for sub_idx, parts in sub_parts.items():
                sub = attrs["submissions"][sub_idx]
                sub.setdefault("submission_parts", {}).update(_json_keys(parts))

    def _update_js_metadata(self, js_meta: dict[int, dict[int, dict[str, Any]]]) -> None:
        with self.using_resource(_ATTRS, "update") as attrs:
            for sub_idx, per_js in js_meta.items():
                for js_idx, meta in per_js.items():
                    attrs["submissions"][sub_idx]["jobscripts"][js_idx].update(_json_keys(meta))

    # --- writers: metadata arrays ------------------------------------------------------

    def _append_EARs(self, EARs: Sequence[ZarrStoreEAR]) -> None:
        ts_fmt = self.ts_fmt
        self._append_rows(RUNS_ARR, EARs, lambda r, a: r.encode(ts_fmt, a))

    def _patch_rows(
        self, path: str, patches: Mapping[int, dict[int, Any]], error: type[Exception]
    ) -> None:
        """Set fields of rows of `path` in place (``{row ID: {position: value}}``):
        one read and one write of each chunk concerned, without decoding the rows or
        reading the array's lookup lists; under the store lock, whatever the chunk
        size (see :meth:`_write_rows`), the array's layout read once, under it. The
        chunks as written go to the read cache (a job reads its run again next)."""
        ids = list(patches)
        if not ids:
            return
        values = [patches[i] for i in ids]
        with self._lock_held():
            arr = self._held_array(path)
            n = len(arr)
            missing = [i for i in ids if not 0 <= i < n]
            if missing:
                raise error(missing)
            with self._keyed_write(chunk_keys(arr, ids)):
                written = arr.patch(ids, values, self._held_chunks(arr, ids))
                if self._in_txn:  # (staged: cached as committed)
                    self._note_staged(arr, ids)
                else:
                    self._session_chunks.extend((arr.path, c, ch) for c, ch in written)

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


#: The read cache's metadata key of the root group's attributes (``.zattrs`` at the
#: root: a commit that writes them forgets them, see ``ReadCache.forget_keys``).
_ROOT = ""

#: The decoder that :func:`wfstore._core.decode_runs` does the work of.
_ZARR_EAR_DECODE = ZarrStoreEAR.decode.__func__  # type: ignore[attr-defined]
