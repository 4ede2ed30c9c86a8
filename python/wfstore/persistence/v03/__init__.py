"""hpcflow 0.3.0's stores (PyPI ``hpcflow``), read by wfstore: the generation layer
over the shared store API (:mod:`wfstore.persistence.base`, :mod:`.items`) and the Rust
core (chunks, codecs, msgpack).

Modules: :mod:`.layout` (where 0.3 keeps things; telling its stores from a190's),
:mod:`.files` (run files and parameter files, decoded once until they change),
:mod:`.arrays` (array-output NPZ archives), :mod:`.items` (0.3's store items),
:mod:`.store` (what the three kinds share), :mod:`.zarr_store` (Zarr folder and zip
archive) and :mod:`.json_store`; :mod:`.writes` writes run files and parameter files as
0.3.0 does (``V03ZarrPersistentStore.write_run_fields`` / ``write_output_values`` on a
store 0.3.0 made), :mod:`.execution` 0.3.0's execution-time members on it (run starts,
ends, skips, output values). The other writing members still raise
``ReadOnlyStoreError``.
"""

from wfstore.persistence.v03.json_store import V03JSONPersistentStore
from wfstore.persistence.v03.layout import GENERATION, is_v03_json_files, is_v03_zarr
from wfstore.persistence.v03.store import V03PersistentStore
from wfstore.persistence.v03.zarr_store import V03ZarrPersistentStore, V03ZarrZipPersistentStore

#: hpcflow 0.3 store classes by kind name.
V03_STORE_CLASSES: dict[str, type[V03PersistentStore]] = {
    "json": V03JSONPersistentStore,
    "zarr": V03ZarrPersistentStore,
    "zip": V03ZarrZipPersistentStore,
}

__all__ = [
    "GENERATION",
    "V03_STORE_CLASSES",
    "V03JSONPersistentStore",
    "V03PersistentStore",
    "V03ZarrPersistentStore",
    "V03ZarrZipPersistentStore",
    "is_v03_json_files",
    "is_v03_zarr",
]
