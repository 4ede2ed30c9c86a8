"""Writing the planned workflow as an hpcflow 0.3.0 store, only through wfstore's 0.3.0
layer (:mod:`wfstore.persistence.v03`): its store-creation members
(``write_empty_workflow``, ``add_task``, ``add_elements``, ``add_element_iterations``,
``add_EAR``, ``add_loop``, ``add_submission``, ``set_run_submission_data``, the
parameter members) in the order 0.3.0 makes a workflow, then the run-time data with
its historical values (``write_run_fields``: start and end times, snapshots, exit
codes, host names, skip reasons), then the outputs (``set_parameter_values``, which
puts them into their runs' parameter files, numpy arrays into NPZ archives; the files
runs made by ``set_parameter_value(..., is_file=True)``, as 0.3.0's ``set_file`` does).
Given input files are added with their file reference (``_add_parameter(file=...)``,
as 0.3.0's ``add_file`` does); the files' contents are copied by the caller with the
workflow folder's other files.

The store is written at a temporary path the caller chose; the caller renames it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from fsspec.implementations.local import LocalFileSystem

from wfstore.common.errors import MigrationUnavailableError, ReadOnlyStoreError
from wfstore.persistence.v03 import V03_STORE_CLASSES
from wfstore.tools.migrate.plan import MigrationPlan

Progress = Callable[[int, int], object]

#: The steps :func:`write_store` reports progress over.
STEPS = 8


def _unavailable(what: str, exc: BaseException) -> MigrationUnavailableError:
    return MigrationUnavailableError(
        f"this build of wfstore cannot {what} ({exc}); "
        "the migration needs wfstore's 0.3.0 store creation"
    )


def _num_actions(plan: MigrationPlan, task: Any) -> int:
    acts = [r.action_idx for r in plan.runs if r.task_ID == task.id_]
    tpl = plan.template["tasks"][task.index]
    n_schema = 0
    comps = plan.template_components.get("task_schemas") or {}
    for ref in tpl.get("schema") or []:
        key = ref[len("hash:") :] if isinstance(ref, str) and ref.startswith("hash:") else None
        schema = comps.get(key) if key else None
        if isinstance(schema, dict):
            n_schema += len(schema.get("actions") or [])
    return max(n_schema, max(acts, default=-1) + 1)


def write_store(
    plan: MigrationPlan,
    path: str,
    kind: str,
    progress: Progress | None = None,
) -> None:
    """Write `plan` as a new 0.3.0 store of `kind` (``"zarr"`` or ``"json"``) at
    `path` (which must not exist)."""
    wf = plan.source
    cls: Any = V03_STORE_CLASSES[kind]
    fs = LocalFileSystem()
    tick = (lambda i: progress(i, STEPS)) if progress else (lambda i: None)
    try:
        cls.write_empty_workflow(
            None,
            template_js={**plan.template, "tasks": [], "loops": []},
            template_components_js=plan.template_components,
            wk_path=path,
            fs=fs,
            name=wf.name,
            replaced_wk=None,
            creation_info=wf.creation_info,
            ts_fmt=wf.ts_fmt,
            ts_name_fmt=wf.ts_name_fmt,
        )
    except (ReadOnlyStoreError, NotImplementedError) as exc:
        raise _unavailable("create an hpcflow 0.3.0 store", exc) from None
    store = cls(None, None, path, fs)
    try:
        _write_items(plan, store, tick)
        _write_run_time(plan, store)
    except (ReadOnlyStoreError, NotImplementedError) as exc:
        raise _unavailable("write items into an hpcflow 0.3.0 store", exc) from None
    tick(STEPS)


def _write_items(plan: MigrationPlan, store: Any, tick: Callable[[int], object]) -> None:
    wf = plan.source
    # parameters, in ID order (IDs are given in order); outputs unset until their runs
    # have run files
    for p in plan.parameters:
        if p.is_set and not p.is_output and p.file is not None:
            # a given input file: its contents are copied with the folder's files
            new_id = store._add_parameter(
                is_set=True, source=dict(p.source), file=dict(p.file), save=False
            )
        elif p.is_set and not p.is_output:
            new_id = store.add_set_parameter(p.data, dict(p.source), save=False)
        else:
            new_id = store.add_unset_parameter(dict(p.source), save=False)
        _same_id("parameter", p.id_, new_id)
    tick(1)
    # tasks in ID order, each at the index it has among the tasks added before it
    tasks = sorted(wf.tasks, key=lambda t: t.id_)
    for n, task in enumerate(tasks):
        idx = sum(1 for t in tasks[:n] if t.index < task.index)
        store.add_task(
            idx, plan.template["tasks"][task.index], _num_actions(plan, task), save=False
        )
    tick(2)
    elems = sorted(wf.elements, key=lambda e: e.id_)
    for (task_ID, es_idx), group in itertools.groupby(elems, key=lambda e: (e.task_ID, e.es_idx)):
        grp = list(group)
        store.add_elements(
            task_ID,
            es_idx,
            [dict(e.seq_idx) for e in grp],
            [dict(e.src_idx) for e in grp],
            save=False,
        )
    tick(3)
    task_of = wf.task_of_iter()
    elem_by_id = {e.id_: e for e in wf.elements}
    iters = sorted(wf.iters, key=lambda i: i.id_)

    def iter_key(it: Any) -> tuple[int, int]:
        return task_of[it.id_], elem_by_id[it.element_ID].iteration_IDs.index(it.id_)

    for (task_ID, index), group in itertools.groupby(iters, key=iter_key):
        grp = list(group)
        new_ids = store.add_element_iterations(
            [i.element_ID for i in grp],
            [dict(i.data_idx) for i in grp],
            [list(i.schema_parameters) for i in grp],
            task_ID,
            index,
            [dict(i.loop_idx) for i in grp],
            save=False,
        )
        for it, new_id in zip(grp, new_ids or []):
            _same_id("iteration", it.id_, new_id)
    tick(4)
    for run in plan.runs:
        new_id = store.add_EAR(
            run.elem_iter_ID,
            run.action_idx,
            run.commands_idx,
            run.data_idx,
            run.task_ID,
            run.element_idx,
            run.iteration_idx,
            run.metadata or None,
            save=False,
        )
        _same_id("run", run.id_, new_id)
    for it in iters:
        if it.EARs_initialised:
            store.set_EARs_initialised(it.id_, save=False)
    tick(5)
    for loop in plan.loops:
        store.add_loop(
            loop.template,
            loop.iterable_parameters,
            loop.output_parameters,
            loop.parents,
            {tuple(k): v for k, v in loop.num_added_iterations},
            [],
            save=False,
        )
    store.save()  # the workflow made: one commit, as 0.3.0 makes one (in batch mode)
    # then its submissions, as 0.3.0 submits
    for sub in plan.submissions:
        store.add_submission(sub.index, sub.document, save=False)
        store.update_at_submit_metadata(sub.index, sub.submission_parts, save=False)
        for js_idx, md in enumerate(sub.js_at_submit):
            if any(v is not None for v in md.values()):
                store.set_jobscript_metadata(sub.index, js_idx, save=False, **md)
    for run in plan.runs:
        if run.submission_idx is not None:
            store.set_run_submission_data(
                run.id_, None, run.submission_idx, run.run_file_ID, run.run_file_idx, save=False
            )
    store.save()
    tick(6)


def _write_run_time(plan: MigrationPlan, store: Any) -> None:
    """The run-time data with its historical values, by wfstore's 0.3.0 layer."""
    fields = {r.id_: r.run_file_fields() for r in plan.runs if r.submission_idx is not None}
    if fields:
        store.write_run_fields(fields)
    # output values through the layer's 0.3.0 API member, which places them by their
    # runs' run files (parameter files; numpy arrays into NPZ archives)
    outputs = {
        p.id_: p.data for p in plan.parameters if p.is_output and p.is_set and p.file is None
    }
    if outputs:
        store.set_parameter_values(outputs)
    # files runs made (input files generated, output files saved): as 0.3.0 sets them
    # (``set_file``'s parameter step), into their runs' parameter files
    out_files = [p for p in plan.parameters if p.is_output and p.is_set and p.file is not None]
    for p in out_files:
        store.set_parameter_value(p.id_, dict(p.file), is_file=True, save=False)
    if out_files:
        store.save()


def _same_id(what: str, expected: int, got: Any) -> None:
    if isinstance(got, int) and got != expected:
        raise MigrationUnavailableError(
            f"{what} {expected} was given ID {got} by the 0.3.0 layer; IDs must be kept"
        )
