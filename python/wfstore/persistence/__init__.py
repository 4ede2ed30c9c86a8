"""The persistence layer of wfstore: the abstract store API, store items, pending
changes, store resources and the concrete stores implemented in Python."""

from .base import PersistentStore
from .items import (
    PARAM_DATA_NOT_SET,
    JsonStoreEAR,
    JsonStoreElement,
    JsonStoreElementIter,
    JsonStoreTask,
    PersistentStoreFeatures,
    StoreEAR,
    StoreElement,
    StoreElementIter,
    StoreParameter,
    StoreTask,
    ZarrStoreEAR,
    ZarrStoreElement,
    ZarrStoreElementIter,
    ZarrStoreTask,
)
from .json_store import JSONPersistentStore
from .pending import PendingChanges
from .zarr_store import ZarrPersistentStore, ZarrStoreParameter
from .zip_store import ZarrZipPersistentStore

__all__ = [
    "PARAM_DATA_NOT_SET",
    "JSONPersistentStore",
    "JsonStoreEAR",
    "JsonStoreElement",
    "JsonStoreElementIter",
    "JsonStoreTask",
    "PendingChanges",
    "PersistentStore",
    "PersistentStoreFeatures",
    "StoreEAR",
    "StoreElement",
    "StoreElementIter",
    "StoreParameter",
    "StoreTask",
    "ZarrPersistentStore",
    "ZarrStoreEAR",
    "ZarrStoreElement",
    "ZarrStoreElementIter",
    "ZarrStoreParameter",
    "ZarrStoreTask",
    "ZarrZipPersistentStore",
]
