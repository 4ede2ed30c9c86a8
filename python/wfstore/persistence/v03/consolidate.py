"""Consolidating a finished submission of an hpcflow 0.3 Zarr store: its many small run
files and output parameter files become a few large ones that hpcflow 0.3.0's own
classes read unchanged.

Why files and not Zarr arrays: 0.3.0 reads a run's execution data only from the run
file ``metadata/run_multi/<sub>/<F // 1000>/<F % 1000>`` (entry ``I``) and its output
values only from the parameter file ``parameters/base_multi/<sub>/<(F+1) // 1000>/
<(F+1) % 1000>`` (entry ``I``), where ``F = run_file_ID`` and ``I = run_file_idx`` come
from the run's ``run_sub_dat`` row. It has no other place to look, so a chunked Zarr
array of run data would be invisible to it. But ``run_file_ID`` is a ``uint16`` and
``run_file_idx`` a ``uint32``: one run file may hold any number of runs. Consolidation
therefore writes the submission's runs, in run-ID order, ``runs_per_file`` to a file
(a "chunk"), and points their ``run_sub_dat`` rows at the new files: 10,000 runs that
0.3.0 spread over 10,000 run files and 10,000 parameter files end in one of each.

Crash safety (a kill at any moment leaves a store whose every value reads): the new
files get run-file IDs no run of the submission uses (counted down from 65534, the
largest ``uint16`` that is not the "unset" fill), so writing them changes nothing a
reader sees. Then the ``run_sub_dat`` chunks are replaced one by one (each an atomic
replace); a run's row moves from its old file to its new file in one write, and both
files hold the same values. Only once every row points at the new files are the files
no row points at removed. A consolidation cut short is finished by running it again
(or its leftover files removed by ``wfstore repair``): files no row of a finished
submission points at are never read.

Limits: only a finished submission is consolidated (every run ended or skipped: no job
writes its files any more); array outputs kept in NPZ shard archives (which 0.3.0
finds by run-file ID) must first be merged by 0.3.0's
``Workflow.consolidate_array_outputs()`` (the consolidated archive is found by run
ID); the store lock keeps wfstore writers out, hpcflow 0.3.0's own writers do not take
it (do not add a submission with 0.3.0 while consolidating).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wfstore import _core
from wfstore.common.errors import (
    InvalidArgumentError,
    ReadOnlyStoreError,
    SubmissionNotFinishedError,
    UnsupportedStoreOperationError,
)
from wfstore.persistence.resources import is_local_fs
from wfstore.persistence.v03 import layout
from wfstore.persistence.v03.writes import encode_param_file, encode_run_file
from wfstore.storage.fsspec import core_store

#: A :class:`~wfstore.persistence.v03.zarr_store.V03ZarrPersistentStore` (not imported:
#: that module imports this one).
V03ZarrPersistentStore = Any

#: Runs per consolidated run file (and parameter file), unless asked otherwise.
DEFAULT_RUNS_PER_FILE = 10_000
#: The largest run-file ID (``run_sub_dat.run_file_ID`` is ``uint16``; 65535 = unset).
MAX_RUN_FILE_ID = 65534
#: Positions of ``skip`` and ``end_time`` in a run-file entry.
_SKIP, _END = layout.RUN_FILE_FIELDS.index("skip"), layout.RUN_FILE_FIELDS.index("end_time")

#: A test hook: called with ``(stage, n)`` after each step (``"written"`` after the
#: n-th new file pair, ``"swapped"`` after the n-th ``run_sub_dat`` chunk,
#: ``"removed"`` after the n-th old file is removed).
Hook = Callable[[str, int], None]


@dataclass
class ConsolidateReport:
    """What :func:`consolidate_submission` did to one submission."""

    submission: int
    runs: int
    #: run files and parameter files of the submission before and after
    files_before: int = 0
    files_after: int = 0
    #: the run-file IDs the runs point at now
    run_file_ids: list[int] = field(default_factory=list)
    #: files removed (old files, and leftovers of a consolidation cut short)
    removed: int = 0
    #: True when the runs were already in that many files (only leftovers removed)
    already: bool = False
    #: emptied run-file and parameter-file folders removed
    folders_removed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "submission": self.submission,
            "runs": self.runs,
            "files_before": self.files_before,
            "files_after": self.files_after,
            "run_file_ids": list(self.run_file_ids),
            "removed": self.removed,
            "already": self.already,
            "folders_removed": self.folders_removed,
        }


def _forget(store: V03ZarrPersistentStore) -> None:
    """Drop what `store` decoded and cached (its files changed under it)."""
    store._forget_memos(None)
    store._reset_cache()


def _sub_dat_all(store: V03ZarrPersistentStore) -> np.ndarray:
    store._validate_memos()
    return store._structs(layout.RUN_SUB_DAT_ARR).all()


def _fill(dtype: np.dtype, name: str) -> int:
    return int(np.iinfo(dtype.fields[name][0]).max)


def submission_runs(sub_dat: np.ndarray, sub_idx: int) -> np.ndarray:
    """The IDs of the runs of submission `sub_idx` (ascending) in the ``run_sub_dat``
    rows `sub_dat`, those with a run file only."""
    subs = sub_dat["submission_idx"]
    files = sub_dat["run_file_ID"]
    mask = (subs == sub_idx) & (files != _fill(sub_dat.dtype, "run_file_ID"))
    return np.flatnonzero(mask)


def _unfinished(entries: dict[int, list[Any] | None]) -> list[int]:
    out = []
    for run, entry in entries.items():
        if entry is None:
            out.append(run)
            continue
        skip = entry[_SKIP] if len(entry) > _SKIP else 0
        end = entry[_END] if len(entry) > _END else None
        if not skip and end is None:
            out.append(run)
    return out


def finished_submissions(store: V03ZarrPersistentStore) -> list[int]:
    """The submissions of `store` every run of which has ended or been skipped."""
    sub_dat = _sub_dat_all(store)
    out = []
    for sub_idx in range(store._get_num_persistent_submissions()):
        runs = submission_runs(sub_dat, sub_idx)
        if len(runs) == 0:
            continue
        entries = store._run_exec_data(
            {int(r): layout.run_sub_dat_tuple(sub_dat[r]) for r in runs}
        )
        if not _unfinished(entries):
            out.append(sub_idx)
    return out


def _files_under(store: _core.Store, folder: str) -> list[tuple[str, int]]:
    """``(key, number)`` of every numbered file ``<folder>/<d>/<r>`` (number
    ``d * 1000 + r``); other names (temporary files) are left out."""
    out = []
    for d in store.list_dir(folder):
        if not d.isdigit():
            continue
        for r in store.list_dir(f"{folder}/{d}"):
            if r.isdigit() and int(r) < layout.FILES_PER_DIR:
                out.append((f"{folder}/{d}/{r}", int(d) * layout.FILES_PER_DIR + int(r)))
    return out


def _npz_shard_ids(store: _core.Store) -> tuple[set[int], list[str]]:
    """Run-file IDs that have an array-output shard archive (of any output), and the
    output names."""
    ids: set[int] = set()
    names = [n for n in store.list_dir(layout.ARRAY_OUTPUTS_DIR) if not n.startswith(".")]
    for name in names:
        for shard in store.list_dir(f"{layout.ARRAY_OUTPUTS_DIR}/{name}"):
            if not shard.isdigit():
                continue
            for f in store.list_dir(f"{layout.ARRAY_OUTPUTS_DIR}/{name}/{shard}"):
                stem = f.removesuffix(".npz.zst")
                if stem != f and stem.isdigit():
                    ids.add(int(shard) * layout.ARCHIVES_PER_DIR + int(stem))
    return ids, names


def _new_ids(k: int, avoid: set[int]) -> list[int]:
    """The `k` largest run-file IDs at most :data:`MAX_RUN_FILE_ID` not in `avoid`, in
    ascending order."""
    out: list[int] = []
    cand = MAX_RUN_FILE_ID
    while len(out) < k and cand >= 0:
        if cand not in avoid:
            out.append(cand)
        cand -= 1
    if len(out) < k:
        raise InvalidArgumentError(f"no {k} free run-file IDs left for consolidation")
    return sorted(out)


def _writer(store: V03ZarrPersistentStore) -> _core.Store:
    if not is_local_fs(store.fs):
        raise UnsupportedStoreOperationError(
            "consolidation works on stores on the local file system only"
        )
    if store._name != "zarr":
        raise ReadOnlyStoreError(f"cannot consolidate {store.path!r}: a zip archive is read-only")
    # every write flushed: the run_sub_dat swap must be on disk before old files go
    return core_store(store.fs, store.path, durability="full")


def consolidate_submission(
    store: V03ZarrPersistentStore,
    sub_idx: int,
    runs_per_file: int = DEFAULT_RUNS_PER_FILE,
    *,
    hook: Hook | None = None,
) -> ConsolidateReport:
    """Consolidate the run files and output parameter files of the finished submission
    `sub_idx` of the 0.3 Zarr store `store` into files of `runs_per_file` runs each
    (see the module's documentation). Raises :class:`SubmissionNotFinishedError`
    (naming runs) when a run has neither ended nor been skipped, and
    ``UnsupportedStoreOperationError`` when NPZ shard archives hold the submission's
    array outputs."""
    if not isinstance(runs_per_file, int) or isinstance(runs_per_file, bool) or runs_per_file < 1:
        raise InvalidArgumentError(
            f"runs_per_file must be a positive integer, not {runs_per_file!r}"
        )
    if store.has_pending:
        raise UnsupportedStoreOperationError("Commit (save) pending changes before consolidating.")
    writer = _writer(store)
    # a write session: the store lock held, the change marker dirty until the end
    # (keys not named: readers in other processes forget everything they decoded)
    with store._write_session(None):
        return _consolidate_locked(store, writer, sub_idx, runs_per_file, hook)


def _consolidate_locked(
    store: V03ZarrPersistentStore,
    writer: _core.Store,
    sub_idx: int,
    per_file: int,
    hook: Hook | None,
) -> ConsolidateReport:
    n_subs = store._get_num_persistent_submissions()
    if not 0 <= sub_idx < n_subs:
        raise InvalidArgumentError(f"no submission {sub_idx} (the store has {n_subs})")
    sub_dat = _sub_dat_all(store)
    runs = [int(r) for r in submission_runs(sub_dat, sub_idx)]
    report = ConsolidateReport(submission=sub_idx, runs=len(runs))
    run_dir = f"{layout.RUN_FILES_DIR}/{sub_idx}"
    par_dir = f"{layout.PARAM_FILES_DIR}/{sub_idx}"
    old_run_files = _files_under(writer, run_dir)
    old_par_files = _files_under(writer, par_dir)
    report.files_before = len(old_run_files) + len(old_par_files)
    if not runs:
        report.files_after = report.files_before
        return report
    rows = {r: layout.run_sub_dat_tuple(sub_dat[r]) for r in runs}
    entries = store._run_exec_data(rows)
    unfinished = _unfinished(entries)
    if unfinished:
        shown = ", ".join(map(str, unfinished[:10])) + (" ..." if len(unfinished) > 10 else "")
        raise SubmissionNotFinishedError(
            f"submission {sub_idx} of {store.path} is not finished: {len(unfinished)} run(s) "
            f"neither ended nor skipped ({shown})"
        )
    used = {int(rows[r][2]) for r in runs}  # type: ignore[arg-type]
    shard_ids, out_names = _npz_shard_ids(writer)
    in_shards = sorted(used & shard_ids)
    if in_shards:
        raise UnsupportedStoreOperationError(
            f"submission {sub_idx}: array outputs of run files {in_shards[:5]} are in NPZ shard "
            f"archives under {layout.ARRAY_OUTPUTS_DIR} ({', '.join(out_names)}), which 0.3.0 "
            "finds by run-file ID: merge them first with hpcflow's "
            "Workflow.consolidate_array_outputs()"
        )
    k = math.ceil(len(runs) / per_file)
    per_file_count: dict[int, int] = {}
    for r in runs:
        fid = int(rows[r][2])  # type: ignore[arg-type]
        per_file_count[fid] = per_file_count.get(fid, 0) + 1
    if len(used) <= k and max(per_file_count.values()) <= per_file:
        report.already = True
        report.run_file_ids = sorted(used)
    else:
        existing = {n for _k, n in old_run_files} | {n - 1 for _k, n in old_par_files}
        new_ids = _new_ids(k, used | shard_ids | existing)
        params = _output_entries(store, sub_idx, runs, rows)
        _write_new_files(writer, sub_idx, runs, entries, params, new_ids, per_file, hook)
        _swap_rows(writer, sub_dat, runs, new_ids, per_file, hook)
        _forget(store)
        report.run_file_ids = new_ids
    # removals need no flush: one lost to a power cut leaves a file no row points at,
    # which the next consolidation or `wfstore repair` removes (the rows' new values,
    # written with "full" durability above, are on disk before any removal)
    remover = core_store(store.fs, store.path, durability="normal")
    report.removed = _remove_unreferenced(store, remover, sub_idx, hook)
    report.folders_removed = len(remove_empty_folders(remover, sub_idx))
    report.files_after = len(_files_under(writer, run_dir)) + len(_files_under(writer, par_dir))
    _forget(store)
    return report


def _output_entries(
    store: V03ZarrPersistentStore,
    sub_idx: int,
    runs: Sequence[int],
    rows: dict[int, tuple[int | None, int | None, int | None, int | None]],
) -> dict[int, dict[str, Any]]:
    """Each run's entry of its output parameter file (``{}``: none)."""
    out: dict[int, dict[str, Any]] = {}
    for r in runs:
        _s, _c, fid, idx = rows[r]
        assert fid is not None and idx is not None
        files = store._param_files.get(layout.param_file_key(sub_idx, fid + 1))
        out[r] = dict(files[idx]) if files is not None and idx < len(files) else {}
    return out


def _write_new_files(
    writer: _core.Store,
    sub_idx: int,
    runs: Sequence[int],
    entries: dict[int, list[Any] | None],
    params: dict[int, dict[str, Any]],
    new_ids: Sequence[int],
    per_file: int,
    hook: Hook | None,
) -> None:
    for j, fid in enumerate(new_ids):
        part = runs[j * per_file : (j + 1) * per_file]
        writer.set(layout.run_file_key(sub_idx, fid), encode_run_file([entries[r] for r in part]))
        vals = [params[r] for r in part]
        if any(vals):
            writer.set(layout.param_file_key(sub_idx, fid + 1), encode_param_file(vals))
        if hook is not None:
            hook("written", j)


def _swap_rows(
    writer: _core.Store,
    sub_dat: np.ndarray,
    runs: Sequence[int],
    new_ids: Sequence[int],
    per_file: int,
    hook: Hook | None,
) -> None:
    """Point the runs' ``run_sub_dat`` rows at the new files, one chunk (an atomic
    replace, by the core's ``NumericArray``) at a time."""
    arr = _core.NumericArray.open(writer, layout.RUN_SUB_DAT_ARR)
    chunk = int(arr.chunks[0])
    by_chunk: dict[int, list[tuple[int, int, int]]] = {}
    for pos, r in enumerate(runs):
        j, idx = divmod(pos, per_file)
        by_chunk.setdefault(r // chunk, []).append((r, new_ids[j], idx))
    for n, (_c, changes) in enumerate(sorted(by_chunk.items())):
        ids = [r for r, _fid, _idx in changes]
        rows = sub_dat[ids].copy()
        rows["run_file_ID"] = [fid for _r, fid, _idx in changes]
        rows["run_file_idx"] = [idx for _r, _fid, idx in changes]
        arr.set_rows(ids, rows)
        if hook is not None:
            hook("swapped", n)


def _remove_unreferenced(
    store: V03ZarrPersistentStore, writer: _core.Store, sub_idx: int, hook: Hook | None
) -> int:
    """Remove the run files and output parameter files of submission `sub_idx` that no
    run's ``run_sub_dat`` row points at (read afresh). The non-output parameter file
    (number 0) is kept."""
    _forget(store)
    sub_dat = _sub_dat_all(store)
    runs = submission_runs(sub_dat, sub_idx)
    referenced = {int(sub_dat[r]["run_file_ID"]) for r in runs}
    doomed = [
        k
        for k, n in _files_under(writer, f"{layout.RUN_FILES_DIR}/{sub_idx}")
        if n not in referenced
    ]
    doomed += [
        k
        for k, n in _files_under(writer, f"{layout.PARAM_FILES_DIR}/{sub_idx}")
        if n != 0 and n - 1 not in referenced
    ]
    for i, key in enumerate(doomed):
        writer.delete(key)
        if hook is not None:
            hook("removed", i)
    return len(doomed)


def remove_empty_folders(writer: _core.Store, sub_idx: int) -> list[str]:
    """Remove the numbered folders (``<d>`` of ``<d>/<r>``) of submission `sub_idx`'s
    run files and parameter files that hold nothing (what removing old files leaves),
    each in one atomic step that leaves a folder holding anything as it is; returns
    their keys. A kill between the removal of a folder's last file and of the folder
    leaves an empty folder, which nothing reads (0.3.0 makes a folder when it writes a
    file into it) and the next consolidation or ``wfstore repair`` removes."""
    removed = []
    for folder in (f"{layout.RUN_FILES_DIR}/{sub_idx}", f"{layout.PARAM_FILES_DIR}/{sub_idx}"):
        for d in writer.list_dir(folder):
            if d.isdigit() and writer.remove_empty_dir(f"{folder}/{d}"):
                removed.append(f"{folder}/{d}")
    return removed


def consolidate(
    store: V03ZarrPersistentStore,
    submissions: Sequence[int] | None = None,
    runs_per_file: int = DEFAULT_RUNS_PER_FILE,
) -> list[ConsolidateReport]:
    """Consolidate the given submissions (default: every finished one) of `store`."""
    subs = finished_submissions(store) if submissions is None else list(submissions)
    return [consolidate_submission(store, s, runs_per_file) for s in subs]


def unreferenced_files(store: V03ZarrPersistentStore) -> list[str]:
    """Run files and output parameter files of finished submissions that no run points
    at (what a consolidation cut short leaves; never read)."""
    writer = store.core_store
    sub_dat = _sub_dat_all(store)
    out: list[str] = []
    for sub_idx in finished_submissions(store):
        runs = submission_runs(sub_dat, sub_idx)
        referenced = {int(sub_dat[r]["run_file_ID"]) for r in runs}
        out += [
            k
            for k, n in _files_under(writer, f"{layout.RUN_FILES_DIR}/{sub_idx}")
            if n not in referenced
        ]
        out += [
            k
            for k, n in _files_under(writer, f"{layout.PARAM_FILES_DIR}/{sub_idx}")
            if n != 0 and n - 1 not in referenced
        ]
    return out
