"""Parameters of the Zarr store: the parameter item class (numpy arrays kept as Zarr
arrays of their own) and the store's parameter readers and writers."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from wfstore import _core
from wfstore.common.errors import (
    MissingParameterData,
    ParameterAlreadySetError,
    StoreError,
    UnsupportedStoreOperationError,
)
from wfstore.persistence.base import (
    ParamSource,
)
from wfstore.persistence.items import (
    DataPath,
    StoreParameter,
    merge_param_source,
    relative_path,
)
from wfstore.persistence.zarr import layout
from wfstore.persistence.zarr.layout import (
    _NUMERIC_KINDS,
    NUMERIC_COMPRESSOR,
    PARAM_ARRAYS_GRP,
    PARAM_BASE_ARR,
    PARAM_SOURCES_ARR,
    _append_in_batches,
    _check_next_ids,
    _numeric_fill_value,
    chunk_keys,
    guess_chunks,
)


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


class ZarrParameters:
    """The parameter readers and writers of
    :class:`~wfstore.persistence.zarr.store.ZarrPersistentStore` (a part of it)."""

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
        rc = self._reader()
        base = self._read_array(rc, PARAM_BASE_ARR)
        row = self._read_rows(rc, base, [param_id], MissingParameterData)
        return isinstance(row[param_id], dict)

    def _get_persistent_parameters(
        self, id_lst: Iterable[int], *, dataset_copy: bool = False, **kwargs: Any
    ) -> dict[int, ZarrStoreParameter]:
        # arrays are always returned as numpy arrays (copies), so `dataset_copy` (the
        # engine's choice between zarr arrays and copies) changes nothing.
        params, to_load = self._get_cached_persistent_parameters(id_lst)
        if to_load:
            rc = self._reader()
            base = self._read_array(rc, PARAM_BASE_ARR)
            src_arr = self._read_array(rc, PARAM_SOURCES_ARR)
            n = min(len(base), len(src_arr))
            missing = [i for i in to_load if not 0 <= i < n]
            if missing:
                raise MissingParameterData(missing)
            # a batch of raw rows at a time: only one batch's rows exist besides the
            # decoded parameters
            for start in range(0, len(to_load), layout.ROW_BATCH):
                batch = to_load[start : start + layout.ROW_BATCH]
                data = self._read_rows(rc, base, batch, MissingParameterData)
                sources = self._read_rows(rc, src_arr, batch, MissingParameterData)
                new = self._decode_rows(
                    base,
                    data,
                    lambda i, row: ZarrStoreParameter.decode(
                        id_=i,
                        data=row,
                        source=sources[i],  # noqa: B023
                        fresh=True,  # rows just decoded, dropped after the batch
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
            rc = self._reader()
            arr = self._read_array(rc, PARAM_SOURCES_ARR)
            new = self._read_rows(rc, arr, to_load, MissingParameterData)
            self.param_sources_cache.update(new)
            sources.update(copy.deepcopy(new))
        return sources

    def _get_persistent_parameter_set_status(self, id_lst: Iterable[int]) -> dict[int, bool]:
        rc = self._reader()
        arr = self._read_array(rc, PARAM_BASE_ARR)
        data = self._read_rows(rc, arr, list(id_lst), MissingParameterData)
        # As the engine (hpcflow 0.2.0a190) answers: a stored parameter counts as set
        # unless its data is None, so an unset one (stored as 0) counts as set too.
        # Engine code relies on this answer; `get_parameters(...)[i].is_set` is exact.
        return {i: d is not None for i, d in data.items()}

    def _get_persistent_parameter_IDs(self) -> list[int]:
        return list(range(self._get_num_persistent_parameters()))

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
                # (the read cache's layout if nothing changed it, see `_held_array`)
                arr = self._held_array(PARAM_BASE_ARR, write_empty_chunks=False)
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
                already = arr.set_unless_map(ids, encoded, self._held_chunks(arr, ids))
                if already:
                    raise ParameterAlreadySetError(already[0])
                self._note_staged(arr, ids)
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
            ids=ids,
        )
        self._appended_unset.difference_update(ids)

    def _update_parameter_sources(self, sources: Mapping[int, ParamSource]) -> None:
        ids = list(sources)
        with self._lock_held():
            arr = self._held_array(PARAM_SOURCES_ARR)
            current = self._rows(arr, ids, MissingParameterData)
            with self._keyed_write(chunk_keys(arr, ids)):
                arr.set(ids, [merge_param_source(current[i], sources[i]) for i in ids])


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
