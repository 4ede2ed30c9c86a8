"""A store-wide writer lock that is cheap and holds on network file systems.

Workflow jobs update one store from many processes on many nodes, usually over NFS or
a parallel file system. Every write that reads and rewrites shared data takes this lock
(see ``ZarrPersistentStore.store_lock``), so it must cost little next to the commit it
guards (one atomic small-file write, ~100 us): a few microseconds, not another hundred.
There are two protocols.

**fcntl** (the default): a POSIX record lock on a file in the store's root folder
(``.wfstore.lock``, or a file of the store given as ``lock_file``: the root ``.zgroup``
of stores wfstore created). Why first: taking and freeing it is two system calls on a
descriptor the :class:`StoreLock` keeps open (~3 us locally, a lock and an unlock call
to the server on NFS); the kernel, or the NFS server, frees it when its holder dies, so
no lock is ever stale and nothing must be guessed or broken; a waiter sees it freed at
its next try. On Linux it is an *open-file-description* (OFD) lock (``F_OFD_SETLK``): it
belongs to the open file, not the process, so two store objects in one process exclude
each other, closing some other descriptor of the file does not free it, and a forked
child (which inherits the descriptor, and with it the lock) opens its own; a child
forked while the lock is held never frees it (in either protocol). (A Linux kernel older
than 3.15 has no OFD locks and refuses them: the link protocol is used there.) On other
systems, classic ``fcntl.lockf`` locks are used; they belong to the *process* and are
freed when the process closes *any* descriptor of the file (a copy or zip of the store
made by the process while it holds the lock frees it): there the objects of one process
share one descriptor per lock file, never closed, and take turns through a thread lock.
The lock file is created writable by whoever may write the store folder (group-writable
in a group-writable folder, whatever the umask) and is never deleted: do not delete it
while writers run. Record locks do not name their holder, so a timeout names "an unknown
holder". File systems: NFSv4, and NFSv3 with ``lockd`` (the default, unless mounted
``nolock``), lock across nodes; Lustre needs the ``flock`` mount option (``localflock``
gives node-local locks: set ``WFSTORE_LOCK=link`` there); GPFS and BeeGFS support them.
An NFS client that loses its lease (cut off from the server for longer than the lease
time) loses its locks: a limit of NFS itself.

**link** (the fallback): hard links, atomic on every such file system. Used when the
file system refuses record locks (the first attempt fails with ``ENOLCK``, ``ENOSYS``,
``EOPNOTSUPP``/``ENOTSUP`` or ``EINVAL``: NFS mounted ``nolock``, Lustre without
``flock``, some FUSE file systems), or when forced by ``WFSTORE_LOCK=link``. To take
the lock a writer

1. writes a uniquely named *ticket* file (``.wfstore.linklock.<host>.<pid>.<random>``)
   holding who it is and when it took the lock;
2. hard-links the ticket to the lock name ``.wfstore.linklock``;
3. checks that the ticket now has two links (``st_nlink == 2``): on NFS a ``link`` that
   succeeded can be reported as failed, and vice versa, so the link count, not the
   call's result, says who holds the lock.

Releasing removes the lock name (only if it still points at the writer's own ticket)
and the ticket. A lock whose holder died is *stale*: it is broken when its holder is a
process on this host that no longer exists, or when it is older than ``stale_after``
seconds (default 120: every write done under the lock is short). Breaking renames the
lock to a unique name first, which only one of several breakers can do. This costs a
file creation, a link, two unlinks and some stats per lock (50-100 us locally, several
round trips on NFS).

**Choosing.** ``WFSTORE_LOCK`` = ``fcntl`` forces record locks (an error if the file
system refuses them), ``link`` forces hard links, unset, empty or ``auto`` choose as
above; the ``protocol`` argument of :class:`StoreLock` overrides it. The protocols use
different names, so neither takes the other's file for a stale lock, but they do
**not** exclude each other: all writers of one store must use the same protocol. The
automatic choice agrees on every node that mounts the file system the same way; where
mounts differ (``localflock`` on some nodes), set ``WFSTORE_LOCK=link`` for every
writer. (wfstore versions before the record lock used ``.wfstore.lock`` as their link
lock name: do not let them write a store at the same time as this version.)

Either way, a writer that cannot take the lock within ``timeout`` seconds gets
:class:`StoreLockError` naming the lock file (and, in link mode, its holder). Waiters
poll with a short randomised back-off (fcntl: 50 us doubling up to 2 ms; link: 0.5 ms
doubling up to 5 ms), so they take a freed lock within a few milliseconds. The lock is
re-entrant within one :class:`StoreLock` object (one store instance), so nested
writes take it once, and thread-safe (threads sharing one object take turns).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import socket
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

from wfstore.common.errors import InvalidArgumentError, StoreIOError, StoreLockError
from wfstore.common.names import LINK_LOCK_NAME, LOCK_NAME

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

#: The environment variable that chooses the protocol: ``fcntl``, ``link`` or ``auto``.
ENV_VAR = "WFSTORE_LOCK"
PROTOCOLS = ("fcntl", "link")

#: errno values by which a file system says it does not do record locks
_REFUSED = frozenset(
    e
    for e in (
        errno.ENOLCK,
        errno.ENOSYS,
        errno.EOPNOTSUPP,
        getattr(errno, "ENOTSUP", errno.EOPNOTSUPP),
        errno.EINVAL,
    )
)
#: errno values of a non-blocking attempt on a lock somebody else holds
_BUSY = frozenset((errno.EACCES, errno.EAGAIN))

# Linux open-file-description locks (Linux >= 3.15); Python >= 3.9 names them.
# (F_OFD_GETLK would not help to name a holder: it reports no pid for OFD locks.)
_F_OFD_SETLK: int | None = None
if fcntl is not None and sys.platform.startswith("linux"):
    _F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)
# struct flock: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid
# (Python is built with 64-bit off_t), padded to its C size; l_pid must be 0 for OFD.
_FLOCK = struct.Struct("@hhqqi")
_FLOCK_SIZE = _FLOCK.size + (-_FLOCK.size) % struct.calcsize("@q")

_INITIAL_DELAY = {"fcntl": 50e-6, "link": 0.0005}
_MAX_DELAY = {"fcntl": 0.002, "link": 0.005}


def _flock_arg(kind: int) -> bytes:
    """A ``struct flock`` for the whole file."""
    return _FLOCK.pack(kind, os.SEEK_SET, 0, 0, 0).ljust(_FLOCK_SIZE, b"\0")


if fcntl is not None:
    _WRLCK_ARG = _flock_arg(fcntl.F_WRLCK)
    _UNLCK_ARG = _flock_arg(fcntl.F_UNLCK)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True
    return True


def _requested_protocol(protocol: str | None) -> str | None:
    """The protocol asked for by `protocol`, else by ``$WFSTORE_LOCK``; None for auto."""
    source = "protocol" if protocol is not None else f"${ENV_VAR}"
    value = protocol if protocol is not None else os.environ.get(ENV_VAR, "")
    choice = value.strip().lower()
    if choice in ("", "auto"):
        return None
    if choice not in PROTOCOLS:
        raise InvalidArgumentError(
            f"Unknown store lock protocol {value!r} (from {source}): use 'fcntl', 'link' or 'auto'."
        )
    if choice == "fcntl" and fcntl is None:  # pragma: no cover - not POSIX
        raise InvalidArgumentError(
            f"Store lock protocol 'fcntl' (from {source}) needs POSIX record locks."
        )
    return choice


class _SharedFile:
    """One process's descriptor of one lock file, for classic (per-process) POSIX
    locks: shared by every :class:`StoreLock` of the file in the process and never
    closed (closing any descriptor would free the process's lock), with a thread lock
    that makes those objects exclude each other."""

    _all: ClassVar[dict[tuple[int, str], _SharedFile]] = {}
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.mutex = threading.Lock()

    @classmethod
    def get(cls, path: Path, opener: Callable[[], int]) -> _SharedFile:
        key = (os.getpid(), os.path.realpath(path))
        with cls._guard:
            shared = cls._all.get(key)
            if shared is None:
                shared = cls._all[key] = cls(opener())
            return shared


class StoreLock:
    """A re-entrant, thread-safe writer lock on the store folder `root` that holds on
    network file systems (see the module's documentation).

    Parameters
    ----------
    root:
        The store's root folder.
    timeout:
        Seconds to wait for the lock before raising :class:`StoreLockError`.
    stale_after:
        ``link`` protocol: age in seconds after which a lock is taken to be abandoned
        and is broken.
    protocol:
        ``"fcntl"``, ``"link"``, or None/``"auto"`` for ``$WFSTORE_LOCK``, else record
        locks where the file system takes them and hard links where it does not.
    lock_file:
        The name of the file in `root` that ``fcntl`` locks: :data:`LOCK_NAME`
        (created when missing), or a file of the store that is never replaced, only
        rewritten in place (a store's root ``.zgroup``: it must exist). Where record
        locks are not OFD locks (not Linux), a file other than :data:`LOCK_NAME` is
        locked by the ``link`` protocol instead: a classic lock would be freed by any
        close of the file in the process, and such a file is opened by every reader.
    """

    def __init__(
        self,
        root: str | Path,
        timeout: float = 120.0,
        stale_after: float = 120.0,
        protocol: str | None = None,
        lock_file: str = LOCK_NAME,
    ):
        self.root = Path(root)
        self.lock_file = lock_file
        if lock_file != LOCK_NAME and _F_OFD_SETLK is None and protocol is None:
            protocol = "link"
        self.timeout = timeout
        self.stale_after = stale_after
        forced = _requested_protocol(protocol)
        if forced is None and fcntl is None:  # pragma: no cover - not POSIX
            forced = "link"
        #: Whether the protocol may still change to ``link`` at the first acquisition.
        self._auto = forced is None
        self._protocol = forced or "fcntl"
        self._depth = 0
        self._ticket: Path | None = None
        self._fd: int | None = None
        self._fd_pid = 0
        self._shared: _SharedFile | None = None
        #: the process that took the lock (a child forked while it is held must not
        #: free the parent's lock when it leaves the ``with`` block)
        self._owner_pid = 0
        self._thread_lock = threading.RLock()
        #: How many times the lock was broken as stale by this object (``link`` only).
        self.broken = 0

    @property
    def protocol(self) -> str:
        """``"fcntl"`` or ``"link"``: the protocol this object uses. In automatic mode
        it is ``"fcntl"`` until a first acquisition finds that the file system refuses
        record locks, and ``"link"`` from then on."""
        return self._protocol

    @property
    def path(self) -> Path:
        """The lock file (``fcntl``) or lock name (``link``) of the protocol in use."""
        return self.root / (self.lock_file if self._protocol == "fcntl" else LINK_LOCK_NAME)

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._depth > 0

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        """Hold the lock while the block runs (re-entrant)."""
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def acquire(self) -> None:
        """Take the lock, waiting up to ``timeout`` seconds."""
        self._thread_lock.acquire()
        if self._depth:
            self._depth += 1
            return
        try:
            if self._protocol == "fcntl":
                self._take_record_lock()
            if self._protocol == "link":
                self._take()
        except BaseException:
            self._thread_lock.release()
            raise
        self._depth = 1
        self._owner_pid = os.getpid()

    def release(self) -> None:
        """Give the lock back (the outermost release frees it)."""
        if not self._depth:
            raise StoreLockError(f"Lock {str(self.path)!r} released without being held.")
        self._depth -= 1
        try:
            if not self._depth:
                if self._owner_pid != os.getpid():
                    # a forked child: the lock is the parent's
                    self._shared = self._ticket = None
                elif self._protocol == "fcntl":
                    self._free_record_lock()
                else:
                    self._free()
        finally:
            self._thread_lock.release()

    def refresh(self) -> None:
        """Tell other writers that the lock, held by this object, is still in use: a
        link lock's age starts again, so that work holding it longer than
        ``stale_after`` (a rechunk of a large array) is not broken as stale. Nothing to
        do for record locks (never stale) or when the lock is not held."""
        if self._depth and self._protocol == "link" and self._ticket is not None:
            with contextlib.suppress(OSError):
                os.utime(self._ticket)

    def close(self) -> None:
        """Close the lock file (``fcntl``; it is opened again by the next acquisition).
        Raises :class:`StoreLockError` while the lock is held."""
        with self._thread_lock:
            if self._depth:
                raise StoreLockError(f"Lock {str(self.path)!r} closed while held.")
            self._close_fd()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._close_fd()

    # --- the fcntl protocol ----------------------------------------------------------

    def _open_lock_file(self) -> int:
        """Open the lock file for writing (a write lock needs that), creating it if it
        does not exist: writable by whoever may write the store folder, so that the
        writers of a group-shared store can all lock it whatever their umask."""
        path = self.root / self.lock_file
        flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0)
        try:
            if self.lock_file != LOCK_NAME:
                return os.open(path, flags)  # (a file of the store: never created here)
            for _ in range(3):
                # it exists but once per store: open it first (one call, not two)
                with contextlib.suppress(FileNotFoundError):
                    return os.open(path, flags)
                try:
                    fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644)
                except FileExistsError:
                    continue  # another process made it meanwhile: open that one
                with contextlib.suppress(OSError):
                    shared_bits = os.stat(self.root).st_mode & 0o022
                    if shared_bits:
                        os.fchmod(fd, 0o644 | shared_bits)
                return fd
            return os.open(path, flags)
        except OSError as err:
            raise StoreIOError(
                err.errno or 0,
                f"Cannot open the lock file {str(path)!r}: {err.strerror or err}",
                str(path),
            ) from err

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None and self._fd_pid == os.getpid():
            os.close(fd)

    def _lock_fd(self) -> int:
        """This object's descriptor of the lock file, opened at first use (and again in
        a forked child: a descriptor inherited through ``fork`` shares the parent's
        open file, and with it the parent's OFD lock)."""
        if self._fd is None or self._fd_pid != os.getpid():
            self._fd = None
            self._fd = self._open_lock_file()
            self._fd_pid = os.getpid()
        return self._fd

    def _try_record_lock(self, fd: int) -> bool:
        """One non-blocking attempt; False if somebody else holds the lock."""
        try:
            if self._shared is None:
                fcntl.fcntl(fd, _F_OFD_SETLK, _WRLCK_ARG)
            else:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno in _BUSY:
                return False
            raise
        return True

    def _take_record_lock(self) -> None:
        deadline: float | None = None
        if _F_OFD_SETLK is None:
            # classic POSIX locks belong to the process: objects of one process share
            # one descriptor and take turns through its thread lock first
            shared = _SharedFile.get(self.root / self.lock_file, self._open_lock_file)
            deadline = time.monotonic() + self.timeout
            if not shared.mutex.acquire(timeout=max(self.timeout, 0)):
                raise self._timeout_error()
            self._shared = shared
            fd = shared.fd
        else:
            fd = self._lock_fd()  # a StoreIOError if the file cannot be opened
        delay = _INITIAL_DELAY["fcntl"]
        try:
            while True:
                try:
                    if self._try_record_lock(fd):
                        self._auto = False
                        return
                except OSError as err:
                    if self._auto and err.errno in _REFUSED:
                        # the file system does not do record locks: hard links then
                        self._auto = False
                        self._protocol = "link"
                        self._release_shared()
                        self._close_fd()
                        return
                    path = str(self.root / self.lock_file)
                    msg = f"Cannot lock the store lock file {path!r}: {err}"
                    raise StoreLockError(msg) from err
                self._auto = False  # the lock works: somebody else holds it
                if deadline is None:
                    deadline = time.monotonic() + self.timeout
                elif time.monotonic() >= deadline:
                    raise self._timeout_error()
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, _MAX_DELAY["fcntl"])
        except BaseException:
            self._release_shared()
            raise

    def _release_shared(self) -> None:
        shared, self._shared = self._shared, None
        if shared is not None:
            shared.mutex.release()

    def _free_record_lock(self) -> None:
        try:
            if self._shared is not None:
                fcntl.lockf(self._shared.fd, fcntl.LOCK_UN)
            elif self._fd is not None:
                fcntl.fcntl(self._fd, _F_OFD_SETLK, _UNLCK_ARG)
        except OSError as err:
            if self._shared is not None:
                raise StoreLockError(
                    f"Cannot release the store lock {str(self.path)!r}: {err}"
                ) from err
            # closing the (own, OFD) descriptor frees the lock whatever went wrong
            with contextlib.suppress(OSError):
                self._close_fd()
        finally:
            self._release_shared()

    # --- the link protocol -----------------------------------------------------------

    def _timeout_error(self) -> StoreLockError:
        holder = (
            self._holder_text()
            if self._protocol == "link"
            else "an unknown holder (a process still running: record locks die with their holder)"
        )
        return StoreLockError(
            f"Timed out after {self.timeout:g} s waiting for the store lock "
            f"{str(self.path)!r}, held by {holder}."
        )

    def _write_ticket(self) -> Path:
        host = socket.gethostname()
        ticket = self.root / f"{LINK_LOCK_NAME}.{host}.{os.getpid()}.{uuid.uuid4().hex[:12]}"
        info = {"host": host, "pid": os.getpid(), "time": time.time()}
        fd = os.open(ticket, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            try:
                os.write(fd, json.dumps(info).encode())
            finally:
                os.close(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(ticket)
            raise
        return ticket

    def _take(self) -> None:
        try:
            ticket = self._write_ticket()
        except OSError as err:
            # an I/O failure (a full disk, say), not a lock conflict
            raise StoreIOError(
                err.errno or 0,
                f"Cannot create a lock ticket in {str(self.root)!r}: {err.strerror or err}",
                str(self.root),
            ) from err
        deadline = time.monotonic() + self.timeout
        delay = _INITIAL_DELAY["link"]
        try:
            while True:
                with contextlib.suppress(FileExistsError):
                    os.link(ticket, self.path)
                try:
                    if os.stat(ticket).st_nlink == 2:
                        self._ticket = ticket
                        return
                except OSError as err:
                    raise StoreLockError(
                        f"Cannot check the lock ticket {str(ticket)!r}: {err}"
                    ) from err
                if self._break_if_stale(ticket):
                    continue
                if time.monotonic() >= deadline:
                    raise self._timeout_error()
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, _MAX_DELAY["link"])
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(ticket)
            raise

    def _holder(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def _holder_text(self) -> str:
        info = self._holder()
        if not info:
            return "an unknown holder"
        age = time.time() - float(info.get("time", time.time()))
        return f"pid {info.get('pid')} on {info.get('host')!r} for {age:.1f} s"

    def _break_if_stale(self, ticket: Path) -> bool:
        """Break the lock if its holder is gone; True if the lock was broken."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return True  # freed meanwhile: try again at once
        except OSError:
            return False
        info = self._holder()
        stale = time.time() - st.st_mtime > self.stale_after
        if (
            not stale
            and info
            and info.get("host") == socket.gethostname()
            and isinstance(info.get("pid"), int)
        ):
            stale = not _pid_alive(info["pid"])
        if not stale:
            return False
        grave = self.root / f"{LINK_LOCK_NAME}.stale.{uuid.uuid4().hex[:12]}"
        try:
            os.rename(self.path, grave)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        # the rename moved whichever lock was there at that moment: if it was not the
        # stale one we looked at (its holder freed it and another writer took it), put
        # it back where it can, else that writer notices its lost lock at release.
        try:
            if os.stat(grave).st_ino != st.st_ino:
                with contextlib.suppress(OSError):
                    os.link(grave, self.path)
            else:
                self.broken += 1
                self._remove_tickets_of(info, keep=ticket)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(grave)
        return True

    def _remove_tickets_of(self, info: dict | None, keep: Path) -> None:
        """Remove the tickets a dead holder left behind (best effort), but not `keep`,
        our own (the dead holder may have had our process ID)."""
        if not info:
            return
        prefix = f"{LINK_LOCK_NAME}.{info.get('host')}.{info.get('pid')}."
        with contextlib.suppress(OSError):
            for name in os.listdir(self.root):
                if name.startswith(prefix) and name != keep.name:
                    with contextlib.suppress(OSError):
                        os.unlink(self.root / name)

    def _free(self) -> None:
        ticket, self._ticket = self._ticket, None
        if ticket is None:
            return
        try:
            if os.stat(self.path).st_ino == os.stat(ticket).st_ino:
                os.unlink(self.path)
        except OSError as err:
            if err.errno != errno.ENOENT:
                raise StoreLockError(
                    f"Cannot release the store lock {str(self.path)!r}: {err}"
                ) from err
        finally:
            with contextlib.suppress(OSError):
                os.unlink(ticket)
