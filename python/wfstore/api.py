"""The package-level API: choose a store class by name, create, open and verify stores.

>>> import wfstore
>>> store = wfstore.create("/tmp/wk", kind="zarr")        # an empty standalone store
>>> store = wfstore.open("/tmp/wk")                       # any kind, detected
>>> report = wfstore.verify("/tmp/wk")                    # every bad chunk, by key
>>> report.ok
True

Stores made here are *standalone*: they have no engine application or workflow object
(``app`` and ``workflow`` are None), as in the test suites.
"""

from __future__ import annotations

import json
import math
import os
import posixpath
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from .durability import Durability
from .errors import (
    StoreError,
    StoreExistsError,
    StoreNotFoundError,
    UnknownStoreKindError,
    UnsupportedStoreOperationError,
)
from .fsspec_store import SPARE_PREFIX, TMP_PREFIX
from .persistence import (
    JSONPersistentStore,
    PersistentStore,
    ZarrPersistentStore,
    ZarrZipPersistentStore,
)
from .persistence.resources import is_local_fs

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


def store_cls_from_str(kind: str) -> type[PersistentStore]:
    """The store class for a kind name: ``"json"``, ``"zarr"`` or ``"zip"``.

    Raises :class:`~wfstore.errors.UnknownStoreKindError` (a ``ValueError``) naming
    the valid kinds for any other name.
    """
    try:
        return STORE_CLASSES[kind]
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

    Raises :class:`~wfstore.errors.StoreNotFoundError` naming the path when it is
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
    with fs.open(p, "rb") as fh:
        try:
            with zipfile.ZipFile(fh) as zf:
                names = set(zf.namelist())
        except (zipfile.BadZipFile, OSError) as exc:
            raise StoreNotFoundError(
                f"No workflow store at {p!r}: a file that is not a zip archive ({exc})."
            ) from None
    if ".zgroup" in names and ".zattrs" in names:
        return "zip"
    raise StoreNotFoundError(
        f"No workflow store at {p!r}: the zip archive holds no Zarr store at its root."
    )


def open(
    path: str | os.PathLike[str],
    fs: AbstractFileSystem | None = None,
    *,
    durability: Durability | None = None,
) -> PersistentStore:
    """Open the store at `path`, whatever its kind (see :func:`detect_kind`), with
    writes of the given durability (see :mod:`wfstore.durability`; default: the
    environment variable ``WFSTORE_DURABILITY``, else ``"normal"``)."""
    fs = _fs(fs)
    p = _norm(path, fs)
    cls = store_cls_from_str(detect_kind(p, fs))
    return cls(None, None, p, fs, durability=durability)


def create(
    path: str | os.PathLike[str],
    kind: str = "zarr",
    name: str | None = None,
    fs: AbstractFileSystem | None = None,
    *,
    durability: Durability | None = None,
    **store_kwargs: Any,
) -> PersistentStore:
    """Write an empty standalone store of `kind` at `path` and return it opened, its
    writes of the given durability (see :func:`open`).

    `name` defaults to the last component of `path` (without a suffix). Extra keyword
    arguments go to the class's ``write_empty_workflow`` (for Zarr: ``compressor``,
    ``compressor_kwargs``, ``run_chunk_size``, ``param_chunk_size``; also
    ``template_js``, ``template_components_js``, ``creation_info``, ``ts_fmt``,
    ``ts_name_fmt`` to override the defaults).
    Refuses (:class:`~wfstore.errors.StoreExistsError`) an existing file or non-empty
    folder; zip stores are made by zipping a Zarr store, not created empty.
    """
    cls = store_cls_from_str(kind)
    durability = cls._resolve_durability(durability)  # a bad name: before any write
    if cls is ZarrZipPersistentStore:
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
    try:
        from ._core import __version__

        return __version__
    except ImportError:  # pragma: no cover - WFSTORE_NO_CORE
        return "unknown"


# --- verify ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadChunk:
    """One damaged item of a store.

    ``array`` is the array (or group) path inside the store (``""`` for the root),
    ``key`` the chunk key (``"3"``, ``"0.1"``) or the metadata file (``.zarray``,
    ``.zattrs``, ``.zgroup``, ``metadata.json``, ...), ``reason`` what is wrong.
    """

    array: str
    key: str
    reason: str

    @property
    def location(self) -> str:
        """``array/key`` as one path inside the store."""
        return f"{self.array}/{self.key}" if self.array else self.key


@dataclass
class VerifyReport:
    """What :func:`verify` found."""

    path: str
    kind: str
    arrays: int = 0
    chunks: int = 0
    documents: int = 0
    bad: list[BadChunk] = field(default_factory=list)
    #: Traces of interrupted writes that are not damage (readers do not see them), and
    #: what becomes of them: a commit journal, temporary files, a longer parameter
    #: sources array, a rechunk's folders.
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is damaged (whatever the notes say)."""
        return not self.bad

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form of the report."""
        d = asdict(self)
        d["ok"] = self.ok
        return d


def _is_doc(name: str) -> bool:
    return name in (".zarray", ".zattrs", ".zgroup")


def _skip(name: str) -> bool:
    # metadata documents and wfstore's temporary files are no chunks
    return name.startswith(".")


class _Keys:
    """The keys of a Zarr store (local folder or zip archive) and a reader."""

    def __init__(self, keys: list[str], get: Callable[[str], bytes | None]) -> None:
        self.keys = keys
        self.get = get


def _local_keys(root: str) -> list[str]:
    out: list[str] = []
    for dirpath, _dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        rel = "" if rel == "." else rel.replace(os.sep, "/")
        out.extend(f"{rel}/{f}" if rel else f for f in files)
    return sorted(out)


def _check_zip_crc(path: str, report: VerifyReport) -> set[str]:
    """Read every entry of the archive, checking its CRC-32; returns the names of
    entries that fail (already recorded in `report`)."""
    bad: set[str] = set()
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            try:
                with zf.open(info) as fh:
                    while fh.read(1 << 20):
                        pass
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                bad.add(info.filename)
                arr, _, key = info.filename.rpartition("/")
                report.bad.append(BadChunk(arr, key, f"archive entry unreadable: {exc}"))
    return bad


def verify(
    path: str | os.PathLike[str],
    fs: AbstractFileSystem | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Scan the store at `path` and report every damaged chunk or metadata document.

    For Zarr stores (folders or zip archives) each ``.zgroup``/``.zattrs``/``.zarray``
    must be a JSON object; each chunk of each object array must decompress, decode
    (msgpack) and hold exactly one chunk of rows, and each chunk of each numeric array
    must decompress to exactly one chunk of bytes (decoding is done by the Rust core).
    Zip archive entries are also checked against their CRC-32. For JSON stores each
    document must parse. Nothing is written. `progress(done, total)` is called as
    arrays are checked.

    Missing chunks are not damage (Zarr reads them as the fill value; the engine leaves
    chunks of unset parameters out). Zarr v2 has no checksums, so a bit flip that still
    decodes into the right number of rows (or bytes) cannot be seen; anything that
    fails to decode is reported.
    """
    fs = _fs(fs)
    p = _norm(path, fs)
    kind = detect_kind(p, fs)
    report = VerifyReport(path=p, kind=kind)
    if kind == "json":
        _verify_json(p, fs, report)
        return report
    if not is_local_fs(fs):
        raise UnsupportedStoreOperationError(
            f"verify: Zarr stores are verified on the local file system only (got "
            f"{type(fs).__name__})."
        )
    from . import _core

    skip: set[str] = set()
    if kind == "zip":
        skip = _check_zip_crc(p, report)
        store = _core.Store.zip(p)
        with zipfile.ZipFile(p) as zf:
            keys = sorted(n for n in zf.namelist() if not n.endswith("/"))
    else:
        store = _core.Store.local(p)
        keys = _local_keys(p)
    _verify_zarr(store, keys, skip, report, progress)
    _note_interrupted_writes(store, keys, report, p if kind == "zarr" else None)
    return report


def _note_interrupted_writes(
    store: Any, keys: list[str], report: VerifyReport, root: str | None = None
) -> None:
    """Add to `report.notes` what interrupted writes (or writes in progress) left."""
    from .persistence.zarr_store import JOURNAL_PREFIX, PARAM_BASE_ARR, PARAM_SOURCES_ARR

    names = [k.rpartition("/")[2] for k in keys]
    journals = [k for k in keys if k.startswith(JOURNAL_PREFIX)]
    if journals:
        report.notes.append(
            f"{len(journals)} commit journal(s) ({', '.join(journals)}): a commit in "
            "progress, or one cut short, which is finished when a writer next opens the "
            "store or by `wfstore repair` (readers see the store as it was before it)"
        )
    _note_temps(names, report)
    base, _ = _read_doc(store, f"{PARAM_BASE_ARR}/.zarray")
    sources, _ = _read_doc(store, f"{PARAM_SOURCES_ARR}/.zarray")
    try:
        extra = int(sources["shape"][0]) - int(base["shape"][0])  # type: ignore[index]
    except (TypeError, KeyError, IndexError, ValueError):
        extra = 0  # no parameter arrays, or damage reported above
    if extra > 0:
        report.notes.append(
            f"{PARAM_SOURCES_ARR} has {extra} row(s) more than {PARAM_BASE_ARR}: a "
            "parameter append cut short (or in progress), trimmed when the store is next "
            "opened locally, by the next append or by `wfstore repair`"
        )
    from .recovery import RECHUNK_MARKER, RECHUNK_SUFFIXES

    found = {part for k in keys for part in k.split("/")[:-1] if part.endswith(RECHUNK_SUFFIXES)}
    found |= {k for k in keys if k.rpartition("/")[2] == RECHUNK_MARKER and ".rechunk-" not in k}
    if root is not None:  # a folder's empty rechunk folders hold no keys
        for _dirpath, dirs, _files in os.walk(root):
            found.update(d for d in dirs if d.endswith(RECHUNK_SUFFIXES))
    folders = sorted(found)
    if folders:
        report.notes.append(
            f"traces of a rechunk cut short or in progress ({', '.join(folders)}): "
            "finished or cleared by the next rechunk of that array or by `wfstore repair`"
        )


def _note_temps(names: Iterable[str], report: VerifyReport) -> None:
    temps = [n for n in names if n.startswith(TMP_PREFIX)]
    if temps:
        report.notes.append(
            f"{len(temps)} temporary file(s) (.wfstore-tmp-...) of writes cut short or in "
            "progress: never read; `wfstore repair` removes them once they are an hour old"
        )
    spares = [n for n in names if n.startswith(SPARE_PREFIX)]
    if spares:
        report.notes.append(
            f"{len(spares)} spare file(s) ({SPARE_PREFIX}...) left by an older version: "
            "never read; `wfstore repair` removes them"
        )


def _verify_json(path: str, fs: AbstractFileSystem, report: VerifyReport) -> None:
    want = {"metadata.json": dict, "parameters.json": dict, "submissions.json": list}
    for name, typ in want.items():
        fp = posixpath.join(path, name) if not is_local_fs(fs) else os.path.join(path, name)
        if not fs.exists(fp):
            report.bad.append(BadChunk("", name, "missing"))
            continue
        report.documents += 1
        try:
            with fs.open(fp, "rb") as fh:
                doc = json.loads(fh.read())
        except (ValueError, UnicodeDecodeError) as exc:
            report.bad.append(BadChunk("", name, f"invalid JSON: {exc}"))
            continue
        if not isinstance(doc, typ):
            report.bad.append(BadChunk("", name, f"not a JSON {typ.__name__}"))
    try:
        names = [posixpath.basename(str(p).rstrip("/")) for p in fs.ls(path, detail=False)]
    except OSError:
        names = []
    _note_temps(names, report)


def _read_doc(store: Any, key: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        raw = store.get(key)
    except StoreError as exc:
        return None, f"unreadable: {exc}"
    if raw is None:
        return None, "missing"
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"invalid JSON: {exc}"
    if not isinstance(doc, dict):
        return None, "not a JSON object"
    return doc, None


def _verify_zarr(
    store: Any,
    keys: list[str],
    skip: set[str],
    report: VerifyReport,
    progress: Progress | None,
) -> None:
    from . import _core

    arrays: list[str] = []
    by_dir: dict[str, list[str]] = {}
    for key in keys:
        folder, _, name = key.rpartition("/")
        by_dir.setdefault(folder, []).append(name)
        if name == ".zarray":
            arrays.append(folder)
    array_set = set(arrays)
    # group documents (and .zattrs of arrays)
    for key in keys:
        folder, _, name = key.rpartition("/")
        if name in (".zgroup", ".zattrs") and key not in skip:
            report.documents += 1
            _doc, err = _read_doc(store, key)
            if err:
                report.bad.append(BadChunk(folder, name, err))
    report.arrays = len(arrays)
    for done, arr_path in enumerate(arrays):
        _verify_array(store, arr_path, by_dir, array_set, skip, report, _core)
        if progress is not None:
            progress(done + 1, len(arrays))


def _chunk_names(arr_path: str, by_dir: dict[str, list[str]], array_set: set[str]) -> list[str]:
    """Chunk keys (relative to the array) present under an array folder."""
    out = [n for n in by_dir.get(arr_path, []) if not _skip(n)]
    prefix = f"{arr_path}/" if arr_path else ""
    for folder, names in by_dir.items():  # nested chunk keys ("/" separator)
        if folder.startswith(prefix) and folder != arr_path and folder not in array_set:
            rel = folder[len(prefix) :]
            if not any(part.startswith(".") for part in rel.split("/")):
                out.extend(f"{rel}/{n}" for n in names if not _skip(n))
    return out


def _verify_array(
    store: Any,
    arr_path: str,
    by_dir: dict[str, list[str]],
    array_set: set[str],
    skip: set[str],
    report: VerifyReport,
    core: Any,
) -> None:
    def key_of(name: str) -> str:
        return f"{arr_path}/{name}" if arr_path else name

    report.documents += 1
    if key_of(".zarray") in skip:
        return
    meta, err = _read_doc(store, key_of(".zarray"))
    if meta is None:
        report.bad.append(BadChunk(arr_path, ".zarray", err or "unreadable"))
        return
    names = [n for n in _chunk_names(arr_path, by_dir, array_set) if key_of(n) not in skip]
    if meta.get("dtype") == "|O":
        try:
            arr = core.ObjectArray.open(store, arr_path)
            bad = arr.verify()
        except StoreError as exc:
            report.bad.append(BadChunk(arr_path, ".zarray", str(exc)))
            return
        report.chunks += sum(1 for _ in _within_grid(names, arr.num_chunks))
        report.bad.extend(
            BadChunk(arr_path, key, reason) for key, reason in bad if key_of(key) not in skip
        )
        return
    _verify_numeric(store, arr_path, meta, names, report, core, key_of)


def _within_grid(names: Iterable[str], n: int) -> Iterable[str]:
    for name in names:
        if name.isdigit() and int(name) < n:
            yield name


def _verify_numeric(
    store: Any,
    arr_path: str,
    meta: dict[str, Any],
    names: list[str],
    report: VerifyReport,
    core: Any,
    key_of: Callable[[str], str],
) -> None:
    import numpy as np

    try:
        shape = [int(s) for s in meta["shape"]]
        chunks = [int(c) for c in meta["chunks"]]
        itemsize = np.dtype(meta["dtype"]).itemsize
        sep = meta.get("dimension_separator") or "."
        compressor = meta.get("compressor")
        if len(shape) != len(chunks) or any(c <= 0 for c in chunks):
            raise ValueError("shape and chunks do not fit")
    except (KeyError, TypeError, ValueError) as exc:
        report.bad.append(BadChunk(arr_path, ".zarray", f"invalid array metadata: {exc}"))
        return
    grid = [math.ceil(s / c) for s, c in zip(shape, chunks)]
    expected = math.prod(chunks) * itemsize
    for name in sorted(names):
        parts = name.split(sep)
        if len(parts) != len(grid) or not all(x.isdigit() for x in parts):
            continue  # not a chunk key of this array
        if any(int(x) >= g for x, g in zip(parts, grid)):
            continue  # beyond the shape: never read
        report.chunks += 1
        try:
            raw = store.get(key_of(name))
            if raw is None:
                continue
            data = core.decompress(raw, compressor) if compressor else raw
        except StoreError as exc:
            report.bad.append(BadChunk(arr_path, name, str(exc)))
            continue
        if meta.get("filters"):
            continue  # filters change the size; decompressing is what is checked
        if len(data) != expected:
            report.bad.append(
                BadChunk(arr_path, name, f"decodes to {len(data)} bytes, expected {expected}")
            )


# --- convert -----------------------------------------------------------------------------

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
    ``"zarr"``) at `dst`, through the store API, and return it opened.

    Everything the API returns is the same in the copy (template, template components,
    tasks, loops, submissions, elements, iterations, runs with their times, parameters
    and their sources); other entries of the workflow folder (``artifacts``, ...) are
    copied as files. A zip store is read in place. `dst` must not exist (or be an
    empty folder); on failure it is removed again. Local file system only.
    """
    import shutil

    if to not in _STORE_ENTRIES:
        raise UnknownStoreKindError(
            f"Cannot convert to {to!r}; the kinds a store can be converted to are "
            "'json' and 'zarr' (zip a Zarr store to get a zip store)."
        )
    source = open(src)
    src_kind = source._name
    dst_path = _norm(dst, LocalFileSystem())
    if os.path.abspath(source.path) == dst_path:
        raise StoreExistsError(f"Cannot convert {dst_path!r} onto itself.")
    template = source.get_template()
    target = create(
        dst_path,
        kind=to,
        name=source.get_name(),
        template_js={**template, "tasks": [], "loops": []},
        template_components_js=source.get_template_components(),
        creation_info=source.get_creation_info(),
        ts_fmt=source.get_ts_fmt(),
        ts_name_fmt=source.get_ts_name_fmt(),
        **store_kwargs,
    )
    try:
        _convert_into(source, target, template, progress)
        if src_kind != "zip":
            for entry in sorted(os.listdir(source.path)):
                if entry in _STORE_ENTRIES[src_kind] or entry.startswith(".wfstore"):
                    continue
                s, d = os.path.join(source.path, entry), os.path.join(dst_path, entry)
                if os.path.isdir(s):
                    shutil.copytree(s, d, symlinks=True)
                else:
                    shutil.copy2(s, d)
    except BaseException:
        shutil.rmtree(dst_path, ignore_errors=True)
        raise
    return open(dst_path)


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


# --- inspect -----------------------------------------------------------------------------


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
        with zipfile.ZipFile(p) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            keys = sorted(i.filename for i in infos)
            out["files"] = {
                "count": len(infos),
                "bytes": sum(i.file_size for i in infos),
                "archive_bytes": os.path.getsize(p),
            }
            out["arrays"] = _array_layouts(keys, zf.read)
    else:
        keys = _local_keys(p)
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


# --- hpcflow -----------------------------------------------------------------------------


def use_in_hpcflow(
    run_chunk_size: int | None = None,
    param_chunk_size: int | None = None,
    durability: Durability | None = None,
) -> dict[str, type]:
    """Make hpcflow (hpcflow-new2 0.2.0a190) persist every workflow through wfstore:
    the same as :func:`wfstore.hpcflow.register` (see it for what changes; undo with
    :func:`wfstore.hpcflow.unregister`). Returns the engine's store classes that were
    replaced, by format name.

    Raises ``ImportError`` when hpcflow is not installed.
    """
    from . import hpcflow

    hpcflow.register(
        run_chunk_size=run_chunk_size, param_chunk_size=param_chunk_size, durability=durability
    )
    return hpcflow.engine_store_classes()
