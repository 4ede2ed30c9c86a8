"""``wfstore.info`` (``wfstore inspect``): what a store holds."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wfstore import _core
from wfstore.tools.stores import A190_GENERATION, local_keys, open


def run_state(run: Any) -> str:
    """``pending``, ``running``, ``succeeded``, ``failed`` or ``skipped``."""
    if run.skip:
        return "skipped"
    if run.end_time is not None:
        return "succeeded" if run.success else "failed"
    if run.start_time is not None:
        return "running"
    return "pending"


RUN_STATES = ("pending", "running", "succeeded", "failed", "skipped")


def _array_layouts(keys: list[str], get: Callable[[str], bytes | None]) -> list[dict[str, Any]]:
    by_dir: dict[str, int] = {}
    for key in keys:
        folder, _, name = key.rpartition("/")
        if not name.startswith("."):
            by_dir[folder] = by_dir.get(folder, 0) + 1
    out = []
    for key in keys:
        folder, _, name = key.rpartition("/")
        if name != ".zarray":
            continue
        try:
            meta = json.loads(get(key) or b"")
            comp = meta.get("compressor")
            out.append(
                {
                    "path": folder,
                    "dtype": meta.get("dtype"),
                    "shape": meta.get("shape"),
                    "chunks": meta.get("chunks"),
                    "compressor": None if comp is None else comp.get("id"),
                    "chunk_files": by_dir.get(folder, 0),
                }
            )
        except (ValueError, AttributeError):
            out.append({"path": folder, "error": "unreadable .zarray"})
    return out


def info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What a store holds, as a JSON-able dict: kind, name, creation info, counts of
    tasks, loops, submissions, elements, iterations, runs by state and parameters set
    and unset, array chunk layouts (Zarr and zip), and file counts and sizes."""
    store = open(path)
    p = store.path
    n_params = store._get_num_total_parameters()
    runs = store.get_EARs(range(store._get_num_total_EARs()))
    states = dict.fromkeys(RUN_STATES, 0)
    for run in runs:
        states[run_state(run)] += 1
    params = store.get_parameters(range(n_params))
    n_set = sum(1 for prm in params if prm.is_set)
    out: dict[str, Any] = {
        "path": p,
        "kind": store._name,
        "generation": getattr(store, "generation", A190_GENERATION),
        "name": store.get_name(),
        "creation_info": store.get_creation_info(),
        "counts": {
            "tasks": len(store.get_tasks()),
            "loops": len(store.get_loops()),
            "submissions": len(store.get_submissions()),
            "elements": store._get_num_total_elements(),
            "iterations": store._get_num_total_elem_iters(),
            "runs": {"total": len(runs), **states},
            "parameters": {"total": n_params, "set": n_set, "unset": n_params - n_set},
        },
    }
    if store._name == "zip":
        archive = _core.Store.zip(p)  # read by the core's zip reader
        entries = archive.zip_entries()
        out["files"] = {
            "count": len(entries),
            "bytes": sum(size for _name, size in entries),
            "archive_bytes": os.path.getsize(p),
        }
        out["arrays"] = _array_layouts([name for name, _size in entries], archive.get)
    else:
        keys = local_keys(p)
        out["files"] = {
            "count": len(keys),
            "bytes": sum(os.path.getsize(os.path.join(p, k)) for k in keys),
        }
        if store._name == "zarr":
            root = Path(p)
            out["arrays"] = _array_layouts(
                keys, lambda k: (root / k).read_bytes() if (root / k).is_file() else None
            )
    return out
