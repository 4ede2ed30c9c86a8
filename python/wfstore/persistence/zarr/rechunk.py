"""Rechunking the runs and parameter base arrays of the Zarr store (the Rust core on
the local file system, windows of rows over any other fsspec file system)."""

from __future__ import annotations

import contextlib
import numbers
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from wfstore import _core
from wfstore.common.errors import (
    InvalidArgumentError,
    RechunkError,
    StoreError,
    StoreIOError,
    UnsupportedStoreOperationError,
)
from wfstore.common.names import RECHUNK_COMPLETE_MARKER, RECHUNK_OLD_SUFFIX, RECHUNK_TMP_SUFFIX
from wfstore.persistence.resources import is_local_fs
from wfstore.persistence.zarr.layout import PARAM_BASE_ARR, RUNS_ARR
from wfstore.storage.lock import StoreLock

#: Rows read and written at a time when rechunking over fsspec.
_RECHUNK_WINDOW_ROWS = 1 << 16
#: Seconds between refreshes of a link lock held by long work (a rechunk); well under
#: the lock's ``stale_after`` (120 s by default).
LOCK_REFRESH_S = 10.0


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
        if self.has_pending:
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
        name = arr_path.rsplit("/", 1)[-1]
        local = is_local_fs(self.fs)
        array_dir = (
            os.path.join(self.path, *arr_path.split("/"))
            if local
            else f"{self.path.rstrip('/')}/{arr_path}"
        )
        # as the engine does, an existing backup (the array as it was before the first
        # rechunk) is kept, and no new backup is made:
        backup_dir = f"{array_dir}.bak"
        progress = self._progress(status, f"Rechunking {name}")
        if local:
            # under the store lock: writers wait (up to the lock's timeout) rather than
            # write rows into the array while it is copied and swapped
            with self._locked():
                # finish or roll back a rechunk a crash interrupted (restoring an
                # earlier backup it had moved aside) before deciding whether a backup
                # exists:
                _core.recover_rechunk(array_dir)
                keep_old_backup = backup and bool(self.fs.isdir(backup_dir))
                report = _core.rechunk_object_array(
                    array_dir,
                    chunk_size,
                    backup=backup and not keep_old_backup,
                    # "full": the new chunks are on disk before the swap
                    fsync=self.durability == "full",
                    progress=self._keeping_lock(progress),
                )
        else:
            keep_old_backup = backup and bool(self.fs.isdir(backup_dir))
            # a write session (no lock over fsspec): the change marker says the array
            # changed, so readers drop the chunks and metadata they hold
            with self._write_session():
                report = self._rechunk_over_fsspec(
                    arr_path, chunk_size, backup and not keep_old_backup, progress
                )
        self._reset_cache()
        if keep_old_backup:
            report["backup"] = backup_dir
        if status:
            print(
                f"Rechunked {name}: {report['rows']} rows, chunk size "
                f"{report['old_chunk_size']} -> {report['new_chunk_size']}"
                + (f"; backup at {report['backup']}" if report.get("backup") else ""),
                file=sys.stderr,
            )
        return report

    # --- rechunk on file systems other than the local one ------------------------------

    def _fs_remove_dir(self, path: str) -> None:
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def _fs_move_dir(self, src: str, dst: str) -> None:
        try:
            self.fs.mv(src, dst, recursive=True)
        except TypeError:  # e.g. SFTP's `mv` has no `recursive` (it renames folders whole)
            self.fs.mv(src, dst)

    def _recover_rechunk_over_fsspec(self, array_dir: str) -> None:
        """Finish or roll back an interrupted rechunk of `array_dir` (as the core's
        ``recover_rechunk`` does on the local file system, with the same names)."""
        fs = self.fs
        tmp, old = f"{array_dir}{RECHUNK_TMP_SUFFIX}", f"{array_dir}{RECHUNK_OLD_SUFFIX}"
        if not fs.exists(array_dir):
            if fs.exists(f"{tmp}/{RECHUNK_COMPLETE_MARKER}"):
                self._fs_move_dir(tmp, array_dir)
            elif fs.exists(old):
                self._fs_move_dir(old, array_dir)
        if fs.exists(array_dir):
            self._fs_remove_dir(tmp)
            self._fs_remove_dir(old)
            marker = f"{array_dir}/{RECHUNK_COMPLETE_MARKER}"
            if fs.exists(marker):
                fs.rm_file(marker)

    def _rechunk_over_fsspec(
        self,
        arr_path: str,
        chunk_size: int | None,
        backup: bool,
        progress: Callable[[int, int], None] | None,
    ) -> dict[str, Any]:
        """Rechunk `arr_path` through the core's fsspec store: the new array is built
        beside the old one (``<array>.rechunk-tmp``, rows read and written in windows),
        then swapped in by two folder moves (``<array>`` to ``<array>.bak`` or
        ``<array>.rechunk-old``, then the new one to ``<array>``). The moves are renames
        on file systems that have them (SFTP), copies elsewhere (memory, object
        stores); an interrupted swap is finished or rolled back by the next rechunk."""
        if chunk_size is not None and chunk_size < 1:
            raise InvalidArgumentError(f"chunk size must be at least 1, not {chunk_size}")
        array_dir = f"{self.path.rstrip('/')}/{arr_path}"
        tmp_key = f"{arr_path}{RECHUNK_TMP_SUFFIX}"
        tmp_dir = f"{array_dir}{RECHUNK_TMP_SUFFIX}"
        try:
            self._recover_rechunk_over_fsspec(array_dir)
            store = self.core_store
            src = _core.ObjectArray.open(store, arr_path)
            bad = src.verify()
            if bad:
                raise RechunkError(
                    f"rechunk of {array_dir} aborted, nothing changed: {len(bad)} chunk(s) "
                    "cannot be decoded: " + ", ".join(f"{k} ({r})" for k, r in bad),
                    path=array_dir,
                    bad_chunks=bad,
                )
            n, old_cs = len(src), src.chunk_size
            new_cs = chunk_size if chunk_size is not None else max(n, 1)
            self._fs_remove_dir(tmp_dir)
            try:
                filters = src.meta.get("filters") or [None]
                dst = _core.ObjectArray.create(
                    store,
                    tmp_key,
                    0,
                    chunk_size=new_cs,
                    compressor=src.meta.get("compressor"),
                    fill_value=src.fill_value,
                    attrs=src.attrs(),
                    object_codec=filters[0],
                )
                window = new_cs * max(1, -(-_RECHUNK_WINDOW_ROWS // new_cs))
                for start in range(0, n, window):
                    stop = min(start + window, n)
                    dst.append(src.get_range(start, stop))
                    if progress is not None:
                        progress(stop, n)
                store.set(f"{tmp_key}/{RECHUNK_COMPLETE_MARKER}", b"")
            except BaseException:
                with contextlib.suppress(Exception):
                    self._fs_remove_dir(tmp_dir)
                raise
            backup_dir = f"{array_dir}.bak" if backup else None
            self._fs_move_dir(array_dir, backup_dir or f"{array_dir}{RECHUNK_OLD_SUFFIX}")
            self._fs_move_dir(tmp_dir, array_dir)
            self._recover_rechunk_over_fsspec(array_dir)
        except StoreError:
            raise
        except OSError as exc:
            raise StoreIOError(
                exc.errno or 0, f"rechunk of {array_dir} failed: {exc}", array_dir
            ) from exc
        return {
            "rows": n,
            "old_chunk_size": old_cs,
            "new_chunk_size": new_cs,
            "chunks_written": -(-n // new_cs),
            "backup": backup_dir,
        }

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
