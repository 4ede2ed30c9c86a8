"""The read-only Zarr zip store, format-compatible with hpcflow 0.2.0a190's zip store.

A zip store is a Zarr store written into a zip archive with its keys at the archive's
root (as :meth:`ZarrPersistentStore.zip` writes it). It is read in place: by the Rust
core's zip reader: on the local file system from the file (``Store.zip``), on any other
fsspec file system through a file object of it (``Store.zip_file``, see
:func:`wfstore.storage.fsspec.core_zip_store`). It cannot be
changed, only unzipped into a Zarr store.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar, NoReturn

from wfstore import _core
from wfstore.common.errors import ReadOnlyStoreError, StoreIOError, UnsupportedStoreOperationError
from wfstore.common.names import TMP_PREFIX
from wfstore.persistence.base import WRITING_MEMBERS
from wfstore.persistence.items import PersistentStoreFeatures
from wfstore.persistence.resources import is_local_fs
from wfstore.persistence.zarr import ZarrPersistentStore, write_copy_log
from wfstore.storage.fsspec import core_zip_store, io_lock


class ZarrZipPersistentStore(ZarrPersistentStore):
    """A Zarr workflow store inside a zip archive: an archive format (e.g. for data
    repositories), read in place and never modified.

    Every member that would write raises :class:`~wfstore.common.errors.ReadOnlyStoreError`
    naming the member; :meth:`unzip` expands the archive into a Zarr store;
    :meth:`zip` refuses (:class:`~wfstore.common.errors.UnsupportedStoreOperationError`).

    Parameters
    ----------
    app:
        The engine application object, or None.
    workflow:
        The engine workflow, or None.
    path:
        The ``.zip`` archive.
    fs:
        The fsspec file system holding the archive (local if None). A local archive
        is read by the Rust core; one on any other file system is read in place
        through a file object of `fs` (entries decoded by the Rust core).
    """

    _name: ClassVar[str] = "zip"
    _features: ClassVar[PersistentStoreFeatures] = PersistentStoreFeatures(
        create=False,
        edit=False,
        jobscript_parallelism=False,
        EAR_parallelism=False,
        schedulers=False,
        submission=False,
    )

    def _open_core_store(self) -> _core.Store:
        return core_zip_store(self.fs, self.path)

    def _read_change_marker(self) -> bytes | None:
        # an archive never changes under its reader: what was read stays valid
        return b"clean 0 archive"

    @property
    def is_submittable(self) -> bool:
        """Archives cannot be submitted."""
        return False

    def _read_only(self, member: str) -> NoReturn:
        raise ReadOnlyStoreError(
            f"{member}: the zip store {self.path!r} is read-only; unzip it first "
            "(`unzip()`) to get a Zarr store that can be changed."
        )

    @classmethod
    def write_empty_workflow(cls, app: Any, **kwargs: Any) -> None:
        """Not supported: zip stores are made by zipping a Zarr store."""
        raise ReadOnlyStoreError(
            "write_empty_workflow: zip stores cannot be created empty; write a Zarr "
            "store and zip it (`ZarrPersistentStore.zip()`)."
        )

    def save(self) -> None:
        """Commit pending changes: a zip store never has any (every add/set raises)."""
        if self.has_pending:
            self._read_only("save")

    def zip(
        self,
        path: str = ".",
        log: str | None = None,
        overwrite: bool = False,
        include_execute: bool = False,
        include_rechunk_backups: bool = False,
    ) -> str:
        """Not supported: the store is already a zip archive."""
        raise UnsupportedStoreOperationError("Already a zip store!")

    def unzip(self, path: str = ".", log: str | None = None) -> str:
        """Expand the archive into a new Zarr store, returning its path.

        `path` is the new store folder, or an existing folder to hold a store named
        after the workflow. `log`, a file path, receives a line per key copied and a
        summary, as zarr's ``copy_store`` writes them. The new store is written on the
        local file system (as the engine writes it); an archive on another file system
        is first copied to a local temporary file.
        """
        dst = Path(path).resolve()
        if dst.is_dir():
            dst = dst / self._workflow_name()
        if dst.exists():
            raise FileExistsError(f"Directory at path already exists: {str(dst)!r}.")
        if is_local_fs(self.fs):
            _core.unzip(self.path, dst)
            if log is not None:
                write_copy_log(log, self.path)
            return str(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"{TMP_PREFIX}unzip-", dir=dst.parent) as local:
            archive = os.path.join(local, "store.zip")
            try:
                with io_lock(self.fs):
                    self.fs.get_file(self.path, archive)
            except Exception as exc:
                raise StoreIOError(0, f"cannot copy {self.path!r}: {exc}", self.path) from exc
            _core.unzip(archive, dst)
            if log is not None:
                write_copy_log(log, archive)
        return str(dst)

    def delete_no_confirm(self) -> None:
        """Delete the archive."""
        self._core_store = None
        super().delete_no_confirm()


def _make_read_only(name: str) -> Any:
    @functools.wraps(getattr(ZarrPersistentStore, name))
    def member(self: ZarrZipPersistentStore, *args: Any, **kwargs: Any) -> NoReturn:
        self._read_only(name)

    member.__doc__ = "Not supported: the zip store is read-only."
    return member


for _name in WRITING_MEMBERS:
    setattr(ZarrZipPersistentStore, _name, _make_read_only(_name))
del _name
