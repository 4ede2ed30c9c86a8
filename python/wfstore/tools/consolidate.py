"""``wfstore consolidate``: put the run files and output parameter files of finished
submissions of an hpcflow 0.3 Zarr store into a few large files that hpcflow 0.3.0
reads unchanged (:mod:`wfstore.persistence.v03.consolidate`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from wfstore.common.errors import UnsupportedStoreOperationError
from wfstore.persistence.v03.consolidate import DEFAULT_RUNS_PER_FILE
from wfstore.tools.stores import is_v03_store, open_store


def consolidate(
    path: str | os.PathLike[str],
    submissions: Sequence[int] | None = None,
    runs_per_file: int = DEFAULT_RUNS_PER_FILE,
) -> list[dict[str, Any]]:
    """Consolidate the given submissions (default: every finished one) of the hpcflow
    0.3 Zarr store folder at `path`; returns a report per submission (``submission``,
    ``runs``, ``files_before``, ``files_after``, ``run_file_ids``, ``removed``,
    ``already``)."""
    store = open_store(path)
    if not is_v03_store(store) or store._name != "zarr":
        raise UnsupportedStoreOperationError(
            f"consolidate needs an hpcflow 0.3 Zarr store folder; {os.fspath(path)!r} is a "
            f"{'0.3 ' if is_v03_store(store) else ''}{store._name} store"
            + ("" if is_v03_store(store) else " of hpcflow-new2 0.2.0a190 (no run files)")
        )
    reports: list[dict[str, Any]] = store.consolidate_runs(submissions, runs_per_file)
    return reports
