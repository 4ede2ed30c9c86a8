"""How bytes reach a store: the fsspec adapter the Rust core reads and writes through
(:mod:`wfstore.storage.fsspec`) and the store lock (:mod:`wfstore.storage.lock`)."""
