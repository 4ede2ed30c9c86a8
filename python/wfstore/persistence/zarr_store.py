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
    msgpack object arrays of item rows (chunks of 1000, 1000 and 1), with the lookup
    lists of the rows in their ``.zattrs``;
``parameters/base``, ``parameters/sources``
    msgpack object arrays of encoded parameter values (chunks of 1, fill value 0, empty
    chunks not written) and of parameter sources (chunks of 1000);
``parameters/arrays/param_<ID>/arr_<N>``
    the numpy arrays inside parameter values, as numeric arrays of their own.

All chunk I/O goes through the Rust core (``wfstore._core``). The root attributes are
a store resource (``"attrs"``): loaded once per use and written once per commit.
Rows are written to the arrays as each commit step runs.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from .. import _core
from ..errors import (
    MissingParameterData,
    MissingStoreEARError,
    MissingStoreElementError,
    MissingStoreElementIterationError,
    MissingStoreTaskError,
    StorePathError,
    UnsupportedStoreOperationError,
)
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
    merge_param_source,
    relative_path,
)
from .resources import CallbackStoreResource, is_local_fs

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
#: Keys of the archive that :meth:`ZarrPersistentStore.zip` leaves out by default.
#: Rows handed to the Rust core per call when many are appended or read, so that
#: their encoded and decoded copies never all exist at once (bounded peak memory).
ROW_BATCH = 65536

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
        The file system holding the folder (local if None). Only the local file system
        is supported for now (it takes the Rust core's fast path).
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

    def __init__(
        self,
        app: Any,
        workflow: Any,
        path: Path | str,
        fs: AbstractFileSystem | None = None,
    ) -> None:
        fs = fs if fs is not None else LocalFileSystem()
        self._core_store: _core.Store | None = None
        self._resources = {
            _ATTRS: CallbackStoreResource(
                _ATTRS, load=self._load_root_attrs, dump=self._dump_root_attrs
            )
        }
        super().__init__(app, workflow, path, fs)
        self._resources[_ATTRS].logger = self.logger
        self._check_fs()

    def _check_fs(self) -> None:
        if not is_local_fs(self.fs):
            raise UnsupportedStoreOperationError(
                f"{self.__class__.__name__} supports only the local file system for now "
                f"(got {type(self.fs).__name__})."
            )

    # --- the Rust core store and arrays ------------------------------------------------

    def _open_core_store(self) -> _core.Store:
        return _core.Store.local(self.path)

    @property
    def core_store(self) -> _core.Store:
        """The Rust core's key-value store over this store."""
        if self._core_store is None:
            self._core_store = self._open_core_store()
        return self._core_store

    def _array(self, path: str, write_empty_chunks: bool = True) -> _core.ObjectArray:
        return _core.ObjectArray.open(self.core_store, path, write_empty_chunks)

    def _load_root_attrs(self) -> dict[str, Any]:
        return self.core_store.read_attrs("")

    def _dump_root_attrs(self, attrs: dict[str, Any]) -> None:
        self.core_store.write_attrs("", attrs)

    @contextlib.contextmanager
    def _mutate_array_attrs(self, arr: _core.ObjectArray) -> Iterator[dict[str, Any]]:
        """The attributes of `arr` (lookup lists), written back if changed."""
        orig = arr.attrs()
        attrs = copy.deepcopy(orig)
        yield attrs
        if attrs != orig:
            arr.set_attrs(attrs)

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
    ) -> None:
        """Write an empty Zarr workflow store at `wk_path`.

        `compressor` (``"blosc"``, ``"zstd"`` or None) and `compressor_kwargs` (e.g.
        ``{"cname": "zstd", "clevel": 3}``) apply to the metadata and parameter arrays.
        """
        fs = fs if fs is not None else LocalFileSystem()
        if not is_local_fs(fs):
            raise UnsupportedStoreOperationError(
                f"{cls.__name__} supports only the local file system for now."
            )
        if compressor is not None:
            compressor = compressor.lower()
            if compressor not in ("blosc", "zstd"):
                raise StorePathError(
                    f"Unknown compressor {compressor!r}; expected 'blosc', 'zstd' or None."
                )
        wk_path = str(wk_path)
        if os.path.exists(os.path.join(wk_path, ".zgroup")):
            raise StorePathError(f"A Zarr group already exists at {wk_path!r}.")
        os.makedirs(wk_path, exist_ok=True)
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
        store = _core.Store.local(wk_path)
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
        # one row per chunk, so that runs can be updated by many processes at once:
        _core.ObjectArray.create(store, RUNS_ARR, 0, 1, attrs={"parameter_paths": []}, **cmp)
        store.create_group("parameters")
        _core.ObjectArray.create(
            store, PARAM_BASE_ARR, 0, 1, fill_value=0, write_empty_chunks=False, **cmp
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
            rows = self._array(TASKS_ARR).get([r for _, r in found.values()])
            new = {
                id_: ZarrStoreTask.decode(
                    {"id_": id_, "index": idx, "element_IDs": [int(i) for i in row]}
                )
                for (id_, (idx, _)), row in zip(found.items(), rows)
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
            new = {i: ZarrStoreElement.decode(r, attrs) for i, r in rows.items()}
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
            new = {i: ZarrStoreElementIter.decode(r, attrs) for i, r in rows.items()}
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
            for start in range(0, len(to_load), ROW_BATCH):
                rows = self._rows(arr, to_load[start : start + ROW_BATCH], MissingStoreEARError)
                new.update((i, ZarrStoreEAR.decode(r, ts_fmt, attrs)) for i, r in rows.items())
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

    def _get_persistent_parameters(
        self, id_lst: Iterable[int], *, dataset_copy: bool = False, **kwargs: Any
    ) -> dict[int, ZarrStoreParameter]:
        # arrays are always returned as numpy arrays (copies), so `dataset_copy` (the
        # engine's choice between zarr arrays and copies) changes nothing.
        params, to_load = self._get_cached_persistent_parameters(id_lst)
        if to_load:
            data = self._rows(self._array(PARAM_BASE_ARR), to_load, MissingParameterData)
            sources = self._rows(self._array(PARAM_SOURCES_ARR), to_load, MissingParameterData)
            new = {
                i: ZarrStoreParameter.decode(
                    id_=i,
                    data=data[i],
                    source=sources[i],
                    read_array=self._array_reader(i),
                    **kwargs,
                )
                for i in to_load
            }
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
        arr = self._array(TASKS_ARR)
        current = arr.get([row_idx])[0]
        new = np.concatenate([np.asarray(current, dtype="<i8"), np.asarray(elem_IDs, "<i8")])
        arr.set([row_idx], [new])

    def _append_rows(self, path: str, items: Sequence[Any], encode: Callable) -> None:
        arr = self._array(path)
        with self._mutate_array_attrs(arr) as attrs:
            rows = [encode(item, attrs) for item in items]
        _append_in_batches(arr, rows)

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
        arr = self._array(path)
        rows = self._rows(arr, ids, error)
        with self._mutate_array_attrs(arr) as attrs:
            new = [encode(change(i, decode(rows[i], attrs)), attrs) for i in ids]
        arr.set(ids, new)

    def _update_iters(self, ids: Sequence[int], change: Callable[[int, Any], Any]) -> None:
        self._update_rows(
            ITERS_ARR,
            ids,
            ZarrStoreElementIter.decode,
            change,
            lambda it, a: it.encode(a),
            MissingStoreElementIterationError,
        )

    def _update_runs(self, ids: Sequence[int], change: Callable[[int, Any], Any]) -> None:
        ts_fmt = self.ts_fmt
        self._update_rows(
            RUNS_ARR,
            ids,
            lambda row, a: ZarrStoreEAR.decode(row, ts_fmt, a),
            change,
            lambda run, a: run.encode(ts_fmt, a),
            MissingStoreEARError,
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

    def _update_EAR_submission_indices(self, sub_indices: Mapping[int, int]) -> None:
        self._update_runs(list(sub_indices), lambda i, r: r.update(submission_idx=sub_indices[i]))

    def _update_EAR_start(
        self, EAR_id: int, s_time: datetime, s_snap: dict[str, Any] | None, s_hn: str
    ) -> None:
        self._update_runs(
            [EAR_id],
            lambda _, r: r.update(start_time=s_time, snapshot_start=s_snap, run_hostname=s_hn),
        )

    def _update_EAR_end(
        self,
        EAR_id: int,
        e_time: datetime,
        e_snap: dict[str, Any] | None,
        ext_code: int,
        success: bool,
    ) -> None:
        self._update_runs(
            [EAR_id],
            lambda _, r: r.update(
                end_time=e_time, snapshot_end=e_snap, exit_code=ext_code, success=success
            ),
        )

    def _update_EAR_skip(self, EAR_id: int) -> None:
        self._update_runs([EAR_id], lambda _, r: r.update(skip=True))

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
        base = self._array(PARAM_BASE_ARR, write_empty_chunks=False)
        sources = self._array(PARAM_SOURCES_ARR)
        if [p.id_ for p in params] != list(range(len(base), len(base) + len(params))):
            raise StorePathError(
                f"Parameter IDs {[p.id_ for p in params]!r} do not follow the "
                f"{len(base)} persistent parameters."
            )
        encoded = [self._encode_param(p) for p in params]
        _append_in_batches(sources, [dict(sorted(p.source.items())) for p in params])
        _append_in_batches(base, encoded)

    def _set_parameter_values(self, set_parameters: dict[int, tuple[Any, bool]]) -> None:
        ids = list(set_parameters)
        current = self._get_persistent_parameters(ids)
        encoded = []
        for p_id in ids:
            value, is_file = set_parameters[p_id]
            param = current[p_id]
            param = param.set_file(value) if is_file else param.set_data(value)
            encoded.append(self._encode_param(param))
        self._array(PARAM_BASE_ARR, write_empty_chunks=False).set(ids, encoded)

    def _update_parameter_sources(self, sources: Mapping[int, ParamSource]) -> None:
        ids = list(sources)
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
        backups ``runs.bak``/``base.bak`` are left out unless included. `log` is
        accepted for compatibility and not used.
        """
        dst = Path(path).resolve()
        if dst.is_dir():
            dst = (dst / self._workflow_name()).with_suffix(".zip")
        if dst.exists() and not overwrite:
            raise FileExistsError(
                f"File at path already exists: {str(dst)!r}. Pass `overwrite=True` to "
                "overwrite the existing file."
            )
        exclude: list[str] = []
        if not include_execute:
            exclude.append(ZIP_EXCLUDE_EXECUTE)
        if not include_rechunk_backups:
            exclude.extend(ZIP_EXCLUDE_BACKUPS)
        tmp = dst.with_name(f".{dst.name}.wfstore-zip")
        if tmp.exists():
            tmp.unlink()
        _core.zip_dir(self.path, tmp, exclude, progress=self._progress(False, "zip"))
        os.replace(tmp, dst)
        return str(dst)

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

    def _rechunk(self, arr_path: str, chunk_size: int | None, backup: bool, status: bool) -> Any:
        if self.has_pending:
            raise UnsupportedStoreOperationError("Commit (save) pending changes before rechunking.")
        name = arr_path.rsplit("/", 1)[-1]
        array_dir = os.path.join(self.path, *arr_path.split("/"))
        # as the engine does, an existing backup (the array as it was before the first
        # rechunk) is kept, and no new backup is made:
        backup_dir = f"{array_dir}.bak"
        keep_old_backup = backup and os.path.isdir(backup_dir)
        report = _core.rechunk_object_array(
            array_dir,
            chunk_size,
            backup=backup and not keep_old_backup,
            progress=self._progress(status, f"Rechunking {name}"),
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
