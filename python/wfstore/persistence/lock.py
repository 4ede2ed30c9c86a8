"""A store-wide writer lock that holds on network file systems.

Workflow jobs update one store from many processes on many nodes, usually over NFS or
a parallel file system, where ``flock``/``fcntl`` locks are unreliable or missing. The
lock here uses the one primitive that is atomic on every such file system: creating a
hard link. To take the lock a writer

1. writes a uniquely named *ticket* file (``.wfstore.lock.<host>.<pid>.<random>``)
   holding who it is and when it took the lock;
2. hard-links the ticket to the lock name ``.wfstore.lock``;
3. checks that the ticket now has two links (``st_nlink == 2``): on NFS a ``link``
   that succeeded can be reported as failed, and vice versa, so the link count, not the
   call's result, says who holds the lock.

Releasing removes the lock name (only if it still points at the writer's own ticket)
and the ticket. A lock whose holder died is *stale*: it is broken when its holder is a
process on this host that no longer exists, or when it is older than ``stale_after``
seconds (default 120: every write done under the lock is short). Breaking renames the
lock to a unique name first, which only one of several breakers can do. A writer that
cannot take the lock within ``timeout`` seconds gets :class:`StoreLockError` naming the
lock file and its holder.

The lock is re-entrant within one :class:`StoreLock` object (one store instance), so
nested writes take it once.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..errors import StoreIOError, StoreLockError

#: The lock's file name, in the store's root folder.
LOCK_NAME = ".wfstore.lock"


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


class StoreLock:
    """A re-entrant, NFS-safe writer lock on the store folder `root`.

    Parameters
    ----------
    root:
        The store's root folder.
    timeout:
        Seconds to wait for the lock before raising :class:`StoreLockError`.
    stale_after:
        Age in seconds after which a lock is taken to be abandoned and is broken.
    """

    def __init__(self, root: str | Path, timeout: float = 120.0, stale_after: float = 120.0):
        self.root = Path(root)
        self.path = self.root / LOCK_NAME
        self.timeout = timeout
        self.stale_after = stale_after
        self._depth = 0
        self._ticket: Path | None = None
        self._thread_lock = threading.RLock()
        #: How many times the lock was broken as stale by this object (for reports).
        self.broken = 0

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
            self._take()
        except BaseException:
            self._thread_lock.release()
            raise
        self._depth = 1

    def release(self) -> None:
        """Give the lock back (the outermost release frees it)."""
        if not self._depth:
            raise StoreLockError(f"Lock {str(self.path)!r} released without being held.")
        self._depth -= 1
        try:
            if not self._depth:
                self._free()
        finally:
            self._thread_lock.release()

    # --- the protocol ----------------------------------------------------------------

    def _write_ticket(self) -> Path:
        host = socket.gethostname()
        ticket = self.root / f"{LOCK_NAME}.{host}.{os.getpid()}.{uuid.uuid4().hex[:12]}"
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
        delay = 0.0005
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
                    raise StoreLockError(
                        f"Timed out after {self.timeout:g} s waiting for the store lock "
                        f"{str(self.path)!r}, held by {self._holder_text()}."
                    )
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.05)
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
        grave = self.root / f"{LOCK_NAME}.stale.{uuid.uuid4().hex[:12]}"
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
        prefix = f"{LOCK_NAME}.{info.get('host')}.{info.get('pid')}."
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
