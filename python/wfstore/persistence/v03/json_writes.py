"""Creating and building hpcflow 0.3's JSON store: ``write_empty_workflow`` and the
commit hooks the shared pending changes and :mod:`.building` call, changing 0.3.0's
four documents (``metadata.json``, ``runs.json``, ``parameters.json``,
``submissions.json``; docs/hpcflow-0.3-format.md §2) as 0.3.0's JSON store changes
them.

A commit edits copies of the documents it touches (each read once) and writes the
changed ones when all its steps succeeded: on a local folder in one transaction of the
Rust core's store (all or nothing, through a journal), under the store lock; nothing is
written if a step fails. Documents are written as 0.3.0 writes them (``json.dump``,
indent 2).
"""

from __future__ import annotations

import contextlib
import copy
import json
import posixpath
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from fsspec import AbstractFileSystem

from wfstore import _core
from wfstore.common.durability import Durability
from wfstore.common.errors import MissingStoreTaskError, StorePathError
from wfstore.persistence.json_store import empty_metadata
from wfstore.persistence.resources import is_local_fs
from wfstore.persistence.v03 import layout
from wfstore.storage.fsspec import resolve
from wfstore.storage.lock import StoreLock

_MD, _RUNS, _PARAMS, _SUBS = (
    layout.JSON_METADATA,
    layout.JSON_RUNS,
    layout.JSON_PARAMETERS,
    layout.JSON_SUBMISSIONS,
)


def _dump(doc: Any) -> bytes:
    return json.dumps(doc, indent=2).encode()


class V03JSONWrites:
    """The building side of :class:`~wfstore.persistence.v03.json_store.
    V03JSONPersistentStore` (a part of it)."""

    # (provided by the store class)
    fs: AbstractFileSystem
    path: str
    durability: Durability
    _files: Any

    _edits: dict[str, Any] | None = None

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
        creation_info: dict[str, Any],
        ts_fmt: str,
        ts_name_fmt: str,
        durability: Durability | None = None,
        **_ignored: Any,
    ) -> None:
        """Write an empty hpcflow 0.3 JSON workflow store (its four documents) in the
        new folder `wk_path`."""
        durability = cls._resolve_durability(durability)  # type: ignore[attr-defined]
        fs, wk_path = resolve(fs, wk_path)
        if fs.exists(posixpath.join(wk_path, _MD)):
            raise StorePathError(f"A JSON workflow store already exists at {wk_path!r}.")
        fs.makedirs(wk_path, exist_ok=True)
        metadata = empty_metadata(
            name=name,
            ts_fmt=ts_fmt,
            ts_name_fmt=ts_name_fmt,
            creation_info=creation_info,
            template_components=template_components_js,
            template=template_js,
            replaced_wk=replaced_wk,
            runs=False,
        )
        docs = {
            _PARAMS: {"data": {}, "sources": {}},
            _SUBS: [],
            _RUNS: {"runs": [], "run_dirs": []},
            _MD: metadata,  # last: a folder without it is not a workflow store yet
        }
        for doc_name, doc in docs.items():
            p = posixpath.join(wk_path, doc_name)
            if is_local_fs(fs):
                _core.write_atomic(p, _dump(doc), durability=durability)
            else:
                fs.pipe_file(p, _dump(doc))

    # --- editing documents in a commit ---------------------------------------------------

    def _doc(self, name: str) -> Any:
        edits = self._edits
        if edits is not None and name in edits:
            return edits[name]
        return self._file_doc(name)  # type: ignore[attr-defined]

    def _ed(self, name: str) -> Any:
        """Document `name` for change in the current commit (a copy, read once)."""
        if self._edits is None:
            raise RuntimeError("documents are changed within a commit only")
        if name not in self._edits:
            self._edits[name] = copy.deepcopy(self._file_doc(name))  # type: ignore[attr-defined]
        return self._edits[name]

    def _write_doc(self, name: str, doc: Any) -> None:
        if self._edits is not None:
            self._edits[name] = doc
            return
        self._write_file_doc(name, doc)  # type: ignore[attr-defined]

    @contextlib.contextmanager
    def _commit_transaction(self, kinds: Collection[str] = ()) -> Iterator[None]:
        """One commit: its steps change document copies; the changed documents are
        written together when all succeeded (none if one failed)."""
        if self._edits is not None:
            yield
            return
        self._edits = {}
        try:
            yield
            edits = self._edits
        finally:
            self._edits = None
        if edits:
            self._write_docs(edits)

    def _write_docs(self, docs: Mapping[str, Any]) -> None:
        if not is_local_fs(self.fs):
            for name, doc in docs.items():
                self.fs.pipe_file(posixpath.join(str(self.path), name), _dump(doc))
            return
        store = _core.Store.local(str(self.path), durability=self.durability)
        with StoreLock(str(self.path))():
            store.begin()
            try:
                for name, doc in docs.items():
                    store.set(name, _dump(doc))
            except BaseException:
                store.rollback()
                raise
            store.commit(journal=len(docs) > 1)

    # --- hooks --------------------------------------------------------------------------

    def _append_tasks(self, tasks: Iterable[Any]) -> None:
        md = self._ed(_MD)
        for task in tasks:
            idx, meta, template = task.encode()
            md["tasks"].insert(idx, {**meta, "index": idx})
            md["template"]["tasks"].insert(idx, template)
            md["num_added_tasks"] += 1

    def _append_loops(self, loops: dict[int, Any]) -> None:
        md = self._ed(_MD)
        for loop in loops.values():
            md["loops"].append(
                {
                    "num_added_iterations": loop["num_added_iterations"],
                    "iterable_parameters": loop["iterable_parameters"],
                    "output_parameters": loop.get("output_parameters", {}),
                    "parents": loop["parents"],
                }
            )
            md["template"]["loops"].append(loop["loop_template"])

    def _append_submissions(self, subs: dict[int, Any]) -> None:
        docs = self._ed(_SUBS)
        for idx, sub in sorted(subs.items()):
            if idx != len(docs):
                raise StorePathError(f"Submission index {idx} is not the next ({len(docs)}).")
            docs.append(json.loads(json.dumps(sub, default=_json_default)))

    def _update_at_submit_metadata(self, at_submit: dict[int, dict[str, Any]]) -> None:
        subs = self._ed(_SUBS)
        for sub_idx, parts in at_submit.items():
            md = subs[sub_idx].setdefault("at_submit_metadata", {})
            md.setdefault("submission_parts", {}).update(parts)

    def _append_task_element_IDs(self, task_ID: int, elem_IDs: list[int]) -> None:
        for task in self._ed(_MD)["tasks"]:
            if task["id_"] == task_ID:
                task["element_IDs"].extend(elem_IDs)
                return
        raise MissingStoreTaskError([task_ID])

    def _append_elements(self, elems: Sequence[Any]) -> None:
        self._ed(_MD)["elements"].extend(e.encode() for e in elems)

    def _append_element_sets(self, task_id: int, es_js: Sequence[Mapping]) -> None:
        task_idx = self._get_task_id_to_idx_map()[task_id]  # type: ignore[attr-defined]
        self._ed(_MD)["template"]["tasks"][task_idx]["element_sets"].extend(es_js)

    def _append_elem_iter_IDs(self, elem_ID: int, iter_IDs: Iterable[int]) -> None:
        self._ed(_MD)["elements"][elem_ID]["iteration_IDs"].extend(iter_IDs)

    def _append_elem_iters(self, iters: Sequence[Any]) -> None:
        self._ed(_MD)["iters"].extend(
            {**it.encode(), "task_ID": it.task_ID, "index": it.index} for it in iters
        )

    def _append_elem_iter_EAR_IDs(self, iter_ID: int, act_idx: int, EAR_IDs: Sequence[int]) -> None:
        it = self._ed(_MD)["iters"][iter_ID]
        if it.get("EAR_IDs") is None:
            it["EAR_IDs"] = {}
        it["EAR_IDs"].setdefault(str(act_idx), []).extend(EAR_IDs)

    def _update_elem_iter_EARs_initialised(self, iter_ID: int) -> None:
        self._ed(_MD)["iters"][iter_ID]["EARs_initialised"] = True

    def _update_loop_index(self, iter_ID: int, loop_idx: Mapping[str, int]) -> None:
        self._ed(_MD)["iters"][iter_ID].setdefault("loop_idx", {}).update(loop_idx)

    def _update_loop_num_iters(self, index: int, num_iters: list[Any]) -> None:
        self._ed(_MD)["loops"][index]["num_added_iterations"] = num_iters

    def _update_loop_parents(self, index: int, parents: list[str]) -> None:
        self._ed(_MD)["loops"][index]["parents"] = list(parents)

    def _update_iter_data_indices(self, data: dict[int, dict[str, Any]]) -> None:
        iters = self._ed(_MD)["iters"]
        for iter_ID, idx in data.items():
            iters[iter_ID]["data_idx"].update(idx)

    def _update_run_data_indices(self, data: dict[int, dict[str, Any]]) -> None:
        runs = self._ed(_RUNS)["runs"]
        for run_ID, idx in data.items():
            runs[run_ID]["data_idx"].update(idx)

    def _update_template_components(self, tc: dict[str, Any]) -> None:
        self._ed(_MD)["template_components"] = tc

    def _append_EARs(self, EARs: Sequence[Any]) -> None:
        doc = self._ed(_RUNS)
        ts_fmt = self.ts_fmt  # type: ignore[attr-defined]
        for run in EARs:
            doc["runs"].append(run.to_json(ts_fmt))
        doc["run_dirs"].extend([None] * len(EARs))

    def _set_run_dirs(self, run_dir_arr: np.ndarray, run_idx: np.ndarray) -> None:
        dirs = self._ed(_RUNS)["run_dirs"]
        rows = np.asarray(run_dir_arr)
        for k, r in enumerate(np.asarray(run_idx).ravel()):
            dirs[int(r)] = [int(x) for x in rows[k].tolist()]

    def _update_EAR_submission_data(
        self, sub_data: Mapping[int, tuple[int, int | None, int, int]]
    ) -> None:
        runs = self._ed(_RUNS)["runs"]
        for run_ID, (sub_idx, cmd, file_id, file_idx) in sub_data.items():
            run = runs[run_ID]
            run["submission_idx"] = sub_idx
            run["commands_file_ID"] = cmd
            run["run_file_ID"] = file_id
            run["run_file_idx"] = file_idx

    def _update_js_metadata(self, js_meta: dict[int, dict[int, dict[str, Any]]]) -> None:
        subs = self._ed(_SUBS)
        for sub_idx, per_js in js_meta.items():
            for js_idx, meta in per_js.items():
                js = subs[sub_idx]["jobscripts"][js_idx]
                meta = dict(meta)
                at = {k: meta.pop(k) for k in layout.JOBSCRIPT_AT_SUBMIT_KEYS if k in meta}
                js.update(json.loads(json.dumps(meta, default=_json_default)))
                js.setdefault("at_submit_metadata", {}).update(at)

    def _append_parameters(self, params: Sequence[Any]) -> None:
        doc = self._ed(_PARAMS)
        for p in params:
            doc["data"][str(p.id_)] = p.encode()
            doc["sources"][str(p.id_)] = dict(p.source)

    def _set_parameter_values(self, set_parameters: dict[int, tuple[Any, bool]]) -> None:
        ids = list(set_parameters)
        current = dict(zip(ids, self.get_parameters(ids)))  # type: ignore[attr-defined]
        doc = self._ed(_PARAMS)
        for pid, (value, is_file) in set_parameters.items():
            p = current[pid]
            p = p.set_file(value) if is_file else p.set_data(value)
            doc["data"][str(pid)] = p.encode()

    def _update_parameter_sources(self, sources: Mapping[int, Any]) -> None:
        doc = self._ed(_PARAMS)["sources"]
        for pid, src in sources.items():
            doc[str(pid)] = dict(sorted({**doc[str(pid)], **src}.items()))

    # --- replaced workflows -------------------------------------------------------------

    def remove_replaced_dir(self) -> None:
        """Delete the workflow this one replaced (if any)."""
        md = copy.deepcopy(self._doc(_MD))
        if "replaced_workflow" in md:
            self.remove_path(md.pop("replaced_workflow"))  # type: ignore[attr-defined]
            self._write_doc(_MD, md)

    def reinstate_replaced_dir(self) -> None:
        """Move the replaced workflow (if any) back to this path."""
        try:
            replaced = self._doc(_MD).get("replaced_workflow")
        except Exception:  # the store was deleted: as it was when opened
            replaced = getattr(self, "_replaced_at_open", None)
        if replaced:
            self.rename_path(replaced, self.path)  # type: ignore[attr-defined]


def _json_default(obj: Any) -> Any:
    """numpy values in submission documents, as JSON (0.3.0's documents are
    ``json.dump`` ed after the engine converts them)."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
