"""hpcflow 0.3.0's stores (PyPI ``hpcflow``): the generation layer over the shared store
API (:mod:`wfstore.persistence.base`, :mod:`.items`, :mod:`.pending`), the shared Zarr
commit machinery (:mod:`wfstore.persistence.zarr.transactions`) and the Rust core
(chunks, codecs, msgpack, transactions).

Modules: :mod:`.layout` (where 0.3 keeps things; telling its stores from a190's),
:mod:`.files` (run files and parameter files, decoded once until they change),
:mod:`.arrays` (array-output NPZ archives), :mod:`.items` (0.3's store items),
:mod:`.store` (what the three kinds share), :mod:`.zarr_store` (Zarr folder and zip
archive) and :mod:`.json_store`; writing: :mod:`.building` (the building and
submitting members), :mod:`.zarr_writes` / :mod:`.json_writes` (creation and commit
hooks per kind), :mod:`.execution` (execution-time members: run starts, ends, skips,
output values) and :mod:`.writes` (run files and parameter files).

Stable entry points (other tools, e.g. a migration, write 0.3 stores through these):

* the store classes :class:`V03ZarrPersistentStore`, :class:`V03JSONPersistentStore`
  (``write_empty_workflow`` and 0.3.0's ``PersistentStore`` API) and
  :class:`V03ZarrZipPersistentStore` (read-only); :data:`V03_STORE_CLASSES`;
* ``V03ZarrPersistentStore.write_run_fields(updates)`` and
  ``write_output_values(values)`` (also on the JSON store): set run-file fields
  (historical start/end times, exit codes, ...) and encoded output values of
  submitted runs directly, without the execution-time queue;
* ``store._build_pending`` (:class:`~.building.BuildPending`) and ``store._pending``
  take queued changes the public members do not expose (e.g. run submission data
  for existing runs), committed by ``save()``.
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
