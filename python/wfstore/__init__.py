"""wfstore: a persistence store for HPC workflow engines, with a Rust core.

The Rust extension :mod:`wfstore._core` does the chunk I/O (Zarr v2 object and numeric
arrays, codecs, rechunking, zip).
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

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

#: The tools' names (whole-store operations), imported on first use (module
#: ``__getattr__``): a process that only keeps workflows through the engine (a job, a
#: reader) never needs them, and they are a third of the package's modules (the
#: migration alone ten). ``name: (module, attribute)``.
_TOOLS = {
    "consolidate": ("wfstore.tools.consolidate", "consolidate"),
    "convert": ("wfstore.tools.convert", "convert"),
    "info": ("wfstore.tools.inspect", "info"),
    "migrate": ("wfstore.tools.migrate", "migrate"),
    "RepairReport": ("wfstore.tools.repair", "RepairReport"),
    "repair": ("wfstore.tools.repair", "repair"),
    "create": ("wfstore.tools.stores", "create"),
    "detect_generation": ("wfstore.tools.stores", "detect_generation"),
    "detect_kind": ("wfstore.tools.stores", "detect_kind"),
    "store_cls_from_str": ("wfstore.tools.stores", "store_cls_from_str"),
    # `wfstore.open(path)`; left out of __all__ so that `from wfstore import *` does
    # not shadow the built-in open()
    "open": ("wfstore.tools.stores", "open"),
    "BadChunk": ("wfstore.tools.verify", "BadChunk"),
    "VerifyReport": ("wfstore.tools.verify", "VerifyReport"),
    "verify": ("wfstore.tools.verify", "verify"),
    # the subpackage itself (an attribute of the package once a tool was imported)
    "tools": ("wfstore.tools", ""),
}

if _typing.TYPE_CHECKING:  # what the names are, for type checkers and editors
    from wfstore.tools.consolidate import consolidate
    from wfstore.tools.convert import convert
    from wfstore.tools.inspect import info
    from wfstore.tools.migrate import migrate
    from wfstore.tools.repair import RepairReport, repair
    from wfstore.tools.stores import create, detect_generation, detect_kind, store_cls_from_str
    from wfstore.tools.stores import open as open
    from wfstore.tools.verify import BadChunk, VerifyReport, verify


def __getattr__(name: str) -> _typing.Any:
    """A tool's name, imported from its module on first use (then kept here)."""
    where = _TOOLS.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _importlib.import_module(where[0])
    value = getattr(module, where[1]) if where[1] else module
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The package's names, the tools' included (imported or not)."""
    return sorted({*globals(), *_TOOLS} - {"_importlib", "_typing", "_TOOLS"})


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

