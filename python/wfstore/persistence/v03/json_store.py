"""hpcflow 0.3's JSON store: ``metadata.json``, ``runs.json`` (new in 0.3),
``parameters.json`` and ``submissions.json``, each decoded once and kept until the file
changes."""

from __future__ import annotations

import copy
import json
import posixpath
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from fsspec import AbstractFileSystem

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
from wfstore.persistence.resources import is_local_fs
from wfstore.persistence.v03 import layout
from wfstore.persistence.v03.files import FileMemo, always_new, local_stamp
from wfstore.persistence.v03.items import (
    V03JsonStoreElement,
    V03JsonStoreElementIter,
    V03StoreEAR,
    V03StoreParameter,
    V03StoreTask,
)
from wfstore.persistence.v03.store import V03PersistentStore


def _decode_json(raw: bytes, key: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise MetadataError(f"{key} of the JSON store cannot be decoded: {exc}") from None


class V03JSONPersistentStore(V03PersistentStore):
    """An hpcflow 0.3 JSON store (a folder of four JSON files), read-only."""

    _name: ClassVar[str] = "json"

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

    def _read(self, name: str) -> bytes | None:
        p = posixpath.join(str(self.path), name)
        if not self.fs.exists(p):
            return None
        return self.fs.cat_file(p)

    def _doc(self, name: str) -> Any:
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

    def get_name(self) -> str:
        return self._md()["name"]

    def get_ts_fmt(self) -> str:
        return self._md()["ts_fmt"]

    def get_ts_name_fmt(self) -> str:
        return self._md()["ts_name_fmt"]

    def get_creation_info(self) -> Any:
        return copy.deepcopy(self._md()["creation_info"])

    def _get_persistent_template_components(self) -> dict[str, Any]:
        return copy.deepcopy(self._md()["template_components"])

    def _get_persistent_template(self) -> dict[str, Any]:
        return copy.deepcopy(self._md()["template"])

    def _get_num_persistent_tasks(self) -> int:
        return len(self._md()["tasks"])

    def _get_num_persistent_loops(self) -> int:
        return len(self._md()["loops"])

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
