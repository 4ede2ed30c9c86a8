"""How bytes reach a store: the fsspec adapter the Rust core reads and writes through
(:mod:`wfstore.storage.fsspec`), the store lock (:mod:`wfstore.storage.lock`) and the
keys of a core store (:mod:`wfstore.storage.keys`)."""
