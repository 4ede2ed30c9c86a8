"""wfstore: a persistence store for HPC workflow engines, with a Rust core.

The Rust extension :mod:`wfstore._core` does the chunk I/O (Zarr v2 object and numeric
arrays, codecs, rechunking, zip). Setting the environment variable ``WFSTORE_NO_CORE=1``
skips importing it, for working on the pure-Python layers without a built extension.
"""

from __future__ import annotations

import os as _os

from wfstore.durability import DURABILITIES, Durability
from wfstore.errors import (
    ArrayExistsError,
    ArrayNotFoundError,
    CodecError,
    ConcurrentModificationError,
    CorruptChunkError,
    EncodeError,
    InvalidArgumentError,
    MetadataError,
    MissingParameterData,
    MissingStoreEARError,
    MissingStoreElementError,
    MissingStoreElementIterationError,
    MissingStoreItemError,
    MissingStoreLoopError,
    MissingStoreSubmissionError,
    MissingStoreTaskError,
    ParameterAlreadySetError,
    ParameterEncodeError,
    ReadOnlyStoreError,
    RechunkError,
    StoreError,
    StoreExistsError,
    StoreIndexError,
    StoreIOError,
    StoreLockError,
    StoreNotFoundError,
    StorePathError,
    StoreResourceError,
    UnknownStoreKindError,
    UnsafeArchiveError,
    UnsupportedFeatureError,
    UnsupportedStoreOperationError,
    ZipArchiveError,
)
from wfstore.persistence import (
    JSONPersistentStore,
    PersistentStore,
    PersistentStoreFeatures,
    StoreEAR,
    StoreElement,
    StoreElementIter,
    StoreParameter,
    StoreTask,
    ZarrPersistentStore,
    ZarrZipPersistentStore,
)

__all__ = [
    "DURABILITIES",
    "ArrayExistsError",
    "ArrayNotFoundError",
    "BadChunk",
    "CodecError",
    "ConcurrentModificationError",
    "CorruptChunkError",
    "Durability",
    "EncodeError",
    "InvalidArgumentError",
    "JSONPersistentStore",
    "MetadataError",
    "MissingParameterData",
    "MissingStoreEARError",
    "MissingStoreElementError",
    "MissingStoreElementIterationError",
    "MissingStoreItemError",
    "MissingStoreLoopError",
    "MissingStoreSubmissionError",
    "MissingStoreTaskError",
    "ParameterAlreadySetError",
    "ParameterEncodeError",
    "PersistentStore",
    "PersistentStoreFeatures",
    "ReadOnlyStoreError",
    "RechunkError",
    "RepairReport",
    "StoreEAR",
    "StoreElement",
    "StoreElementIter",
    "StoreError",
    "StoreExistsError",
    "StoreIOError",
    "StoreIndexError",
    "StoreLockError",
    "StoreNotFoundError",
    "StoreParameter",
    "StorePathError",
    "StoreResourceError",
    "StoreTask",
    "UnknownStoreKindError",
    "UnsafeArchiveError",
    "UnsupportedFeatureError",
    "UnsupportedStoreOperationError",
    "VerifyReport",
    "ZarrPersistentStore",
    "ZarrZipPersistentStore",
    "ZipArchiveError",
    "convert",
    "create",
    "detect_kind",
    "info",
    "repair",
    "store_cls_from_str",
    "use_in_hpcflow",
    "verify",
]

if not _os.environ.get("WFSTORE_NO_CORE"):
    from wfstore._core import NumericArray, ObjectArray, Store, __version__

    __all__ += ["NumericArray", "ObjectArray", "Store", "__version__"]

from wfstore.api import (
    BadChunk,
    VerifyReport,
    convert,
    create,
    detect_kind,
    info,
    store_cls_from_str,
    use_in_hpcflow,
    verify,
)

# `wfstore.open(path)`; left out of __all__ so that `from wfstore import *` does not
# shadow the built-in open()
from wfstore.api import open as open
from wfstore.recovery import RepairReport, repair
