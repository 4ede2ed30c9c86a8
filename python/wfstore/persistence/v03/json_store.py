"""hpcflow 0.3's JSON store: ``metadata.json``, ``runs.json`` (new in 0.3),
``parameters.json`` and ``submissions.json``, each decoded once and kept until the file
changes."""

from __future__ import annotations

import copy
import json
import posixpath
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from fsspec import AbstractFileSystem

from wfstore import _core
from wfstore.common.durability import Durability
from wfstore.common.errors import (
    MetadataError,
    MissingParameterData,
    MissingStoreEARError,
    MissingStoreElementError,
    MissingStoreElementIterationError,
    MissingStoreItemError,
)
from wfstore.persistence.base import ParamSource
from wfstore.persistence.items import PersistentStoreFeatures
from wfstore.persistence.resources import is_local_fs
from wfstore.persistence.v03 import layout
from wfstore.persistence.v03.building import V03BuildMembers
from wfstore.persistence.v03.execution import RunTimePending, V03RunTimeWrites
from wfstore.persistence.v03.files import FileMemo, always_new, local_stamp
from wfstore.persistence.v03.items import (
    V03JsonStoreElement,
    V03JsonStoreElementIter,
    V03StoreEAR,
    V03StoreParameter,
    V03StoreTask,
)
from wfstore.persistence.v03.json_writes import V03JSONWrites
from wfstore.persistence.v03.store import V03PersistentStore


def _decode_json(raw: bytes, key: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise MetadataError(f"{key} of the JSON store cannot be decoded: {exc}") from None


class V03JSONPersistentStore(
    V03BuildMembers, V03JSONWrites, V03RunTimeWrites, V03PersistentStore
):
    """An hpcflow 0.3 JSON store (a folder of four JSON files): created, built and
    submitted (:mod:`~wfstore.persistence.v03.building`,
    :mod:`~wfstore.persistence.v03.json_writes`), and written at execution time (run
    starts, ends, skips and parameter values, :mod:`~wfstore.persistence.v03.execution`)
    into ``runs.json`` and ``parameters.json``."""

    _name: ClassVar[str] = "json"
    _features: ClassVar[PersistentStoreFeatures] = PersistentStoreFeatures(
        create=True,
        edit=True,
        jobscript_parallelism=False,
        EAR_parallelism=False,
        schedulers=True,
        submission=True,
    )
    #: 0.3.0's JSON store sets the value of any parameter, not only run outputs.
    _outputs_only: ClassVar[bool] = False

    def __init__(
        self,
        app: Any,
        workflow: Any,
        path: Path | str,
        fs: AbstractFileSystem | None = None,
        *,
        durability: Durability | None = None,
    ) -> None:
        super().__init__(app, workflow, path, fs, durability=durability)
        stamp: Callable[[str], object] | None = (
            local_stamp(str(self.path)) if is_local_fs(self.fs) else always_new
        )
        self._files: FileMemo[Any] = FileMemo(self._read, stamp, _decode_json)
        self._run_pending = RunTimePending()
        self._init_build()
        try:
            opened = self._file_doc(layout.JSON_METADATA)
        except MetadataError:
            opened = {}
        #: the workflow this one replaced, as the metadata said at the open
        self._replaced_at_open = opened.get("replaced_workflow")

    def _read(self, name: str) -> bytes | None:
        p = posixpath.join(str(self.path), name)
        if not self.fs.exists(p):
            return None
        return self.fs.cat_file(p)

    def _file_doc(self, name: str) -> Any:
        """Document `name` as its file holds it (decoded once until it changes)."""
        doc = self._files.get(name)
        if doc is None:
            raise MetadataError(f"{name} is missing from the JSON store {self.path}")
        return doc

    def _md(self) -> dict[str, Any]:
        return self._doc(layout.JSON_METADATA)

    # --- item classes -------------------------------------------------------------------

    @classmethod
    def _store_task_cls(cls) -> type[V03StoreTask]:
        return V03StoreTask

    @classmethod
    def _store_elem_cls(cls) -> type[V03JsonStoreElement]:
        return V03JsonStoreElement

    @classmethod
    def _store_iter_cls(cls) -> type[V03JsonStoreElementIter]:
        return V03JsonStoreElementIter

    @classmethod
    def _store_EAR_cls(cls) -> type[V03StoreEAR]:
        return V03StoreEAR

    @classmethod
    def _store_param_cls(cls) -> type[V03StoreParameter]:
        return V03StoreParameter

    # --- metadata -----------------------------------------------------------------------

    def _meta_doc(self) -> dict[str, Any]:
        return self._md()

    def _get_num_persistent_submissions(self) -> int:
        return len(self._doc(layout.JSON_SUBMISSIONS))

    def _get_num_persistent_elements(self) -> int:
        return len(self._md()["elements"])

    def _get_num_persistent_elem_iters(self) -> int:
        return len(self._md()["iters"])

    def _get_num_persistent_EARs(self) -> int:
        return len(self._doc(layout.JSON_RUNS)["runs"])

    def _get_num_persistent_parameters(self) -> int:
        return len(self._doc(layout.JSON_PARAMETERS)["data"])

    def _get_num_persistent_added_tasks(self) -> int:
        return int(self._md()["num_added_tasks"])

    def _get_persistent_parameter_IDs(self) -> list[int]:
        return [int(i) for i in self._doc(layout.JSON_PARAMETERS)["data"]]

    def _get_persistent_tasks(self, id_lst: Iterable[int]) -> dict[int, V03StoreTask]:
        tasks, to_load = self._get_cached_persistent_tasks(id_lst)
        if to_load:
            wanted = set(to_load)
            new = {
                t["id_"]: V03StoreTask.decode({**t, "index": idx})
                for idx, t in enumerate(self._md()["tasks"])
                if t["id_"] in wanted
            }
            self.task_cache.update(new)
            tasks.update(new)
        return tasks

    def _get_persistent_loops(self, id_lst: Iterable[int] | None = None) -> dict[int, Any]:
        loops = self._md()["loops"]
        ids = range(len(loops)) if id_lst is None else [i for i in id_lst if 0 <= i < len(loops)]
        return {i: copy.deepcopy(loops[i]) for i in ids}

    def _get_persistent_submissions(self, id_lst: Iterable[int] | None = None) -> dict[int, Any]:
        subs = self._doc(layout.JSON_SUBMISSIONS)
        ids = range(len(subs)) if id_lst is None else [i for i in id_lst if 0 <= i < len(subs)]
        out = {i: copy.deepcopy(subs[i]) for i in ids}
        for sub in out.values():  # block task_elements keys back to ints, as 0.3 does
            for js in sub.get("jobscripts") or []:
                for blk in js.get("blocks") or []:
                    te = blk.get("task_elements")
                    if isinstance(te, dict):
                        blk["task_elements"] = {int(k): v for k, v in te.items()}
        return out

    @staticmethod
    def _items(docs: list[Any], ids: list[int], error: type[MissingStoreItemError]) -> list[Any]:
        bad = [i for i in ids if not 0 <= i < len(docs)]
        if bad:
            raise error(bad)
        return [docs[i] for i in ids]

    def _get_persistent_elements(self, id_lst: Iterable[int]) -> dict[int, V03JsonStoreElement]:
        elems, to_load = self._get_cached_persistent_elements(id_lst)
        if to_load:
            docs = self._items(self._md()["elements"], to_load, MissingStoreElementError)
            new = {i: V03JsonStoreElement.decode(d) for i, d in zip(to_load, docs)}
            self.element_cache.update(new)
            elems.update(new)
        return elems

    def _get_persistent_element_iters(
        self, id_lst: Iterable[int]
    ) -> dict[int, V03JsonStoreElementIter]:
        iters, to_load = self._get_cached_persistent_element_iters(id_lst)
        if to_load:
            docs = self._items(self._md()["iters"], to_load, MissingStoreElementIterationError)
            new = {i: V03JsonStoreElementIter.decode(d) for i, d in zip(to_load, docs)}
            self.element_iter_cache.update(new)
            iters.update(new)
        return iters

    def _get_persistent_EARs(self, id_lst: Iterable[int]) -> dict[int, V03StoreEAR]:
        runs, to_load = self._get_cached_persistent_EARs(id_lst)
        if to_load:
            docs = self._items(self._doc(layout.JSON_RUNS)["runs"], to_load, MissingStoreEARError)
            ts_fmt = self.get_ts_fmt()
            new = {
                i: V03StoreEAR.decode_json(copy.deepcopy(d), ts_fmt)
                for i, d in zip(to_load, docs)
            }
            self.EAR_cache.update(new)
            runs.update(new)
        return runs

    def get_dirs_array(self) -> np.ndarray:
        rows = self._doc(layout.JSON_RUNS).get("run_dirs") or []
        out = np.empty(len(rows), dtype=layout.RUN_DIRS_DTYPE)
        fill = tuple(np.iinfo(layout.RUN_DIRS_DTYPE.fields[n][0]).max for n in out.dtype.names)
        for i, row in enumerate(rows):
            out[i] = fill if row is None else tuple(row)
        return out

    # --- execution-time writes ----------------------------------------------------------

    def _write_file_doc(self, name: str, doc: Any) -> None:
        """Replace the file `name` with `doc` as 0.3.0 writes it (``json.dump``, indent
        2), atomically on a local folder (temporary name, then rename, with the store's
        durability)."""
        data = json.dumps(doc, indent=2).encode()
        p = posixpath.join(str(self.path), name)
        if is_local_fs(self.fs):
            _core.write_atomic(p, data, durability=self.durability)
        else:
            self.fs.pipe_file(p, data)

    def write_run_fields(self, updates: Mapping[int, Mapping[str, Any]]) -> None:
        """Set execution-time fields of runs in ``runs.json`` (times as datetimes,
        written in the workflow's timestamp format), as 0.3.0's JSON store does."""
        if not updates:
            return
        doc = copy.deepcopy(self._doc(layout.JSON_RUNS))
        runs = doc["runs"]
        bad = [i for i in updates if not 0 <= i < len(runs)]
        if bad:
            raise MissingStoreEARError(bad)
        ts_fmt = self.ts_fmt
        for run_id, fields in updates.items():
            for name, value in fields.items():
                if name not in layout.RUN_FILE_FIELDS:
                    raise KeyError(f"not a run execution field: {name!r}")
                if isinstance(value, datetime):
                    value = value.strftime(ts_fmt)
                runs[run_id][name] = value
        self._write_doc(layout.JSON_RUNS, doc)
        for run_id in updates:
            self.EAR_cache.pop(run_id, None)

    def write_output_values(self, values: Mapping[int, Any]) -> list[int]:
        """Write encoded parameter values (None: unset) into ``parameters.json``;
        returns [] (a JSON store has a place for every value)."""
        if not values:
            return []
        doc = copy.deepcopy(self._doc(layout.JSON_PARAMETERS))
        missing = [i for i in values if str(i) not in doc["data"]]
        if missing:
            raise MissingParameterData(missing)
        for i, value in values.items():
            doc["data"][str(i)] = value
        self._write_doc(layout.JSON_PARAMETERS, doc)
        for i in values:
            self.parameter_cache.pop(i, None)
        return []

    # --- parameters ---------------------------------------------------------------------

    def _param_docs(self, ids: list[int], key: str) -> dict[int, Any]:
        doc = self._doc(layout.JSON_PARAMETERS)[key]
        missing = [i for i in ids if str(i) not in doc]
        if missing:
            raise MissingParameterData(missing)
        return {i: doc[str(i)] for i in ids}

    def _get_persistent_parameters(
        self, id_lst: Iterable[int], **kwargs: Any
    ) -> dict[int, V03StoreParameter]:
        params, to_load = self._get_cached_persistent_parameters(id_lst)
        if to_load:
            data = self._param_docs(to_load, "data")
            sources = self._param_docs(to_load, "sources")
            new = {
                i: V03StoreParameter.decode(i, data[i], copy.deepcopy(sources[i])) for i in to_load
            }
            self.parameter_cache.update(new)
            params.update(new)
        return params

    def _get_persistent_param_sources(self, id_lst: Iterable[int]) -> dict[int, ParamSource]:
        sources, to_load = self._get_cached_persistent_param_sources(id_lst)
        if to_load:
            new = self._param_docs(to_load, "sources")
            self.param_sources_cache.update(new)
            sources.update(copy.deepcopy(new))
        return sources

    def _get_persistent_parameter_set_status(self, id_lst: Iterable[int]) -> dict[int, bool]:
        data = self._param_docs(list(id_lst), "data")
        # hpcflow 0.3's JSON store: neither null nor the unset marker 0
        return {i: v is not None and v != 0 for i, v in data.items()}
