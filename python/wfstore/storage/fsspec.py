"""Stores over any fsspec file system.

The Rust core reads and writes Zarr keys through a key-value :class:`wfstore._core.Store`.
On the local file system that store is pure Rust (``Store.local``, ``Store.zip``).
On any other fsspec file system (memory, SFTP, object stores, ...) the core calls back
into :class:`FsspecKeyValueStore` for each key of a folder, so chunk bytes move through
fsspec while they are still encoded and decoded by the Rust core, and every array
operation works unchanged. A zip archive on such a file system is read by the core's
zip reader through a file object of it (:func:`core_zip_store`:
``Store.zip_file(fs.open(path, "rb"))``).

Writes over fsspec are atomic where the file system allows it (``write_mode``):

``"rename"``
    the bytes are written under a temporary name in the key's folder
    (``.wfstore-tmp-<uuid>-<name>``), which is then renamed over the key (``fs.mv``;
    SFTP uses the server's POSIX rename, which replaces the target atomically; a
    server without OpenSSH's ``posix-rename`` extension makes every write fail with
    ``StoreIOError``: use ``"direct"`` there). The default for every file system that
    is not an object store.
``"direct"``
    the bytes are written straight to the key. Used for object stores and the memory
    file system, whose puts replace an object whole (readers see the old or the new
    value), and where a rename would be a copy and a delete.

Every failure is raised as a :class:`wfstore.common.errors.StoreError` subclass naming the
full path (URL) of the key: :class:`~wfstore.common.errors.StoreIOError` (an ``OSError``) for
file-system failures.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import uuid
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from fsspec import AbstractFileSystem

from wfstore.common.errors import (
    InvalidArgumentError,
    StoreError,
    StoreIOError,
)
from wfstore.common.names import LEGACY_SPARE_PREFIX, TMP_PREFIX

if TYPE_CHECKING:
    from wfstore import _core
    from wfstore.common.durability import Durability

__all__ = [
    "WRITE_MODES",
    "FsspecKeyValueStore",
    "core_store",
    "core_zip_store",
    "default_write_mode",
    "io_lock",
    "is_local_fs",
    "resolve",
    "strip_path",
    "url",
    "write_bytes",
]

#: The ways a key can be written (see the module documentation).
WRITE_MODES: tuple[str, str] = ("rename", "direct")
#: Protocols whose puts replace an object whole and that have no cheap rename.
_DIRECT_PROTOCOLS = frozenset(
    {"memory", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "r2"}
)
_LOCK_ATTR = "_wfstore_io_lock"


def is_local_fs(fs: AbstractFileSystem | None) -> bool:
    """Whether `fs` is fsspec's local file system (the Rust fast path)."""
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _protocols(fs: AbstractFileSystem) -> set[str]:
    proto = fs.protocol
    return {proto} if isinstance(proto, str) else set(proto)


def default_write_mode(fs: AbstractFileSystem) -> str:
    """``"direct"`` for object stores and the memory file system, else ``"rename"``."""
    return "direct" if _protocols(fs) & _DIRECT_PROTOCOLS else "rename"


def strip_path(fs: AbstractFileSystem, path: str | os.PathLike[str]) -> str:
    """`path` (which may be a URL such as ``ssh://host/path``) as a path on `fs`."""
    text = os.fspath(path)
    if is_local_fs(fs) and "://" not in text:
        return text
    return str(fs._strip_protocol(text))


def resolve(
    fs: AbstractFileSystem | None, path: str | os.PathLike[str]
) -> tuple[AbstractFileSystem, str]:
    """The file system and path of a store: `fs` if given, else the file system of
    `path` when it is a URL (``ssh://user@host/path``; options such as keys come from
    fsspec's configuration), else the local file system; `path` as a path on it."""
    if fs is None:
        text = os.fspath(path)
        if "://" in text:
            import fsspec.core

            fs, _ = fsspec.core.url_to_fs(text)
        else:
            from fsspec.implementations.local import LocalFileSystem

            fs = LocalFileSystem()
    return fs, strip_path(fs, path)


def url(fs: AbstractFileSystem, path: str) -> str:
    """`path` as a URL naming its file system and host if any (``memory:///wk``,
    ``sftp://host/wk``)."""
    host = getattr(fs, "host", None)
    if isinstance(host, str) and host:
        proto = sorted(_protocols(fs))[0]
        return f"{proto}://{host}/{path.lstrip('/')}"
    try:
        return str(fs.unstrip_protocol(path))
    except Exception:  # only used for messages
        return path


def _io_error(action: str, url: str, exc: BaseException) -> StoreError:
    """`exc`, raised while doing `action` on `url`, as a wfstore error naming `url`."""
    if isinstance(exc, StoreError):
        return exc
    code = exc.errno if isinstance(exc, OSError) and isinstance(exc.errno, int) else 0
    return StoreIOError(code, f"cannot {action} {url}: {type(exc).__name__}: {exc}", url)


def _join(root: str, key: str) -> str:
    key = key.strip("/")
    if not key:
        return root
    if not root:
        return key
    return f"{root.rstrip('/')}/{key}" if root != "/" else f"/{key}"


def _parent(path: str) -> str:
    head, sep, _ = path.rstrip("/").rpartition("/")
    return head if head else sep


def _pipe(fs: AbstractFileSystem, path: str, payload: bytes) -> None:
    """``fs.pipe_file``, or a file opened for writing where that is not implemented
    (e.g. fsspec 2022's ``DirFileSystem``)."""
    try:
        fs.pipe_file(path, payload)
    except NotImplementedError:
        with fs.open(path, "wb") as fh:
            fh.write(payload)


def _cat(fs: AbstractFileSystem, path: str) -> bytes:
    """``fs.cat_file``, or a file opened for reading where that is not implemented."""
    try:
        return bytes(fs.cat_file(path))
    except NotImplementedError:
        with fs.open(path, "rb") as fh:
            return bytes(fh.read())


def _put(fs: AbstractFileSystem, path: str, payload: bytes, mode: str, make_parent: bool) -> None:
    """Write `payload` to `path` (raising the file system's own exceptions)."""
    parent = _parent(path)
    if make_parent and parent:
        fs.makedirs(parent, exist_ok=True)
    if mode == "direct":
        _pipe(fs, path, payload)
        return
    tmp = _join(parent, f"{TMP_PREFIX}{uuid.uuid4().hex}-{path.rsplit('/', 1)[-1]}")
    try:
        _pipe(fs, tmp, payload)
        fs.mv(tmp, path)
    except BaseException:
        try:
            if fs.exists(tmp):
                fs.rm_file(tmp)
        except Exception:  # the first failure is the one to report
            pass
        raise


def _check_mode(write_mode: str | None, fs: AbstractFileSystem) -> str:
    mode = write_mode or default_write_mode(fs)
    if mode not in WRITE_MODES:
        raise InvalidArgumentError(f"write_mode must be one of {WRITE_MODES!r}, not {mode!r}")
    return mode


def write_bytes(
    fs: AbstractFileSystem, path: str, payload: bytes, write_mode: str | None = None
) -> None:
    """Write `payload` to `path` on a non-local `fs` (see ``write_mode`` in the module
    documentation), making its folder if needed; raise ``StoreIOError`` naming the path
    on failure (and leave no temporary file behind)."""
    mode = _check_mode(write_mode, fs)
    try:
        with io_lock(fs):
            _put(fs, path, payload, mode, make_parent=True)
    except Exception as exc:
        raise _io_error("write", url(fs, path), exc) from exc


def io_lock(fs: AbstractFileSystem) -> AbstractContextManager[Any]:
    """The lock serialising wfstore's calls to `fs` (one per file-system instance, the
    wrapped one for wrappers such as ``DirFileSystem``), or no lock for asynchronous
    file systems, whose sync calls are thread-safe."""
    base = _innermost(fs)
    if getattr(base, "async_impl", False):
        return contextlib.nullcontext()
    lock = base.__dict__.get(_LOCK_ATTR)
    if lock is None:
        lock = base.__dict__.setdefault(_LOCK_ATTR, threading.RLock())  # atomic
    return lock


def _innermost(fs: AbstractFileSystem) -> AbstractFileSystem:
    """The file system that a wrapper such as ``DirFileSystem`` delegates to."""
    seen = set()
    while isinstance(getattr(fs, "fs", None), AbstractFileSystem) and id(fs) not in seen:
        seen.add(id(fs))
        fs = fs.fs
    return fs


class FsspecKeyValueStore:
    """The keys of a Zarr store in the folder `root` of the fsspec file system `fs`,
    for :meth:`wfstore._core.Store.from_python`.

    Calls to a synchronous file system are serialised with a lock shared by every
    store on that file-system instance (clients such as paramiko's SFTP client are not
    meant to be shared by threads), so the core's parallel chunk work overlaps with I/O
    only in its Rust parts; asynchronous file systems (``async_impl``, e.g. s3fs,
    sshfs), whose calls are marshalled onto their own event loop, are called
    concurrently.
    """

    read_only = False

    def __init__(
        self, fs: AbstractFileSystem, root: str | os.PathLike[str], write_mode: str | None = None
    ) -> None:
        self.fs = fs
        self.root = strip_path(fs, root).rstrip("/") or "/"
        self.write_mode = _check_mode(write_mode, fs)
        self.location = url(fs, self.root)
        self._lock = io_lock(fs)
        self._dirs: set[str] = set()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r}, write_mode={self.write_mode!r})"

    def _path(self, key: str) -> str:
        return _join(self.root, key)

    def get(self, key: str) -> bytes | None:
        """The bytes of `key`, or None if it does not exist."""
        path = self._path(key)
        try:
            with self._lock:
                return _cat(self.fs, path)
        except (FileNotFoundError, IsADirectoryError):
            return None
        except Exception as exc:
            raise _io_error("read", url(self.fs, path), exc) from exc

    def set(self, key: str, value: bytes) -> None:
        """Write `key` (atomically where the file system allows)."""
        self._write(key, value, self.write_mode)

    def set_temp(self, key: str, value: bytes) -> None:
        """Write `key`, which no reader looks at until a later write shows it (a
        commit's temporary key renamed into place by :meth:`rename`, or a chunk past an
        array's recorded end): straight to the key, with no atomic write of its own."""
        self._write(key, value, "direct")

    def _write(self, key: str, value: bytes, mode: str) -> None:
        path = self._path(key)
        parent = _parent(path)
        try:
            with self._lock:
                try:
                    # a folder known to exist saves the round trips of `makedirs`.
                    _put(self.fs, path, value, mode, parent not in self._dirs)
                except FileNotFoundError:
                    if parent not in self._dirs:
                        raise
                    self._dirs.discard(parent)  # removed meanwhile: make it again
                    _put(self.fs, path, value, mode, True)
                self._dirs.add(parent)
        except Exception as exc:
            raise _io_error("write", url(self.fs, path), exc) from exc

    def rename(self, from_key: str, to_key: str) -> None:
        """Move `from_key` to `to_key`, replacing it (``fs.mv``: an atomic rename on
        file systems of the ``"rename"`` write mode, e.g. SFTP's POSIX rename; a copy
        and a delete on object stores). With it, the core journals commits of several
        keys, so that a crash or a lost connection in the middle of one is finished
        when the store is next opened."""
        src, dst = self._path(from_key), self._path(to_key)
        try:
            with self._lock:
                self.fs.mv(src, dst)
        except Exception as exc:
            raise _io_error("rename", url(self.fs, dst), exc) from exc

    def rename_dir(self, from_key: str, to_key: str) -> None:
        """Move the folder `from_key`, with every key below it, to `to_key` (which does
        not exist): a rename on file systems with folders (SFTP), a copy and a delete
        on others (memory, object stores). With it, the core rechunks arrays in the
        store (``_core.rechunk_array``)."""
        src, dst = self._path(from_key), self._path(to_key)
        try:
            with self._lock:
                try:
                    self.fs.mv(src, dst, recursive=True)
                except TypeError:  # e.g. SFTP's `mv` has no `recursive` (renames folders)
                    self.fs.mv(src, dst)
                self._dirs.clear()
        except Exception as exc:
            raise _io_error("rename", url(self.fs, dst), exc) from exc

    def delete_dir(self, prefix: str) -> None:
        """Delete the folder `prefix` and everything below it; a missing folder is not
        an error."""
        path = self._path(prefix)
        try:
            with self._lock:
                if self.fs.exists(path):
                    self.fs.rm(path, recursive=True)
                self._dirs.clear()
        except FileNotFoundError:
            return
        except Exception as exc:
            raise _io_error("delete", url(self.fs, path), exc) from exc

    def delete(self, key: str) -> None:
        """Delete `key`; a missing key is not an error."""
        path = self._path(key)
        try:
            with self._lock:
                self.fs.rm_file(path)
        except FileNotFoundError:
            return
        except Exception as exc:
            raise _io_error("delete", url(self.fs, path), exc) from exc

    def list_dir(self, prefix: str = "") -> list[str]:
        """Names directly below the folder key `prefix` (``[]`` if there is none)."""
        path = self._path(prefix)
        try:
            with self._lock:
                entries = self.fs.ls(path, detail=False)
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise _io_error("list", url(self.fs, path), exc) from exc
        here = path.rstrip("/")
        names = set()
        for entry in entries:
            full = str(entry).rstrip("/")
            if not full or self.fs._strip_protocol(full).rstrip("/") == here:
                continue
            name = full.rsplit("/", 1)[-1]
            if name and not name.startswith((TMP_PREFIX, LEGACY_SPARE_PREFIX)):
                names.add(name)
        return sorted(names)


def core_store(
    fs: AbstractFileSystem,
    root: str | os.PathLike[str],
    write_mode: str | None = None,
    durability: Durability | None = None,
) -> _core.Store:
    """The core store over the folder `root` of `fs`: pure Rust on the local file
    system, with writes of the given durability (see :mod:`wfstore.common.durability`;
    default ``"normal"``), through :class:`FsspecKeyValueStore` on any other (whose
    file system decides what its writes survive)."""
    from wfstore import _core

    if is_local_fs(fs):
        return _core.Store.local(strip_path(fs, root), durability=durability)
    return _core.Store.from_python(FsspecKeyValueStore(fs, root, write_mode))


def core_zip_store(fs: AbstractFileSystem, archive: str | os.PathLike[str]) -> _core.Store:
    """The read-only core store over the zip archive `archive` on `fs`, read by the
    core's zip reader: from the file on the local file system (``Store.zip``), through
    a file object of `fs` on any other (``Store.zip_file``; the store keeps the file
    open). Its reads take turns with the file system's other calls (:func:`io_lock`:
    one SFTP connection is not used by two threads at once). A missing archive raises
    ``StoreIOError`` (``ENOENT``) naming it."""
    from wfstore import _core

    path = strip_path(fs, archive)
    if is_local_fs(fs):
        return _core.Store.zip(path)
    location = url(fs, path)
    lock: Any = io_lock(fs)
    if not hasattr(lock, "acquire"):  # an asynchronous file system: the file's own
        lock = threading.Lock()
    try:
        with lock:
            fh = fs.open(path, "rb")
    except FileNotFoundError as exc:
        raise StoreIOError(
            errno.ENOENT, f"zip archive {location} does not exist", location
        ) from exc
    except Exception as exc:
        raise _io_error("open", location, exc) from exc
    try:
        return _core.Store.zip_file(fh, location, lock)
    except BaseException:
        fh.close()
        raise
