"""The JSON persistent store, format-compatible with hpcflow 0.2.0a190's JSON store.

A JSON store is a folder holding three documents:

``metadata.json``
    ``name``, ``ts_fmt``, ``ts_name_fmt``, ``creation_info``, ``template_components``,
    ``template`` (whose ``tasks`` and ``loops`` hold the task/loop templates),
    ``tasks`` (``{"id_", "element_IDs", "index"}`` in index order), ``elements``,
    ``iters``, ``runs`` (item JSON objects in ID order), ``num_added_tasks``,
    ``loops`` (``{"num_added_iterations", "iterable_parameters", "parents"}``) and
    optionally ``replaced_workflow``;
``submissions.json``
    the list of submissions;
``parameters.json``
    ``{"data": {ID: encoded value}, "sources": {ID: source}}`` with string IDs.

Each document is a store resource (:class:`~.resources.JSONFileStoreResource`): it is
parsed once and cached while the file holds the bytes it was parsed from (each use
compares them), and written (atomically on the local file system) once per commit,
re-encoding only what the commit changed: the writers below mark each change. The
files a commit changes are written together at its end (all temporary files first,
then the renames), so a failure while writing them changes none of them.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from fsspec import AbstractFileSystem

from wfstore.common.durability import Durability
from wfstore.common.errors import (
    MissingParameterData,
    MissingStoreEARError,
    MissingStoreElementError,
    MissingStoreElementIterationError,
    MissingStoreTaskError,
    UnsupportedStoreOperationError,
)
from wfstore.persistence.base import (
    JSONDocument,
    LoopDescriptor,
    ParamSource,
    PersistentStore,
    StoreCreationInfo,
)
from wfstore.persistence.items import (
    JsonStoreEAR,
    JsonStoreElement,
    JsonStoreElementIter,
    JsonStoreTask,
    PersistentStoreFeatures,
    StoreParameter,
    encode_timestamp,
    merge_param_source,
)
from wfstore.persistence.resources import WHOLE, JSONFileStoreResource
from wfstore.storage.fsspec import resolve

_META = "metadata"
_SUBS = "submissions"
_PARAMS = "parameters"

#: Top-level keys of each document encoded item by item (see ``JSONFileStoreResource``).
_ITEMISED: Mapping[str, tuple[str, ...]] = {
    _META: ("tasks", "elements", "iters", "runs"),
    _SUBS: (),
    _PARAMS: ("data", "sources"),
}


def empty_metadata(
    *,
    name: str,
    ts_fmt: str,
    ts_name_fmt: str,
    creation_info: Any,
    template_components: dict[str, Any],
    template: dict[str, Any],
    replaced_wk: str | None,
    runs: bool,
) -> dict[str, Any]:
    """The metadata document of a new, empty JSON workflow store, keys in the engines'
    order: with `runs`, a190's (its runs are in this document), else hpcflow 0.3's
    (its runs are in ``runs.json``); ``replaced_workflow`` only when `replaced_wk`."""
    metadata: dict[str, Any] = {
        "name": name,
        "ts_fmt": ts_fmt,
        "ts_name_fmt": ts_name_fmt,
        "creation_info": creation_info,
        "template_components": template_components,
        "template": template,
        "tasks": [],
        "elements": [],
        "iters": [],
        **({"runs": []} if runs else {}),
        "num_added_tasks": 0,
        "loops": [],
    }
    if replaced_wk:
        metadata["replaced_workflow"] = replaced_wk
    return metadata


class JSONPersistentStore(
    PersistentStore[
        JsonStoreTask,
        JsonStoreElement,
        JsonStoreElementIter,
        JsonStoreEAR,
        StoreParameter,
    ]
):
    """A workflow store kept as three JSON documents in a folder.

    Parameters
    ----------
    app:
        The engine application object, or None.
    workflow:
        The engine workflow, or None.
    path:
        The store folder.
    fs:
        The file system holding the folder (local if None).
    """

    _name: ClassVar[str] = "json"
    _features: ClassVar[PersistentStoreFeatures] = PersistentStoreFeatures(
        create=True,
        edit=True,
        jobscript_parallelism=False,
        EAR_parallelism=False,
        schedulers=True,
        submission=True,
    )
    #: File name of each resource.
    _res_file_names: ClassVar[Mapping[str, str]] = {
        _META: "metadata.json",
        _SUBS: "submissions.json",
        _PARAMS: "parameters.json",
    }
    _commit_resources: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "tasks": (_META,),
        "loops": (_META,),
        "submissions": (_SUBS,),
        "submission_parts": (_SUBS,),
        "elem_IDs": (_META,),
        "elements": (_META,),
        "element_sets": (_META,),
        "elem_iter_IDs": (_META,),
        "elem_iters": (_META,),
        "elem_iter_EAR_IDs": (_META,),
        "EARs_initialised": (_META,),
        "EARs": (_META,),
        "EAR_submission_indices": (_META,),
        "EAR_skips": (_META,),
        "EAR_starts": (_META,),
        "EAR_ends": (_META,),
        "js_metadata": (_SUBS,),
        "parameters": (_PARAMS,),
        "template_components": (_META,),
        "param_sources": (_PARAMS,),
        "loop_indices": (_META,),
        "loop_num_iters": (_META,),
        "loop_parents": (_META,),
    }

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
        self._resources: dict[str, JSONFileStoreResource] = {  # type: ignore[assignment]
            name: self._make_resource(name, self.path, self.fs, self.logger, self.durability)
            for name in self._res_file_names
        }
        #: Whether a commit is being made (its writers mark what they change).
        self._committing = False

    @classmethod
    def _make_resource(
        cls,
        name: str,
        path: str,
        fs: AbstractFileSystem,
        logger: Any = None,
        durability: Durability | None = None,
    ) -> JSONFileStoreResource:
        return JSONFileStoreResource(
            name=name,
            path=path,
            filename=cls._res_file_names[name],
            fs=fs,
            logger=logger,
            itemised=_ITEMISED[name],
            durability=cls._resolve_durability(durability),
        )

    # --- resources ---------------------------------------------------------------------

    def _doc(self, label: str) -> Any:
        """The document `label` for reading: the cached one (checked against its file),
        or the one open for update. Not a copy: never change it, and copy what is
        handed out of the store."""
        return self._resources[label].current()

    @contextlib.contextmanager
    def _edit(self, label: str, *marks: tuple[Any, ...]) -> Iterator[Any]:
        """Use document `label` for update, marking each change: ``(key,)`` for the
        value of a top-level key, ``(key, item)`` for one item of it; no marks: any
        change."""
        with super().using_resource(label, "update") as doc:  # type: ignore[call-overload]
            res = self._resources[label]
            if not marks:
                res.mark()
            for mark in marks:
                res.mark(mark[0], mark[1] if len(mark) > 1 else WHOLE)
            yield doc

    def using_resource(self, res_label: str, action: str) -> AbstractContextManager[Any]:  # type: ignore[override]
        """As :meth:`PersistentStore.using_resource`; an ``"update"`` use outside the
        store's own commits may change anything, so it encodes the whole document."""
        if action == "update" and not self._committing:
            return self._edit(res_label)
        return super().using_resource(res_label, action)  # type: ignore[call-overload]

    @contextlib.contextmanager
    def _commit_transaction(self, kinds: Collection[str] = ()) -> Iterator[None]:
        """Queue the writes of the documents a commit changes, and write them together
        when the commit's steps all succeeded (none of them if one failed)."""
        if self._committing:  # within a commit: part of it
            yield
            return
        staged: list[Any] = []
        resources = list(self._resources.values())
        for res in resources:
            res.stage = staged
        self._committing = True
        try:
            yield
        except BaseException:
            for res, _, _ in staged:
                res.invalidate()
            raise
        finally:
            self._committing = False
            for res in resources:
                res.stage = None
        JSONFileStoreResource.write_staged(self.fs, staged)

    @classmethod
    def _store_task_cls(cls) -> type[JsonStoreTask]:
        return JsonStoreTask

    @classmethod
    def _store_elem_cls(cls) -> type[JsonStoreElement]:
        return JsonStoreElement

    @classmethod
    def _store_iter_cls(cls) -> type[JsonStoreElementIter]:
        return JsonStoreElementIter

    @classmethod
    def _store_EAR_cls(cls) -> type[JsonStoreEAR]:
        return JsonStoreEAR

    @classmethod
    def _store_param_cls(cls) -> type[StoreParameter]:
        return StoreParameter

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
        durability: Durability | None = None,
    ) -> None:
        """Write an empty JSON workflow store at `wk_path` (which must not exist), its
        files with the given durability (default: see :class:`PersistentStore`)."""
        durability = cls._resolve_durability(durability)
        fs, wk_path = resolve(fs, wk_path)
        fs.mkdir(wk_path)
        metadata = empty_metadata(
            name=name,
            ts_fmt=ts_fmt,
            ts_name_fmt=ts_name_fmt,
            creation_info=creation_info,
            template_components=template_components_js,
            template=template_js,
            replaced_wk=replaced_wk,
            runs=True,
        )
        for label, doc in ((_META, metadata), (_PARAMS, {"data": {}, "sources": {}}), (_SUBS, [])):
            cls._make_resource(label, wk_path, fs, durability=durability)._dump(doc)

    # --- simple getters ----------------------------------------------------------------

    @contextlib.contextmanager
    def cached_load(self) -> Iterator[None]:
        """Use the cached metadata without checking its file while the
        ``with``-wrapped code runs (as the engine keeps the metadata loaded)."""
        res = self._resources[_META]
        res.trusted += 1
        try:
            yield
        finally:
            res.trusted -= 1

    def _meta_value(self, key: str) -> Any:
        return self._doc(_META)[key]

    def get_name(self) -> str:
        """Get the workflow name."""
        return self._meta_value("name")

    def get_ts_fmt(self) -> str:
        """Get the timestamp format."""
        return self._meta_value("ts_fmt")

    def get_ts_name_fmt(self) -> str:
        """Get the timestamp format for names."""
        return self._meta_value("ts_name_fmt")

    def get_creation_info(self) -> StoreCreationInfo:
        """Get the workflow creation data."""
        return copy.deepcopy(self._meta_value("creation_info"))

    def _get_persistent_template_components(self) -> dict[str, Any]:
        return self._meta_value("template_components")  # the caller copies it

    def _get_persistent_template(self) -> dict[str, Any]:
        return _json_copy(self._meta_value("template"))

    # --- counts ------------------------------------------------------------------------

    def _meta_len(self, key: str) -> int:
        return len(self._doc(_META)[key])

    def _get_num_persistent_tasks(self) -> int:
        if self.use_cache and self.num_tasks_cache is not None:
            return self.num_tasks_cache
        num = self._meta_len("tasks")
        if self.use_cache:
            self.num_tasks_cache = num
        return num

    def _get_num_persistent_loops(self) -> int:
        return self._meta_len("loops")

    def _get_num_persistent_submissions(self) -> int:
        return len(self._doc(_SUBS))

    def _get_num_persistent_elements(self) -> int:
        return self._meta_len("elements")

    def _get_num_persistent_elem_iters(self) -> int:
        return self._meta_len("iters")

    def _get_num_persistent_EARs(self) -> int:
        if self.use_cache and self.num_EARs_cache is not None:
            return self.num_EARs_cache
        num = self._meta_len("runs")
        if self.use_cache:
            self.num_EARs_cache = num
        return num

    def _get_num_persistent_parameters(self) -> int:
        return len(self._doc(_PARAMS)["data"])

    def _get_num_persistent_added_tasks(self) -> int:
        return self._meta_value("num_added_tasks")

    # --- persistent getters ------------------------------------------------------------

    def _get_persistent_tasks(self, id_lst: Iterable[int]) -> dict[int, JsonStoreTask]:
        tasks, to_load = self._get_cached_persistent_tasks(id_lst)
        if to_load:
            wanted = set(to_load)
            new = {
                t["id_"]: JsonStoreTask.decode({**t, "index": idx})
                for idx, t in enumerate(self._doc(_META)["tasks"])
                if t["id_"] in wanted
            }
            missing = wanted.difference(new)
            if missing:
                raise MissingStoreTaskError(sorted(missing))
            self.task_cache.update(new)
            tasks.update(new)
        return tasks

    def _get_persistent_loops(
        self, id_lst: Iterable[int] | None = None
    ) -> dict[int, LoopDescriptor]:
        wanted = None if id_lst is None else set(id_lst)
        return {
            idx: _json_copy(loop)
            for idx, loop in enumerate(self._doc(_META)["loops"])
            if wanted is None or idx in wanted
        }

    def _get_persistent_submissions(
        self, id_lst: Iterable[int] | None = None
    ) -> dict[int, JSONDocument]:
        wanted = None if id_lst is None else set(id_lst)
        out = {
            idx: _json_copy(sub)
            for idx, sub in enumerate(self._doc(_SUBS))
            if wanted is None or idx in wanted
        }
        for sub in out.values():
            # JSON object keys are strings; jobscript `task_elements` keys are ints:
            for js in sub.get("jobscripts", []):
                te = js.get("task_elements")
                if isinstance(te, dict):
                    js["task_elements"] = {int(k): v for k, v in te.items()}
        return out

    def _rows(self, key: str, ids: list[int], error: type[Exception]) -> dict[int, Any]:
        rows = self._doc(_META).get(key, [])
        missing = [i for i in ids if not 0 <= i < len(rows)]
        if missing:
            raise error(missing)
        return {i: rows[i] for i in ids}

    def _get_persistent_elements(self, id_lst: Iterable[int]) -> dict[int, JsonStoreElement]:
        elems, to_load = self._get_cached_persistent_elements(id_lst)
        if to_load:
            rows = self._rows("elements", to_load, MissingStoreElementError)
            new = {i: JsonStoreElement.decode(r) for i, r in rows.items()}
            self.element_cache.update(new)
            elems.update(new)
        return elems

    def _get_persistent_element_iters(
        self, id_lst: Iterable[int]
    ) -> dict[int, JsonStoreElementIter]:
        iters, to_load = self._get_cached_persistent_element_iters(id_lst)
        if to_load:
            rows = self._rows("iters", to_load, MissingStoreElementIterationError)
            new = {i: JsonStoreElementIter.decode(r) for i, r in rows.items()}
            self.element_iter_cache.update(new)
            iters.update(new)
        return iters

    def _get_persistent_EARs(self, id_lst: Iterable[int]) -> dict[int, JsonStoreEAR]:
        runs, to_load = self._get_cached_persistent_EARs(id_lst)
        if to_load:
            ts_fmt = self.ts_fmt
            rows = self._rows("runs", to_load, MissingStoreEARError)
            # (decode deep-copies the row: _JSONRow makes that copy the fast JSON one)
            new = {i: JsonStoreEAR.decode(_JSONRow(r), ts_fmt) for i, r in rows.items()}
            self.EAR_cache.update(new)
            runs.update(new)
        return runs

    def _param_entries(self, part: str, ids: Iterable[int]) -> dict[int, Any]:
        table = self._doc(_PARAMS)[part]
        out = {}
        missing = []
        for i in ids:
            entry = table.get(str(i), _MISSING)
            if entry is _MISSING:
                missing.append(i)
            else:
                out[i] = entry
        if missing:
            raise MissingParameterData(missing)
        return out

    def _get_persistent_parameters(
        self, id_lst: Iterable[int], **kwargs: Any
    ) -> dict[int, StoreParameter]:
        params, to_load = self._get_cached_persistent_parameters(id_lst)
        if to_load:
            data = self._param_entries("data", to_load)
            sources = self._param_entries("sources", to_load)
            new = {i: self._decode_parameter(i, data[i], sources[i], kwargs) for i in to_load}
            self.parameter_cache.update(new)
            params.update(new)
        return params

    @staticmethod
    def _decode_parameter(
        id_: int, data: Any, source: ParamSource, kwargs: Mapping[str, Any]
    ) -> StoreParameter:
        """The parameter stored as `data` with `source` (both as cached: copied here)."""
        if not kwargs and isinstance(data, dict) and "file" not in data:
            lookup = data.get("type_lookup") or {}
            if not any(lookup.values()):
                # a plain JSON value (no tuples or sets to restore): a copy is the value
                return StoreParameter(
                    id_=id_,
                    is_pending=False,
                    is_set=True,
                    data=_json_copy(data["data"]),
                    file=None,
                    source=_json_copy(source),
                )
        # (a file's description is handed out as stored: copy it)
        return StoreParameter.decode(
            id_=id_,
            data=_json_copy(data) if _is_file(data) else data,
            source=_json_copy(source),
            **kwargs,
        )

    def _get_persistent_param_sources(self, id_lst: Iterable[int]) -> dict[int, ParamSource]:
        sources, to_load = self._get_cached_persistent_param_sources(id_lst)
        if to_load:
            new = _json_copy(self._param_entries("sources", to_load))
            self.param_sources_cache.update(new)
            sources.update(new)
        return sources

    def _get_persistent_parameter_set_status(self, id_lst: Iterable[int]) -> dict[int, bool]:
        data = self._param_entries("data", id_lst)
        # As the engine (hpcflow 0.2.0a190) answers: a stored parameter counts as set
        # unless its data is None, so an unset one (stored as 0) counts as set too.
        # Engine code relies on this answer; `get_parameters(...)[i].is_set` is exact.
        return {i: d is not None for i, d in data.items()}

    def _get_persistent_parameter_IDs(self) -> list[int]:
        return [int(i) for i in self._doc(_PARAMS)["data"]]

    # --- writers -----------------------------------------------------------------------

    def _append_tasks(self, tasks: Iterable[JsonStoreTask]) -> None:
        with self._edit(_META, ("tasks",), ("template",), ("num_added_tasks",)) as md:
            for task in tasks:
                idx, meta, template = task.encode()
                md["tasks"].insert(idx, meta)
                md["template"]["tasks"].insert(idx, template)
                md["num_added_tasks"] += 1

    def _append_loops(self, loops: dict[int, LoopDescriptor]) -> None:
        with self._edit(_META, ("loops",), ("template",)) as md:
            for loop in loops.values():
                md["loops"].append(
                    {
                        "num_added_iterations": loop["num_added_iterations"],
                        "iterable_parameters": loop["iterable_parameters"],
                        "parents": loop["parents"],
                    }
                )
                md["template"]["loops"].append(loop["loop_template"])

    def _append_submissions(self, subs: dict[int, JSONDocument]) -> None:
        with self._edit(_SUBS) as subs_res:
            for idx, sub in sorted(subs.items()):
                if idx != len(subs_res):
                    raise ValueError(
                        f"Submission index {idx} is not the next index ({len(subs_res)})."
                    )
                subs_res.append(_json_keys(sub))

    def _append_submission_parts(self, sub_parts: dict[int, dict[str, list[int]]]) -> None:
        with self._edit(_SUBS) as subs_res:
            for sub_idx, parts in sub_parts.items():
                subs_res[sub_idx].setdefault("submission_parts", {}).update(parts)

    def _append_task_element_IDs(self, task_ID: int, elem_IDs: list[int]) -> None:
        tasks = self._doc(_META)["tasks"]
        for idx, task in enumerate(tasks):
            if task["id_"] == task_ID:
                with self._edit(_META, ("tasks", idx)) as md:
                    md["tasks"][idx]["element_IDs"].extend(elem_IDs)
                return
        raise MissingStoreTaskError([task_ID])

    def _append_elements(self, elems: Sequence[JsonStoreElement]) -> None:
        with self._edit(_META, ("elements", -1)) as md:  # appended items are found
            md["elements"].extend(e.encode() for e in elems)

    def _append_element_sets(self, task_id: int, es_js: Sequence[Mapping]) -> None:
        task_idx = self._get_task_id_to_idx_map()[task_id]
        with self._edit(_META, ("template",)) as md:
            md["template"]["tasks"][task_idx]["element_sets"].extend(es_js)

    def _append_elem_iter_IDs(self, elem_ID: int, iter_IDs: Iterable[int]) -> None:
        with self._edit(_META, ("elements", elem_ID)) as md:
            md["elements"][elem_ID]["iteration_IDs"].extend(iter_IDs)

    def _append_elem_iters(self, iters: Sequence[JsonStoreElementIter]) -> None:
        with self._edit(_META, ("iters", -1)) as md:
            md["iters"].extend(i.encode() for i in iters)

    def _append_elem_iter_EAR_IDs(self, iter_ID: int, act_idx: int, EAR_IDs: Sequence[int]) -> None:
        with self._edit(_META, ("iters", iter_ID)) as md:
            it = md["iters"][iter_ID]
            if it.get("EAR_IDs") is None:
                it["EAR_IDs"] = {}
            it["EAR_IDs"].setdefault(str(act_idx), []).extend(EAR_IDs)

    def _update_elem_iter_EARs_initialised(self, iter_ID: int) -> None:
        with self._edit(_META, ("iters", iter_ID)) as md:
            md["iters"][iter_ID]["EARs_initialised"] = True

    def _append_EARs(self, EARs: Sequence[JsonStoreEAR]) -> None:
        ts_fmt = self.ts_fmt
        with self._edit(_META, ("runs", -1)) as md:
            md["runs"].extend(r.encode(ts_fmt) for r in EARs)

    def _update_EAR_submission_indices(self, sub_indices: Mapping[int, int]) -> None:
        with self._edit(_META, *(("runs", i) for i in sub_indices)) as md:
            for run_ID, sub_idx in sub_indices.items():
                md["runs"][run_ID]["submission_idx"] = sub_idx

    def _update_EAR_start(
        self, EAR_id: int, s_time: datetime, s_snap: dict[str, Any] | None, s_hn: str
    ) -> None:
        ts_fmt = self.ts_fmt
        with self._edit(_META, ("runs", EAR_id)) as md:
            run = md["runs"][EAR_id]
            run["start_time"] = encode_timestamp(s_time, ts_fmt)
            run["snapshot_start"] = s_snap
            run["run_hostname"] = s_hn

    def _update_EAR_end(
        self,
        EAR_id: int,
        e_time: datetime,
        e_snap: dict[str, Any] | None,
        ext_code: int,
        success: bool,
    ) -> None:
        ts_fmt = self.ts_fmt
        with self._edit(_META, ("runs", EAR_id)) as md:
            run = md["runs"][EAR_id]
            run["end_time"] = encode_timestamp(e_time, ts_fmt)
            run["snapshot_end"] = e_snap
            run["exit_code"] = ext_code
            run["success"] = success

    def _update_EAR_skip(self, EAR_id: int) -> None:
        with self._edit(_META, ("runs", EAR_id)) as md:
            md["runs"][EAR_id]["skip"] = True

    def _update_js_metadata(self, js_meta: dict[int, dict[int, dict[str, Any]]]) -> None:
        with self._edit(_SUBS) as subs:
            for sub_idx, per_js in js_meta.items():
                for js_idx, meta in per_js.items():
                    subs[sub_idx]["jobscripts"][js_idx].update(_json_keys(meta))

    def _append_parameters(self, params: Sequence[StoreParameter]) -> None:
        keys = [str(p.id_) for p in params]
        marks = [*(("data", k) for k in keys), *(("sources", k) for k in keys)]
        with self._edit(_PARAMS, *marks) as store:
            for key, p in zip(keys, params):
                store["data"][key] = p.encode()
                store["sources"][key] = dict(p.source)

    def _set_parameter_values(self, set_parameters: dict[int, tuple[Any, bool]]) -> None:
        current = self._get_persistent_parameters(list(set_parameters))
        with self._edit(_PARAMS, *(("data", str(i)) for i in set_parameters)) as store:
            for p_id, (value, is_file) in set_parameters.items():
                param = current[p_id]
                param = param.set_file(value) if is_file else param.set_data(value)
                store["data"][str(p_id)] = param.encode()

    def _update_parameter_sources(self, sources: Mapping[int, ParamSource]) -> None:
        current = self._param_entries("sources", sources)
        with self._edit(_PARAMS, *(("sources", str(i)) for i in sources)) as store:
            for p_id, src in sources.items():
                store["sources"][str(p_id)] = merge_param_source(current[p_id], src)

    def _update_template_components(self, tc: dict[str, Any]) -> None:
        with self._edit(_META, ("template_components",)) as md:
            md["template_components"] = tc

    def _update_loop_index(self, iter_ID: int, loop_idx: Mapping[str, int]) -> None:
        with self._edit(_META, ("iters", iter_ID)) as md:
            md["iters"][iter_ID].setdefault("loop_idx", {}).update(loop_idx)

    def _update_loop_num_iters(self, index: int, num_iters: list[Any]) -> None:
        with self._edit(_META, ("loops",)) as md:
            md["loops"][index]["num_added_iterations"] = num_iters

    def _update_loop_parents(self, index: int, parents: list[str]) -> None:
        with self._edit(_META, ("loops",)) as md:
            md["loops"][index]["parents"] = parents

    # --- replaced workflows ------------------------------------------------------------

    def remove_replaced_dir(self) -> None:
        """Delete the pre-existing workflow that this one replaced (if any)."""
        with self._edit(_META, ("replaced_workflow",)) as md:
            if "replaced_workflow" in md:
                self.logger.debug("removing temporarily renamed pre-existing workflow.")
                self.remove_path(md["replaced_workflow"])
                del md["replaced_workflow"]

    def reinstate_replaced_dir(self) -> None:
        """Move the replaced pre-existing workflow (if any) back to this path."""
        replaced = self._doc(_META).get("replaced_workflow")
        if replaced:
            self.logger.debug("reinstating temporarily renamed pre-existing workflow.")
            self.rename_path(replaced, self.path)

    # --- unsupported ---------------------------------------------------------------------

    def zip(
        self,
        path: str = ".",
        log: str | None = None,
        overwrite: bool = False,
        include_execute: bool = False,
        include_rechunk_backups: bool = False,
    ) -> str:
        """Not supported by JSON stores."""
        raise UnsupportedStoreOperationError("unsupported operation: zipping-json")

    def unzip(self, path: str = ".", log: str | None = None) -> str:
        """Not supported by JSON stores."""
        raise UnsupportedStoreOperationError("unsupported operation: unzipping-json")

    def rechunk_parameter_base(
        self, chunk_size: int | None = None, backup: bool = True, status: bool = True
    ) -> Any:
        """Not supported by JSON stores."""
        raise UnsupportedStoreOperationError("unsupported operation: rechunk-json")

    def rechunk_runs(
        self, chunk_size: int | None = None, backup: bool = True, status: bool = True
    ) -> Any:
        """Not supported by JSON stores."""
        raise UnsupportedStoreOperationError("unsupported operation: rechunk-json")


def _json_keys(obj: Any) -> Any:
    """A copy of `obj` with dict keys turned into strings (as JSON will store them),
    so that in-memory resource data matches what is read back."""
    if isinstance(obj, dict):
        return {str(k): _json_keys(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_keys(v) for v in obj]
    return obj


_MISSING: Any = object()


def _is_file(data: Any) -> bool:
    """Whether stored parameter `data` describes a file."""
    return isinstance(data, dict) and "file" in data


def _json_copy(obj: Any) -> Any:
    """A copy of JSON data (dicts, lists and immutable scalars), faster than
    :func:`copy.deepcopy` for it; other objects are deep-copied."""
    kind = type(obj)
    if kind is dict:
        return {k: v if type(v) in _SCALARS else _json_copy(v) for k, v in obj.items()}
    if kind is list:
        return [v if type(v) in _SCALARS else _json_copy(v) for v in obj]
    if kind in _SCALARS:
        return obj
    return copy.deepcopy(obj)


_SCALARS = frozenset({str, int, float, bool, type(None)})


class _JSONRow(dict):
    """A cached JSON object handed to an item's ``decode``, which deep-copies what it
    is given: the copy is made by :func:`_json_copy` (a plain dict)."""

    def __deepcopy__(self, memo: Any) -> dict[str, Any]:
        return {k: v if type(v) in _SCALARS else _json_copy(v) for k, v in self.items()}
