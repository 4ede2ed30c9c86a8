"""Finish what interrupted writes left in a store, and remove their leftovers.

A process killed while writing leaves traces that readers never see
(:func:`wfstore.verify` lists them as notes): a commit journal, temporary files
(``.wfstore-tmp-*``), a parameter sources array longer than the base array, the folders
of a rechunk. A writer's next open finishes the commit and trims the sources; the next
rechunk of that array clears its folders; temporary files stay until removed. Stores
written by older versions may also hold spare files (``.wfstore-spare-*``, old values
kept for reuse, never read), which nothing writes any more.
:func:`repair` does all of it at once, under the store lock:

>>> import wfstore
>>> report = wfstore.repair("/tmp/wk")          # doctest: +SKIP
>>> report.done, report.kept                    # doctest: +SKIP

Temporary files and rechunk folders are removed only once they are `min_age` seconds
old (one hour by default): a writer that does not take the store lock (a JSON store's,
a Rust program's rechunk, a process on another host whose clock differs) may still be
at work with a younger one; spare files are removed whatever their age.
``dry_run=True`` changes nothing and says what would be done. Zarr and JSON store
folders on the local file system are repaired; zip archives are read-only (nothing in
them to repair).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from wfstore import _core
from wfstore.common.durability import resolve_durability
from wfstore.common.errors import (
    InvalidArgumentError,
    StoreError,
    UnsupportedStoreOperationError,
)
from wfstore.common.names import (
    JOURNAL_PREFIX,
    LEGACY_SPARE_PREFIX,
    RECHUNK_COMPLETE_MARKER,
    RECHUNK_SUFFIXES,
    TMP_PREFIX,
)
from wfstore.persistence.v03 import GENERATION as V03_GENERATION
from wfstore.persistence.v03 import layout as v03_layout
from wfstore.persistence.v03.consolidate import (
    finished_submissions,
    remove_empty_folders,
    unreferenced_files,
)
from wfstore.persistence.zarr import (
    PARAM_BASE_ARR,
    PARAM_SOURCES_ARR,
    extra_parameter_sources,
)
from wfstore.persistence.zarr.transactions import store_lock_at
from wfstore.tools.stores import detect_generation, detect_kind, open_store

#: Age (seconds) a temporary file or rechunk folder must reach before repair removes it.
DEFAULT_MIN_AGE = 3600.0


@dataclass
class RepairReport:
    """What :func:`repair` did (or, with ``dry_run``, would do) and what it left."""

    path: str
    kind: str
    dry_run: bool
    min_age: float
    #: Each thing done (dry run: to be done), one line each.
    done: list[str] = field(default_factory=list)
    #: Each trace left in place, and why.
    kept: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when no trace of an interrupted write was left in place."""
        return not self.kept

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form of the report."""
        d = asdict(self)
        d["clean"] = self.clean
        return d


def _check_min_age(min_age: float) -> float:
    try:
        value = float(min_age)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise InvalidArgumentError(
            f"min_age must be a number of seconds >= 0, not {min_age!r}."
        )
    return value


def _age(path: str, now: float) -> float:
    try:
        return now - os.lstat(path).st_mtime
    except FileNotFoundError:
        return math.inf  # gone meanwhile


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _rel(root: str, path: str) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def _walk(root: str) -> tuple[list[str], list[str]]:
    """Temporary files/folders and rechunk folders under `root` (not inside them)."""
    temps: list[str] = []
    rechunk: list[str] = []
    for dirpath, dirs, files in os.walk(root):
        for name in files:
            if name.startswith(TMP_PREFIX):
                temps.append(os.path.join(dirpath, name))
            elif name == RECHUNK_COMPLETE_MARKER:  # a swapped-in array whose marker stayed
                rechunk.append(os.path.join(dirpath, name))
        for name in list(dirs):
            if name.startswith(TMP_PREFIX):
                temps.append(os.path.join(dirpath, name))
                dirs.remove(name)
            elif name.endswith(RECHUNK_SUFFIXES):
                rechunk.append(os.path.join(dirpath, name))
                dirs.remove(name)
    return sorted(temps), sorted(rechunk)


def _past_end(root: str) -> list[str]:
    """Chunk files past the recorded end of their 1-D arrays (``.zarray``) under
    `root`: what an append cut short left (its chunks wholly past the end are written
    in place before the new length, see docs/durability.md). No reader reads them, and
    the next append over them rewrites them whole."""
    found: list[str] = []
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [
            d for d in dirs if not d.startswith(TMP_PREFIX) and not d.endswith(RECHUNK_SUFFIXES)
        ]
        if ".zarray" not in files:
            continue
        try:
            with open(os.path.join(dirpath, ".zarray"), "rb") as f:
                meta = json.load(f)
            (length,), (chunk,) = meta["shape"], meta["chunks"]
            end = -(-int(length) // int(chunk))
        except (OSError, ValueError, TypeError, KeyError, ZeroDivisionError):
            continue  # not a 1-D array's readable metadata (verify reports damage)
        found.extend(
            os.path.join(dirpath, name)
            for name in files
            if name.isdigit() and name == str(int(name)) and int(name) >= end
        )
    return sorted(found)


def _remove_past_end(root: str, report: RepairReport) -> None:
    """Delete the chunk files past their arrays' recorded ends (:func:`_past_end`) at
    least `min_age` old."""
    _remove_aged(
        root,
        report,
        _past_end(root),
        (
            "chunk file(s) past their array's end",
            "(an append cut short)",
            "an append may still be at work",
        ),
    )


def _spares(root: str) -> list[str]:
    """The spare files older versions left in the folders under `root`."""
    return sorted(
        os.path.join(dirpath, name)
        for dirpath, _dirs, files in os.walk(root)
        for name in files
        if name.startswith(LEGACY_SPARE_PREFIX)
    )


def _remove_spares(root: str, report: RepairReport) -> None:
    """Delete the spare files older versions left (no writer reads or needs them)."""
    spares = _spares(root)
    if not spares:
        return
    if not report.dry_run:
        for p in spares:
            _remove(p)
    verb = "would remove" if report.dry_run else "removed"
    shown = ", ".join(_rel(root, p) for p in spares[:5])
    more = f", ... ({len(spares) - 5} more)" if len(spares) > 5 else ""
    report.done.append(
        f"{verb} {len(spares)} spare file(s) left by an older version: {shown}{more}"
    )


def _journal_temps(root: str, journals: list[str]) -> set[str] | None:
    """The temporary files the commit journals still name (their new values); None
    when a journal cannot be read (then no temporary file may be removed)."""
    named: set[str] = set()
    for name in journals:
        try:
            with open(os.path.join(root, name), "rb") as fh:
                doc = json.loads(fh.read())
            for op in doc["ops"]:
                if op[0] == "rename":
                    named.add(os.path.normpath(os.path.join(root, op[1])))
        except FileNotFoundError:
            continue  # finished meanwhile
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return None
    return named


def _journals(root: str) -> list[str]:
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(JOURNAL_PREFIX) and not n.startswith(TMP_PREFIX))


def _array_of(folder: str) -> str:
    if os.path.basename(folder) == RECHUNK_COMPLETE_MARKER:
        return os.path.dirname(folder)
    for suffix in RECHUNK_SUFFIXES:
        if folder.endswith(suffix):
            return folder[: -len(suffix)]
    return folder


def repair(
    path: str | os.PathLike[str],
    *,
    min_age: float = DEFAULT_MIN_AGE,
    dry_run: bool = False,
) -> RepairReport:
    """Finish the writes that crashed writers left cut short in the store at `path`, and
    remove their leftovers; return what was done and what was left (see the module's
    documentation).

    For a Zarr store, under the store lock (waiting for it as writers do): commit
    journals are finished (a journaled commit holds the lock while its journal exists,
    so under the lock every journal is a dead writer's, as for an open); an array a
    rechunk left missing is put back, and a rechunk's other folders are cleared once
    `min_age` seconds old; rows of the parameter sources array beyond the base array's
    (a parameter append cut short) are dropped; temporary files at least `min_age`
    seconds old are deleted, except those a remaining journal still names; chunk files
    past their array's recorded end (an append cut short) at least `min_age` seconds
    old are deleted; spare files an older version left (``.wfstore-spare-*``) are
    deleted. For a JSON
    store, temporary files at least `min_age` seconds old are deleted. Nothing else is
    touched. With `dry_run`, nothing is changed (not even the lock taken).

    Raises :class:`~wfstore.common.errors.InvalidArgumentError` for a negative or non-numeric
    `min_age`, :class:`~wfstore.common.errors.StoreNotFoundError` when there is no store at
    `path`, and :class:`~wfstore.common.errors.UnsupportedStoreOperationError` for a zip
    archive.
    """
    min_age = _check_min_age(min_age)
    root = os.path.abspath(os.fspath(path))
    kind = detect_kind(root)
    if kind == "zip":
        raise UnsupportedStoreOperationError(
            f"repair: {root!r} is a zip store, which is read-only: nothing in it to repair "
            "(wfstore verify checks it)."
        )
    report = RepairReport(path=root, kind=kind, dry_run=dry_run, min_age=min_age)
    if kind == "json":
        _remove_temps(root, report, set(), _walk(root)[0])
        return report
    if dry_run:
        _repair_zarr(root, report)
        return report
    lock = store_lock_at(root)  # the writers' lock: a commit or rechunk in progress finishes
    try:
        with lock():
            _repair_zarr(root, report)
    finally:
        lock.close()
    return report


def _repair_zarr(root: str, report: RepairReport) -> None:
    journals = _journals(root)
    if journals and not report.dry_run:
        try:
            finished = _core.recover_journals(root, locked=True)  # (under the lock)
        except StoreError as exc:  # an unreadable journal: kept, with its temporaries
            finished = 0
            report.kept.append(f"commit journals not finished: {exc}")
        if finished:
            report.done.append(f"finished {finished} interrupted commit(s) from their journals")
        journals = _journals(root)
    for name in journals:
        if report.dry_run:
            report.done.append(f"would finish the commit in {name}")
        else:
            report.kept.append(f"{name}: commit journal that could not be finished")

    core = _core.Store.local(root, durability=resolve_durability())
    temps, rechunk = _walk(root)
    now = time.time()
    arrays: dict[str, list[str]] = {}
    for folder in rechunk:
        arrays.setdefault(_array_of(folder), []).append(folder)
    for array_dir, folders in sorted(arrays.items()):
        rel = ", ".join(_rel(root, f) for f in folders)
        missing = not os.path.isdir(array_dir)
        age = min(_age(f, now) for f in folders)
        if not missing and age < report.min_age:
            report.kept.append(f"{rel}: left by a rechunk {age:.0f} s ago (younger than min_age)")
            continue
        if report.dry_run:
            what = "would put back the array" if missing else "would clear the leftovers"
        else:
            _core.recover_rechunk_array(core, _rel(root, array_dir))
            what = "put back the array" if missing else "cleared the leftovers"
        report.done.append(f"{what} of an interrupted rechunk ({rel})")

    if detect_generation(root, kind="zarr") == V03_GENERATION:
        _repair_v03(root, report)
        extra = 0  # hpcflow 0.3 has no parameter base array to trim the sources to
    else:
        extra = extra_parameter_sources(core, trim=not report.dry_run)
    if extra:
        verb = "would drop" if report.dry_run else "dropped"
        report.done.append(
            f"{verb} {extra} row(s) of {PARAM_SOURCES_ARR} beyond {PARAM_BASE_ARR} "
            "(a parameter append cut short)"
        )

    _remove_past_end(root, report)
    _remove_spares(root, report)
    named = _journal_temps(root, journals)
    if named is None:
        if temps:
            report.kept.append(
                f"{len(temps)} temporary file(s): a remaining commit journal cannot be "
                "read, so none is removed"
            )
        return
    _remove_temps(root, report, named, temps)


def _repair_v03(root: str, report: RepairReport) -> None:
    """What hpcflow 0.3 stores add: the temporary files of 0.3.0's own atomic writes
    (``*.partial``, at least `min_age` old) and the run files and output parameter files
    of finished submissions that no run points at (a consolidation cut short: the
    consolidated files are in use, the old ones never read again)."""
    partial = sorted(
        os.path.join(dirpath, name)
        for dirpath, _dirs, files in os.walk(root)
        for name in files
        if name.endswith(v03_layout.ENGINE_PARTIAL_SUFFIX)
    )
    _remove_temps(root, report, set(), partial)
    try:
        store = open_store(root)
        doomed = unreferenced_files(store)
        finished = finished_submissions(store)
    except StoreError as exc:
        report.kept.append(f"run files and parameter files not checked: {exc}")
        return
    verb = "would remove" if report.dry_run else "removed"
    if doomed:
        if not report.dry_run:
            for key in doomed:
                _remove(os.path.join(root, *key.split("/")))
        more = f", ... ({len(doomed) - 5} more)" if len(doomed) > 5 else ""
        report.done.append(
            f"{verb} {len(doomed)} run/parameter file(s) of finished submissions no run "
            f"points at (a consolidation cut short): {', '.join(doomed[:5])}{more}"
        )
    if report.dry_run:
        return
    folders = [f for sub in finished for f in remove_empty_folders(store.core_store, sub)]
    if folders:
        report.done.append(
            f"removed {len(folders)} empty run/parameter-file folder(s) of finished "
            f"submissions (a consolidation cut short): {', '.join(folders[:5])}"
        )


def _remove_temps(root: str, report: RepairReport, named: set[str], temps: list[str]) -> None:
    """Delete the temporary files `temps` at least `min_age` old, but those `named`."""
    left = []
    for tmp in temps:
        if os.path.normpath(tmp) in named:
            report.kept.append(f"{_rel(root, tmp)}: named by a commit journal (its new value)")
        else:
            left.append(tmp)
    _remove_aged(
        root,
        report,
        left,
        ("temporary file(s)", "of writes cut short", "a write may still be at work"),
    )


def _remove_aged(
    root: str, report: RepairReport, paths: list[str], words: tuple[str, str, str]
) -> None:
    """Delete the files `paths` at least `min_age` old (a writer that does not take
    the store lock may still be at work with a younger one), and report them: `words`
    are what they are, why they are left, and what a younger one may mean."""
    noun, why, young_why = words
    now = time.time()
    removed: list[str] = []
    young = 0
    for path in paths:
        if _age(path, now) < report.min_age:
            young += 1
            continue
        if not report.dry_run:
            _remove(path)
        removed.append(_rel(root, path))
    if removed:
        verb = "would remove" if report.dry_run else "removed"
        more = f", ... ({len(removed) - 5} more)" if len(removed) > 5 else ""
        shown = ", ".join(removed[:5]) + more
        report.done.append(f"{verb} {len(removed)} {noun} {why}: {shown}")
    if young:
        report.kept.append(
            f"{young} {noun} younger than min_age ({report.min_age:g} s): {young_why}"
        )
