"""Pausing Python's cyclic garbage collector during bulk work.

Committing or reading a large batch makes millions of small objects that all live on
(pending items, decoded rows, run objects). Each allocation burst triggers collections
that walk every tracked object, so a batch of N items costs far more than N times one
item: at 200,000 runs the collector took two thirds of a commit. Nothing in such a
batch needs the cycle collector (reference counting frees what dies), so it is paused
for the batch and resumed after; it stays off if the application had turned it off.

Reads are paused too (from 100 items: see ``wfstore.persistence.base``). Their
objects are left in the young generation when the collector resumes: moving them to
the oldest one (``gc.freeze()`` + ``gc.unfreeze()``) would spare one scan of them but
takes the caller's young cyclic garbage along, to wait for a full collection (18 MiB
more at the peak of adding a submission of 10,000 runs).

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
def gc_paused(enabled: bool = True) -> Iterator[None]:
    """Run the block with the cyclic garbage collector off (nested and thread-safe:
    the collector comes back when the last pause ends, if it was on at the first).
    With `enabled` False this does nothing (for small batches)."""
    global _depth, _was_enabled
    if not enabled:
        yield
        return
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
