"""wfstore: a persistence store for HPC workflow engines, with a Rust core.

The Rust extension :mod:`wfstore._core` does the chunk I/O (Zarr v2 object and numeric
arrays, codecs, rechunking, zip). Setting the environment variable ``WFSTORE_NO_CORE=1``
skips importing it, for working on the pure-Python layers without a built extension.
"""

from __future__ import annotations

import os as _os

from wfstore.errors import (
    ArrayExistsError,
    ArrayNotFoundError,
    CodecError,
    CorruptChunkError,
    EncodeError,
    InvalidArgumentError,
    MetadataError,
    ReadOnlyStoreError,
    RechunkError,
    StoreError,
    StoreIndexError,
    StoreIOError,
    UnsafeArchiveError,
    UnsupportedFeatureError,
    ZipArchiveError,
)

__all__ = [
    "ArrayExistsError",
    "ArrayNotFoundError",
    "CodecError",
    "CorruptChunkError",
    "EncodeError",
    "InvalidArgumentError",
    "MetadataError",
    "ReadOnlyStoreError",
    "RechunkError",
    "StoreError",
    "StoreIOError",
    "StoreIndexError",
    "UnsafeArchiveError",
    "UnsupportedFeatureError",
    "ZipArchiveError",
]

if not _os.environ.get("WFSTORE_NO_CORE"):
    from wfstore._core import NumericArray, ObjectArray, Store, __version__

    __all__ += ["NumericArray", "ObjectArray", "Store", "__version__"]
