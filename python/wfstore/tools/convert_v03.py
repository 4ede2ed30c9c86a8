"""Copying an hpcflow 0.3 store into a new 0.3 store of another kind (Zarr folder, JSON
store, zip archive) through wfstore's 0.3 store API: what :func:`wfstore.convert` does
for a source of that generation (:mod:`wfstore.tools.convert`).

Items are added as the engine adds them, in three commits: the structure (tasks,
loops, submissions with their jobscript blocks and at-submit metadata, elements,
iterations, runs, every parameter with its source, non-output values set), then each
run's submission data and run folder, then what runs recorded (run-file fields:
times, snapshots, exit codes, skips, hosts, ports; output values, placed by the run
file the second commit gave their run). A Zarr target writes 0.3.0's layout (outputs'
numpy arrays to NPZ archives); a JSON target cannot hold numpy arrays (converting such
a store to JSON stops with an error naming the parameter).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np

from wfstore.persistence.v03 import layout
from wfstore.persistence.v03.store import V03PersistentStore
from wfstore.tools.stores import Progress

#: The run fields kept in run files (besides the submission data).
_RUN_FIELDS = layout.RUN_FILE_FIELDS


def _copy_item(item: Any, cls: type, **changes: Any) -> Any:
    values = {f.name: getattr(item, f.name) for f in dataclasses.fields(item) if f.init}
    values.update(is_pending=True, **changes)
    return cls(
        **{k: v for k, v in values.items() if k in {f.name for f in dataclasses.fields(cls)}}
    )


def _submission_document(
    source: V03PersistentStore, idx: int, sub: dict[str, Any]
) -> dict[str, Any]:
    """Submission `idx` as a whole document: each block's run IDs, task elements,
    task actions and dependencies, and the at-submit metadata, as the source's getters
    give them (a Zarr store keeps them apart from its document)."""
    doc = copy.deepcopy(sub)
    doc["at_submit_metadata"] = source.get_submission_at_submit_metadata(
        idx, doc.get("at_submit_metadata")
    )
    for js_idx, js in enumerate(doc.get("jobscripts") or []):
        js["at_submit_metadata"] = source.get_jobscript_at_submit_metadata(
            idx, js_idx, js.get("at_submit_metadata")
        )
        for blk_idx, blk in enumerate(js.get("blocks") or []):
            blk["EAR_ID"] = np.asarray(
                source.get_jobscript_block_run_ID_array(idx, js_idx, blk_idx, blk.get("EAR_ID"))
            ).tolist()
            blk["task_elements"] = {
                int(k): [int(x) for x in v]
                for k, v in source.get_jobscript_block_task_elements_map(
                    idx, js_idx, blk_idx, blk.get("task_elements")
                ).items()
            }
            blk["task_actions"] = np.asarray(
                source.get_jobscript_block_task_actions_array(
                    idx, js_idx, blk_idx, blk.get("task_actions")
                )
            ).tolist()
            deps = source.get_jobscript_block_dependencies(
                idx, js_idx, blk_idx, blk.get("dependencies")
            )
            items = deps.items() if isinstance(deps, dict) else deps
            blk["dependencies"] = [
                [
                    list(k),
                    {
                        "js_element_mapping": {
                            int(e): [int(x) for x in es]
                            for e, es in d["js_element_mapping"].items()
                        },
                        "is_array": bool(d["is_array"]),
                    },
                ]
                for k, d in items
            ]
    return doc


def convert_v03(
    source: V03PersistentStore,
    target: V03PersistentStore,
    template: dict[str, Any],
    progress: Progress | None = None,
) -> None:
    """Copy everything of `source` into the new, empty `target` (both 0.3 stores)."""
    steps = 5
    pend = target._pending
    build = target._build_pending  # type: ignore[attr-defined]
    for task in source.get_tasks():  # one commit each, in index order: each at its index
        pend.add_tasks[task.id_] = _copy_item(
            task, target._store_task_cls(), task_template=template["tasks"][task.index]
        )
        target.save()
    if progress:
        progress(1, steps)
    for idx, loop in source.get_loops().items():
        pend.add_loops[idx] = {
            "loop_template": template["loops"][idx],
            "iterable_parameters": loop["iterable_parameters"],
            "output_parameters": loop.get("output_parameters", {}),
            "parents": list(loop["parents"]),
            "num_added_iterations": loop["num_added_iterations"],
        }
    for idx, sub in source.get_submissions().items():
        doc = _submission_document(source, idx, sub)
        parts = (doc.get("at_submit_metadata") or {}).get("submission_parts") or {}
        if target._name == "zarr":
            # kept apart from the document (group attributes, js_at_submit_md), whose
            # copies stay as written at submission (docs §1.2)
            for js_idx, js in enumerate(doc.get("jobscripts") or []):
                at = {k: v for k, v in (js["at_submit_metadata"] or {}).items() if v}
                if at:
                    pend.set_js_metadata[idx][js_idx].update(at)
                js["at_submit_metadata"] = dict.fromkeys(layout.JOBSCRIPT_AT_SUBMIT_KEYS)
            if parts:
                build.at_submit[idx] = dict(parts)
            doc["at_submit_metadata"] = {"submission_parts": {}}
        pend.add_submissions[idx] = doc
    target.save()
    if progress:
        progress(2, steps)
    n_elems, n_iters = source._get_num_total_elements(), source._get_num_total_elem_iters()
    n_runs, n_params = source._get_num_total_EARs(), source._get_num_total_parameters()
    for e in source.get_elements(range(n_elems)):
        pend.add_elements[e.id_] = _copy_item(e, target._store_elem_cls())
    for it in source.get_element_iterations(range(n_iters)):
        pend.add_elem_iters[it.id_] = _copy_item(it, target._store_iter_cls())
    runs = list(source.get_EARs(range(n_runs)))
    blank = {
        "submission_idx": None,
        "commands_file_ID": None,
        "run_file_ID": None,
        "run_file_idx": None,
        "skip": 0,
        "success": None,
        "start_time": None,
        "end_time": None,
        "snapshot_start": None,
        "snapshot_end": None,
        "exit_code": None,
        "run_hostname": None,
        "port_number": None,
    }
    for run in runs:
        pend.add_EARs[run.id_] = _copy_item(run, target._store_EAR_cls(), **blank)
    outputs: dict[int, Any] = {}
    for p in source.get_parameters(range(n_params)):
        is_output = p.source.get("type") == "EAR_output"
        src = {k: v for k, v in p.source.items() if k != "non_output_idx"}
        if is_output and p.is_set:
            outputs[p.id_] = p
        keep = p.is_set and not is_output
        pend.add_parameters[p.id_] = target._store_param_cls()(
            id_=p.id_,
            is_pending=True,
            is_set=keep,
            data=p.data if keep else None,
            file=p.file if keep else None,
            source=src,
        )
    target.save()
    if progress:
        progress(3, steps)
    for run in runs:
        if run.submission_idx is not None and run.run_file_ID is not None:
            build.sub_data[run.id_] = (
                run.submission_idx,
                run.commands_file_ID,
                run.run_file_ID,
                run.run_file_idx,
            )
    dirs = source.get_dirs_array()
    if len(dirs):
        fill = tuple(np.iinfo(dirs.dtype.fields[n][0]).max for n in dirs.dtype.names)
        keep_rows = [i for i in range(len(dirs)) if tuple(dirs[i].tolist()) != fill]
        if keep_rows:
            target.set_run_dirs(dirs[keep_rows], np.asarray(keep_rows), save=False)
    target.save()
    if progress:
        progress(4, steps)
    updates = {}
    for run in runs:
        fields = {k: getattr(run, k) for k in _RUN_FIELDS}
        if run.run_file_ID is not None and any(v not in (None, 0) for v in fields.values()):
            updates[run.id_] = fields
    if updates:
        target.write_run_fields(updates)  # type: ignore[attr-defined]
    for pid, p in outputs.items():
        target.set_parameter_value(pid, p.file if p.file else p.data, is_file=bool(p.file))
    target.save()
    if progress:
        progress(5, steps)
