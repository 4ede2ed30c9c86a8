"""``wfstore.convert``: copy a store into a new store of another kind, through the
store API."""

from __future__ import annotations

import os
from typing import Any

from fsspec.implementations.local import LocalFileSystem

from wfstore.common.errors import (
    StoreExistsError,
    UnknownStoreKindError,
)
from wfstore.persistence import (
    PersistentStore,
)
from wfstore.tools.stores import (
    JSON_STORE_FILES,
    Progress,
    _norm,
    create,
    is_v03_store,
    open,
)

#: Top-level entries that make up the store data of each kind (everything else in a
#: workflow folder, such as ``artifacts`` or ``execute``, is copied as it is).
_STORE_ENTRIES = {
    "json": set(JSON_STORE_FILES),
    "zarr": {".zgroup", ".zattrs", "metadata", "parameters"},
}


def _copy_item(item: Any, cls: type) -> Any:
    import dataclasses

    values = {f.name: getattr(item, f.name) for f in dataclasses.fields(item) if f.init}
    values["is_pending"] = True
    return cls(**values)


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    to: str,
    progress: Progress | None = None,
    **store_kwargs: Any,
) -> PersistentStore:
    """Write a copy of the store at `src` as a new store of kind `to` (``"json"`` or
    ``"zarr"``; for an hpcflow 0.3 store also ``"zip"``) at `dst`, of the same engine
    generation, through the store API, and return it opened.

    Everything the API returns is the same in the copy (template, template components,
    tasks, loops, submissions, elements, iterations, runs with their times, parameters
    and their sources); other entries of the workflow folder (``artifacts``, ...) are
    copied as files. A zip store is read in place. `dst` must not exist (or be an
    empty folder); on failure it is removed again. Local file system only.
    """
    import shutil

    source = open(src)
    if is_v03_store(source):
        return _convert_v03(source, dst, to, progress, **store_kwargs)
    if to not in _STORE_ENTRIES:
        raise UnknownStoreKindError(
            f"Cannot convert to {to!r}; the kinds a store can be converted to are "
            "'json' and 'zarr' (zip a Zarr store to get a zip store)."
        )
    dst_path = _norm(dst, LocalFileSystem())
    if os.path.abspath(source.path) == dst_path:
        raise StoreExistsError(f"Cannot convert {dst_path!r} onto itself.")
    template = source.get_template()
    target = _create_like(source, dst_path, to, **store_kwargs)
    try:
        _convert_into(source, target, template, progress)
        _copy_other_entries(source, dst_path, _STORE_ENTRIES)
    except BaseException:
        shutil.rmtree(dst_path, ignore_errors=True)
        raise
    return open(dst_path)


def _create_like(source: PersistentStore, dst_path: str, to: str, **kwargs: Any) -> Any:
    """A new, empty store of kind `to` at `dst_path` with `source`'s name, template
    (without tasks and loops: the conversion adds them), template components, creation
    information and time formats (`kwargs`: the store options, e.g. the generation)."""
    template = source.get_template()
    return create(
        dst_path,
        kind=to,
        name=source.get_name(),
        template_js={**template, "tasks": [], "loops": []},
        template_components_js=source.get_template_components(),
        creation_info=source.get_creation_info(),
        ts_fmt=source.get_ts_fmt(),
        ts_name_fmt=source.get_ts_name_fmt(),
        **kwargs,
    )


def _copy_other_entries(
    source: PersistentStore, dst_path: str, store_entries: dict[str, set[str]]
) -> None:
    """Copy the entries of `source`'s workflow folder that are not store data
    (`store_entries` by source kind; wfstore's own ``.wfstore*`` files neither) into
    `dst_path` as files (``artifacts``, ``execute``, ...). A zip store has none."""
    import shutil

    if source._name == "zip":
        return
    for entry in sorted(os.listdir(source.path)):
        if entry in store_entries[source._name] or entry.startswith(".wfstore"):
            continue
        s, d = os.path.join(source.path, entry), os.path.join(dst_path, entry)
        if os.path.isdir(s):
            shutil.copytree(s, d, symlinks=True)
        else:
            shutil.copy2(s, d)


def _convert_into(
    source: PersistentStore,
    target: PersistentStore,
    template: dict[str, Any],
    progress: Progress | None,
) -> None:
    pend = target._pending
    steps = 6
    # tasks one commit each, in index order, so each lands at its index
    for task in source.get_tasks():
        new = _copy_item(task, target._store_task_cls())
        new.task_template = template["tasks"][task.index]
        pend.add_tasks[task.id_] = new
        target.save()
    if progress:
        progress(1, steps)
    for idx, loop in source.get_loops().items():
        pend.add_loops[idx] = {
            "loop_template": template["loops"][idx],
            "iterable_parameters": loop["iterable_parameters"],
            "parents": list(loop["parents"]),
            "num_added_iterations": loop["num_added_iterations"],
        }
    for idx, sub in source.get_submissions().items():
        pend.add_submissions[idx] = sub
    target.save()
    if progress:
        progress(2, steps)
    # items of each kind: (count, getter, pending additions, target item class)
    kinds = (
        (source._get_num_total_elements, source.get_elements, pend.add_elements,
         target._store_elem_cls()),
        (source._get_num_total_elem_iters, source.get_element_iterations,
         pend.add_elem_iters, target._store_iter_cls()),
        (source._get_num_total_EARs, source.get_EARs, pend.add_EARs, target._store_EAR_cls()),
        (source._get_num_total_parameters, source.get_parameters, pend.add_parameters,
         target._store_param_cls()),
    )
    for step, (count, get, added, cls) in enumerate(kinds, start=2):
        if step > 2 and progress:
            progress(step, steps)
        for item in get(range(count())):
            added[item.id_] = _copy_item(item, cls)
    target.save()
    # The task templates exactly as the source has them: stores add each task's `id_`
    # to its template when the task is committed, which engine-written JSON stores lack.
    label = "metadata" if target._name == "json" else "attrs"
    with target.using_resource(label, "update") as doc:
        doc["template"]["tasks"] = template["tasks"]
    if progress:
        progress(6, steps)


#: Top-level entries of the store data of hpcflow 0.3 stores, by kind.
_V03_ENTRIES = {
    "json": {"metadata.json", "runs.json", "parameters.json", "submissions.json"},
    "zarr": {".zgroup", ".zattrs", "metadata", "parameters"},
}


def _convert_v03(
    source: PersistentStore,
    dst: str | os.PathLike[str],
    to: str,
    progress: Progress | None,
    **store_kwargs: Any,
) -> PersistentStore:
    """:func:`convert` of an hpcflow 0.3 store (:mod:`wfstore.tools.convert_v03`):
    to ``"zarr"`` or ``"json"`` through the store API, to ``"zip"`` by zipping a Zarr
    store (the source, or a Zarr copy of it made first)."""
    import shutil
    import tempfile

    from wfstore.persistence.v03 import GENERATION
    from wfstore.tools.convert_v03 import convert_v03

    if to not in ("json", "zarr", "zip"):
        raise UnknownStoreKindError(
            f"Cannot convert to {to!r}; an hpcflow 0.3 store converts to 'json', 'zarr' "
            "or 'zip'."
        )
    src_kind = source._name
    dst_path = _norm(dst, LocalFileSystem())
    if os.path.abspath(source.path) == dst_path:
        raise StoreExistsError(f"Cannot convert {dst_path!r} onto itself.")
    if to == "zip":
        if os.path.exists(dst_path):
            raise StoreExistsError(f"Cannot convert to {dst_path!r}: it exists.")
        if src_kind == "zarr":
            return open(source.zip(dst_path))
        with tempfile.TemporaryDirectory(dir=os.path.dirname(dst_path)) as tmp:
            folder = _convert_v03(source, os.path.join(tmp, "wk"), "zarr", None, **store_kwargs)
            return open(folder.zip(dst_path))
    template = source.get_template()
    target = _create_like(source, dst_path, to, generation=GENERATION, **store_kwargs)
    try:
        convert_v03(source, target, template, progress)  # type: ignore[arg-type]
        # the task templates exactly as the source has them
        with target._commit_transaction():
            if to == "json":
                target._ed("metadata.json")["template"]["tasks"] = template["tasks"]  # type: ignore[attr-defined]
            else:
                with target.using_resource("attrs", "update") as attrs:
                    attrs["template"]["tasks"] = template["tasks"]
        _copy_other_entries(source, dst_path, _V03_ENTRIES)
    except BaseException:
        shutil.rmtree(dst_path, ignore_errors=True)
        raise
    return open(dst_path)
