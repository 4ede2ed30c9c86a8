"""wfstore: a persistence store for HPC workflow engines, with a Rust core.

The Rust extension :mod:`wfstore._core` does the chunk I/O (Zarr v2 object and numeric
arrays, codecs, rechunking, zip).
"""

from __future__ import annotations

from wfstore._core import NumericArray, ObjectArray, Store, __version__
from wfstore.common.durability import DURABILITIES, Durability
from wfstore.common.errors import (
    ArchiveCompressionError,
    ArrayExistsError,
    ArrayNotFoundError,
    ArrayOutputDtypeError,
    CodecError,
    ConcurrentModificationError,
    CorruptArchiveError,
    CorruptChunkError,
    CorruptFileError,
    EncodeError,
    InvalidArgumentError,
    MetadataError,
    MigrationError,
    MigrationRefusedError,
    MigrationUnavailableError,
    MissingArrayOutputError,
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
    SubmissionNotFinishedError,
    UnknownStoreKindError,
    UnsafeArchiveError,
    UnsupportedFeatureError,
    UnsupportedStoreOperationError,
    ZipArchiveError,
)
from wfstore.integrations.hpcflow import use_in_hpcflow
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
from wfstore.tools.consolidate import consolidate
from wfstore.tools.convert import convert
from wfstore.tools.inspect import info
from wfstore.tools.migrate import migrate
from wfstore.tools.repair import RepairReport, repair
from wfstore.tools.stores import create, detect_generation, detect_kind, store_cls_from_str

# `wfstore.open(path)`; left out of __all__ so that `from wfstore import *` does not
# shadow the built-in open()
from wfstore.tools.stores import open as open
from wfstore.tools.verify import BadChunk, VerifyReport, verify

__all__ = [
    "DURABILITIES",
    "ArchiveCompressionError",
    "ArrayExistsError",
    "ArrayNotFoundError",
    "ArrayOutputDtypeError",
    "BadChunk",
    "CodecError",
    "ConcurrentModificationError",
    "CorruptArchiveError",
    "CorruptChunkError",
    "CorruptFileError",
    "Durability",
    "EncodeError",
    "InvalidArgumentError",
    "JSONPersistentStore",
    "MetadataError",
    "MigrationError",
    "MigrationRefusedError",
    "MigrationUnavailableError",
    "MissingArrayOutputError",
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
    "SubmissionNotFinishedError",
    "UnknownStoreKindError",
    "UnsafeArchiveError",
    "UnsupportedFeatureError",
    "UnsupportedStoreOperationError",
    "VerifyReport",
    "ZarrPersistentStore",
    "ZarrZipPersistentStore",
    "ZipArchiveError",
    "consolidate",
    "convert",
    "create",
    "detect_generation",
    "detect_kind",
    "info",
    "migrate",
    "repair",
    "store_cls_from_str",
    "use_in_hpcflow",
    "verify",
]

__all__ += ["NumericArray", "ObjectArray", "Store", "__version__"]

