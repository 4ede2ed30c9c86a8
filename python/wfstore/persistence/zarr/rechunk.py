"""Rechunking the runs and parameter base arrays of the Zarr store, by the Rust core
over the store's core store (local or any fsspec file system alike)."""

from __future__ import annotations

import numbers
import sys
import time
from collections.abc import Callable
from typing import Any

from wfstore import _core
from wfstore.common.errors import InvalidArgumentError, UnsupportedStoreOperationError
from wfstore.common.names import BACKUP_SUFFIX
from wfstore.persistence.zarr.layout import PARAM_BASE_ARR, RUNS_ARR
from wfstore.storage.lock import StoreLock

#: Seconds between refreshes of a link lock held by long work (a rechunk); well under
#: the lock's ``stale_after`` (120 s by default).
LOCK_REFRESH_S = 10.0


def check_rechunk(arr_path: str, chunk_size: int | None, has_pending: bool) -> None:
    """Refuse a rechunk of `arr_path` while changes are pending, or with a chunk size
    that is not None or a positive integer."""
    if has_pending:
        raise UnsupportedStoreOperationError("Commit (save) pending changes before rechunking.")
    if chunk_size is not None and (
        not isinstance(chunk_size, numbers.Integral)
        or isinstance(chunk_size, bool)
        or chunk_size < 1
    ):
        raise InvalidArgumentError(
            f"Rechunking {arr_path}: chunk_size must be None or a positive integer, "
            f"not {chunk_size!r}."
        )


class ZarrRechunk:
    """The rechunks of
    :class:`~wfstore.persistence.zarr.store.ZarrPersistentStore` (a part of it)."""

    @staticmethod
    def _progress(status: bool, label: str) -> Callable[[int, int], None] | None:
        """A progress callback printing ``label: done/total`` to stderr (if `status`)."""
        if not status:
            return None

        def report(done: int, total: int) -> None:
            end = "\n" if done >= total else ""
            print(f"\r{label}: {done}/{total}", end=end, file=sys.stderr, flush=True)

        return report

    def _keeping_lock(
        self, progress: Callable[[int, int], None] | None
    ) -> Callable[[int, int], None] | None:
        """`progress`, refreshing the store lock every few seconds as well when the lock
        is a link lock (which other writers break as stale after ``stale_after``
        seconds without a refresh), for work that holds the lock long."""
        lock = self.store_lock
        if not isinstance(lock, StoreLock) or lock.protocol != "link":
            return progress
        last = time.monotonic()

        def report(done: int, total: int) -> None:
            nonlocal last
            if time.monotonic() - last > LOCK_REFRESH_S:
                lock.refresh()
                last = time.monotonic()
            if progress is not None:
                progress(done, total)

        return report

    def _rechunk(self, arr_path: str, chunk_size: int | None, backup: bool, status: bool) -> Any:
        """Rechunk `arr_path` through the core (``_core.rechunk_array``): the same steps,
        names and crash recovery on the local file system and on any other."""
        check_rechunk(arr_path, chunk_size, self.has_pending)
        name = arr_path.rsplit("/", 1)[-1]
        backup_dir = f"{self.path.rstrip('/')}/{arr_path}{BACKUP_SUFFIX}"
        progress = self._progress(status, f"Rechunking {name}")
        store = self.core_store
        # under the store lock (local file system): writers wait (up to the lock's
        # timeout) rather than write rows into the array while it is copied and swapped
        with self._locked():
            # finish or roll back a rechunk a crash interrupted (restoring an earlier
            # backup it had moved aside) before deciding whether a backup exists:
            _core.recover_rechunk_array(store, arr_path)
            # as the engine does, an existing backup (the array as it was before the
            # first rechunk) is kept, and no new backup is made:
            keep_old_backup = backup and bool(self.fs.isdir(backup_dir))
            report = _core.rechunk_array(
                store,
                arr_path,
                chunk_size,
                backup=backup and not keep_old_backup,
                progress=self._keeping_lock(progress),
            )
        self._reset_cache()
        if report.get("backup") or keep_old_backup:
            report["backup"] = backup_dir  # the store's path, not the core's location
        if status:
            print(
                f"Rechunked {name}: {report['rows']} rows, chunk size "
                f"{report['old_chunk_size']} -> {report['new_chunk_size']}"
                + (f"; backup at {report['backup']}" if report.get("backup") else ""),
                file=sys.stderr,
            )
        return report

    def rechunk_parameter_base(
        self, chunk_size: int | None = None, backup: bool = True, status: bool = True
    ) -> Any:
        """Rechunk ``parameters/base`` (default: one chunk), keeping the old array as
        ``base.bak`` if `backup`; returns a report of the rechunk."""
        return self._rechunk(PARAM_BASE_ARR, chunk_size, backup, status)

    def rechunk_runs(
        self, chunk_size: int | None = None, backup: bool = True, status: bool = True
    ) -> Any:
        """Rechunk ``metadata/runs`` (default: one chunk), keeping the old array as
        ``runs.bak`` if `backup`; returns a report of the rechunk."""
        return self._rechunk(RUNS_ARR, chunk_size, backup, status)
