"""Reading a whole hpcflow-new2 0.2.0a190 workflow for migration: every store item
through wfstore's a190 store classes (Zarr folder, JSON store or zip archive; opened
read-only, never written), and the workflow folder's other files (artifacts)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from fsspec.implementations.local import LocalFileSystem

from wfstore.common.errors import MigrationError
from wfstore.persistence import PersistentStore
from wfstore.storage.fsspec import core_zip_store
from wfstore.tools.stores import A190_GENERATION, detect_generation, detect_kind, store_cls_from_str

#: Entries of a workflow folder that hold store data, by store kind (everything else,
#: such as ``artifacts/``, is a file of the workflow the migration carries over).
STORE_ENTRIES: dict[str, frozenset[str]] = {
    "zarr": frozenset({".zgroup", ".zattrs", "metadata", "parameters"}),
    "zip": frozenset({".zgroup", ".zattrs", "metadata", "parameters"}),
    "json": frozenset({"metadata.json", "parameters.json", "submissions.json"}),
}


@dataclasses.dataclass
class A190Workflow:
    """Everything an a190 store holds, as its store API returns it."""

    path: str
    kind: str
    name: str
    ts_fmt: str
    ts_name_fmt: str
    creation_info: dict[str, Any]
    template: dict[str, Any]
    template_components: dict[str, Any]
    tasks: list[Any]
    elements: list[Any]
    iters: list[Any]
    runs: list[Any]
    params: list[Any]
    loops: dict[int, dict[str, Any]]
    submissions: dict[int, dict[str, Any]]
    #: the workflow's other files: relative ``/``-separated path -> reader of its bytes
    files: dict[str, Any]

    def task_of_iter(self) -> dict[int, int]:
        """Iteration ID -> the task (insert) ID of its element."""
        elem_task = {e.id_: e.task_ID for e in self.elements}
        return {it.id_: elem_task[it.element_ID] for it in self.iters}


def _open_a190(path: str) -> tuple[PersistentStore, str]:
    fs = LocalFileSystem()
    kind = detect_kind(path, fs)
    generation = detect_generation(path, fs, kind)
    if generation != A190_GENERATION:
        raise MigrationError(
            f"{path!r} is a store of hpcflow {generation}, not of hpcflow-new2 "
            f"{A190_GENERATION}: there is nothing to migrate to hpcflow 0.3."
        )
    cls = store_cls_from_str(kind, A190_GENERATION)
    return cls(None, None, path, fs), kind


def _folder_files(root: str, skip: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in sorted(os.listdir(root)):
        if entry in skip or entry.startswith(".wfstore"):
            continue
        full = os.path.join(root, entry)
        if os.path.isdir(full):
            for dirpath, _dirs, names in os.walk(full):
                for name in names:
                    p = os.path.join(dirpath, name)
                    rel = os.path.relpath(p, root).replace(os.sep, "/")
                    out[rel] = p
        else:
            out[entry] = full
    return dict(sorted(out.items()))


def _zip_files(path: str) -> dict[str, Any]:
    store = core_zip_store(LocalFileSystem(), path)
    out: dict[str, Any] = {}

    def walk(prefix: str) -> None:
        for name in store.list_dir(prefix):
            key = f"{prefix}/{name}" if prefix else name
            if not prefix and (name in STORE_ENTRIES["zip"] or name.startswith(".wfstore")):
                continue
            if store.get(key) is not None:
                out[key] = (store, key)
            else:
                walk(key)

    walk("")
    return dict(sorted(out.items()))


def read_file(ref: Any) -> bytes:
    """The bytes of a file listed in :attr:`A190Workflow.files`."""
    if isinstance(ref, tuple):
        store, key = ref
        raw = store.get(key)
        if raw is None:  # pragma: no cover - listed a moment ago, archives do not change
            raise MigrationError(f"archive entry {key!r} disappeared")
        return bytes(raw)
    with open(ref, "rb") as fh:
        return fh.read()


def read_a190(path: str | os.PathLike[str]) -> A190Workflow:
    """Read the a190 workflow at `path` (a Zarr folder, JSON store or zip archive).

    Raises :class:`~wfstore.common.errors.StoreNotFoundError` when there is no store,
    :class:`~wfstore.common.errors.MigrationError` for a store of another generation.
    """
    p = os.path.abspath(os.fspath(path))
    store, kind = _open_a190(p)
    with store.cached_load():
        n_elems = store._get_num_total_elements()
        n_iters = store._get_num_total_elem_iters()
        n_runs = store._get_num_total_EARs()
        n_params = store._get_num_total_parameters()
    files = _zip_files(p) if kind == "zip" else _folder_files(p, STORE_ENTRIES[kind])
    with store.cached_load():  # the root attributes read once, not once per getter
        return A190Workflow(
            path=p,
            kind=kind,
            name=store.get_name(),
            ts_fmt=store.get_ts_fmt(),
            ts_name_fmt=store.get_ts_name_fmt(),
            creation_info=store.get_creation_info(),
            template=store.get_template(),
            template_components=store.get_template_components(),
            tasks=list(store.get_tasks()),
            elements=list(store.get_elements(range(n_elems))) if n_elems else [],
            iters=list(store.get_element_iterations(range(n_iters))) if n_iters else [],
            runs=list(store.get_EARs(range(n_runs))) if n_runs else [],
            params=list(store.get_parameters(range(n_params))) if n_params else [],
            loops=dict(store.get_loops()),
            submissions=dict(store.get_submissions()),
            files=files,
        )
