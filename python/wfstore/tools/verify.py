"""``wfstore.verify``: find every damaged chunk or metadata document of a store, and
the traces interrupted writes left (which are not damage)."""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from fsspec import AbstractFileSystem

from wfstore import _core
from wfstore.common.errors import (
    StoreError,
    UnsupportedFeatureError,
    UnsupportedStoreOperationError,
)
from wfstore.common.names import (
    JOURNAL_PREFIX,
    LEGACY_SPARE_PREFIX,
    RECHUNK_COMPLETE_MARKER,
    RECHUNK_SUFFIXES,
    TMP_PREFIX,
)
from wfstore.persistence.resources import is_local_fs
from wfstore.persistence.v03 import layout as v03_layout
from wfstore.persistence.v03.arrays import decode_output_archive
from wfstore.persistence.v03.consolidate import unreferenced_files
from wfstore.persistence.v03.files import decode_param_file, decode_run_file
from wfstore.persistence.zarr import PARAM_BASE_ARR, PARAM_SOURCES_ARR
from wfstore.tools.stores import Progress, _fs, _norm, detect_kind, local_keys, open_store


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
    #: hpcflow 0.3 files that are not Zarr chunks (run files, parameter files, NPZ
    #: array-output archives), each decoded
    files: int = 0
    bad: list[BadChunk] = field(default_factory=list)
    #: Traces of interrupted writes that are not damage (readers do not see them), and
    #: what becomes of them: a commit journal, temporary files, a longer parameter
    #: sources array, a rechunk's folders; and numeric arrays of a dtype wfstore does
    #: not read (strings, dates, ...), whose chunks are checked to decompress only.
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


def _check_zip_crc(store: _core.Store, keys: list[str], report: VerifyReport) -> set[str]:
    """Read every entry `keys` of the archive `store` through the core, checking its
    CRC-32; returns the names of entries that fail (already recorded in `report`)."""
    bad: set[str] = set()
    for name in keys:
        try:
            store.check_zip_entry(name)
        except (StoreError, OSError) as exc:
            bad.add(name)
            arr, _, key = name.rpartition("/")
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
    must decompress to exactly one chunk of bytes (decoding is done by the Rust core:
    ``ObjectArray.verify`` and ``NumericArray.verify``, which parse the dtype, structured
    dtypes and their base64 fill values included; a dtype or fill value the core finds
    invalid is a damaged ``.zarray``, one numpy reads but wfstore does not, such as
    strings, is a note and its chunks are checked to decompress only).
    Zip archive entries are also checked against their CRC-32. For JSON stores each
    document must parse. Nothing is written. `progress(done, total)` is called as
    arrays are checked.

    Missing chunks are not damage (Zarr reads them as the fill value; the engine leaves
    chunks of unset parameters out). As a power cut can leave them, the chunks of an
    array whose ``.zarray`` is damaged are reported with it, and so are chunk files
    beyond an object array's shape that do not decode and chunk files in ``metadata/``
    or ``parameters/`` with no ``.zarray`` beside them (docs/reliability.md). Zarr v2
    has no checksums, so a bit flip that still decodes into the right number of rows
    (or bytes) cannot be seen; anything that fails to decode is reported.
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
    skip: set[str] = set()
    if kind == "zip":
        store = _core.Store.zip(p)
        keys = [name for name, _size in store.zip_entries()]
        skip = _check_zip_crc(store, keys, report)
    else:
        store = _core.Store.local(p)
        keys = local_keys(p)
    _verify_zarr(store, keys, skip, report, progress)
    _note_interrupted_writes(store, keys, report, p if kind == "zarr" else None)
    if f"{v03_layout.RUN_META_ARR}/.zarray" in keys:
        _verify_v03_files(store, keys, skip, report)
        if kind == "zarr" and report.ok:
            _note_unreferenced(p, report)
    return report


def _note_unreferenced(path: str, report: VerifyReport) -> None:
    """Note the run files and parameter files of finished submissions that no run
    points at (a consolidation cut short), which are never read."""
    try:
        doomed = unreferenced_files(open_store(path))
    except StoreError:
        return  # damage is reported by the checks above
    if doomed:
        report.notes.append(
            f"{len(doomed)} run/parameter file(s) of finished submissions no run points at "
            "(a consolidation cut short): never read; `wfstore consolidate` or `wfstore "
            "repair` removes them"
        )


def _v03_decoder(key: str) -> Callable[[bytes, str], object] | None:
    """The decoder of an hpcflow 0.3 file by its key (None: not such a file)."""
    parts = key.split("/")
    numbered = len(parts) == 5 and all(x.isdigit() for x in parts[2:])
    if key.startswith(f"{v03_layout.RUN_FILES_DIR}/") and numbered:
        return decode_run_file
    if key.startswith(f"{v03_layout.PARAM_FILES_DIR}/") and numbered:
        return decode_param_file
    if key.startswith(f"{v03_layout.ARRAY_OUTPUTS_DIR}/") and key.endswith(".npz.zst"):
        return decode_output_archive
    return None


def _verify_v03_files(store: Any, keys: list[str], skip: set[str], report: VerifyReport) -> None:
    """Decode every run file, parameter file and NPZ array-output archive of an
    hpcflow 0.3 store; each that fails is reported by its folder and name. Notes the
    temporary files 0.3.0's own writes leave when cut short (``*.partial``)."""
    partial = 0
    for key in keys:
        if key.endswith(v03_layout.ENGINE_PARTIAL_SUFFIX):
            partial += 1
            continue
        decode = _v03_decoder(key)
        if decode is None or key in skip:
            continue
        report.files += 1
        folder, _, name = key.rpartition("/")
        try:
            raw = store.get(key)
            if raw is None:
                continue
            decode(raw, key)
        except StoreError as exc:
            report.bad.append(BadChunk(folder, name, str(exc)))
    if partial:
        report.notes.append(
            f"{partial} temporary file(s) (*{v03_layout.ENGINE_PARTIAL_SUFFIX}) of hpcflow 0.3.0 "
            "writes cut short or in progress: never read; `wfstore repair` removes them once "
            "they are old enough"
        )


def _note_interrupted_writes(
    store: Any, keys: list[str], report: VerifyReport, root: str | None = None
) -> None:
    """Add to `report.notes` what interrupted writes (or writes in progress) left."""
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
    found = {part for k in keys for part in k.split("/")[:-1] if part.endswith(RECHUNK_SUFFIXES)}
    # a marker left in an array swapped in (one inside a rechunk's folder is found above)
    found |= {
        k
        for k in keys
        if k.rpartition("/")[2] == RECHUNK_COMPLETE_MARKER
        and not any(part.endswith(RECHUNK_SUFFIXES) for part in k.split("/")[:-1])
    }
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
    spares = [n for n in names if n.startswith(LEGACY_SPARE_PREFIX)]
    if spares:
        report.notes.append(
            f"{len(spares)} spare file(s) ({LEGACY_SPARE_PREFIX}...) left by an older version: "
            "never read; `wfstore repair` removes them"
        )


def _verify_json(path: str, fs: AbstractFileSystem, report: VerifyReport) -> None:
    want = {"metadata.json": dict, "parameters.json": dict, "submissions.json": list}
    join = posixpath.join if not is_local_fs(fs) else os.path.join
    if fs.exists(join(path, v03_layout.JSON_RUNS)):  # hpcflow 0.3's runs and run folders
        want[v03_layout.JSON_RUNS] = dict
    for name, typ in want.items():
        fp = join(path, name)
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
    _orphan_chunks(by_dir, array_set, skip, report)
    for done, arr_path in enumerate(arrays):
        _verify_array(store, arr_path, by_dir, array_set, skip, report, _core)
        if progress is not None:
            progress(done + 1, len(arrays))


#: The groups holding the engines' arrays (both generations), and hpcflow 0.3.0's
#: folders of run and parameter files (no Zarr chunks) within them.
_ARRAY_GROUPS = ("metadata/", "parameters/")
_V03_FILE_DIRS = ("metadata/run_multi", "parameters/base_multi")


def _orphan_chunks(
    by_dir: dict[str, list[str]], array_set: set[str], skip: set[str], report: VerifyReport
) -> None:
    """Report chunk keys in a folder of the arrays' groups that holds no array (not
    below one): what a crash leaves of a new array whose ``.zarray`` never reached the
    disk. Never read, but in the way of the next writer that creates the array."""
    for folder, names in by_dir.items():
        if not folder.startswith(_ARRAY_GROUPS) or folder in array_set:
            continue
        parts = folder.split("/")
        if any("/".join(parts[:i]) in array_set for i in range(1, len(parts))):
            continue  # nested chunk keys of an array
        if any(folder == d or folder.startswith(d + "/") for d in _V03_FILE_DIRS):
            continue
        for name in sorted(names):
            if f"{folder}/{name}" in skip or not all(p.isdigit() for p in name.split(".")):
                continue
            report.bad.append(
                BadChunk(folder, name, "a chunk without its array's .zarray (never read)")
            )


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
    names = [n for n in _chunk_names(arr_path, by_dir, array_set) if key_of(n) not in skip]

    def unreadable(reason: str) -> None:
        # no reader can read the chunks of an array whose metadata is damaged
        report.bad.append(BadChunk(arr_path, ".zarray", reason))
        report.bad.extend(
            BadChunk(arr_path, n, "unreadable: the array's .zarray is damaged") for n in names
        )

    meta, err = _read_doc(store, key_of(".zarray"))
    if meta is None:
        unreadable(err or "unreadable")
        return
    if meta.get("dtype") == "|O":
        try:
            arr = core.ObjectArray.open(store, arr_path)
            bad = arr.verify()
        except StoreError as exc:
            unreadable(str(exc))
            return
        report.chunks += sum(1 for _ in _within_grid(names, arr.num_chunks))
        report.bad.extend(
            BadChunk(arr_path, key, reason) for key, reason in bad if key_of(key) not in skip
        )
        return
    _verify_numeric(store, arr_path, meta, names, report, core, key_of, skip)


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
    skip: set[str],
) -> None:
    """Check the chunks of a numeric array through the core's ``NumericArray`` (numeric,
    bool and structured dtypes: the core parses the dtype and decodes each chunk, as
    every reader does). An array of a dtype or with filters the core does not read is
    no damage: it is noted, and its chunks are checked to decompress only."""
    try:
        arr = core.NumericArray.open(store, arr_path)
    except UnsupportedFeatureError as exc:
        _verify_unsupported_numeric(store, arr_path, meta, names, report, core, key_of, exc)
        return
    except StoreError as exc:
        report.bad.append(BadChunk(arr_path, ".zarray", str(exc)))
        report.bad.extend(
            BadChunk(arr_path, n, "unreadable: the array's .zarray is damaged") for n in names
        )
        return
    sep = arr.meta.get("dimension_separator") or "."
    within = _within_nd_grid(names, arr.shape, arr.chunks, sep)
    report.chunks += len(within)
    try:
        bad = arr.verify()
    except StoreError:
        # a chunk the store cannot give (e.g. a damaged compressed zip entry): decode
        # each stored chunk on its own, to name every one that fails
        bad = []
        for name in within:
            try:
                raw = store.get(key_of(name))
                if raw is not None:
                    arr.decode_chunk(raw, name)
            except StoreError as exc:
                bad.append((name, str(exc)))
    report.bad.extend(
        BadChunk(arr_path, key, reason) for key, reason in bad if key_of(key) not in skip
    )


def _within_nd_grid(
    names: Iterable[str], shape: list[int], chunks: list[int], sep: str
) -> list[str]:
    """The chunk keys among `names` of grid positions within `shape` (others are
    never read)."""
    grid = [-(-s // c) for s, c in zip(shape, chunks)]
    out = []
    for name in sorted(names):
        parts = name.split(sep) if grid else [name]
        if len(parts) != max(len(grid), 1) or not all(x.isdigit() for x in parts):
            continue  # not a chunk key of this array
        if grid and any(int(x) >= g for x, g in zip(parts, grid)):
            continue  # beyond the shape
        if not grid and name != "0":
            continue
        out.append(name)
    return out


def _verify_unsupported_numeric(
    store: Any,
    arr_path: str,
    meta: dict[str, Any],
    names: list[str],
    report: VerifyReport,
    core: Any,
    key_of: Callable[[str], str],
    exc: StoreError,
) -> None:
    """A numeric array the core does not read (a dtype such as strings or dates, or
    filters): noted, and each chunk within its shape checked to decompress."""
    shape, chunks = meta.get("shape"), meta.get("chunks")
    sep = meta.get("dimension_separator") or "."
    compressor = meta.get("compressor")
    report.notes.append(f"{exc}: its chunks were checked to decompress only")
    within = _within_nd_grid(names, list(shape or []), list(chunks or []), sep)
    report.chunks += len(within)
    for name in within:
        try:
            raw = store.get(key_of(name))
            if raw is not None and compressor:
                core.decompress(raw, compressor)
        except StoreError as err:
            report.bad.append(BadChunk(arr_path, name, str(err)))
