"""Row writes of a Zarr store's object arrays that both engine generations' Zarr stores
make alike (their ``tasks``, ``elements`` and ``iters`` arrays have the same paths; rows
are encoded and decoded by each store's item classes): appending items, updating items
read, decoded, changed and encoded again, appending element IDs to a task's row. A part of
:class:`~wfstore.persistence.zarr.store.ZarrPersistentStore` and of hpcflow 0.3's Zarr
store; each runs inside the store's commit (see
:class:`~wfstore.persistence.zarr.transactions.ZarrTransactions`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from wfstore import _core
from wfstore.common.errors import (
    MissingStoreElementError,
    MissingStoreElementIterationError,
    MissingStoreTaskError,
)
from wfstore.persistence.zarr.layout import (
    _ATTRS,
    ELEMS_ARR,
    ITERS_ARR,
    ROW_BATCH,
    TASKS_ARR,
    _append_in_batches,
    _check_next_ids,
)


class ZarrRowWrites:
    """The shared row-writing commit hooks (a part of a Zarr store class)."""

    @staticmethod
    def _rows(arr: _core.ObjectArray, ids: Sequence[int], error: type[Exception]) -> dict[int, Any]:
        """Rows `ids` of `arr`, raising `error` naming the IDs out of range."""
        n = len(arr)
        missing = [i for i in ids if not 0 <= i < n]
        if missing:
            raise error(missing)
        return dict(zip(ids, arr.get(list(ids))))

    def _append_rows(self, path: str, items: Sequence[Any], encode: Callable) -> None:
        """Append `items` encoded by ``encode(item, attrs)``, a batch of
        :data:`~wfstore.persistence.zarr.layout.ROW_BATCH` at a time (within the
        commit's transaction), so that only one batch of encoded rows exists at once;
        the items' IDs must be the array's next rows."""
        for start in range(0, len(items), ROW_BATCH):
            batch = items[start : start + ROW_BATCH]

            def make_rows(arr: _core.ObjectArray, attrs: dict[str, Any]) -> list[Any]:
                _check_next_ids(path, arr, [item.id_ for item in batch])  # noqa: B023
                return [encode(item, attrs) for item in batch]  # noqa: B023

            self._write_rows(path, make_rows, _append_in_batches)  # type: ignore[attr-defined]

    def _update_rows(
        self,
        path: str,
        ids: Sequence[int],
        decode: Callable[[Any, dict], Any],
        change: Callable[[int, Any], Any],
        encode: Callable[[Any, dict], Any],
        error: type[Exception],
    ) -> None:
        """Read rows `ids` of `path`, decode them, apply `change(id, item)`, write them
        back (one read and one write of the array); IDs out of range raise `error`."""
        ids = list(ids)
        if not ids:
            return

        def make_rows(arr: _core.ObjectArray, attrs: dict[str, Any]) -> list[Any]:
            rows = self._rows(arr, ids, error)
            return [encode(change(i, decode(rows[i], attrs)), attrs) for i in ids]

        self._write_rows(path, make_rows, lambda arr, rows: arr.set(ids, rows), ids=ids)  # type: ignore[attr-defined]

    def _append_task_element_IDs(self, task_ID: int, elem_IDs: list[int]) -> None:
        with self.using_resource(_ATTRS, "read") as attrs:  # type: ignore[attr-defined]
            rows = [t["element_IDs_idx"] for t in attrs["tasks"] if t["id_"] == task_ID]
        if not rows:
            raise MissingStoreTaskError([task_ID])
        with self._locked():  # type: ignore[attr-defined]
            arr = self._array(TASKS_ARR)  # type: ignore[attr-defined]
            current = arr.get([rows[0]])[0]
            new = np.concatenate([np.asarray(current, "<i8"), np.asarray(elem_IDs, "<i8")])
            arr.set([rows[0]], [new])

    # --- elements and iterations (the same arrays in both layouts) -------------------------

    def _update_iters(self, ids: Sequence[int], change: Callable[[int, Any], Any]) -> None:
        """Apply ``change(id, iteration)`` to iterations `ids` (decoded and encoded by
        the store's iteration class)."""
        self._update_rows(
            ITERS_ARR,
            ids,
            self._store_iter_cls().decode,  # type: ignore[attr-defined]
            change,
            lambda it, a: it.encode(a),
            MissingStoreElementIterationError,
        )

    def _append_elements(self, elems: Sequence[Any]) -> None:
        self._append_rows(ELEMS_ARR, elems, lambda e, a: e.encode(a))

    def _append_elem_iters(self, iters: Sequence[Any]) -> None:
        self._append_rows(ITERS_ARR, iters, lambda i, a: i.encode(a))

    def _append_elem_iter_IDs(self, elem_ID: int, iter_IDs: Iterable[int]) -> None:
        iter_IDs = list(iter_IDs)
        self._update_rows(
            ELEMS_ARR,
            [elem_ID],
            self._store_elem_cls().decode,  # type: ignore[attr-defined]
            lambda _, e: e.append_iteration_IDs(iter_IDs),
            lambda e, a: e.encode(a),
            MissingStoreElementError,
        )

    def _append_elem_iter_EAR_IDs(self, iter_ID: int, act_idx: int, EAR_IDs: Sequence[int]) -> None:
        self._update_iters([iter_ID], lambda _, it: it.append_EAR_IDs({act_idx: list(EAR_IDs)}))

    def _update_elem_iter_EARs_initialised(self, iter_ID: int) -> None:
        self._update_iters([iter_ID], lambda _, it: it.set_EARs_initialised())

    def _update_loop_index(self, iter_ID: int, loop_idx: Mapping[str, int]) -> None:
        self._update_iters([iter_ID], lambda _, it: it.update_loop_idx(loop_idx))

