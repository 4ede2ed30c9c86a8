"""Whole-store operations on hpcflow 0.3 Zarr stores, which 0.3.0 itself lacks or does
through zarr: ``rechunk_runs`` / ``rechunk_parameter_base`` (0.3.0 raises
``NotImplementedError``), ``zip`` / ``unzip``, and :meth:`consolidate_runs` (see
:mod:`.consolidate`).

The rechunks are the core's generic rechunk (``_core.rechunk_array`` over the store's
core store: streaming, the same crash-safe swap and recovery as for 0.2.0a190 stores),
applied to the arrays of 0.3 that are indexed by run or parameter ID:
``rechunk_runs`` rechunks ``metadata/run_metadata`` (the runs' creation data, an
object array; their execution data is in run files, see :meth:`consolidate_runs`) and
with it the two structured arrays indexed by run ID, ``metadata/run_sub_dat`` and
``metadata/run_dirs`` (the core's rechunk of numeric and structured arrays), which
0.3.0 reads by coordinate selection through zarr, whatever their chunks;
``rechunk_parameter_base`` rechunks ``parameters/sources`` (0.3 keeps parameter
*values* in parameter files, so its parameter "base" that can be rechunked is the
sources array). A submission's integer arrays (``js_*``) are not rechunked: 0.3.0 writes
each as one chunk and reads it whole, so no chunking of them reads faster or makes
fewer files. Each rechunk is a write session of the store (its lock held, its change
marker advanced: readers in other processes forget what they decoded). The old array
is kept as ``<array>.bak`` if asked, and left out of zip archives unless asked.

``zip`` writes the engine's layout through the core (stored entries at the archive
root: the Zarr keys, run files, parameter files, NPZ archives and ``artifacts/``;
``execute`` and rechunk backups left out), which 0.3.0's ``ZarrZipPersistentStore``
reads; ``unzip`` expands an archive with the core's checked extraction.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from wfstore import _core
from wfstore.common.errors import (
    ReadOnlyStoreError,
    UnsupportedStoreOperationError,
)
from wfstore.common.names import (
    BACKUP_SUFFIX,
)
from wfstore.persistence.resources import is_local_fs
from wfstore.persistence.v03 import consolidate as _consolidate
from wfstore.persistence.v03 import layout
from wfstore.persistence.zarr.rechunk import check_rechunk

#: A :class:`~wfstore.persistence.v03.zarr_store.V03ZarrPersistentStore` (not imported:
#: that module imports this one).
V03ZarrPersistentStore = Any

#: The arrays the two rechunks work on (``rechunk_runs``: the first, and the arrays
#: indexed by run ID with it).
RECHUNK_RUNS_ARR = layout.RUN_META_ARR
RECHUNK_RUN_ROWS_ARRS = (layout.RUN_META_ARR, layout.RUN_SUB_DAT_ARR, layout.RUN_DIRS_ARR)
RECHUNK_PARAMS_ARR = layout.PARAM_SOURCES_ARR
RECHUNK_ARRS = (*RECHUNK_RUN_ROWS_ARRS, RECHUNK_PARAMS_ARR)
#: Folders a zip leaves out unless asked: the job folders and the rechunk backups.
ZIP_EXCLUDE_EXECUTE = "execute"
ZIP_EXCLUDE_BACKUPS = tuple(f"{p.rsplit('/', 1)[-1]}{BACKUP_SUFFIX}" for p in RECHUNK_ARRS)


def _status(status: bool, label: str) -> Callable[[int, int], None] | None:
    if not status:
        return None

    def report(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        print(f"\r{label}: {done}/{total}", end=end, file=sys.stderr, flush=True)

    return report


class V03Maintenance:
    """Rechunk and consolidation of
    :class:`~wfstore.persistence.v03.zarr_store.V03ZarrPersistentStore` (a part of
    it; zip is the shared :class:`~wfstore.persistence.zarr.archive.ZarrArchive`'s,
    leaving out these rechunk backups)."""

    #: the rechunk backups a zip leaves out unless asked (read by ``ZarrArchive.zip``)
    _zip_backups: tuple[str, ...] = ZIP_EXCLUDE_BACKUPS

    def _progress(self, status: bool, label: str) -> Callable[[int, int], None] | None:
        """Progress reports of long work (replaced by the command line's bars)."""
        return _status(status, label)

    def _local_root(self: V03ZarrPersistentStore, what: str) -> str:
        if self._name != "zarr":
            raise ReadOnlyStoreError(f"cannot {what} {self.path!r}: a zip archive is read-only")
        if not is_local_fs(self.fs):
            raise UnsupportedStoreOperationError(
                f"{what} of hpcflow 0.3 stores works on the local file system only"
            )
        return str(self.path)

    def _rechunk(
        self: V03ZarrPersistentStore,
        arr_paths: Sequence[str],
        chunk_size: int | None,
        backup: bool,
        status: bool,
    ) -> Any:
        """Rechunk `arr_paths` (each kept as its backup if `backup` and none is there
        yet) in one write session; the first array's report, with the others' under
        ``"also"``."""
        root = self._local_root("rechunk")  # type: ignore[misc]
        check_rechunk(arr_paths[0], chunk_size, self.has_pending)  # type: ignore[attr-defined]
        store = self.core_store
        reports = []
        # (keys not named: every reader forgets everything it decoded)
        with self._write_session(None):
            for arr_path in arr_paths:
                if store.get(f"{arr_path}/.zarray") is None and arr_path != arr_paths[0]:
                    continue  # (a structured array a store may lack: nothing to do)
                name = arr_path.rsplit("/", 1)[-1]
                backup_dir = os.path.join(root, *f"{arr_path}{BACKUP_SUFFIX}".split("/"))
                _core.recover_rechunk_array(store, arr_path)
                keep_old_backup = backup and os.path.isdir(backup_dir)
                report = _core.rechunk_array(
                    store,
                    arr_path,
                    chunk_size,
                    backup=backup and not keep_old_backup,
                    progress=self._progress(status, f"Rechunking {name}"),  # type: ignore[attr-defined]
                )
                if report.get("backup") or keep_old_backup:
                    report["backup"] = backup_dir
                report["array"] = arr_path
                reports.append(report)
        _consolidate._forget(self)
        first = reports[0]
        if len(reports) > 1:
            first["also"] = reports[1:]
        return first

    def rechunk_runs(
        self, chunk_size: int | None = None, backup: bool = True, status: bool = True
    ) -> Any:
        """Rechunk ``metadata/run_metadata`` and the structured arrays indexed by run
        ID, ``run_sub_dat`` and ``run_dirs`` (default: one chunk each), keeping the old
        arrays as ``<array>.bak`` if `backup`; returns ``run_metadata``'s rechunk
        report (the core's), the others' under ``"also"``. The runs' execution data
        (run files) is consolidated by :meth:`consolidate_runs`."""
        return self._rechunk(RECHUNK_RUN_ROWS_ARRS, chunk_size, backup, status)  # type: ignore[attr-defined]

    def rechunk_parameter_base(
        self, chunk_size: int | None = None, backup: bool = True, status: bool = True
    ) -> Any:
        """Rechunk ``parameters/sources`` (default: one chunk), keeping the old array as
        ``sources.bak`` if `backup`; returns the core's rechunk report."""
        return self._rechunk([RECHUNK_PARAMS_ARR], chunk_size, backup, status)  # type: ignore[attr-defined]

    def recover_rechunks(self: V03ZarrPersistentStore) -> list[str]:
        """Finish or roll back rechunks a crash interrupted; returns the arrays acted
        on."""
        self._local_root("recover")  # type: ignore[misc]
        done = []
        with self._write_session(None):
            for arr in RECHUNK_ARRS:
                if _core.recover_rechunk_array(self.core_store, arr):
                    done.append(arr)
        if done:
            _consolidate._forget(self)
        return done

    def _recover_missing_arrays(self: V03ZarrPersistentStore) -> None:
        """On opening a local 0.3 Zarr folder: put back an array of :data:`RECHUNK_ARRS`
        if a rechunk was killed between the two renames of its swap (the array is
        missing, its new or old copy beside it), under the store lock (a rechunk holds
        it until its swap is done). Nothing is done while the arrays are in place."""
        if self._name != "zarr" or not is_local_fs(self.fs):
            return
        root = str(self.path)
        for arr in RECHUNK_ARRS:
            array_dir = os.path.join(root, *arr.split("/"))
            if os.path.isdir(array_dir) or not os.path.isdir(os.path.dirname(array_dir)):
                continue
            with self.store_lock():
                if not os.path.isdir(array_dir):
                    _core.recover_rechunk_array(self.core_store, arr)

    def consolidate_runs(
        self: V03ZarrPersistentStore,
        submissions: Sequence[int] | None = None,
        runs_per_file: int = _consolidate.DEFAULT_RUNS_PER_FILE,
    ) -> list[dict[str, Any]]:
        """Put the run files and output parameter files of finished submissions (default:
        every finished one) into files of `runs_per_file` runs each, which hpcflow
        0.3.0 reads unchanged (:mod:`wfstore.persistence.v03.consolidate`); returns a
        report per submission."""
        self._local_root("consolidate")  # type: ignore[misc]
        return [r.to_dict() for r in _consolidate.consolidate(self, submissions, runs_per_file)]
