"""Helpers of the reliability tests (issue 6): a committed engine-style Zarr store built
through the PersistentStore API, and a digest of every file of a folder. (A module of its
own, not conftest.py, so that imports do not depend on which conftest was loaded.)"""

from __future__ import annotations

import enum
import hashlib
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "persistence"))  # for `store_dump`

from fsspec.implementations.local import LocalFileSystem  # noqa: E402
from store_dump import empty_workflow_kwargs, run_scenario  # noqa: E402
from wfstore.common.names import CHANGE_MARKER_NAME, LEGACY_SPARE_PREFIX  # noqa: E402
from wfstore.persistence import ZarrPersistentStore  # noqa: E402
from wfstore.persistence.readcache import without_group_marker  # noqa: E402


class Colour(enum.Enum):
    """An enum parameter value."""

    RED = "red"


def tree_digest(path: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under `path` (folders as ``<dir>``), spare
    files (``.wfstore-spare-*``: no content of the store, left out of archives) and the
    change marker left out (its file, or its slot in the root ``.zgroup``)."""
    out: dict[str, str] = {}
    for p in sorted(path.rglob("*")):
        if p.name.startswith(LEGACY_SPARE_PREFIX) or p.name == CHANGE_MARKER_NAME:
            continue  # (the change marker: readers' bookkeeping, advanced by failed
            # writes too, as they cannot know whether anything was written)
        rel = str(p.relative_to(path))
        data = without_group_marker(p.read_bytes()) if p.is_file() else None
        out[rel] = "<dir>" if data is None else hashlib.sha256(data).hexdigest()
    return out


def open_store(path: Path) -> ZarrPersistentStore:
    """A fresh store object (no caches) over the store folder `path`."""
    store = ZarrPersistentStore(None, None, path, LocalFileSystem())
    store.run_dir_snapshot = lambda: {"data": {}}
    return store


def make_store(path: Path, **kwargs: Any) -> ZarrPersistentStore:
    """Write a small committed workflow store (tasks, elements, iterations, 5 runs, 7
    parameters, a loop, a submission) at `path`, by default in the engine's layout
    (one run and one parameter per chunk: the tests damage single rows' chunks);
    `kwargs` go to ``write_empty_workflow``."""
    fs = LocalFileSystem()
    kwargs = {"run_chunk_size": 1, "param_chunk_size": 1, **kwargs}
    ZarrPersistentStore.write_empty_workflow(
        None, **empty_workflow_kwargs(str(path), fs), **kwargs
    )
    store = open_store(path)
    run_scenario(store, Colour.RED)
    assert not store.has_pending
    return store
