"""hpcflow 0.3.0's building and submitting members of the store API (what makes and
submits a workflow), for wfstore's 0.3 stores: the members whose signature 0.3 changed
(``add_task(num_actions)``, ``add_element_iteration(task_ID, index)``,
``add_EAR(task_ID, element_idx, iteration_idx)``, ``add_loop(output_parameters)``,
``set_jobscript_metadata(shell_idx)``) and those it added (``add_elements``,
``add_element_iterations``, ``set_run_submission_data``, ``set_run_dirs``,
``update_at_submit_metadata``, ``update_iter_data_indices``,
``update_run_data_indices``).

Changes that a190 also makes go to the shared pending changes
(:class:`~wfstore.persistence.pending.PendingChanges`, committed by its steps through
the store's ``_append_*`` / ``_update_*`` hooks); those only 0.3 makes wait in a
:class:`BuildPending` of this layer, committed right after the shared ones, in one
commit transaction with them (:meth:`V03BuildMembers._commit_build`), in 0.3.0's order
(at-submit metadata, run submission data, run folders, iteration then run data
indices). The store class provides the hooks ``_update_at_submit_metadata``,
``_update_EAR_submission_data``, ``_set_run_dirs``, ``_update_iter_data_indices`` and
``_update_run_data_indices``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from wfstore.common.errors import MissingStoreElementError, MissingStoreElementIterationError
from wfstore.persistence.base import DataIndex, PersistentStore
from wfstore.persistence.pending import PendingChanges
from wfstore.persistence.resources import is_local_fs

#: Writing members 0.3.0 kept as a190 had them: the shared store API's own (which
#: :class:`~wfstore.persistence.v03.store.V03PersistentStore` refuses for the kinds
#: that do not build stores yet).
SHARED_BUILD_MEMBERS: tuple[str, ...] = (
    "add_template_components",
    "add_submission",
    "add_element_set",
    "add_file",
    "set_file",
    "set_parameter_value",
    "update_loop_num_iters",
    "update_loop_parents",
    "set_EARs_initialised",
)


@dataclasses.dataclass
class BuildPending:
    """The changes only hpcflow 0.3 makes, waiting for ``save()``."""

    #: run ID -> (submission index, commands file ID, run file ID, run file index)
    sub_data: dict[int, tuple[int, int | None, int, int]] = dataclasses.field(default_factory=dict)
    #: (run folder index rows, run IDs) pairs, in the order given
    run_dirs: list[tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=list)
    #: submission index -> submission parts to merge
    at_submit: dict[int, dict[str, list[int]]] = dataclasses.field(default_factory=dict)
    #: iteration ID -> data index entries to merge
    iter_data_idx: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    #: run ID -> data index entries to merge
    run_data_idx: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.sub_data
            or self.run_dirs
            or self.at_submit
            or self.iter_data_idx
            or self.run_data_idx
        )

    def clear(self) -> None:
        for f in dataclasses.fields(self):
            getattr(self, f.name).clear()

    def snapshot(self) -> BuildPending:
        """A copy of the containers (their values are never changed in place)."""
        return BuildPending(
            dict(self.sub_data),
            list(self.run_dirs),
            {k: dict(v) for k, v in self.at_submit.items()},
            {k: dict(v) for k, v in self.iter_data_idx.items()},
            {k: dict(v) for k, v in self.run_data_idx.items()},
        )


#: The members of :class:`V03BuildMembers` that queue changes.
BUILD_MEMBERS: tuple[str, ...] = (
    *SHARED_BUILD_MEMBERS,
    "add_set_parameter",
    "add_unset_parameter",
    "update_param_source",
    "add_task",
    "add_loop",
    "add_elements",
    "add_element_iteration",
    "add_element_iterations",
    "add_EAR",
    "set_jobscript_metadata",
    "set_run_submission_data",
    "set_run_dirs",
    "update_at_submit_metadata",
    "update_iter_data_indices",
    "update_run_data_indices",
)


class V03PendingChanges(PendingChanges):  # type: ignore[type-arg]
    """The shared pending changes of a 0.3 store, answering for all of the store's
    queues: the engine itself calls ``store._pending.commit_all()``, ``reset()`` and
    ``bool(store._pending)``, which here cover this layer's :class:`BuildPending` and
    the execution-time queue too (:meth:`commit_all` is the store's whole commit)."""

    _shared_only = False

    def __bool__(self) -> bool:
        if PendingChanges.__bool__(self):
            return True
        if self._shared_only:
            return False
        store = self.store
        return bool(getattr(store, "_build_pending", None)) or bool(
            getattr(store, "_run_pending", None)
        )

    def reset(self) -> None:
        super().reset()
        for name in ("_build_pending", "_run_pending"):
            queue = getattr(self.store, name, None)
            if queue is not None:
                queue.clear()

    def commit_shared(self) -> None:
        """Commit the shared (a190-shaped) changes only."""
        self._shared_only = True
        try:
            PendingChanges.commit_all(self)
        finally:
            self._shared_only = False

    def commit_all(self) -> None:
        """Commit everything pending in the store (see :meth:`V03BuildMembers.save`)."""
        self.store._commit_everything()


class V03BuildMembers:
    """hpcflow 0.3.0's building and submitting members (a mixin of a 0.3 store class,
    before :class:`~wfstore.persistence.v03.store.V03PersistentStore` in its bases)."""

    _build_pending: BuildPending

    # (provided by the store class)
    _pending: Any
    logger: Any
    fs: Any

    for _name_ in SHARED_BUILD_MEMBERS:
        vars()[_name_] = getattr(PersistentStore, _name_)
    del _name_

    def _add_parameter(self, *args: Any, **kwargs: Any) -> int:
        self._check_params_metadata_writable()  # type: ignore[attr-defined]
        return super()._add_parameter(*args, **kwargs)  # type: ignore[misc]

    def add_set_parameter(self, data: Any, source: Any, save: bool = True) -> int:
        """Add a parameter set to `data` (not while the parameters-metadata cache is in
        use); returns its ID."""
        self._check_params_metadata_writable()  # type: ignore[attr-defined]
        return self._add_parameter(is_set=True, source=source, data=data, save=save)

    def add_unset_parameter(self, source: Any, save: bool = True) -> int:
        """Add an unset parameter (not while the parameters-metadata cache is in use);
        returns its ID."""
        self._check_params_metadata_writable()  # type: ignore[attr-defined]
        return self._add_parameter(is_set=False, source=source, save=save)

    def update_param_source(self, param_sources: Mapping[int, Any], save: bool = True) -> None:
        """Merge into parameters' sources (not while the parameters-metadata cache is
        in use)."""
        self._check_params_metadata_writable()  # type: ignore[attr-defined]
        PersistentStore.update_param_source(self, param_sources, save)  # type: ignore[arg-type]

    @property
    def is_submittable(self) -> bool:
        """On a local file system, as 0.3.0's stores."""
        return is_local_fs(self.fs)

    @property
    def has_pending(self) -> bool:
        return bool(self._build_pending) or super().has_pending  # type: ignore[misc]

    def save(self) -> None:
        """Commit the pending changes (not in batch-update mode): the building and
        submitting ones in one transaction (:meth:`_commit_build`), then the
        execution-time ones (run files, parameter files)."""
        if self._batch_active:  # type: ignore[attr-defined]
            return
        self._commit_everything()

    def _commit_everything(self) -> None:
        self._commit_build()
        self._commit_run_time()  # type: ignore[attr-defined]

    @contextlib.contextmanager
    def batch_update(self) -> Iterator[None]:
        try:
            with super().batch_update():  # type: ignore[misc]
                yield
        except BaseException:
            self._build_pending.clear()
            raise

    def get_EARs(self, ids: Iterable[int]) -> Sequence[Any]:
        ids = list(ids)
        runs = super().get_EARs(ids)  # type: ignore[misc]
        if self._build_pending.sub_data:
            runs = self._with_pending_sub_data(ids, runs)
        return runs

    def _init_build(self) -> None:
        self._build_pending = BuildPending()
        self._pending = V03PendingChanges(self)  # type: ignore[arg-type]

    # --- members whose signature 0.3 changed --------------------------------------------

    def add_task(
        self, idx: int, task_template: Mapping, num_actions: int, save: bool = True
    ) -> int:
        """Add a task at position `idx` (`num_actions` is kept on the pending item, not
        stored); returns its ID."""
        new_ID = self._get_num_total_added_tasks()  # type: ignore[attr-defined]
        self._pending.add_tasks[new_ID] = self._store_task_cls()(  # type: ignore[attr-defined]
            id_=new_ID,
            index=idx,
            is_pending=True,
            element_IDs=[],
            task_template=task_template,
            num_actions=num_actions,
        )
        self._maybe_save(save)  # type: ignore[attr-defined]
        return new_ID

    def add_loop(
        self,
        loop_template: Mapping[str, Any],
        iterable_parameters: Mapping[str, Any],
        output_parameters: Mapping[str, int],
        parents: Sequence[str],
        num_added_iterations: Mapping[tuple[int, ...], int],
        iter_IDs: Iterable[int],
        save: bool = True,
    ) -> None:
        """Add a loop (0.3 stores its ``output_parameters`` too)."""
        new_idx = self._get_num_total_loops()  # type: ignore[attr-defined]
        self._pending.add_loops[new_idx] = {
            "loop_template": dict(loop_template),
            "iterable_parameters": dict(iterable_parameters),
            "output_parameters": dict(output_parameters),
            "parents": list(parents),
            "num_added_iterations": [[list(k), v] for k, v in num_added_iterations.items()],
        }
        for i in iter_IDs:
            self._pending.update_loop_indices[i][loop_template["name"]] = 0
        self._maybe_save(save)  # type: ignore[attr-defined]

    def add_elements(
        self,
        task_ID: int,
        es_idx: int,
        seq_idx: list[dict[str, int]],
        src_idx: list[dict[str, int]],
        save: bool = True,
    ) -> list[int]:
        """Add elements to a task (one per `seq_idx` / `src_idx` pair); returns their
        IDs."""
        next_ID = self._get_num_total_elements()  # type: ignore[attr-defined]
        next_idx = self._get_task_total_num_elements(task_ID)  # type: ignore[attr-defined]
        new_IDs = list(range(next_ID, next_ID + len(seq_idx)))
        cls = self._store_elem_cls()  # type: ignore[attr-defined]
        for k, (id_, seq, src) in enumerate(zip(new_IDs, seq_idx, src_idx)):
            self._pending.add_elements[id_] = cls(
                id_=id_,
                is_pending=True,
                index=next_idx + k,
                es_idx=es_idx,
                seq_idx=seq,
                src_idx=src,
                task_ID=task_ID,
                iteration_IDs=[],
            )
        self._pending.add_elem_IDs[task_ID].extend(new_IDs)
        self._maybe_save(save)  # type: ignore[attr-defined]
        return new_IDs

    def add_element_iteration(
        self,
        element_ID: int,
        data_idx: DataIndex,
        schema_parameters: list[str],
        task_ID: int,
        index: int,
        loop_idx: Mapping[str, int] | None = None,
        save: bool = True,
    ) -> int:
        """Add an iteration to an element; returns its ID."""
        return self.add_element_iterations(
            [element_ID],
            [data_idx],
            [schema_parameters],
            task_ID,
            index,
            [loop_idx or {}],
            save=save,
        )[0]

    def add_element_iterations(
        self,
        element_IDs: Sequence[int],
        data_idx_all: Sequence[DataIndex],
        schema_parameters_all: Sequence[list[str]],
        task_ID: int,
        index: int,
        loop_idx_all: Sequence[Mapping[str, int]] | None = None,
        save: bool = True,
    ) -> list[int]:
        """Add one iteration to each of `element_IDs` (all of task `task_ID`, each the
        element's iteration number `index`); returns their IDs."""
        self._check_ids(  # type: ignore[attr-defined]
            element_IDs,
            self._get_num_total_elements(),  # type: ignore[attr-defined]
            MissingStoreElementError,
        )
        next_ID = self._get_num_total_elem_iters()  # type: ignore[attr-defined]
        new_IDs = list(range(next_ID, next_ID + len(element_IDs)))
        if loop_idx_all is None:
            loop_idx_all = [{} for _ in element_IDs]
        cls = self._store_iter_cls()  # type: ignore[attr-defined]
        for id_, elem_ID, data_idx, schema, loop_idx in zip(
            new_IDs, element_IDs, data_idx_all, schema_parameters_all, loop_idx_all
        ):
            self._pending.add_elem_iters[id_] = cls(
                id_=id_,
                is_pending=True,
                element_ID=elem_ID,
                EARs_initialised=False,
                EAR_IDs=None,
                data_idx=dict(data_idx),
                schema_parameters=list(schema),
                loop_idx=dict(loop_idx or {}),
                task_ID=task_ID,
                index=index,
            )
            self._pending.add_elem_iter_IDs[elem_ID].append(id_)
        self._maybe_save(save)  # type: ignore[attr-defined]
        return new_IDs

    def add_EAR(
        self,
        elem_iter_ID: int,
        action_idx: int,
        commands_idx: list[int],
        data_idx: DataIndex,
        task_ID: int,
        element_idx: int,
        iteration_idx: int,
        metadata: dict[str, Any] | None = None,
        save: bool = True,
    ) -> int:
        """Add a run to an iteration; returns its ID."""
        self._check_ids(  # type: ignore[attr-defined]
            [elem_iter_ID],
            self._get_num_total_elem_iters(),  # type: ignore[attr-defined]
            MissingStoreElementIterationError,
        )
        new_ID = self._get_num_total_EARs()  # type: ignore[attr-defined]
        self._pending.add_EARs[new_ID] = self._store_EAR_cls()(  # type: ignore[attr-defined]
            id_=new_ID,
            is_pending=True,
            elem_iter_ID=elem_iter_ID,
            action_idx=action_idx,
            commands_idx=list(commands_idx),
            data_idx=data_idx,
            task_ID=task_ID,
            element_idx=element_idx,
            iteration_idx=iteration_idx,
            metadata=metadata or {},
        )
        self._pending.add_elem_iter_EAR_IDs[elem_iter_ID][action_idx].append(new_ID)
        self._maybe_save(save)  # type: ignore[attr-defined]
        return new_ID

    def set_jobscript_metadata(
        self,
        sub_idx: int,
        js_idx: int,
        version_info: Any = None,
        submit_time: str | None = None,
        submit_hostname: str | None = None,
        submit_machine: str | None = None,
        shell_idx: int | None = None,
        submit_cmdline: list[str] | None = None,
        os_name: str | None = None,
        shell_name: str | None = None,
        scheduler_name: str | None = None,
        scheduler_job_ID: str | None = None,
        process_ID: int | None = None,
        save: bool = True,
    ) -> None:
        """Set a jobscript's metadata (as 0.3.0: falsy values are not set, but
        ``shell_idx`` 0 is; ``scheduler_job_ID`` and ``process_ID`` go together)."""
        entry = self._pending.set_js_metadata[sub_idx][js_idx]
        for key, value in (
            ("version_info", version_info),
            ("submit_time", submit_time),
            ("submit_hostname", submit_hostname),
            ("submit_machine", submit_machine),
            ("submit_cmdline", submit_cmdline),
            ("os_name", os_name),
            ("shell_name", shell_name),
            ("scheduler_name", scheduler_name),
        ):
            if value:
                entry[key] = value
        if shell_idx is not None:
            entry["shell_idx"] = shell_idx
        if scheduler_job_ID or process_ID:
            entry["scheduler_job_ID"] = scheduler_job_ID
            entry["process_ID"] = process_ID
        self._maybe_save(save)  # type: ignore[attr-defined]

    # --- members 0.3 added --------------------------------------------------------------

    def set_run_submission_data(
        self,
        EAR_ID: int,
        cmds_ID: int | None,
        sub_idx: int,
        run_file_ID: int,
        run_file_idx: int,
        save: bool = True,
    ) -> None:
        """Set a run's submission index, commands file ID and run-file place."""
        self._build_pending.sub_data[EAR_ID] = (sub_idx, cmds_ID, run_file_ID, run_file_idx)
        self._maybe_save(save)  # type: ignore[attr-defined]

    def set_run_dirs(
        self, run_dir_indices: np.ndarray, run_idx: np.ndarray, save: bool = True
    ) -> None:
        """Set the run-folder index rows (``run_dirs`` fields) of runs `run_idx`."""
        self._build_pending.run_dirs.append((np.asarray(run_dir_indices), np.asarray(run_idx)))
        self._maybe_save(save)  # type: ignore[attr-defined]

    def update_at_submit_metadata(
        self, sub_idx: int, submission_parts: dict[str, list[int]], save: bool = True
    ) -> None:
        """Merge `submission_parts` (submit time -> jobscript indices) into a
        submission's at-submit metadata."""
        if submission_parts:
            self._build_pending.at_submit[sub_idx] = dict(submission_parts)
        self._maybe_save(save)  # type: ignore[attr-defined]

    def update_iter_data_indices(self, data_indices: dict[int, DataIndex]) -> None:
        """Merge data index entries into iterations (committed by the next save)."""
        for k, v in data_indices.items():
            self._build_pending.iter_data_idx.setdefault(k, {}).update(v)

    def update_run_data_indices(self, data_indices: dict[int, DataIndex]) -> None:
        """Merge data index entries into runs (committed by the next save)."""
        for k, v in data_indices.items():
            self._build_pending.run_data_idx.setdefault(k, {}).update(v)

    # --- pending runs, committing -------------------------------------------------------

    def _with_pending_sub_data(self, ids: Sequence[int], runs: Sequence[Any]) -> list[Any]:
        """`runs` with their pending submission data shown (as 0.3.0's ``get_EARs``)."""
        pend = self._build_pending.sub_data
        out = []
        for run_id, run in zip(ids, runs):
            dat = pend.get(run_id)
            if dat is not None:
                run = dataclasses.replace(
                    run,
                    submission_idx=dat[0],
                    commands_file_ID=dat[1],
                    run_file_ID=dat[2],
                    run_file_idx=dat[3],
                )
            out.append(run)
        return out

    def _commit_build(self) -> None:
        """Commit the shared pending changes and then this layer's, in one commit
        transaction of the store; if anything fails, nothing of it is written and
        both queues are as they were before."""
        pend = self._build_pending
        if not pend:
            self._pending.commit_shared()
            return
        snap = pend.snapshot()
        names = [n for n in self._pending.where_pending() if not n.startswith("_")]
        shared = {n: copy.copy(getattr(self._pending, n)) for n in names}
        kinds = [*shared, "v03_build"]
        try:
            with self._commit_transaction(kinds):  # type: ignore[attr-defined]
                self._pending.commit_shared()
                if pend.at_submit:
                    self._update_at_submit_metadata(dict(pend.at_submit))  # type: ignore[attr-defined]
                if pend.sub_data:
                    self._update_EAR_submission_data(dict(pend.sub_data))  # type: ignore[attr-defined]
                for dirs, run_ids in pend.run_dirs:
                    self._set_run_dirs(dirs, run_ids)  # type: ignore[attr-defined]
                if pend.iter_data_idx:
                    self._update_iter_data_indices(dict(pend.iter_data_idx))  # type: ignore[attr-defined]
                if pend.run_data_idx:
                    self._update_run_data_indices(dict(pend.run_data_idx))  # type: ignore[attr-defined]
        except BaseException:
            self._build_pending = snap
            self._pending._restore(shared)
            self._reset_cache()  # type: ignore[attr-defined]
            raise
        for run_id in [*pend.sub_data, *pend.run_data_idx]:
            self.EAR_cache.pop(run_id, None)  # type: ignore[attr-defined]
        for iter_id in pend.iter_data_idx:
            self.element_iter_cache.pop(iter_id, None)  # type: ignore[attr-defined]
        pend.clear()
