"""hpcflow 0.3.0's execution-time store members on wfstore's 0.3 Zarr store: what a job
records while it runs (run starts and ends, skips, output values), queued until
``save()`` and committed in 0.3.0's order (skips, starts, ends, parameter values) to the
run files and parameter files (:mod:`.writes`).

The members take 0.3.0's signatures (``set_EAR_start(EAR_ID, run_dir, port_number)``,
``set_multi_run_starts``, ``set_EAR_end(EAR_ID, exit_code, success, snapshot)``,
``set_multi_run_ends``, ``set_EAR_skip(skip_reasons)``, ``set_parameter_values``,
``unset_parameter_value``); pending changes show in ``get_EARs`` as 0.3.0 shows them (a
pending skip as True). The queue is the layer's own: the shared
:class:`~wfstore.persistence.pending.PendingChanges` keeps a190's shapes.

Output values with numpy arrays: a Zarr store writes them as 0.3.0 does (NPZ archives,
:mod:`.zarr_writes`, through ``_encode_output``); a JSON store refuses them, as 0.3.0's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from wfstore.common.errors import (
    ParameterAlreadySetError,
    StoreError,
    UnsupportedStoreOperationError,
)
from wfstore.persistence.base import current_timestamp
from wfstore.persistence.items import StoreParameter

#: What ``unset_parameter_value`` queues (written as null).
_UNSET = object()


@dataclasses.dataclass
class RunTimePending:
    """Execution-time changes waiting for ``save()``, by run or parameter ID."""

    skips: dict[int, int] = dataclasses.field(default_factory=dict)
    starts: dict[int, tuple[datetime, Any, str, int | None]] = dataclasses.field(
        default_factory=dict
    )
    ends: dict[int, tuple[datetime, Any, int, bool]] = dataclasses.field(default_factory=dict)
    values: dict[int, Any] = dataclasses.field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.skips or self.starts or self.ends or self.values)

    def clear(self) -> None:
        self.skips.clear()
        self.starts.clear()
        self.ends.clear()
        self.values.clear()


def encode_v03_value(param: Any, value: Any) -> Any:
    """A run output's value encoded as 0.3.0 encodes it: ``{"data", "type_lookup"}``
    with only the ``type_lookup`` keys that have entries (0.3.0 fills a
    ``defaultdict(list)``). `param` is the parameter's store item (its encoder)."""
    if _has_numpy(value):
        raise UnsupportedStoreOperationError(
            f"parameter {param.id_}: numpy arrays in output values (0.3.0's NPZ array "
            "outputs) are not written by wfstore yet"
        )
    # the shared encoder (a190's, which 0.3.0 kept for plain values; 0.3's item
    # classes refuse to encode until the whole write path is there)
    encoded = StoreParameter.encode(param.set_data(value))
    assert isinstance(encoded, dict)
    lookup = {k: v for k, v in encoded["type_lookup"].items() if v}
    return {"data": encoded["data"], "type_lookup": lookup}


def _has_numpy(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return True
    if isinstance(value, dict):
        return any(_has_numpy(v) for v in value.values())
    if isinstance(value, (list, tuple, set)):
        return any(_has_numpy(v) for v in value)
    return False


class V03RunTimeWrites:
    """The execution-time members of hpcflow 0.3.0's store API, for
    :class:`~wfstore.persistence.v03.zarr_store.V03ZarrPersistentStore` (which
    provides ``write_run_fields``, ``write_output_values`` and the readers)."""

    _run_pending: RunTimePending
    #: Whether only run outputs take values (0.3.0's Zarr store; its JSON store sets any).
    _outputs_only: bool = True

    # (provided by the store class)
    _app: Any
    _batch_active: bool

    def _require_writable(self) -> None:
        """Raise if the store cannot be written (a zip archive)."""

    def _snapshot(self, run_dir: Path | None) -> Any:
        files = getattr(self._app, "RunDirAppFiles", None)
        if run_dir is None or files is None:
            return None
        return files.take_snapshot(run_dir)

    # --- members -----------------------------------------------------------------------

    def set_EAR_start(
        self, EAR_ID: int, run_dir: Path | None, port_number: int | None, save: bool = True
    ) -> datetime:
        """Mark a run as started (its snapshot taken when `run_dir` is given)."""
        self._require_writable()
        files = getattr(self._app, "RunDirAppFiles", None)
        snap = files.take_snapshot() if run_dir and files is not None else None
        dt = current_timestamp()
        self._run_pending.starts[EAR_ID] = (dt, snap, socket.gethostname(), port_number)
        self._maybe_commit(save)
        return dt

    def set_multi_run_starts(
        self,
        run_ids: list[int],
        run_dirs: list[Path | None],
        port_number: int,
        save: bool = True,
    ) -> datetime:
        """Mark runs as started, all at one time."""
        self._require_writable()
        dt = current_timestamp()
        host = socket.gethostname()
        for run_id, run_dir in zip(run_ids, run_dirs):
            self._run_pending.starts[run_id] = (dt, self._snapshot(run_dir), host, port_number)
        self._maybe_commit(save)
        return dt

    def set_EAR_end(
        self, EAR_ID: int, exit_code: int, success: bool, snapshot: bool, save: bool = True
    ) -> datetime:
        """Mark a run as finished."""
        self._require_writable()
        files = getattr(self._app, "RunDirAppFiles", None)
        snap = files.take_snapshot() if snapshot and files is not None else None
        dt = current_timestamp()
        self._run_pending.ends[EAR_ID] = (dt, snap, exit_code, success)
        self._maybe_commit(save)
        return dt

    def set_multi_run_ends(
        self,
        run_ids: list[int],
        run_dirs: list[Path | None],
        exit_codes: list[int],
        successes: list[bool],
        save: bool = True,
    ) -> datetime:
        """Mark runs as finished, all at one time."""
        self._require_writable()
        dt = current_timestamp()
        for run_id, run_dir, code, ok in zip(run_ids, run_dirs, exit_codes, successes):
            self._run_pending.ends[run_id] = (dt, self._snapshot(run_dir), code, ok)
        self._maybe_commit(save)
        return dt

    def set_EAR_skip(self, skip_reasons: dict[int, int], save: bool = True) -> None:
        """Mark runs as skipped, each with its reason (an int)."""
        self._require_writable()
        self._run_pending.skips.update(skip_reasons)
        self._maybe_commit(save)

    def set_parameter_values(self, values: dict[int, Any], save: bool = True) -> None:
        """Set the values of run outputs."""
        self._require_writable()
        self._run_pending.values.update(values)
        self._maybe_commit(save)

    def unset_parameter_value(self, param_id: int, save: bool = True) -> None:
        """Clear a run output's value (written as null)."""
        self._require_writable()
        self._run_pending.values[param_id] = _UNSET
        self._maybe_commit(save)

    # --- pending and committing ----------------------------------------------------------

    def _maybe_commit(self, save: bool) -> None:
        if save and not self._batch_active:
            self._commit_run_time()

    def _commit_run_time(self) -> None:
        """Write the queued changes in 0.3.0's order: skips, starts, ends, values. The
        queue is cleared whatever happens (as 0.3.0's commit does); values are encoded
        and checked before any of them is written."""
        pend = self._run_pending
        if not pend:
            return
        try:
            updates: dict[int, dict[str, Any]] = {}
            for run_id, reason in pend.skips.items():
                updates.setdefault(run_id, {})["skip"] = reason
            if updates:
                self.write_run_fields(updates)  # type: ignore[attr-defined]
            updates = {}
            for run_id, (dt, snap, host, port) in pend.starts.items():
                updates[run_id] = {
                    "start_time": dt,
                    "snapshot_start": snap,
                    "run_hostname": host,
                    "port_number": port,
                }
            if updates:
                self.write_run_fields(updates)  # type: ignore[attr-defined]
            updates = {}
            for run_id, (dt, snap, code, ok) in pend.ends.items():
                updates[run_id] = {
                    "end_time": dt,
                    "snapshot_end": snap,
                    "exit_code": code,
                    "success": ok,
                }
            if updates:
                self.write_run_fields(updates)  # type: ignore[attr-defined]
            if pend.values:
                self.write_output_values(self._encode_values(pend.values))  # type: ignore[attr-defined]
        finally:
            pend.clear()

    def _encode_values(self, values: Mapping[int, Any]) -> dict[int, Any]:
        ids = list(values)
        params = dict(zip(ids, self.get_parameters(ids)))  # type: ignore[attr-defined]
        out: dict[int, Any] = {}
        for pid, value in values.items():
            param = params[pid]
            if self._outputs_only and param.source.get("type") != "EAR_output":
                raise StoreError(f"parameter {pid}: expected run-output parameters only")
            if value is _UNSET:
                out[pid] = None
                continue
            if param.is_set:
                raise ParameterAlreadySetError(pid)
            out[pid] = self._encode_output(param, value)
        return out

    def _encode_output(self, param: Any, value: Any) -> Any:
        """A run output's encoded value (a store that writes numpy arrays overrides
        this: the Zarr store, to NPZ archives)."""
        return encode_v03_value(param, value)

    @property
    def has_pending(self) -> bool:
        return bool(self._run_pending) or super().has_pending  # type: ignore[misc]

    def save(self) -> None:
        if not self._batch_active:
            self._commit_run_time()
            super().save()  # type: ignore[misc]

    @contextlib.contextmanager
    def batch_update(self) -> Iterator[None]:
        try:
            with super().batch_update():  # type: ignore[misc]
                yield
        except BaseException:
            self._run_pending.clear()
            raise

    def _pending_run_changes(self, ids: Sequence[int], runs: Iterable[Any]) -> list[Any]:
        """`runs` with the queued changes shown, as 0.3.0's ``get_EARs`` shows them."""
        pend = self._run_pending
        out = []
        for run_id, run in zip(ids, runs):
            changes: dict[str, Any] = {}
            if run_id in pend.skips:
                changes["skip"] = True
            if run_id in pend.starts:
                dt, snap, host, port = pend.starts[run_id]
                changes.update(
                    start_time=dt, snapshot_start=snap, run_hostname=host, port_number=port
                )
            if run_id in pend.ends:
                dt, snap, code, ok = pend.ends[run_id]
                changes.update(end_time=dt, snapshot_end=snap, exit_code=code, success=ok)
            changes = {k: v for k, v in changes.items() if v is not None}
            out.append(dataclasses.replace(run, **changes) if changes else run)
        return out

    def get_EARs(self, ids: Iterable[int]) -> Sequence[Any]:
        ids = list(ids)
        runs = super().get_EARs(ids)  # type: ignore[misc]
        if not (self._run_pending.skips or self._run_pending.starts or self._run_pending.ends):
            return runs
        return self._pending_run_changes(ids, runs)
