"""The store-API benchmark runner (``wfstore bench``): one workload through the
PersistentStore API on wfstore's stores and, when hpcflow is there, the engine's own,
side by side. :mod:`~wfstore.tools.bench.runner` plans and runs the variants,
:mod:`~wfstore.tools.bench.workload` is what each variant's process does,
:mod:`~wfstore.tools.bench.report` turns the figures into tables and targets."""
