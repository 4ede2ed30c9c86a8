"""Creating and building hpcflow 0.3's Zarr store: ``write_empty_workflow`` and the
commit hooks (``_append_*`` / ``_update_*``) that the shared pending changes and
:mod:`.building` call, writing 0.3.0's layout (docs/hpcflow-0.3-format.md §1, §3).

Built on the shared Zarr machinery of :class:`~wfstore.persistence.zarr.transactions.
ZarrTransactions`: every commit is one transaction of the core store (staged, then
applied all or nothing through a journal), rows that other processes may change are
written under the store lock, the change marker advances around each commit. Object
arrays (``tasks``, ``elements``, ``iters``, ``run_metadata``, ``sources``,
``js_at_submit_md``) go through the core's ``ObjectArray``; the structured arrays
(``run_sub_dat``, ``run_dirs``) and the integer arrays of a submission group through
the core's ``NumericArray`` (structured dtypes as a list descr, fill values base64 of
one row, chunk keys joined with ``/`` as in 0.3.0's nested ``metadata`` group); parameter
file 0 (non-output values) through :mod:`.writes`.

What 0.3.0 writes and this module does not yet: masked numpy arrays (refused with
``UnsupportedStoreOperationError``). Numpy arrays in run outputs go to their NPZ
archives (docs §1.8), in inputs to legacy arrays ``arr_k`` of the parameter's sharded
group (§1.7), as 0.3.0 places them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from fsspec import AbstractFileSystem

from wfstore import _core
from wfstore.common.durability import Durability
from wfstore.common.errors import (
    StoreError,
    StorePathError,
    UnsupportedStoreOperationError,
)
from wfstore.persistence.resources import is_local_fs
from wfstore.persistence.v03 import layout, writes
from wfstore.persistence.v03.arrays import append_output_entry
from wfstore.persistence.v03.blocks import decode_block_dependencies, encode_block_dependencies
from wfstore.persistence.v03.items import V03StoreEAR
from wfstore.persistence.zarr.archive import ZarrArchive
from wfstore.persistence.zarr.attrs import ZarrAttrUpdates
from wfstore.persistence.zarr.creation import finish_new_store, new_root_attrs, new_store_folder
from wfstore.persistence.zarr.layout import (
    _ATTRS,
    NUMERIC_COMPRESSOR,
    TASKS_CODEC,
    _append_in_batches,
    _check_next_ids,
    _json_keys,
    _numeric_fill_value,
    guess_chunks,
)
from wfstore.persistence.zarr.rows import ZarrRowWrites
from wfstore.persistence.zarr.transactions import ZarrTransactions
from wfstore.storage.fsspec import core_store

#: Rows per chunk of 0.3.0's arrays (``tasks``: its rows beyond the array are padded
#: with ``[0]``, as zarr-python pads them, by the core's ``vlen-array`` encoder).
TASKS_CHUNK = 100
ITEMS_CHUNK = 100_000
RUNS_CHUNK = 200_000
#: The chunk-size limits 0.3.0 gives zarr's chunk guess for legacy parameter arrays.
LEGACY_CHUNK_MIN = 500 * 1024 * 1024
LEGACY_CHUNK_MAX = 1024 * 1024 * 1024

#: ``run_sub_dat``'s dtype (all ones of a field: not set).
RUN_SUB_DAT_DTYPE = np.dtype(
    [
        ("submission_idx", "u1"),
        ("commands_file_ID", "<u4"),
        ("run_file_ID", "<u2"),
        ("run_file_idx", "<u4"),
    ]
)


def _all_ones(dtype: np.dtype) -> np.ndarray:
    row = np.zeros(1, dtype=dtype)
    for name in dtype.names or ():
        row[name] = np.iinfo(dtype.fields[name][0]).max  # type: ignore[index]
    return row


def _zarr_json(doc: dict[str, Any]) -> bytes:
    """A metadata document as zarr 2 writes it (sorted keys, four-space indent)."""
    return json.dumps(
        doc, indent=4, sort_keys=True, ensure_ascii=True, separators=(",", ": ")
    ).encode("ascii")


def _attrs_json(doc: dict[str, Any]) -> bytes:
    """An attributes document as the core writes one: compact, sorted keys (the root
    attributes, read by every job process, are several times smaller than indented;
    zarr reads either form)."""
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _nested(store: _core.Store, path: str) -> None:
    """Mark the array `path` as 0.3.0's ``metadata`` group (a nested directory store)
    marks its arrays: ``"dimension_separator": "/"`` (the core writes ``"."``; the two
    give the same keys in one dimension, and the core keeps the separator it finds)."""
    meta = json.loads(store.get(f"{path}/.zarray") or b"{}")
    meta["dimension_separator"] = "/"
    store.set(f"{path}/.zarray", _zarr_json(meta))


def _compressor(name: str | None, kwargs: dict[str, Any] | None) -> dict[str, Any] | None:
    return _core.compressor_config(name, kwargs) if name else None


def _create_rows(
    store: _core.Store,
    path: str,
    dtype: np.dtype,
    chunk: int,
    compressor: dict[str, Any] | None,
    write_empty_chunks: bool = True,
) -> None:
    """An empty one-dimensional array of `dtype` (a structured dtype's fill value all
    ones in every field: "not set"), in 0.3.0's nested ``metadata`` group, by the
    core's ``NumericArray``."""
    _core.NumericArray.create(
        store,
        path,
        np.empty(0, dtype=dtype),
        chunks=[chunk],
        compressor=compressor,
        fill_value=tuple(int(v) for v in _all_ones(dtype)[0]),
        dimension_separator="/",
        write_empty_chunks=write_empty_chunks,
    )


def _rows_array(store: _core.Store, path: str) -> _core.NumericArray:
    """The structured array at `path`, writing no chunk of fill values only where
    0.3.0 writes none (``run_dirs``: ``write_empty_chunks=False``)."""
    return _core.NumericArray.open(store, path, write_empty_chunks=path != layout.RUN_SUB_DAT_ARR)


class V03ZarrWrites(ZarrArchive, ZarrAttrUpdates, ZarrRowWrites, ZarrTransactions):
    """``write_empty_workflow`` and the commit hooks of wfstore's 0.3 Zarr store (a
    part of :class:`~wfstore.persistence.v03.zarr_store.V03ZarrPersistentStore`)."""

    _commit_resources: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "tasks": (_ATTRS,),
        "loops": (_ATTRS,),
        "submissions": (_ATTRS,),
        "element_sets": (_ATTRS,),
        "js_metadata": (_ATTRS,),
        "template_components": (_ATTRS,),
        "loop_num_iters": (_ATTRS,),
        "loop_parents": (_ATTRS,),
    }

    # --- 0.3.0's static helpers the engine's tests call -----------------------------------

    @staticmethod
    def _encode_jobscript_block_dependencies(sub_js: Mapping[str, Any]) -> np.ndarray:
        """All blocks' dependencies of a submission document as 0.3.0's ``js_deps``
        array (each block's ``dependencies`` set to None, as 0.3.0 does)."""
        flat: list[int] = []
        for js in sub_js["jobscripts"]:
            for blk in js["blocks"]:
                flat += encode_block_dependencies(js["index"], blk["index"], blk["dependencies"])
                blk["dependencies"] = None
        return np.asarray(flat)

    @staticmethod
    def _decode_jobscript_block_dependencies(arr: Any) -> dict[tuple[int, int], Any]:
        """The inverse of :meth:`_encode_jobscript_block_dependencies`."""
        return decode_block_dependencies([int(x) for x in np.asarray(arr).ravel()])

    def zip(
        self,
        path: str = ".",
        log: str | None = None,
        overwrite: bool = False,
        include_execute: bool = False,
        include_rechunk_backups: bool = False,
        status: bool = True,
    ) -> str:
        """Write the store into a zip archive (as the shared Zarr store's
        :meth:`~wfstore.persistence.zarr.archive.ZarrArchive.zip`: run files,
        parameter files and NPZ archives as loose entries, as 0.3.0 zips them)."""
        return super().zip(path, log, overwrite, include_execute, include_rechunk_backups)

    # --- creation -----------------------------------------------------------------------

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
        ts_fmt: str,
        ts_name_fmt: str,
        creation_info: dict[str, Any],
        compressor: str | None = "blosc",
        compressor_kwargs: dict[str, Any] | None = None,
        durability: Durability | None = None,
    ) -> None:
        """Write an empty hpcflow 0.3 Zarr workflow store at `wk_path`, as 0.3.0 lays
        it out (its arrays, chunk sizes and attributes; `compressor` ``"blosc"``,
        ``"zstd"`` or None for the arrays 0.3.0 lets it choose). The root group is
        written last: a folder without it is not a workflow store yet."""
        durability = cls._resolve_durability(durability)  # type: ignore[attr-defined]
        fs, wk_path, compressor = new_store_folder(fs, wk_path, compressor)
        cmp = _compressor(compressor, compressor_kwargs)
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
        store.create_group("metadata")
        obj = {"compressor": cmp}
        _core.ObjectArray.create(
            store, layout.TASKS_ARR, 0, TASKS_CHUNK, object_codec=TASKS_CODEC, **obj
        )
        _core.ObjectArray.create(
            store, layout.ELEMS_ARR, 0, ITEMS_CHUNK, attrs={"seq_idx": [], "src_idx": []}, **obj
        )
        _core.ObjectArray.create(
            store,
            layout.ITERS_ARR,
            0,
            ITEMS_CHUNK,
            attrs={"loops": [], "schema_parameters": [], "parameter_paths": []},
            **obj,
        )
        _core.ObjectArray.create(
            store, layout.RUN_META_ARR, 0, RUNS_CHUNK, attrs={"parameter_paths": []}, **obj
        )
        for path in (layout.TASKS_ARR, layout.ELEMS_ARR, layout.ITERS_ARR, layout.RUN_META_ARR):
            _nested(store, path)
        _create_rows(
            store,
            layout.RUN_DIRS_ARR,
            layout.RUN_DIRS_DTYPE,
            ITEMS_CHUNK,
            dict(NUMERIC_COMPRESSOR),
            write_empty_chunks=False,
        )
        store.create_group("parameters")
        _core.ObjectArray.create(
            store,
            layout.PARAM_SOURCES_ARR,
            0,
            ITEMS_CHUNK,
            attrs={"num_non_output_params": 0},
            **obj,
        )
        store.create_group(layout.PARAM_ARRAYS_GRP)
        store.create_group(layout.SUBMISSIONS_GRP)
        _create_rows(store, layout.RUN_SUB_DAT_ARR, RUN_SUB_DAT_DTYPE, RUNS_CHUNK, cmp)
        finish_new_store(store, attrs)

    # --- the core store (shared machinery, 0.3's recovery) -------------------------------

    def _open_core_store(self) -> _core.Store:
        if is_local_fs(self.fs):  # type: ignore[attr-defined]
            # finish a commit a crashed writer left half-applied (0.3 stores have no
            # rechunk of their own yet, so nothing else to finish)
            self._recover_journals()
            return core_store(self.fs, self.path, durability=self.durability)  # type: ignore[attr-defined]
        return super()._open_core_store()

    def _load_root_attrs(self) -> dict[str, Any]:
        raw = self.core_store.get(".zattrs")
        if raw is None:
            if self.core_store.get(".zgroup") is None:
                raise StorePathError(
                    f"No Zarr workflow store at {self.core_store.location!r} (no root group)."
                )
            return {}
        return json.loads(raw)

    def _dump_root_attrs(self, attrs: dict[str, Any]) -> None:
        # (encoded here, not by the core: 0.3.0's templates hold integers beyond 64
        # bits, such as 128-bit random seeds, which JSON keeps and zarr writes)
        self.core_store.set(".zattrs", _attrs_json(attrs))

    def _writing(self) -> bool:
        """Whether a commit or write session of this object is under way (its reads
        then go to the store, staged writes included, not to decoded-file memos)."""
        return bool(self._in_txn or self._wdepth)

    # --- root attributes ----------------------------------------------------------------

    def _loop_entry(self, loop: Mapping[str, Any]) -> dict[str, Any]:
        # (0.3 adds the loop's output parameters)
        return {**super()._loop_entry(loop), "output_parameters": loop.get("output_parameters", {})}

    def _append_submissions(self, subs: dict[int, Any]) -> None:
        with self._locked():
            for sub_idx, sub in sorted(subs.items()):
                sub = copy.deepcopy(sub)
                self._write_submission_group(int(sub_idx), sub)
                subs[sub_idx] = sub
        self._append_submission_docs(subs)

    def _write_submission_group(self, sub_idx: int, sub: dict[str, Any]) -> None:
        """Write ``metadata/submissions/<sub_idx>`` (its attributes and five arrays),
        moving each block's ``EAR_ID``, ``task_elements``, ``task_actions`` and
        ``dependencies`` out of `sub` (set to None there, as 0.3.0 does)."""
        store = self.core_store
        grp = f"{layout.SUBMISSIONS_GRP}/{sub_idx}"
        store.create_group(grp, {"submission_parts": {}})
        jobscripts = sub["jobscripts"]
        _core.ObjectArray.create(
            store,
            f"{grp}/{layout.JS_AT_SUBMIT_MD}",
            len(jobscripts),
            1,
            compressor=dict(NUMERIC_COMPRESSOR),
            write_empty_chunks=False,
        )
        _nested(store, f"{grp}/{layout.JS_AT_SUBMIT_MD}")
        run_ids, task_elems, task_acts, deps = [], [], [], []
        run_shapes, elem_shapes, act_counts = [], [], []
        for js in jobscripts:
            run_shapes.append([])
            elem_shapes.append([])
            act_counts.append([])
            for blk in js["blocks"]:
                arr = np.asarray(blk["EAR_ID"], dtype=np.int64)
                if arr.ndim != 2:
                    arr = arr.reshape(arr.shape[0] if arr.ndim else 0, -1)
                run_ids.append(arr)
                run_shapes[-1].append(list(arr.shape))
                rows = [[int(k), *map(int, v)] for k, v in blk["task_elements"].items()]
                te = np.asarray(rows, dtype=np.int64)
                task_elems.append(te)
                elem_shapes[-1].append([te.shape[1] - 1, te.shape[0]])
                ta = np.asarray(blk["task_actions"], dtype=np.int64).reshape(-1, 3)
                task_acts.append(ta)
                act_counts[-1].append(int(ta.shape[0]))
                deps.extend(
                    encode_block_dependencies(js["index"], blk["index"], blk["dependencies"])
                )
                for key in ("EAR_ID", "task_elements", "task_actions", "dependencies"):
                    blk[key] = None
        n_blk = len(run_ids)
        combined = np.full(
            (
                n_blk,
                max((a.shape[0] for a in run_ids), default=0),
                max((a.shape[1] for a in run_ids), default=0),
            ),
            -1,
            dtype="<i4",
        )
        for i, a in enumerate(run_ids):
            combined[i, : a.shape[0], : a.shape[1]] = a
        self._whole_array(f"{grp}/{layout.JS_RUN_IDS}", combined, {"block_shapes": run_shapes})
        te_all = np.full(
            (
                n_blk,
                max((a.shape[0] for a in task_elems), default=0),
                max((a.shape[1] for a in task_elems), default=0),
            ),
            np.iinfo(np.int32).max,
            dtype="<i4",
        )
        for i, a in enumerate(task_elems):
            te_all[i, : a.shape[0], : a.shape[1]] = a
        self._whole_array(f"{grp}/{layout.JS_TASK_ELEMS}", te_all, {"block_shapes": elem_shapes})
        acts = np.vstack(task_acts).astype("<i8") if task_acts else np.zeros((0, 3), "<i8")
        self._whole_array(f"{grp}/{layout.JS_TASK_ACTS}", acts, {"block_num_acts": act_counts})
        self._whole_array(f"{grp}/{layout.JS_DEPS}", np.asarray(deps, dtype="<i8"), None)

    def _whole_array(self, path: str, data: np.ndarray, attrs: dict[str, Any] | None) -> None:
        """`data` as a numeric array of one chunk (0.3.0's ``chunks=(None, ...)``), by
        the core's ``NumericArray``."""
        _core.NumericArray.create(
            self.core_store,
            path,
            np.ascontiguousarray(data),
            chunks=[max(1, n) for n in data.shape],
            compressor=dict(NUMERIC_COMPRESSOR),
            fill_value=0,
            dimension_separator="/",
        )
        if attrs is not None:
            self.core_store.write_attrs(path, attrs)

    def _update_at_submit_metadata(self, at_submit: dict[int, dict[str, Any]]) -> None:
        store = self.core_store
        with self._locked():
            for sub_idx, parts in at_submit.items():
                grp = f"{layout.SUBMISSIONS_GRP}/{sub_idx}"
                attrs = store.read_attrs(grp)
                attrs.setdefault("submission_parts", {}).update(_json_keys(parts))
                store.write_attrs(grp, attrs)

    def _update_js_metadata(self, js_meta: dict[int, dict[int, dict[str, Any]]]) -> None:
        at_submit = layout.JOBSCRIPT_AT_SUBMIT_KEYS
        rest: dict[tuple[int, int], dict[str, Any]] = {}
        with self._locked():
            for sub_idx, per_js in js_meta.items():
                arr = None
                for js_idx, meta in per_js.items():
                    other = {k: v for k, v in meta.items() if k not in at_submit}
                    if other:
                        rest[(sub_idx, js_idx)] = other
                    row = [meta.get(k) for k in at_submit]
                    if any(row):
                        if arr is None:
                            arr = _core.ObjectArray.open(
                                self.core_store,
                                f"{layout.SUBMISSIONS_GRP}/{sub_idx}/{layout.JS_AT_SUBMIT_MD}",
                                False,
                            )
                        arr.set([js_idx], [_json_keys(row)])
        if rest:
            with self.using_resource(_ATTRS, "update") as attrs:
                for (sub_idx, js_idx), meta in rest.items():
                    attrs["submissions"][sub_idx]["jobscripts"][js_idx].update(_json_keys(meta))

    # --- metadata arrays ----------------------------------------------------------------

    def _update_iter_data_indices(self, data: dict[int, dict[str, Any]]) -> None:
        import dataclasses

        self._update_iters(
            list(data), lambda i, it: dataclasses.replace(it, data_idx={**it.data_idx, **data[i]})
        )

    def _append_EARs(self, EARs: Sequence[V03StoreEAR]) -> None:
        if not EARs:
            return
        self._append_rows(layout.RUN_META_ARR, EARs, lambda r, a: r.encode_creation(a))
        need = max(r.id_ for r in EARs) + 1
        with self._locked():
            for path in (layout.RUN_SUB_DAT_ARR, layout.RUN_DIRS_ARR):
                arr = _rows_array(self.core_store, path)
                if need > len(arr):
                    arr.resize(need)

    def _update_run_data_indices(self, data: dict[int, dict[str, Any]]) -> None:
        import dataclasses

        ids = list(data)
        self._update_rows(
            layout.RUN_META_ARR,
            ids,
            lambda row, attrs: V03StoreEAR.decode_parts(row, (None,) * 4, None, "", attrs),  # type: ignore[arg-type]
            lambda i, run: dataclasses.replace(run, data_idx={**run.data_idx, **data[i]}),
            lambda run, a: run.encode_creation(a),
            StoreError,
        )

    def _update_EAR_submission_data(
        self, sub_data: Mapping[int, tuple[int, int | None, int, int]]
    ) -> None:
        fill = _all_ones(RUN_SUB_DAT_DTYPE)[0]
        ids = np.fromiter(sub_data, dtype=np.int64, count=len(sub_data))
        values = np.empty(len(ids), dtype=RUN_SUB_DAT_DTYPE)
        for k, run_id in enumerate(ids):
            sub_idx, cmd, file_id, file_idx = sub_data[int(run_id)]
            values[k] = (
                sub_idx,
                fill["commands_file_ID"] if cmd is None else cmd,
                file_id,
                file_idx,
            )
        with self._locked():
            arr = _rows_array(self.core_store, layout.RUN_SUB_DAT_ARR)
            need = int(ids.max()) + 1
            if need > len(arr):
                arr.resize(need)
            arr.set_rows(ids.tolist(), values)

    def _set_run_dirs(self, run_dir_arr: np.ndarray, run_idx: np.ndarray) -> None:
        values = np.asarray(run_dir_arr)
        if values.dtype != layout.RUN_DIRS_DTYPE:
            values = np.asarray([tuple(r) for r in values.tolist()], dtype=layout.RUN_DIRS_DTYPE)
        with self._locked():
            _rows_array(self.core_store, layout.RUN_DIRS_ARR).set_rows(
                np.asarray(run_idx, dtype=np.int64).ravel().tolist(), values.ravel()
            )

    # --- parameters ---------------------------------------------------------------------

    def _legacy_array_writer(self, param_id: int) -> Any:
        """``write(array, path) -> k``: the array as the next ``arr_k`` of the
        parameter's sharded group (groups made as needed)."""
        group = layout.legacy_array_group(param_id)
        store = self.core_store
        state: dict[str, int] = {}

        def write(arr: np.ndarray, path: list[Any], suffix: str | None = None) -> int:
            if arr.dtype.kind not in "biuf":
                raise UnsupportedStoreOperationError(
                    f"parameter {param_id}: numpy arrays of dtype {arr.dtype} are not "
                    "written to Zarr arrays by wfstore (numeric and bool only)"
                )
            if "next" not in state:
                existing = store.list_dir(group)
                if ".zgroup" not in existing:
                    parts = group.split("/")
                    for n in range(2, len(parts) + 1):
                        sub = "/".join(parts[:n])
                        if store.get(f"{sub}/.zgroup") is None:
                            store.create_group(sub)
                nums = [int(n[4:]) for n in existing if n.startswith("arr_") and n[4:].isdigit()]
                state["next"] = max(nums, default=-1) + 1
            number = state["next"]
            state["next"] += 1
            _core.NumericArray.create(
                store,
                f"{group}/arr_{number}",
                np.ascontiguousarray(arr),
                chunks=guess_chunks(
                    arr.shape, arr.dtype.itemsize, LEGACY_CHUNK_MIN, LEGACY_CHUNK_MAX
                )
                or None,
                compressor=dict(NUMERIC_COMPRESSOR),
                fill_value=_numeric_fill_value(arr.dtype),
            )
            return number

        return write

    def _output_array_writer(self, param_id: int, source: Mapping[str, Any]) -> Any:
        """``write(array, path, suffix=None)`` for a run output's value: into the
        output's NPZ archive of the source run's run file (returns None), as 0.3.0 does
        unless the output is in its task's ``disable_array_outputs`` (then a legacy
        array). The run is the engine's (``workflow.get_EARs_from_IDs``, as 0.3.0 looks
        it up) when the store has a workflow, else the store's. The run is looked up at
        the first array written (most values have none)."""
        legacy = self._legacy_array_writer(param_id)
        held: list[Any] = []

        def write(arr: np.ndarray, path: list[Any], suffix: str | None = None) -> int | None:
            if not held:
                held.append(self._array_output_target(param_id, source))
            if held[0] is None:
                return legacy(arr, path, suffix)
            output, run_file_ID, metadata, is_disabled = held[0]
            name = ".".join([output, *map(str, path)])
            if is_disabled(name):
                return legacy(arr, path)
            if run_file_ID is None:
                raise StoreError(
                    f"cannot save array output {name!r}: run {metadata['run_ID']} has no "
                    "run file yet"
                )
            full = f"{name}.{suffix}" if suffix else name
            key = layout.array_output_key(full, run_file_ID)
            store = self.core_store
            # a write session: the change marker advanced naming the archive
            with self._keyed_write([key]):
                store.set(key, append_output_entry(store.get(key), key, arr, metadata))
            return None

        return write

    def _array_output_target(self, param_id: int, source: Mapping[str, Any]) -> Any:
        """``(output name, run file ID, entry metadata, is_disabled(name))`` of a run
        output, or None when `param_id` is not one."""
        if source.get("type") != "EAR_output" or source.get("EAR_ID") is None:
            return None
        wk = self._workflow  # type: ignore[attr-defined]
        if wk is not None and hasattr(wk, "get_EARs_from_IDs"):
            run = wk.get_EARs_from_IDs(source["EAR_ID"])
            names = [
                k for k, v in run.data_idx.items() if k.startswith("outputs.") and v == param_id
            ]
            if not names:
                return None
            metadata = {
                "task_insert_ID": run.task.insert_ID,
                "task_idx": run.task.index,
                "element_idx": run.element.index,
                "element_ID": run.element.id_,
                "iteration_idx": run.element_iteration.index,
                "iteration_ID": run.element_iteration.id_,
                "action_idx": run.element_action.action_idx,
                "run_idx": run.index,
                "run_ID": run.id_,
            }
            return (
                names[0][len("outputs.") :],
                run.run_file_ID,
                metadata,
                run.task._is_array_output_disabled,
            )
        context = self._output_context(param_id, source)  # type: ignore[attr-defined]
        if context is None:
            return None
        srun, output = context
        disabled = self._disabled_outputs(srun)  # type: ignore[attr-defined]
        it = self.get_element_iterations([srun.elem_iter_ID])[0]  # type: ignore[attr-defined]
        elem = self.get_elements([it.element_ID])[0]  # type: ignore[attr-defined]
        metadata = {
            "task_insert_ID": elem.task_ID,
            "task_idx": self._get_task_id_to_idx_map()[elem.task_ID],  # type: ignore[attr-defined]
            "element_idx": elem.index,
            "element_ID": elem.id_,
            "iteration_idx": elem.iteration_IDs.index(it.id_),
            "iteration_ID": it.id_,
            "action_idx": srun.action_idx,
            "run_idx": (it.EAR_IDs or {}).get(srun.action_idx, [srun.id_]).index(srun.id_),
            "run_ID": srun.id_,
        }

        def is_disabled(name: str) -> bool:
            return any(d and (name == d or name.startswith(f"{d}.")) for d in disabled)

        return output, srun.run_file_ID, metadata, is_disabled

    def _param_data_arr_grp_names(self, parameter_idx: int) -> tuple[str, str, str, str]:
        """The names of parameter `parameter_idx`'s legacy array groups (outer,
        middle, inner shard, parameter), as 0.3.0 names them."""
        parts = layout.legacy_array_group(parameter_idx).split("/")[-4:]
        return parts[0], parts[1], parts[2], parts[3]

    def _append_parameters(self, params: Sequence[Any]) -> None:
        if not params:
            return
        non_output: dict[tuple[int, Any], Any] = {}
        with self._locked():
            sources = self._array(layout.PARAM_SOURCES_ARR)
            _check_next_ids(layout.PARAM_SOURCES_ARR, sources, [p.id_ for p in params])
            src_attrs = sources.attrs()
            count = int(src_attrs.get("num_non_output_params", 0))
            rows = []
            for p in params:
                source = dict(p.source)
                if source.get("type") != "EAR_output":
                    enc = p.encode(write_array=self._legacy_array_writer(p.id_))
                    source["non_output_idx"] = count
                    non_output[(0, count)] = enc
                    count += 1
                elif p.is_set:
                    raise StoreError(f"parameter {p.id_}: a run output cannot be added already set")
                p.source = source
                rows.append(dict(sorted(source.items())))
            if non_output:
                writes.update_param_file(self.core_store, 0, 0, non_output)
            _append_in_batches(sources, rows)
            if count != src_attrs.get("num_non_output_params"):
                src_attrs["num_non_output_params"] = count
                sources.set_attrs(src_attrs)

    def _set_parameter_values(self, set_parameters: dict[int, tuple[Any, bool]]) -> None:
        ids = list(set_parameters)
        params = dict(zip(ids, self.get_parameters(ids)))  # type: ignore[attr-defined]
        values: dict[int, Any] = {}
        for pid, (value, is_file) in set_parameters.items():
            p = params[pid]
            if p.source.get("type") != "EAR_output":
                raise StoreError(f"parameter {pid}: expected run-output parameters only")
            p = p.set_file(value) if is_file else p.set_data(value)
            values[pid] = p.encode(write_array=self._output_array_writer(pid, p.source))
        self.write_output_values(values)  # type: ignore[attr-defined]

    def _encode_output(self, param: Any, value: Any) -> Any:
        """A run output's value encoded as 0.3.0 encodes it, its numpy arrays written
        to their NPZ archives (see :meth:`_output_array_writer`)."""
        return param.set_data(value).encode(
            write_array=self._output_array_writer(param.id_, param.source)
        )

    def _update_parameter_sources(self, sources: Mapping[int, Any]) -> None:
        ids = list(sources)

        def make_rows(arr: _core.ObjectArray, attrs: dict[str, Any]) -> list[Any]:
            current = arr.get(ids)
            return [dict(sorted({**cur, **sources[i]}.items())) for i, cur in zip(ids, current)]

        self._write_rows(
            layout.PARAM_SOURCES_ARR, make_rows, lambda arr, rows: arr.set(ids, rows), ids=ids
        )
