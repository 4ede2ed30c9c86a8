"""Store resources: documents that a store loads once, shares and writes back once.

A store maps its data onto named resources (e.g. the JSON store's ``metadata``,
``submissions`` and ``parameters`` files, or the Zarr store's root ``attrs``).
:meth:`PersistentStore.using_resource` opens a resource for an action (``"read"`` or
``"update"``); nested uses of the same (resource, action) share one copy of the data,
and an updated resource is written back once, when its outermost ``"update"`` use
exits without error, and only if its contents changed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from fsspec import AbstractFileSystem

from ..errors import StoreError, StoreIOError, StoreResourceError
from ..fsspec_store import io_lock, is_local_fs, write_bytes

#: The actions a resource can be opened for.
ACTIONS: tuple[str, str] = ("read", "update")


def _fingerprint(data: Any) -> str | None:
    """A digest of `data`'s JSON form, used to detect changes (None if `data` cannot
    be represented as JSON)."""
    try:
        text = json.dumps(data, default=repr)
    except (TypeError, ValueError):
        return None
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class StoreResource(ABC):
    """A document of store data shared by all uses within a store.

    Parameters
    ----------
    name:
        The resource label.
    logger:
        Logger for debug messages.
    """

    def __init__(self, name: str, logger: logging.Logger | None = None) -> None:
        self.name = name
        self.logger = logger or logging.getLogger("wfstore")
        #: Data currently open per action (None when not open).
        self.data: dict[str, Any] = dict.fromkeys(ACTIONS)
        self._fingerprint: str | None = None

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(name={self.name!r})"

    @abstractmethod
    def _load(self) -> Any:
        """Read the resource from storage."""

    @abstractmethod
    def _dump(self, data: Any) -> None:
        """Write the resource to storage."""

    def _check_action(self, action: str) -> None:
        if action not in ACTIONS:
            raise StoreResourceError(
                f"Unknown action {action!r} for store resource {self.name!r}; "
                f"expected one of {ACTIONS!r}."
            )

    def open(self, action: str) -> Any:
        """Open the resource for `action` and return its data.

        Opening to read while it is open to update gives a deep copy of the update data
        (so reads see pending writes, but cannot change them); opening to update while
        it is open to read reuses the read data.
        """
        self._check_action(action)
        if action == "read":
            upd = self.data["update"]
            data = copy.deepcopy(upd) if upd is not None else self._load()
        else:
            rd = self.data["read"]
            data = rd if rd is not None else self._load()
            self._fingerprint = self._fingerprint_opened(data)
        self.data[action] = data
        return data

    def _fingerprint_opened(self, data: Any) -> Any:
        """The fingerprint of `data` as opened for update (None: changes cannot be
        detected)."""
        return _fingerprint(data)

    def _fingerprint_closing(self, data: Any) -> Any:
        """The fingerprint of `data` as it is when its update use closes."""
        return _fingerprint(data)

    def close(self, action: str) -> None:
        """Close the resource for `action`; for ``"update"``, write the data if it
        changed (or if changes cannot be detected)."""
        self._check_action(action)
        data = self.data[action]
        if action == "update" and data is not None:
            new_fp = self._fingerprint_closing(data)
            if new_fp is None or new_fp != self._fingerprint:
                self.logger.debug(f"{self!r}: writing changed data.")
                self._dump(data)
            self._fingerprint = None
        self.data[action] = None

    def discard(self, action: str) -> None:
        """Close the resource for `action` without writing anything."""
        self._check_action(action)
        self.data[action] = None
        if action == "update":
            self._fingerprint = None


def write_bytes_atomic(
    fs: AbstractFileSystem, path: str, payload: bytes, fsync: bool = False
) -> None:
    """Write `payload` to `path` on `fs`, so that readers never see a partial file.

    On the local file system the bytes go to a temporary file in the same folder,
    which then replaces `path`; with `fsync` the file is flushed to disk before the
    rename (off by default, as for the Rust core's writes and hpcflow's). On any other
    file system they are written as :func:`wfstore.fsspec_store.write_bytes` writes
    them (a temporary name renamed into place, or one whole put on object stores and
    the memory file system).
    """
    if is_local_fs(fs):
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".wfstore-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                if fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    else:
        write_bytes(fs, path, payload)


class JSONFileStoreResource(StoreResource):
    """A resource kept as one JSON file.

    The file is written as compact JSON by the standard library's C encoder (readers,
    hpcflow's included, parse it as they parse its indented form). The bytes of the
    document serve as its fingerprint; when the file holds exactly the bytes this
    resource last wrote, opening it for update encodes nothing, so a commit encodes
    the document once.

    Parameters
    ----------
    name:
        The resource label.
    path:
        The folder holding the file.
    filename:
        The file name.
    fs:
        The file system holding the folder.
    logger:
        Logger for debug messages.
    """

    def __init__(
        self,
        name: str,
        path: str,
        filename: str,
        fs: AbstractFileSystem,
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__(name, logger)
        self.path = str(path)
        self.filename = filename
        self.fs = fs
        #: (data, raw bytes) of the last load, the bytes this resource last wrote (or
        #: found canonical), and (data, bytes) encoded at the last close.
        self._loaded: tuple[Any, bytes] | None = None
        self._written: bytes | None = None
        self._encoded: tuple[Any, bytes] | None = None

    @property
    def full_path(self) -> str:
        """The file's path on its file system."""
        return f"{self.path.rstrip('/')}/{self.filename}"

    @staticmethod
    def _encode(data: Any) -> bytes:
        return json.dumps(data, separators=(",", ":")).encode("utf-8")

    def _load(self) -> Any:
        self.logger.debug(f"{self!r}: loading {self.full_path!r}.")
        try:
            with io_lock(self.fs), self.fs.open(self.full_path, "rb") as fh:
                raw = fh.read()
        except (FileNotFoundError, StoreError):
            raise
        except Exception as exc:
            raise StoreIOError(
                getattr(exc, "errno", None) or 0,
                f"cannot read {self.full_path!r}: {type(exc).__name__}: {exc}",
                self.full_path,
            ) from exc
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError as exc:
            raise StoreResourceError(
                f"Store resource {self.name!r}: {self.full_path!r} is not a JSON document "
                f"({exc})."
            ) from exc
        self._loaded = (data, raw)
        return data

    def _fingerprint_opened(self, data: Any) -> Any:
        loaded, self._loaded = self._loaded, None
        if loaded is not None and loaded[0] is data and loaded[1] == self._written:
            return loaded[1]  # the file holds what this resource wrote: no encoding
        try:
            payload = self._encode(data)
        except (TypeError, ValueError):
            return None
        if loaded is not None and loaded[0] is data and loaded[1] == payload:
            self._written = payload  # the file is already in this resource's form
        return payload

    def _fingerprint_closing(self, data: Any) -> Any:
        try:
            payload = self._encode(data)
        except (TypeError, ValueError):
            return None
        self._encoded = (data, payload)
        return payload

    def close(self, action: str) -> None:
        try:
            super().close(action)
        finally:
            self._encoded = None

    def _dump(self, data: Any) -> None:
        self.logger.debug(f"{self!r}: writing {self.full_path!r}.")
        encoded, self._encoded = self._encoded, None
        payload = encoded[1] if encoded is not None and encoded[0] is data else self._encode(data)
        self._written = None
        write_bytes_atomic(self.fs, self.full_path, payload)
        self._written = payload


class CallbackStoreResource(StoreResource):
    """A resource loaded and dumped by callables (e.g. Zarr group attributes read
    and written through the Rust core).

    Parameters
    ----------
    name:
        The resource label.
    load:
        Returns the data.
    dump:
        Writes the data.
    logger:
        Logger for debug messages.
    """

    def __init__(
        self,
        name: str,
        load: Callable[[], Any],
        dump: Callable[[Any], None],
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__(name, logger)
        self._load_cb = load
        self._dump_cb = dump

    def _load(self) -> Any:
        return self._load_cb()

    def _dump(self, data: Any) -> None:
        self._dump_cb(data)
