"""Pausing Python's cyclic garbage collector during bulk work.

Committing or reading a large batch makes millions of small objects that all live on
(pending items, decoded rows, run objects). Each allocation burst triggers collections
that walk every tracked object, so a batch of N items costs far more than N times one
item: at 200,000 runs the collector took two thirds of a commit. Nothing in such a
batch needs the cycle collector (reference counting frees what dies), so it is paused
for the batch and resumed after; it stays off if the application had turned it off.

Reads are paused too (from 100 items: see ``wfstore.persistence.base``), and when the
collector comes back after a read, the young and middle generations are collected at
once (``collect_young``). A paused read allocates thousands of objects without
triggering the collections that would have run among them, so the caller's own young
cyclic garbage (the engine's, made between its reads) would wait longer to be freed:
listing every run's state of a 10,000-run workflow peaked 10 MiB higher, reading every
run and element 7 MiB. The read's surviving objects move to the oldest generation, as
after any such collection. (Collecting the youngest generation alone lowered those two
peaks less and raised that of adding a submission by 13 MiB; moving the read's objects
to the oldest generation without a collection, ``gc.freeze()`` + ``gc.unfreeze()``,
took the caller's young garbage along, to wait for a full collection.)

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
    the young and middle generations are collected when the collector comes back
    (see the module doc)."""
    global _depth, _was_enabled
    if not enabled:
        yield
        return
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    resumed = False
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
                resumed = True
    if resumed and collect_young:
        gc.collect(1)
