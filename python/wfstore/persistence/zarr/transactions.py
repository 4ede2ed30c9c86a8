"""Commits of the Zarr store: the Rust core store it writes through, recovery of what
crashed writers left, the store lock, and transactions (staged writes applied at once)."""

from __future__ import annotations

import contextlib
import copy
import os
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any

from wfstore import _core
from wfstore.common.errors import (
    StoreError,
    StoreIOError,
    StorePathError,
)
from wfstore.common.names import CHANGE_MARKER_NAME, JOURNAL_PREFIX, LOCK_NAME, TMP_PREFIX
from wfstore.persistence.readcache import (
    CLEAN,
    DIRTY,
    GROUP_MARKER_CHARS,
    GROUP_MARKER_LIMIT,
    NO_ENTRY,
    Entry,
    ReadCache,
    group_marker_offset,
    head_id,
    is_clean,
    marker_counter,
    marker_in_group,
    marker_slot,
    marker_value,
    parse_marker,
)
from wfstore.persistence.resources import is_local_fs, write_bytes_atomic
from wfstore.persistence.zarr.layout import (
    _ATTRS,
    PARAM_BASE_ARR,
    PARAM_SOURCES_ARR,
    RUNS_ARR,
    chunk_key,
    chunk_keys,
)
from wfstore.persistence.zarr.parameters import extra_parameter_sources
from wfstore.storage.fsspec import core_store, io_lock
from wfstore.storage.lock import StoreLock

#: `_group_marker_offset` not yet read from the root .zgroup.
_UNDECIDED: Any = object()
#: `_marker_held` while the store lock is held and the marker not yet read under it
_UNREAD: Any = object()

#: Bytes per read of the change marker (one read holds a marker and a short history).
_MARKER_READ = 16384
#: Most chunks a transaction's commit puts in the read cache as staged (`_note_staged`).
_KEPT_STAGED_CHUNKS = 16


def store_lock_at(root: str | os.PathLike[str], **kwargs: Any) -> StoreLock:
    """The writers' lock of the Zarr store in the local folder `root` (`kwargs` for
    :class:`StoreLock`): taken on its root ``.zgroup`` when that holds the change
    marker (stores wfstore creates), else on :data:`LOCK_NAME` (stores the engine's
    own classes made). Every writer of a store decides the same way."""
    path = os.path.join(root, ".zgroup")
    try:
        with open(path, "rb") as f:
            doc: bytes | None = f.read()
    except FileNotFoundError:
        doc = None
    except OSError as exc:  # (guessing could lock another file than the writers')
        raise StoreIOError(
            exc.errno or 0, f"cannot read {path!r} to choose the store lock: {exc}", path
        ) from exc
    name = LOCK_NAME if group_marker_offset(doc) is None else ".zgroup"
    return StoreLock(root, lock_file=name, **kwargs)


class ZarrTransactions:
    """The core store, locking and commits of
    :class:`~wfstore.persistence.zarr.store.ZarrPersistentStore` (a part of it)."""

    def _init_commit_state(self) -> None:
        """This part's state (called by the store classes' ``__init__``)."""
        self._core_store: _core.Store | None = None
        self._store_lock: StoreLock | None = None
        self._in_txn = False
        self._txn_holds_lock = False
        #: depth of nested write sessions (see `_write_session`)
        self._wdepth = 0
        #: the store keys the current write session wrote (None: not known)
        self._session_keys: list[str] | None = None
        #: chunks the current write session wrote, as written, for the read cache
        #: (``(array path, chunk index, ObjectChunk)``; see `_write_session`)
        self._session_chunks: list[tuple[str, int, _core.ObjectChunk]] = []
        #: chunks the transaction under way staged, to be cached as it stages them
        #: last (``(array, chunk indices)``; see `_note_staged` and `_staged_chunks`)
        self._txn_chunks: list[tuple[_core.ObjectArray, list[int]]] = []
        #: the change marker as read under the store lock held by `_lock_held` or by a
        #: transaction (None: not held; `_UNREAD`: not read yet; see `_held_array`)
        self._marker_held: Any = None
        #: what the last commit wrote (for diagnostics and tests)
        self.last_commit_report: dict[str, Any] | None = None
        #: the clean marker value the last write session of this object ended with,
        #: when it held the store lock and completed (else None)
        self._session_end: bytes | None = None
        #: the change marker as read when the current write session took the store
        #: lock (None outside one, or without a lock)
        self._session_start: bytes | None = None

    # --- the Rust core store and arrays ------------------------------------------------

    def _open_core_store(self) -> _core.Store:
        if is_local_fs(self.fs):
            # finish any commit or rechunk that a crashed writer left half-applied
            self._recover_journals()
            store = core_store(self.fs, self.path, durability=self.durability)
            self._recover_rechunks(store)
            self._recover_parameter_append(store)
            return store
        store = core_store(self.fs, self.path)
        # over other file systems commits of several keys are journaled too (where
        # keys can be renamed): finish those a crash or a lost connection cut short
        try:
            names = store.list_dir("")
        except StoreIOError as exc:  # e.g. a read-only file system that cannot list
            self.logger.warning(f"cannot look for interrupted commits: {exc}")
            return store
        if not any(n.startswith(JOURNAL_PREFIX) for n in names):
            return store
        finished = store.recover_journals()
        if finished:
            self.logger.warning(f"finished {finished} interrupted commit(s) in {store.location!r}")
        return store

    def _recover_journals(self) -> None:
        """Finish the commits crashed writers left half-applied (their journals), under
        the store lock only: a journaled commit holds the lock from writing its journal
        to deleting it (see :meth:`_commit_transaction`), so a journal seen under the
        lock is a dead writer's, whichever host of a shared file system it ran on. When
        the lock cannot be had, the journals are left for the next opener."""
        try:
            names = os.listdir(self.path)
        except OSError:
            return
        if not any(n.startswith(JOURNAL_PREFIX) and not n.startswith(TMP_PREFIX) for n in names):
            return
        try:
            with self._locked():
                finished = _core.recover_journals(self.path, locked=True)
        except StoreError as exc:  # e.g. a store this process may not write, a busy lock
            self.logger.warning(f"cannot finish interrupted commits now: {exc}")
            return
        if finished:
            self.logger.info(f"finished {finished} interrupted commit(s) in {self.path!r}")

    def _recover_parameter_append(self, store: _core.Store) -> None:
        """Drop what a parameter append cut short left (see :func:`_appends_in_order`):
        rows of the sources array beyond the base array's. Checked under the store lock,
        which a live append holds until its last rename; on other file systems (no
        lock, so the append may still be at work) the next append trims them instead."""
        if not extra_parameter_sources(store, trim=False):
            return
        try:
            with self._locked():
                extra = extra_parameter_sources(store, trim=True)
                if extra:
                    self.logger.warning(
                        f"dropped {extra} parameter source(s) of an interrupted append "
                        f"in {store.location!r}"
                    )
        except StoreError as exc:  # e.g. a store this process may not write
            self.logger.warning(f"cannot finish an interrupted parameter append: {exc}")

    def _recover_rechunks(self, store: _core.Store) -> None:
        """Finish an interrupted rechunk of ``runs``/``base`` if a crash left the array
        missing (between the two renames of the swap), by the core's
        ``recover_rechunk_array``. Only then: while the array is in place, another process
        may be rechunking it, and its temporary folder must not be touched (leftovers
        of a crash are cleared by the next rechunk)."""
        for arr_path in (RUNS_ARR, PARAM_BASE_ARR):
            array_dir = os.path.join(self.path, *arr_path.split("/"))
            if not os.path.isdir(array_dir) and os.path.isdir(os.path.dirname(array_dir)):
                # a rechunk holds the store lock until its swap is done: once we have
                # the lock, a missing array is a crashed rechunk's
                with self._locked():
                    if not os.path.isdir(array_dir):
                        _core.recover_rechunk_array(store, arr_path)

    @property
    def core_store(self) -> _core.Store:
        """The Rust core's key-value store over this store."""
        if self._core_store is None:
            self._core_store = self._open_core_store()
        return self._core_store

    def _array(self, path: str, write_empty_chunks: bool = True) -> _core.ObjectArray:
        return _core.ObjectArray.open(self.core_store, path, write_empty_chunks)

    def _load_root_attrs(self) -> dict[str, Any]:
        attrs = self.core_store.read_attrs("")
        if not attrs and self.core_store.get(".zgroup") is None:
            raise StorePathError(
                f"No Zarr workflow store at {self.core_store.location!r} (no root group)."
            )
        return attrs

    def _dump_root_attrs(self, attrs: dict[str, Any]) -> None:
        self.core_store.write_attrs("", attrs)

    # --- writing safely beside other processes ------------------------------------------

    @property
    def store_lock(self) -> StoreLock | contextlib.nullcontext[None]:
        """The store's writer lock (see :mod:`wfstore.storage.lock`), taken by every
        write that reads and rewrites data other processes may change: the root
        attributes, array attributes (lookup lists), appends, and rows of chunks that
        hold more than one row. Callable as a context manager; re-entrant."""
        if not self._is_local_fs:
            return contextlib.nullcontext()
        if self._store_lock is None:
            # (a store with the marker in its root .zgroup is locked on that file)
            self._store_lock = store_lock_at(self.path)
        return self._store_lock

    @property
    def _is_local_fs(self) -> bool:
        return is_local_fs(self.fs)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the store lock while the block runs. Inside a commit's transaction the
        lock, once taken, is held until the transaction is applied: what was read
        under it must not change before the staged writes reach the disk. Outside one,
        the block is a write session whose keys are not known (:meth:`_write_session`):
        the change marker is advanced around it. A write whose keys are known before
        it starts uses :meth:`_keyed_write`."""
        lock = self.store_lock
        if self._in_txn:
            if isinstance(lock, StoreLock) and not self._txn_holds_lock:
                lock.acquire()
                self._txn_holds_lock = True
                self._marker_held = _UNREAD  # (held to the transaction's end)
            yield
        else:
            with self._write_session():
                yield

    # --- the change marker and the read cache --------------------------------------------

    def _group_marker_at(self) -> int | None:
        """Where the change marker's slot is in the root ``.zgroup``: stores wfstore
        creates keep the marker there and are locked on that file; None for a store
        the engine's own classes made, whose marker and lock are files of their own
        (:data:`CHANGE_MARKER_NAME`, :data:`LOCK_NAME`). Decided once per store object
        (a store has the slot from its creation or never), not before the store
        exists."""
        at = self.__dict__.get("_group_marker_offset", _UNDECIDED)
        if at is _UNDECIDED:
            # (read directly: opening the core store may take the lock, which asks)
            doc = self._read_marker_file(f"{self.path.rstrip('/')}/.zgroup")
            if doc is None:
                return None  # no store yet, or unreadable now: decided at a later call
            at = self._group_marker_offset = group_marker_offset(doc)
        return at

    @property
    def _marker_path(self) -> str:
        name = CHANGE_MARKER_NAME if self._group_marker_at() is None else ".zgroup"
        return f"{self.path.rstrip('/')}/{name}"

    def _read_change_marker(self) -> bytes | None:
        """The change marker's value (None if there is none or it cannot be read: then
        nothing is trusted), opened and read, not stat'ed (see
        :mod:`wfstore.persistence.readcache`)."""
        value = self._read_marker_file()
        at = self._group_marker_at()
        if at is None or value is None:
            return value
        # the slot decoded once per value it holds (a read per operation: the same
        # bytes, mostly)
        slot = value[at : at + GROUP_MARKER_CHARS]
        memo = self.__dict__.get("_marker_memo")
        if memo is None or memo[0] != slot:
            memo = self._marker_memo = (slot, marker_in_group(value, at))
        return memo[1]

    def _read_marker_file(self, path: str | None = None) -> bytes | None:
        """The bytes of the marker's file (or of `path`), opened and read; None if it
        cannot be read."""
        path = self._marker_path if path is None else path
        if self._is_local_fs:
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                return None
            try:
                chunks = [os.read(fd, _MARKER_READ)]
                while len(chunks[-1]) == _MARKER_READ and len(chunks) < 64:
                    chunks.append(os.read(fd, _MARKER_READ))  # (a long history)
                return b"".join(chunks)
            except OSError:
                return None
            finally:
                os.close(fd)
        try:
            with io_lock(self.fs):
                return bytes(self.fs.cat_file(path))
        except Exception:  # no marker, or unreadable: trust nothing
            return None

    def _write_change_marker(
        self, state: bytes, counter: int, history: Sequence[Entry] = (), changed: Any = NO_ENTRY
    ) -> bytes:
        """Set the change marker to a new value in `state` with `counter`, `history`
        and this commit's `changed` keys (see :func:`~wfstore.persistence.readcache.marker_value`;
        under the store lock, which the caller holds); returns the value. In the root
        ``.zgroup``'s slot, only the slot's bytes are rewritten: the document keeps its
        length and stays valid JSON for any reader."""
        at = self._group_marker_at()
        if at is None and "_group_marker_offset" not in self.__dict__:
            # (.zgroup unreadable now: a marker written elsewhere would go unseen)
            path = f"{self.path.rstrip('/')}/.zgroup"
            raise StoreIOError(0, f"cannot read {path!r} to find the change marker", path)
        limit = None if at is None else GROUP_MARKER_LIMIT
        value = marker_value(state, counter, history, changed, limit)
        if at is not None:
            self._write_group_marker(at, value)
            return value
        # never flushed, whatever the store's durability: the marker only tells live
        # processes whether their in-memory caches are valid, and no cache survives a
        # power cut. Rewritten in place on the local file system (a rename over an
        # existing file can wait for its data to reach the disk, ext4's auto_da_alloc:
        # two per commit would cost more than the commit); a reader racing the write
        # may read a mix of the two values, which is neither, so "changed": safe. A
        # writer dying mid-write leaves a value that is not clean: safe.
        try:
            if self._is_local_fs:
                try:
                    fd = os.open(self._marker_path, os.O_WRONLY | os.O_CREAT, 0o666)
                except PermissionError:  # made by another user: replace it instead
                    write_bytes_atomic(self.fs, self._marker_path, value, durability="normal")
                    return value
                try:
                    os.pwrite(fd, value, 0)
                    os.ftruncate(fd, len(value))
                finally:
                    os.close(fd)  # (on NFS the close sends the bytes: close-to-open)
                return value
            write_bytes_atomic(self.fs, self._marker_path, value, durability="normal")
        except StoreError:
            raise
        except OSError as exc:  # e.g. a full disk: as every other write fails
            raise StoreIOError(
                exc.errno or 0,
                f"cannot write the change marker {self._marker_path!r}: {exc}",
                self._marker_path,
            ) from exc
        return value

    def _write_group_marker(self, at: int, value: bytes) -> None:
        """Put the marker `value` in the slot at `at` of the root ``.zgroup`` (in place
        on the local file system, never flushed, as the marker file; elsewhere the
        document is replaced whole)."""
        path = self._marker_path
        slot = marker_slot(value)
        try:
            if self._is_local_fs:
                fd = os.open(path, os.O_WRONLY)
                try:
                    os.pwrite(fd, slot, at)
                finally:
                    os.close(fd)  # (on NFS the close sends the bytes: close-to-open)
                return
            doc = self._read_marker_file()
            if doc is None or group_marker_offset(doc) != at:
                raise OSError(f"the root group document {path!r} has no change marker")
            doc = doc[:at] + slot + doc[at + len(slot) :]
            write_bytes_atomic(self.fs, path, doc, durability="normal")
        except OSError as exc:  # e.g. a full disk: as every other write fails
            raise StoreIOError(
                exc.errno or 0, f"cannot write the change marker in {path!r}: {exc}", path
            ) from exc

    @contextlib.contextmanager
    def _write_session(
        self, keys: list[str] | None = None, planned: bool = False
    ) -> Iterator[None]:
        """Hold the store lock while the block changes data files, with the change
        marker made dirty before the block and clean after it (the second even if the
        block raised: its files are then as it left them, and no longer changing).
        Re-entrant: a nested session is part of the outer one.

        `planned`: `keys` already names every key the block will write (a commit's
        staged writes); the dirty value then names them too, after the history, so
        that readers meanwhile keep what the commit does not change
        (:meth:`~wfstore.persistence.readcache.ReadCache.ready`).

        The marker is read once, at the start (under the lock, nobody else changes it
        until the end). This store object's read cache is then brought up to date:
        when the block completed, `keys` (a list the block fills with the store keys
        it writes, nested sessions' included) are given and the marker at the start
        held the clean value the cache was last valid under (no other writer in
        between), only those keys' chunks and metadata are dropped; else the whole
        cache is emptied (what the block wrote may be in cached chunks). Chunks the
        block recorded as written (``_session_chunks``) are then cached as written:
        nobody else wrote while the lock was held."""
        if self._wdepth:
            self._wdepth += 1
            try:
                yield
            finally:
                self._wdepth -= 1
                outer = self._session_keys
                if keys is None:
                    self._session_keys = None  # a nested write not known: nor the whole
                elif outer is not None and outer is not keys:
                    outer.extend(keys)
            return
        lock = self.store_lock
        locked = isinstance(lock, StoreLock)
        with lock() if locked else contextlib.nullcontext():
            self._wdepth = 1
            self._session_keys = keys
            value: bytes | None = None
            completed = False
            held = self._marker_held
            before = self._read_change_marker() if held is _UNREAD or held is None else held
            self._session_start = before if locked else None
            counter = marker_counter(before)
            history = self._marker_history(before)
            try:
                # before any data file changes: a reader that cached data under the old
                # (clean) value never trusts them again, whatever happens next, except
                # for keys this value says the commit does not change
                if planned and locked and keys is not None and history is not None:
                    self._write_change_marker(DIRTY, counter + 1, history, list(keys))
                else:
                    self._write_change_marker(DIRTY, counter + 1)
                yield
                completed = True
            finally:
                self._wdepth = 0
                self._session_start = None
                if self._marker_held is not None:
                    self._marker_held = _UNREAD  # (changed by this session)
                # (without a store lock, another writer may have written meanwhile)
                written = self._session_keys if completed and locked else None
                try:
                    # the history names what this commit changed, if it is known and
                    # follows the last remembered commit (not a crashed writer's)
                    changed = written if history is not None else None
                    value = self._write_change_marker(CLEAN, counter + 2, history or (), changed)
                except Exception as exc:  # the marker stays dirty: safe
                    self.logger.warning(f"cannot advance the change marker: {exc}")
                self._session_keys = None
                self._session_end = value if written is not None else None
                chunks, self._session_chunks = self._session_chunks, []
                self._rcache.written(value, before, written, chunks if written else ())

    @staticmethod
    def _marker_history(before: bytes | None) -> Sequence[Entry] | None:
        """The commits remembered by the marker value `before` (read at a commit's
        start, under the lock), to be carried on; None if the changes since the last
        of them are not known (the marker dirty: a writer died; or unreadable). A clean
        value without history (as written by a new store, or by wfstore before it kept
        one) starts one with its own commit, whose changes are not needed."""
        head, entries = parse_marker(before)
        ident = head_id(head)
        if not is_clean(head) or entries is None or ident is None:
            return None
        if not entries:
            return [(ident[0], ident[1], None)]
        if entries[-1][:2] != ident:
            return None
        return entries

    def _reader(self) -> ReadCache | None:
        """The read cache, made valid for use now (the marker read once per
        operation), or None while this object writes (a commit reads what it stages
        and what it holds the lock for, never the cache)."""
        if self._in_txn or self._wdepth:
            return None
        rc = self._rcache
        rc.ready()
        return rc

    @contextlib.contextmanager
    def _commit_transaction(self, kinds: Collection[str] = ()) -> Iterator[None]:
        """One commit is one transaction of the Rust core's store: its writes are staged
        and applied all or nothing (crash-safe on the local file system, through a
        commit journal; see ``wfstore_core::txn``). If the commit raises, nothing of it
        is written. A commit that only appends parameters needs no journal (see
        :func:`_appends_in_order`)."""
        core = self.core_store
        if self._in_txn:
            yield
            return
        if not core.transactional:
            with self._write_session():
                yield
            return
        core.begin()
        self._in_txn = True
        try:
            try:
                yield
                journal = not _appends_in_order(kinds, core.staged_keys)
                if journal:
                    # a journaled commit holds the store lock until its journal is
                    # deleted (in a transaction the lock, once taken, is held to its
                    # end), so that openers replay only dead writers' journals
                    with self._locked():
                        pass
            except BaseException:
                core.rollback()
                raise
            # the files change only now: a write session around the apply (the marker
            # dirty before the first rename, clean after the last); the keys it writes
            # are what this store's read cache drops
            staged = core.staged_keys()
            kept = self._staged_chunks(staged) if self._txn_chunks else []
            with self._write_session(list(staged), planned=True):
                self._session_chunks.extend(kept)
                self.last_commit_report = core.commit(journal=journal)
        finally:
            # (closed by the commit; still open if the write session failed to start,
            # e.g. its dirty marker not written: nothing was applied then)
            core.rollback()
            self._in_txn = False
            self._txn_chunks.clear()
            if self._txn_holds_lock:
                self._txn_holds_lock = False
                self._marker_held = None
                self.store_lock.release()  # type: ignore[union-attr]

    @contextlib.contextmanager
    def using_resource(self, res_label: str, action: str) -> Iterator[Any]:  # type: ignore[override]
        """As :meth:`PersistentStore.using_resource`; updating the root attributes also
        holds the store lock, from loading them to writing them back, so that
        concurrent updates from other processes are never lost."""
        if res_label == _ATTRS and action == "update":
            with self._locked(), super().using_resource(res_label, action) as data:
                yield data
        else:
            with super().using_resource(res_label, action) as data:
                yield data

    def _write_rows(
        self,
        path: str,
        make_rows: Callable[[_core.ObjectArray, dict[str, Any]], Any],
        write: Callable[[_core.ObjectArray, Any], None],
        write_empty_chunks: bool = True,
        ids: Sequence[int] | None = None,
    ) -> None:
        """Make rows with ``make_rows(arr, attrs)`` and store them with
        ``write(arr, rows)``, under the store lock (the array is read once, under it).

        `attrs` are the array's attributes (lookup lists), which `make_rows` may extend;
        extended attributes are written before the rows. The lock is taken even when
        each chunk holds one row (no other writer shares it): a rechunk holds the lock
        while it copies and swaps the array, and a row written meanwhile would be lost
        or land in a chunk of the new layout.

        `ids`: the rows `write` sets, if it sets only those (then the keys written are
        known before any file changes, see :meth:`_keyed_write`)."""
        with self._lock_held() if ids is not None else self._locked():
            arr = self._array(path, write_empty_chunks)
            orig = arr.attrs()
            attrs = copy.deepcopy(orig)
            rows = make_rows(arr, attrs)
            changed = attrs != orig
            if ids is None:
                session: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
            else:
                keys = chunk_keys(arr, ids) + ([f"{arr.path}/.zattrs"] if changed else [])
                session = self._keyed_write(keys)
            with session:
                if changed:
                    arr.set_attrs(attrs)
                write(arr, rows)

    @contextlib.contextmanager
    def _lock_held(self) -> Iterator[None]:
        """Hold the store lock while the block runs, as :meth:`_locked` does, but
        outside a transaction with no write session: the block reads what it needs
        under the lock, then writes in a :meth:`_keyed_write`."""
        if self._in_txn:
            with self._locked():
                yield
            return
        lock = self.store_lock
        if not isinstance(lock, StoreLock):
            yield
            return
        with lock():
            outer, self._marker_held = self._marker_held, _UNREAD
            try:
                yield
            finally:
                self._marker_held = outer

    def _held_array(self, path: str, write_empty_chunks: bool = True) -> _core.ObjectArray:
        """Array `path` for a write under :meth:`_lock_held` (or in a transaction,
        once it holds the lock): the read cache's, once the cache is brought up to the
        change marker read now (once per hold of the lock, and used again by the write
        session: nobody else changes it meanwhile), if it still holds the array (no
        commit since it was read changed its metadata); else read afresh. Saves
        reading ``.zarray`` at every commit of a job (on a network file system a call
        to the server). In a transaction, only while it has staged nothing (what it
        staged may change the array), and a copy (a write that changes the copy's
        metadata, then is rolled back, leaves the cache's as it was)."""
        if self._marker_held is None or (self._in_txn and self.core_store.staged_keys()):
            return self._array(path, write_empty_chunks)  # (not under the lock, or staged)
        held = self._held_marker()
        rc = self._rcache
        rc.catch_up(held)
        if rc.current(held):
            entry = rc.meta.get(path)
            if entry is not None:
                rc.meta_hits += 1
                arr: _core.ObjectArray = entry[0]  # (read with write_empty_chunks on)
                if self._in_txn or not write_empty_chunks:
                    return arr.with_write_empty_chunks(write_empty_chunks)
                return arr
        return self._array(path, write_empty_chunks)

    def _held_marker(self) -> bytes | None:
        """The change marker as read under the store lock this object holds (in
        :meth:`_lock_held` or a transaction that took it): read once per hold, and
        used again by the write session that follows (nobody else changes it
        meanwhile). None if no lock is held, or the marker cannot be read."""
        held = self._marker_held
        if held is _UNREAD:
            held = self._marker_held = self._read_change_marker()
        return held  # type: ignore[no-any-return]

    def _held_chunks(self, arr: _core.ObjectArray, rows: Iterable[int]) -> dict[int, Any]:
        """The read cache's chunks of `arr` holding `rows` (chunk index -> ObjectChunk),
        for a write under :meth:`_lock_held` after :meth:`_held_array`: what is stored,
        when the cache is current at the change marker read under the lock (no commit
        since it was valid; nobody else writes while the lock is held). Empty if not
        (or in a transaction that staged anything: a staged write may have changed
        them). Saves a job's commit reading the chunk it read just before."""
        held = self._marker_held
        if held is None or held is _UNREAD or (self._in_txn and self.core_store.staged_keys()):
            return {}
        rc = self._rcache
        if not rc.current(held):
            return {}
        cs = arr.chunk_size
        found = ((c, rc.chunks.get((arr.path, c))) for c in {i // cs for i in rows})
        return {c: ch for c, ch in found if ch is not None}

    def _note_staged(self, arr: _core.ObjectArray, rows: Iterable[int]) -> None:
        """Note that the transaction under way staged the chunks of `arr` holding
        `rows`: if it commits, they go to the read cache as it stages them last (a
        job's output value, set in its commit's transaction: its next read of that
        chunk, for the next run's input, then reads no file). Only a few chunks per
        commit (a job's one or two): a build's thousands are not worth it."""
        cs = arr.chunk_size
        chunks = sorted({i // cs for i in rows})
        if sum(len(c) for _, c in self._txn_chunks) + len(chunks) <= _KEPT_STAGED_CHUNKS:
            self._txn_chunks.append((arr, chunks))

    def _staged_chunks(self, staged: Collection[str]) -> list[tuple[str, int, _core.ObjectChunk]]:
        """The chunks noted by :meth:`_note_staged` among the keys `staged`, read from
        what the transaction staged (no file: exactly what its commit writes, whatever
        staged write came last), for the commit's write session to cache. A chunk that
        cannot be read so is left out (the commit goes on)."""
        noted, self._txn_chunks = self._txn_chunks, []
        keys = set(staged)
        out: list[tuple[str, int, _core.ObjectChunk]] = []
        for arr, chunks in noted:
            todo = [c for c in chunks if chunk_key(arr.path, c) in keys]
            keys.difference_update(chunk_key(arr.path, c) for c in todo)  # (once each)
            try:
                got = arr.read_chunks(todo) if todo else None
            except StoreError:
                got = None
            if got is not None:  # (None: nothing staged, or not a msgpack array)
                out.extend((arr.path, c, ch) for c, ch in zip(todo, got))
        return out

    @contextlib.contextmanager
    def _keyed_write(self, keys: list[str]) -> Iterator[None]:
        """Hold the store lock while the block writes the store keys `keys` and no
        others (known before it starts). Outside a transaction: a write session whose
        dirty marker names them, so that readers meanwhile keep what it does not change
        (:meth:`_write_session`); inside one, as :meth:`_locked` (its commit names
        them)."""
        if self._in_txn:
            with self._locked():
                yield
            return
        with self._write_session(list(keys), planned=True):
            yield


_PARAM_APPEND_KEY = re.compile(
    rf"(?:{re.escape(PARAM_BASE_ARR)}|{re.escape(PARAM_SOURCES_ARR)})/(?:\d+|\.zarray)"
)


def _appends_in_order(kinds: Collection[str], staged_keys: Callable[[], list[str]]) -> bool:
    """Whether a commit can be applied in order without a journal (saving a file
    creation, a rename and a removal): it commits nothing but new parameters, writes
    only chunks and shapes of the parameter base and sources arrays, and stages the
    base array's shape, which says how many parameters there are, last. Its chunks only
    change rows beyond the arrays' shapes, so whatever prefix of its renames a crash
    leaves is a valid store: at most the sources array is longer than the base array,
    which the next open of a local store or the next append trims
    (:meth:`ZarrPersistentStore._recover_parameter_append`, ``_append_parameters``)."""
    if set(kinds) != {"add_parameters"}:
        return False
    keys = staged_keys()  # (only now: a large build stages thousands)
    if not keys:
        return False
    if not all(_PARAM_APPEND_KEY.fullmatch(k) for k in keys):
        return False
    shapes = [k for k in keys if k.endswith("/.zarray")]
    return bool(shapes) and shapes[-1] == f"{PARAM_BASE_ARR}/.zarray"
