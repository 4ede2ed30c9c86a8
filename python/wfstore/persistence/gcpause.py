"""Pausing Python's cyclic garbage collector during bulk work.

Committing or reading a large batch makes millions of small objects that all live on
(pending items, decoded rows, run objects). Each allocation burst triggers collections
that walk every tracked object, so a batch of N items costs far more than N times one
item: at 200,000 runs the collector took two thirds of a commit. Nothing in such a
batch needs the cycle collector (reference counting frees what dies), so it is paused
for the batch and resumed after; it stays off if the application had turned it off.

Reads are paused too (from 100 items: see ``wfstore.persistence.base``), and a bulk
read first collects the young and middle generations (``collect_young``). A paused
read allocates thousands of objects without setting off the collections that would
have run among them, so the caller's own young cyclic garbage (the engine's, made
between its reads) waited longer to be freed, under the read's new objects: listing
every run's state of a 10,000-run workflow peaked 10 MiB higher, reading every run and
element 4 MiB. Collected before the read, while the young generations hold little,
the collection costs less than after it (when they hold everything the read made).
(Measured too: collecting after the read instead, which cost more time and freed less
in the listing; collecting the youngest generation alone, which raised adding a
submission's peak by 13 MiB; and moving the read's objects to the oldest generation
without a collection, ``gc.freeze()`` + ``gc.unfreeze()``, which took the caller's
young garbage along, to wait for a full collection.)

A large *build* (``add_*`` calls with ``save=False``, then one commit) runs in the
caller's code, so it cannot be paused.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["gc_paused"]

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextlib.contextmanager
def gc_paused(enabled: bool = True, *, collect_young: bool = False) -> Iterator[None]:
    """Run the block with the cyclic garbage collector off (nested and thread-safe:
    the collector comes back when the last pause ends, if it was on at the first).
    With `enabled` False this does nothing (for small batches). With `collect_young`,
    the young and middle generations are collected first (see the module doc)."""
    global _depth, _was_enabled
    if not enabled:
        yield
        return
    if collect_young and _depth == 0 and gc.isenabled():
        gc.collect(1)
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
