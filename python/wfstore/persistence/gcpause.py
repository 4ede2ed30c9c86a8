"""Pausing Python's cyclic garbage collector during bulk work.

Committing or reading a large batch makes millions of small objects that all live on
(pending items, decoded rows, run objects). Each allocation burst triggers collections
that walk every tracked object, so a batch of N items costs far more than N times one
item: at 200,000 runs the collector took two thirds of a commit. Nothing in such a
batch needs the cycle collector (reference counting frees what dies), so it is paused
for the batch and resumed after; it stays off if the application had turned it off.

A bulk *read* makes objects that the caller keeps. Resumed, the collector would first
scan all of them as young objects (~0.7 us per run object: a tenth of reading 10k runs)
only to find them alive and move them on. A pause with ``keep=True`` moves the objects
made meanwhile straight to the oldest generation instead (``gc.freeze()`` then
``gc.unfreeze()``: two list moves), where later full collections see them as they
would have anyway; cyclic garbage of that moment is found by the next full collection
rather than the next young one. This is skipped when the application has frozen
objects itself (``gc.get_freeze_count()``), which ``unfreeze`` would release.

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
_keep = False


@contextlib.contextmanager
def gc_paused(enabled: bool = True, *, keep: bool = False) -> Iterator[None]:
    """Run the block with the cyclic garbage collector off (nested and thread-safe:
    the collector comes back when the last pause ends, if it was on at the first).
    With `enabled` False this does nothing (for small batches). With `keep` (the block
    makes objects its caller keeps: bulk reads) they are moved to the oldest
    generation when the collector comes back (see the module's documentation)."""
    global _depth, _was_enabled, _keep
    if not enabled:
        yield
        return
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            _keep = False
            gc.disable()
        _depth += 1
    try:
        yield
        if keep:
            _keep = True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                if _keep and gc.get_freeze_count() == 0:
                    gc.freeze()
                    gc.unfreeze()
                gc.enable()
