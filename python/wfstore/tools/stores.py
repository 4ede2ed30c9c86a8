"""The package-level API: choose a store class by name, detect a store's kind, create
and open stores.

>>> import wfstore
>>> store = wfstore.create("/tmp/wk", kind="zarr")        # an empty standalone store
>>> store = wfstore.open("/tmp/wk")                       # any kind, detected

Stores made here are *standalone*: they have no engine application or workflow object
(``app`` and ``workflow`` are None), as in the test suites.
"""

from __future__ import annotations

import os
import posixpath
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from wfstore.common.durability import Durability
from wfstore.common.errors import (
    StoreError,
    StoreExistsError,
    StoreNotFoundError,
    UnknownStoreKindError,
    UnsupportedStoreOperationError,
)
from wfstore.persistence import (
    JSONPersistentStore,
    PersistentStore,
    ZarrPersistentStore,
    ZarrZipPersistentStore,
)
from wfstore.persistence.resources import is_local_fs
from wfstore.persistence.v03 import GENERATION as V03_GENERATION
from wfstore.persistence.v03 import (
    V03_STORE_CLASSES,
    V03PersistentStore,
    is_v03_json_files,
    is_v03_zarr,
)
from wfstore.storage.fsspec import core_store, core_zip_store

#: Store classes by kind name.
STORE_CLASSES: dict[str, type[PersistentStore]] = {
    "json": JSONPersistentStore,
    "zarr": ZarrPersistentStore,
    "zip": ZarrZipPersistentStore,
}

#: The timestamp formats the engine (hpcflow 0.2.0a190) uses.
TS_FMT = "%Y-%m-%d %H:%M:%S.%f"
TS_NAME_FMT = "%Y-%m-%d_%H%M%S"

#: Files of a JSON store.
JSON_STORE_FILES = ("metadata.json", "parameters.json", "submissions.json")

Progress = Callable[[int, int], object]

#: The engine generations whose stores wfstore opens, creates and writes: hpcflow-new2
#: 0.2.0a190 and hpcflow 0.3.0.
A190_GENERATION = "0.2.0a190"
GENERATIONS = (A190_GENERATION, V03_GENERATION)


def store_cls_from_str(kind: str, generation: str = A190_GENERATION) -> type[PersistentStore]:
    """The store class for a kind name: ``"json"``, ``"zarr"`` or ``"zip"``, of the
    engine `generation` (:data:`GENERATIONS`).

    Raises :class:`~wfstore.common.errors.UnknownStoreKindError` (a ``ValueError``) naming
    the valid kinds for any other name, and for an unknown generation.
    """
    if generation not in GENERATIONS:
        raise UnknownStoreKindError(
            f"Unknown engine generation {generation!r}; wfstore knows {', '.join(GENERATIONS)}."
        )
    classes: dict[str, Any] = V03_STORE_CLASSES if generation == V03_GENERATION else STORE_CLASSES
    try:
        return classes[kind]
    except (KeyError, TypeError):
        valid = ", ".join(repr(k) for k in STORE_CLASSES)
        raise UnknownStoreKindError(
            f"Unknown store kind {kind!r}; valid kinds are {valid}."
        ) from None


def _fs(fs: AbstractFileSystem | None) -> AbstractFileSystem:
    return fs if fs is not None else LocalFileSystem()


def _norm(path: str | os.PathLike[str], fs: AbstractFileSystem) -> str:
    return os.path.abspath(os.fspath(path)) if is_local_fs(fs) else os.fspath(path)


def detect_kind(path: str | os.PathLike[str], fs: AbstractFileSystem | None = None) -> str:
    """The kind of the store at `path`: ``"zarr"`` (a folder with ``.zgroup``,
    ``.zattrs`` and ``metadata``), ``"json"`` (a folder with ``metadata.json``) or
    ``"zip"`` (a zip archive holding a Zarr store at its root).

    Raises :class:`~wfstore.common.errors.StoreNotFoundError` naming the path when it is
    missing or none of these.
    """
    fs = _fs(fs)
    p = _norm(path, fs)
    if not fs.exists(p):
        raise StoreNotFoundError(f"No workflow store at {p!r}: the path does not exist.")
    if fs.isdir(p):
        join = posixpath.join if not is_local_fs(fs) else os.path.join
        if fs.isfile(join(p, ".zgroup")) and fs.isfile(join(p, ".zattrs")):
            if fs.isdir(join(p, "metadata")):
                return "zarr"
            raise StoreNotFoundError(
                f"{p!r} is a Zarr group but not a workflow store (no 'metadata' group)."
            )
        if fs.isfile(join(p, "metadata.json")):
            return "json"
        raise StoreNotFoundError(
            f"No workflow store at {p!r}: the folder holds neither a Zarr store "
            "(.zgroup, .zattrs, metadata/) nor a JSON store (metadata.json)."
        )
    try:
        names = set(core_zip_store(fs, p).list_dir(""))  # read by the core's zip reader
    except (StoreError, OSError) as exc:
        raise StoreNotFoundError(
            f"No workflow store at {p!r}: a file that is not a zip archive ({exc})."
        ) from None
    if ".zgroup" in names and ".zattrs" in names:
        return "zip"
    raise StoreNotFoundError(
        f"No workflow store at {p!r}: the zip archive holds no Zarr store at its root."
    )


def detect_generation(
    path: str | os.PathLike[str], fs: AbstractFileSystem | None = None, kind: str | None = None
) -> str:
    """The engine generation whose layout the store at `path` (of `kind`, detected if
    None) has: ``"0.3.0"`` when its runs are kept the hpcflow 0.3 way (a Zarr store's
    ``metadata/run_metadata`` array, which 0.3 writes with the empty workflow and
    hpcflow-new2 0.2.0a190 never writes; a JSON store's ``runs.json``), else
    ``"0.2.0a190"``."""
    fs = _fs(fs)
    p = _norm(path, fs)
    kind = kind or detect_kind(p, fs)
    if kind == "json":
        join = os.path.join if is_local_fs(fs) else posixpath.join
        names = {n for n in (*JSON_STORE_FILES, "runs.json") if fs.isfile(join(p, n))}
        return V03_GENERATION if is_v03_json_files(names) else A190_GENERATION
    store = core_zip_store(fs, p) if kind == "zip" else core_store(fs, p)
    return V03_GENERATION if is_v03_zarr(store) else A190_GENERATION


def open(
    path: str | os.PathLike[str],
    fs: AbstractFileSystem | None = None,
    *,
    durability: Durability | None = None,
) -> PersistentStore:
    """Open the store at `path`, whatever its kind (see :func:`detect_kind`) and engine
    generation (see :func:`detect_generation`), with writes of the given durability
    (see :mod:`wfstore.common.durability`; default: the environment variable
    ``WFSTORE_DURABILITY``, else ``"normal"``)."""
    fs = _fs(fs)
    p = _norm(path, fs)
    kind = detect_kind(p, fs)
    cls = store_cls_from_str(kind, detect_generation(p, fs, kind))
    return cls(None, None, p, fs, durability=durability)


def is_v03_store(store: PersistentStore) -> bool:
    """Whether `store` is an hpcflow 0.3 store."""
    return isinstance(store, V03PersistentStore)


def create(
    path: str | os.PathLike[str],
    kind: str = "zarr",
    name: str | None = None,
    fs: AbstractFileSystem | None = None,
    *,
    durability: Durability | None = None,
    generation: str = A190_GENERATION,
    **store_kwargs: Any,
) -> PersistentStore:
    """Write an empty standalone store of `kind` at `path` and return it opened, its
    writes of the given durability (see :func:`open`), in the layout of the engine
    `generation` (:data:`GENERATIONS`; default hpcflow-new2 0.2.0a190's).

    `name` defaults to the last component of `path` (without a suffix). Extra keyword
    arguments go to the class's ``write_empty_workflow`` (for Zarr: ``compressor``,
    ``compressor_kwargs``, ``run_chunk_size``, ``param_chunk_size``; also
    ``template_js``, ``template_components_js``, ``creation_info``, ``ts_fmt``,
    ``ts_name_fmt`` to override the defaults).
    Refuses (:class:`~wfstore.common.errors.StoreExistsError`) an existing file or non-empty
    folder; zip stores are made by zipping a Zarr store, not created empty.
    """
    cls = store_cls_from_str(kind, generation)
    durability = cls._resolve_durability(durability)  # a bad name: before any write
    if kind == "zip":
        raise UnsupportedStoreOperationError(
            "A zip store cannot be created empty: create a 'zarr' store and zip it."
        )
    fs = _fs(fs)
    p = _norm(path, fs)
    if fs.exists(p) and (not fs.isdir(p) or fs.ls(p)):
        raise StoreExistsError(
            f"Cannot create a store at {p!r}: it exists and is not an empty folder."
        )
    if name is None:
        name = Path(p).stem or "workflow"
    kwargs: dict[str, Any] = {
        "template_js": {"name": name, "tasks": [], "loops": [], "resources": {}},
        "template_components_js": {},
        "wk_path": p,
        "fs": fs,
        "name": name,
        "replaced_wk": None,
        "creation_info": {
            "app_info": {"name": "wfstore", "version": _version()},
            "create_time": datetime.now().strftime(TS_FMT),
            "id": str(uuid.uuid4()),
        },
        "ts_fmt": TS_FMT,
        "ts_name_fmt": TS_NAME_FMT,
        "durability": durability,
    }
    kwargs.update(store_kwargs)
    existed = fs.exists(p)
    if existed:  # an empty folder: writers expect to make the folder themselves
        fs.rmdir(p)
    try:
        cls.write_empty_workflow(None, **kwargs)
    except BaseException:
        # leave the path as it was: nothing, or the empty folder that was there
        if fs.exists(p):
            fs.rm(p, recursive=True)
        if existed:
            fs.mkdir(p)
        raise
    return cls(None, None, p, fs, durability=durability)


def _version() -> str:
    from wfstore._core import __version__

    return __version__


def local_keys(root: str) -> list[str]:
    """Every file of the folder `root`, as sorted keys (``/``-separated paths)."""
    out: list[str] = []
    for dirpath, _dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        rel = "" if rel == "." else rel.replace(os.sep, "/")
        out.extend(f"{rel}/{f}" if rel else f for f in files)
    return sorted(out)


#: :func:`open` under a name that does not hide the built-in in importing modules.
open_store = open
