"""``wfstore.fsspec_store``: the name under which the extension (``wfstore._core``)
finds the fsspec adapter (``Store.fsspec``, ``Store.fsspec_zip``); the adapter lives in
:mod:`wfstore.storage.fsspec`, which importing this name gives. To go once the bindings
take the adapter from there."""

from __future__ import annotations

import sys

from wfstore.storage import fsspec as _fsspec

sys.modules[__name__] = _fsspec
