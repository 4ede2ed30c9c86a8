"""Store items of hpcflow 0.3: the shared items (:mod:`wfstore.persistence.items`) with
the fields 0.3 added, and the decoders of 0.3's rows and documents.

Fields 0.3 added: a task's ``num_actions`` and an iteration's ``task_ID`` and ``index``
(kept only to encode: a Zarr store reads them back as None, a JSON store as stored);
a run's ``commands_file_ID``, ``run_file_ID``, ``run_file_idx``, ``port_number`` and
the encode-only ``task_ID``, ``element_idx``, ``iteration_idx``; a run's ``skip`` is
the reason (an int, 0 for none), not a bool.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from wfstore.common.errors import UnsupportedStoreOperationError
from wfstore.persistence.items import (
    DataPath,
    IDList,
    JsonStoreElement,
    JsonStoreElementIter,
    StoreEAR,
    StoreParameter,
    StoreTask,
    ZarrStoreElement,
    ZarrStoreElementIter,
    copy_tree,
    decode_timestamp,
    encode_timestamp,
    ensure_in,
    relative_path,
)
from wfstore.persistence.v03 import layout

if TYPE_CHECKING:
    from typing_extensions import Self


@dataclass
class V03StoreTask(StoreTask[dict]):
    """A task of an hpcflow 0.3 store (Zarr or JSON)."""

    #: The number of the task's actions: given to ``add_task``, never read back.
    num_actions: int | None = None

    def encode(self) -> tuple[int, dict, dict[str, Any]]:
        """``(index, {"id_", "element_IDs"}, template "tasks" entry)``: the template
        entry is the task template with the task's ID first; ``num_actions`` is not
        stored (as in 0.3.0)."""
        meta = {"id_": self.id_, "element_IDs": list(self.element_IDs)}
        return self.index, meta, {"id_": self.id_, **(self.task_template or {})}

    @classmethod
    def decode(cls, task_dat: dict) -> Self:
        """Build from ``{"id_", "index", "element_IDs"}``."""
        return cls(
            id_=task_dat["id_"],
            index=task_dat["index"],
            is_pending=False,
            element_IDs=IDList(int(i) for i in task_dat["element_IDs"]),
        )


class V03ZarrStoreElement(ZarrStoreElement):
    """An element: the row of ``metadata/elements`` is a190's."""


class V03JsonStoreElement(JsonStoreElement):
    """An element of a JSON store: a190's document."""


@dataclass
class V03ZarrStoreElementIter(ZarrStoreElementIter):
    """An element iteration, a row of ``metadata/iters`` (a190's row)."""

    #: The iteration's task and its index within its element: encode-only in Zarr
    #: stores (read back as None).
    task_ID: int | None = None
    index: int | None = None


@dataclass
class V03JsonStoreElementIter(JsonStoreElementIter):
    """An element iteration of a JSON store, which keeps ``task_ID`` and ``index``."""

    task_ID: int | None = None
    index: int | None = None

    @classmethod
    def decode(cls, iter_dat: dict, context: None = None) -> Self:
        """Build from a JSON object."""
        it = super().decode(iter_dat, context)
        it.task_ID = iter_dat.get("task_ID")
        it.index = iter_dat.get("index")
        return it


@dataclass
class V03StoreEAR(StoreEAR[list, dict]):
    """An element action run of an hpcflow 0.3 store.

    A Zarr store keeps a run in three places: its creation data (a ``run_metadata``
    row ``[id_, elem_iter_ID, action_idx, [[path_i, param_ID]...], commands_idx]``),
    its submission data (a ``run_sub_dat`` row) and its execution data (an entry of a
    run file: :data:`~wfstore.persistence.v03.layout.RUN_FILE_FIELDS`); a JSON store
    keeps it as one document of ``runs.json``.
    """

    skip: int = 0  # type: ignore[assignment]
    commands_file_ID: int | None = None
    run_file_ID: int | None = None
    run_file_idx: int | None = None
    port_number: int | None = None
    task_ID: int | None = None
    element_idx: int | None = None
    iteration_idx: int | None = None

    def encode(self, ts_fmt: str, context: dict) -> list:
        """The run's ``run_metadata`` row (see :meth:`encode_creation`)."""
        return self.encode_creation(context)

    def encode_creation(self, context: dict) -> list:
        """The run's ``run_metadata`` row ``[id_, elem_iter_ID, action_idx,
        [[path_i, param_ID]...], commands_idx]``, data keys as indices into
        `context`'s ``parameter_paths`` (new keys appended to it). Its ``metadata``,
        ``task_ID``, ``element_idx`` and ``iteration_idx`` are not stored (as in 0.3.0)."""
        return [
            self.id_,
            self.elem_iter_ID,
            self.action_idx,
            [[ensure_in(k, context["parameter_paths"]), v] for k, v in self.data_idx.items()],
            list(self.commands_idx),
        ]

    def to_json(self, ts_fmt: str) -> dict[str, Any]:
        """The run's ``runs.json`` document (0.3.0's JSON store: every field but the
        pending flag; ``run_file_ID`` / ``run_file_idx`` only once set)."""
        doc = {
            "id_": self.id_,
            "elem_iter_ID": self.elem_iter_ID,
            "action_idx": self.action_idx,
            "commands_idx": list(self.commands_idx),
            "data_idx": dict(self.data_idx),
            "submission_idx": self.submission_idx,
            "commands_file_ID": self.commands_file_ID,
            "success": self.success,
            "skip": self.skip,
            "start_time": encode_timestamp(self.start_time, ts_fmt),
            "end_time": encode_timestamp(self.end_time, ts_fmt),
            "snapshot_start": self.snapshot_start,
            "snapshot_end": self.snapshot_end,
            "exit_code": self.exit_code,
            "metadata": self.metadata,
            "run_hostname": self.run_hostname,
            "port_number": self.port_number,
        }
        if self.run_file_ID is not None:
            doc["run_file_ID"] = self.run_file_ID
            doc["run_file_idx"] = self.run_file_idx
        return doc

    @classmethod
    def decode(cls, EAR_dat: list, ts_fmt: str, context: dict) -> Self:
        """Build from a ``run_metadata`` row alone (not submitted, never run); see
        :meth:`decode_parts`."""
        return cls.decode_parts(EAR_dat, (None, None, None, None), None, ts_fmt, context)

    @classmethod
    def decode_parts(
        cls,
        meta_row: Sequence[Any],
        sub_dat: tuple[int | None, int | None, int | None, int | None],
        exec_row: Sequence[Any] | None,
        ts_fmt: str,
        context: dict,
    ) -> Self:
        """Build from a ``run_metadata`` row (`context`: that array's attributes), the
        run's ``run_sub_dat`` values and its run-file entry (None: no entry, which
        reads as skip 0 and nothing else set)."""
        paths = context["parameter_paths"]
        ex = list(exec_row) if exec_row is not None else []
        ex += [None] * (9 - len(ex))
        return cls(
            id_=meta_row[0],
            is_pending=False,
            elem_iter_ID=meta_row[1],
            action_idx=meta_row[2],
            data_idx={paths[k]: v for k, v in meta_row[3]},
            commands_idx=list(meta_row[4]),
            submission_idx=sub_dat[0],
            commands_file_ID=sub_dat[1],
            run_file_ID=sub_dat[2],
            run_file_idx=sub_dat[3],
            skip=ex[0] if ex[0] is not None else 0,
            success=ex[1],
            start_time=decode_timestamp(ex[2], ts_fmt),
            end_time=decode_timestamp(ex[3], ts_fmt),
            snapshot_start=copy_tree(ex[4]),  # (the memo's run-file entry: copied)
            snapshot_end=copy_tree(ex[5]),
            exit_code=ex[6],
            run_hostname=ex[7],
            port_number=ex[8],
        )

    @classmethod
    def decode_json(cls, doc: dict, ts_fmt: str) -> Self:
        """Build from a ``runs.json`` document."""
        return cls(
            id_=doc["id_"],
            is_pending=False,
            elem_iter_ID=doc["elem_iter_ID"],
            action_idx=doc["action_idx"],
            commands_idx=list(doc["commands_idx"]),
            data_idx=dict(doc["data_idx"]),
            submission_idx=doc.get("submission_idx"),
            commands_file_ID=doc.get("commands_file_ID"),
            run_file_ID=doc.get("run_file_ID"),
            run_file_idx=doc.get("run_file_idx"),
            skip=doc.get("skip") or 0,
            success=doc.get("success"),
            start_time=decode_timestamp(doc.get("start_time"), ts_fmt),
            end_time=decode_timestamp(doc.get("end_time"), ts_fmt),
            snapshot_start=doc.get("snapshot_start"),
            snapshot_end=doc.get("snapshot_end"),
            exit_code=doc.get("exit_code"),
            metadata=doc.get("metadata"),
            run_hostname=doc.get("run_hostname"),
            port_number=doc.get("port_number"),
            task_ID=doc.get("task_ID"),
            element_idx=doc.get("element_idx"),
            iteration_idx=doc.get("iteration_idx"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Data for the engine's user-facing ``ElementActionRun``."""
        return {
            **super().to_dict(),
            "commands_file_ID": self.commands_file_ID,
            "run_file_ID": self.run_file_ID,
            "run_file_idx": self.run_file_idx,
            "port_number": self.port_number,
        }


#: Reads a numpy array of a value: ``(path of the array in the value, legacy array
#: number or None, mask archive?) -> array``.
ArrayReader = Callable[[DataPath, "int | None", bool], np.ndarray]


#: The ``type_lookup`` key of numpy random generators (their bit generator's state).
RNG_LOOKUP_KEY = "numpy.random._generator.Generator"


class V03StoreParameter(StoreParameter):
    """A parameter of an hpcflow 0.3 store: a190's value encoding, plus numpy random
    generators, kept as their bit generator's state (its two big integers as strings)
    with their paths in ``type_lookup["numpy.random._generator.Generator"]``."""

    _extra_lookup_keys: ClassVar[tuple[str, ...]] = (RNG_LOOKUP_KEY,)

    @classmethod
    def _is_special(cls, obj: Any) -> bool:
        return isinstance(obj, np.random.Generator)

    def _encode_special(
        self, obj: Any, path: DataPath, type_lookup: dict[str, list], **kwargs: Any
    ) -> Any:
        """A numpy random generator: its bit generator's state, the two big integers
        as strings (msgpack holds 64 bits), its path in ``type_lookup``."""
        type_lookup[RNG_LOOKUP_KEY].append(list(path))
        state = copy.deepcopy(obj.bit_generator.state)
        state["state"]["state"] = str(state["state"]["state"])
        state["state"]["inc"] = str(state["state"]["inc"])
        return self._encode_value(state, path, type_lookup, **kwargs)

    def encode(self, **kwargs: Any) -> dict[str, Any] | int:
        """The encoded value as 0.3.0 stores it: 0 when not set, ``{"file": ...}``, or
        ``{"data", "type_lookup"}`` with only the ``type_lookup`` keys that have
        entries (0.3.0 fills a ``defaultdict(list)``)."""
        encoded = super().encode(**kwargs)
        if isinstance(encoded, dict) and "type_lookup" in encoded:
            lookup = {k: v for k, v in encoded["type_lookup"].items() if v}
            return {"data": encoded["data"], "type_lookup": lookup}
        return encoded

    @classmethod
    def _decode_special(
        cls, obj: Any, type_lookup: dict[str, Any], path: DataPath, **kwargs: Any
    ) -> Any:
        for rng_path in type_lookup.get(RNG_LOOKUP_KEY) or []:
            rel = relative_path(rng_path, path)
            if rel is not None:
                obj = _place(obj, rel, _generator(_get(obj, rel)))
        return obj


def _generator(state: dict[str, Any]) -> np.random.Generator:
    state = copy.deepcopy(state)
    state["state"]["state"] = int(state["state"]["state"])
    state["state"]["inc"] = int(state["state"]["inc"])
    rng = np.random.Generator(getattr(np.random, state["bit_generator"])())
    rng.bit_generator.state = state
    return rng


class V03ZarrStoreParameter(V03StoreParameter):
    """A parameter of an hpcflow 0.3 Zarr store.

    A numpy array in a value is replaced by its position in ``type_lookup["arrays"]``,
    whose entries are ``[path, k]`` (Zarr array ``arr_k`` of the parameter's group under
    ``parameters/arrays``) or ``[path, None]`` (the entry of the source run in the
    output's NPZ archive). A masked array is its fill value, with ``[path, [k_data,
    k_mask]]`` in ``type_lookup["masked_arrays"]`` (array numbers, not positions in
    ``arrays``; None for NPZ, the mask then in the ``<name>.__mask__`` archive).
    """

    _store_kind: ClassVar[str] = "zarr"
    _extra_lookup_keys: ClassVar[tuple[str, ...]] = (RNG_LOOKUP_KEY, "arrays", "masked_arrays")

    @classmethod
    def _is_special(cls, obj: Any) -> bool:
        return isinstance(obj, (np.ndarray, np.random.Generator))

    def _encode_special(
        self, obj: Any, path: DataPath, type_lookup: dict[str, list], **kwargs: Any
    ) -> Any:
        """A numpy random generator: see :class:`V03StoreParameter`. A numpy array:
        written by the store's `write_array` keyword argument
        (``write_array(array, path, suffix=None) -> k``: legacy Zarr array ``arr_k``,
        or None: an NPZ array-output entry), replaced in the value by its position in
        ``type_lookup["arrays"]``; a masked array by its fill value, its data and mask
        arrays' numbers in ``type_lookup["masked_arrays"]``."""
        if isinstance(obj, np.random.Generator):
            return super()._encode_special(obj, path, type_lookup, **kwargs)
        write_array: Callable[..., int | None] | None = kwargs.get("write_array")
        if write_array is None:
            raise UnsupportedStoreOperationError(
                f"parameter {self.id_}: numpy arrays can only be encoded by a Zarr store"
            )
        if isinstance(obj, np.ma.MaskedArray):
            # as 0.3.0: data then mask written as arrays (the mask of the data's shape,
            # an NPZ mask under ``<name>.__mask__``), their numbers in
            # ``masked_arrays``, the fill value in the value
            k_data = write_array(np.asarray(obj.data), list(path))
            k_mask = write_array(np.ma.getmaskarray(obj), list(path), layout.MASK_SUFFIX)
            type_lookup["masked_arrays"].append([list(path), [k_data, k_mask]])
            return obj.fill_value.item()
        if obj.dtype.hasobject:
            raise UnsupportedStoreOperationError(
                f"parameter {self.id_}: numpy arrays of dtype {obj.dtype} cannot be stored"
            )
        number = write_array(obj, list(path))
        type_lookup["arrays"].append([list(path), number])
        return len(type_lookup["arrays"]) - 1

    @classmethod
    def _decode_special(
        cls, obj: Any, type_lookup: dict[str, Any], path: DataPath, **kwargs: Any
    ) -> Any:
        obj = super()._decode_special(obj, type_lookup, path, **kwargs)
        arrays = type_lookup.get("arrays") or []
        masked = type_lookup.get("masked_arrays") or []
        if not arrays and not masked:
            return obj
        read: ArrayReader | None = kwargs.get("read_array")
        if read is None:
            raise UnsupportedStoreOperationError(
                "numpy arrays in parameter values can only be decoded by a Zarr store."
            )
        for arr_path, number in arrays:
            rel = relative_path(arr_path, path)
            if rel is not None:
                obj = _place(obj, rel, read(list(arr_path), number, False))
        for arr_path, (data_number, mask_number) in masked:
            rel = relative_path(arr_path, path)
            if rel is None:
                continue
            fill = _get(obj, rel)
            if isinstance(fill, np.ma.MaskedArray):
                continue
            value = np.ma.MaskedArray(
                data=read(list(arr_path), data_number, False),
                mask=read(list(arr_path), mask_number, True),
                fill_value=fill,
            )
            obj = _place(obj, rel, value)
        return obj


def _get(root: Any, rel: Sequence[Any]) -> Any:
    for comp in rel:
        root = root[comp]
    return root


def _place(root: Any, rel: Sequence[Any], value: Any) -> Any:
    if not rel:
        return value
    _get(root, rel[:-1])[rel[-1]] = value
    return root
