"""Every key of a core store, found through its folder listings (``list_dir``): how the
Python layers list a zip archive's entries, read by the core's zip reader."""

from __future__ import annotations

from wfstore import _core


def store_keys(store: _core.Store, prefix: str = "") -> list[str]:
    """The keys below the folder key `prefix` of `store` (every key for ``""``), sorted
    as a zip archive written by the core holds them (by name, byte order)."""
    keys: list[str] = []
    pending = [prefix.strip("/")]
    while pending:
        folder = pending.pop()
        for name in store.list_dir(folder):
            key = f"{folder}/{name}" if folder else name
            if store.list_dir(key):
                pending.append(key)
            else:
                keys.append(key)
    return sorted(keys)
