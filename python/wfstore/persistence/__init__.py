"""The persistence layer of wfstore: the abstract store API, store items, pending
changes, store resources and the concrete stores implemented in Python."""

from wfstore.persistence.base import PersistentStore
from wfstore.persistence.items import (
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
from wfstore.persistence.json_store import JSONPersistentStore
from wfstore.persistence.pending import PendingChanges
from wfstore.persistence.zarr import ZarrPersistentStore, ZarrStoreParameter
from wfstore.persistence.zip_store import ZarrZipPersistentStore

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
