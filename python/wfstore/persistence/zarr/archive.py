"""Zip export of the Zarr store (``zip``, ``unzip``) and the copy log the engine
writes beside them."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from wfstore import _core
from wfstore.common.errors import (
    StoreIOError,
    UnsupportedStoreOperationError,
)
from wfstore.common.names import CHANGE_MARKER_NAME, LINK_LOCK_NAME, LOCK_NAME, TMP_PREFIX
from wfstore.persistence.resources import is_local_fs
from wfstore.persistence.zarr.layout import ZIP_EXCLUDE_BACKUPS, ZIP_EXCLUDE_EXECUTE
from wfstore.storage.fsspec import io_lock


class ZarrArchive:
    """``zip`` and ``unzip`` of
    :class:`~wfstore.persistence.zarr.store.ZarrPersistentStore` (a part of it)."""

    #: the rechunk backups a zip leaves out unless asked (a generation's layer may differ)
    _zip_backups: tuple[str, ...] = ZIP_EXCLUDE_BACKUPS

    # --- archive and rechunk -----------------------------------------------------------

    def _workflow_name(self) -> str:
        name = getattr(self._workflow, "name", None)
        return name if isinstance(name, str) else self.get_name()

    def zip(
        self,
        path: str = ".",
        log: str | None = None,
        overwrite: bool = False,
        include_execute: bool = False,
        include_rechunk_backups: bool = False,
    ) -> str:
        """Write the store into a zip archive, returning its path once the archive is
        complete and closed.

        `path` is the archive's path, or an existing folder to hold ``<name>.zip``.
        Keys are stored at the archive's root; ``execute`` folders and the rechunk
        backups ``runs.bak``/``base.bak`` are left out unless included. `log`, a file
        path, receives a line per key copied and a summary, as zarr's ``copy_store``
        writes them.

        The archive is written on the local file system (as the engine writes it),
        whatever file system holds the store: a store on another file system is first
        copied (without the excluded folders) into a local temporary folder.
        """
        dst = Path(path).resolve()
        if dst.is_dir():
            dst = (dst / self._workflow_name()).with_suffix(".zip")
        if dst.exists() and not overwrite:
            raise FileExistsError(
                f"File at path already exists: {str(dst)!r}. Pass `overwrite=True` to "
                "overwrite the existing file."
            )
        # the store lock's files and the change marker are the writers' and readers'
        # business, not the workflow's
        exclude: list[str] = [LOCK_NAME, LINK_LOCK_NAME, CHANGE_MARKER_NAME]
        if not include_execute:
            exclude.append(ZIP_EXCLUDE_EXECUTE)
        if not include_rechunk_backups:
            exclude.extend(self._zip_backups)
        tmp = dst.with_name(f"{TMP_PREFIX}{dst.name}")
        if tmp.exists():
            tmp.unlink()
        if is_local_fs(self.fs):
            _core.zip_dir(self.path, tmp, exclude, progress=self._progress(False, "zip"))
        else:
            with tempfile.TemporaryDirectory(prefix=f"{TMP_PREFIX}zip-", dir=dst.parent) as local:
                with io_lock(self.fs):
                    self._download(local, exclude)
                _core.zip_dir(local, tmp, exclude, progress=self._progress(False, "zip"))
        os.replace(tmp, dst)
        if log is not None:
            write_copy_log(log, dst)
        return str(dst)

    def _download(self, local: str, exclude: Sequence[str]) -> None:
        """Copy the store's files (except those under a folder named in `exclude`)
        from its file system into the local folder `local`."""
        root = self.path.rstrip("/")
        try:
            remote_files = self.fs.find(root)
        except Exception as exc:
            raise StoreIOError(0, f"cannot list {root!r}: {exc}", root) from exc
        for remote in remote_files:
            rel = remote[len(root) :].strip("/") if remote.startswith(root) else ""
            parts = rel.split("/")
            if not rel or any(p in exclude for p in parts[:-1]):
                continue
            target = os.path.join(local, *parts)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            try:
                self.fs.get_file(remote, target)
            except Exception as exc:
                raise StoreIOError(0, f"cannot copy {remote!r}: {exc}", remote) from exc

    def unzip(self, path: str = ".", log: str | None = None) -> str:
        """Not supported: this store is not an archive."""
        raise UnsupportedStoreOperationError("Not a zip store!")


def write_copy_log(log: str | os.PathLike[str], archive: str | os.PathLike[str]) -> None:
    """Write the log of a zip or unzip of `archive` to the file `log`: one
    ``copy <key>`` line per entry, then ``all done: N copied, 0 skipped, B bytes
    copied`` (the lines of zarr's ``copy_store``, which the engine's zip uses); the
    entries are listed by the core's zip reader."""
    entries = _core.Store.zip(os.fspath(archive)).zip_entries()
    lines = [f"copy {name}" for name, _size in entries]
    total = sum(size for _name, size in entries)
    lines.append(f"all done: {len(entries):,} copied, 0 skipped, {total:,} bytes copied")
    Path(log).write_text("\n".join(lines) + "\n")
