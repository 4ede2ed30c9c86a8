"""Dump everything a store returns through the PersistentStore API as tagged JSON.

The tagging is that of ``tests/data/README.md``. This module only uses the
standard library and numpy, because it is also run by the side virtual environment
holding hpcflow, to dump what hpcflow's own store classes return.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from typing import Any


def tag(obj: Any) -> Any:
    """Convert `obj` to JSON-able data, tagging what JSON cannot hold."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is always installed here
        np = None  # type: ignore[assignment]
    if np is not None:
        if isinstance(obj, np.ma.MaskedArray):
            return {"__masked__": {"data": tag(obj.data), "mask": tag(obj.mask)}}
        if isinstance(obj, np.ndarray):
            # a structured dtype as its fields' (name, type) pairs:
            dtype = [list(f) for f in obj.dtype.descr] if obj.dtype.names else obj.dtype.str
            return {
                "__ndarray__": {
                    "dtype": dtype,
                    "shape": list(obj.shape),
                    "data": obj.tolist(),
                }
            }
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: tag(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, _dt.datetime):
        return {"__datetime__": obj.isoformat()}
    if isinstance(obj, tuple):
        return {"__tuple__": [tag(i) for i in obj]}
    if isinstance(obj, (set, frozenset)):
        return {"__set__": [tag(i) for i in sorted(obj, key=repr)]}
    if isinstance(obj, dict):
        return {str(k): tag(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [tag(i) for i in obj]
    if np is not None and isinstance(obj, np.generic):
        return obj.item()
    return obj


#: The engine generations whose PersistentStore API :func:`dump_store` knows.
GENERATIONS = ("0.2.0a190", "0.3.0")


def dump_store(store: Any, kind: str, generation: str = "0.2.0a190") -> dict[str, Any]:
    """Everything `store` returns through the API of the engine `generation`
    (:data:`GENERATIONS`), over all IDs, as tagged JSON."""
    if generation not in GENERATIONS:
        raise ValueError(f"unknown engine generation {generation!r}")
    n_elems = store._get_num_total_elements()
    n_iters = store._get_num_total_elem_iters()
    n_runs = store._get_num_total_EARs()
    n_params = store._get_num_total_parameters()
    params = range(n_params)
    out = {
        "kind": kind,
        "name": store.get_name(),
        "ts_fmt": store.get_ts_fmt(),
        "ts_name_fmt": store.get_ts_name_fmt(),
        "creation_info": store.get_creation_info(),
        "template": store.get_template(),
        "template_components": store.get_template_components(),
        "tasks": store.get_tasks(),
        "loops": store.get_loops(),
        "submissions": store.get_submissions(),
        "counts": {
            "elements": n_elems,
            "iters": n_iters,
            "runs": n_runs,
            "params": n_params,
        },
        "elements": store.get_elements(range(n_elems)),
        "iters": store.get_element_iterations(range(n_iters)),
        "runs": store.get_EARs(range(n_runs)),
        "runs_skipped": [store.get_EAR_skipped(i) for i in range(n_runs)],
        "parameters": store.get_parameters(params),
        "parameter_sources": store.get_parameter_sources(params),
        "parameter_set": store.get_parameter_set_statuses(params),
    }
    if generation != "0.2.0a190":
        out.update(_dump_v03(store, out["submissions"], n_iters))
    return json.loads(json.dumps(tag(out)))


def _dump_v03(store: Any, submissions: dict[int, Any], n_iters: int) -> dict[str, Any]:
    """What hpcflow 0.3's PersistentStore adds: element-iteration dicts (with their runs),
    run folders, and the submit-time metadata and jobscript-block arrays of every
    submission, each getter handed what the engine hands it (the value kept in the
    submission's document: None where the store keeps it apart)."""
    subs: dict[str, Any] = {}
    for sub_idx, sub in submissions.items():
        jobscripts = []
        for js_idx, js in enumerate(sub.get("jobscripts") or []):
            blocks = []
            for blk_idx, blk in enumerate(js.get("blocks") or []):
                where = (sub_idx, js_idx, blk_idx)
                blocks.append(
                    {
                        "run_IDs": store.get_jobscript_block_run_ID_array(
                            *where, blk.get("EAR_ID")
                        ),
                        "task_elements": store.get_jobscript_block_task_elements_map(
                            *where, blk.get("task_elements")
                        ),
                        "task_actions": store.get_jobscript_block_task_actions_array(
                            *where, blk.get("task_actions")
                        ),
                        "dependencies": store.get_jobscript_block_dependencies(
                            *where, blk.get("dependencies")
                        ),
                    }
                )
            at_submit = store.get_jobscript_at_submit_metadata(
                sub_idx, js_idx, js.get("at_submit_metadata")
            )
            jobscripts.append({"at_submit_metadata": at_submit, "blocks": blocks})
        subs[str(sub_idx)] = {
            "at_submit_metadata": store.get_submission_at_submit_metadata(
                sub_idx, sub.get("at_submit_metadata")
            ),
            "jobscripts": jobscripts,
        }
    return {
        "iter_dicts": store.get_element_iteration_dicts(range(n_iters)),
        "run_dirs": store.get_dirs_array(),
        "submissions_at_submit": subs,
    }


def normalise(obj: Any) -> Any:
    """Make tagged data comparable: datetimes become UTC instants (so the local time
    zone of the reader does not matter)."""
    if isinstance(obj, dict):
        if set(obj) == {"__datetime__"}:
            dt = _dt.datetime.fromisoformat(obj["__datetime__"])
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=_dt.timezone.utc)
            return {"__datetime__": dt.astimezone(_dt.timezone.utc).isoformat()}
        return {k: normalise(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [normalise(v) for v in obj]
    return obj


# --- a scenario written against the PersistentStore API (run by both engines) ----------

TS_FMT = "%Y-%m-%d %H:%M:%S.%f"
TS_NAME_FMT = "%Y-%m-%d_%H%M%S"


def empty_workflow_kwargs(path: str, fs: Any) -> dict[str, Any]:
    """Keyword arguments for ``write_empty_workflow`` of a small workflow."""
    return {
        "template_js": {"name": "wk_rt", "tasks": [], "loops": [], "resources": {}},
        "template_components_js": {"parameters": {"h0": {"type": "p1"}}},
        "wk_path": path,
        "fs": fs,
        "name": "wk_rt",
        "replaced_wk": None,
        "creation_info": {"app_info": {"name": "test"}, "create_time": "x", "id": "1"},
        "ts_fmt": TS_FMT,
        "ts_name_fmt": TS_NAME_FMT,
    }


def run_scenario(store: Any, colour: Any, insert_first: bool = True) -> None:
    """Add tasks, elements, iterations, runs, parameters, loops and submissions
    through the API, committing several times. `colour` is an enum member.

    With `insert_first`, the second task is inserted before the first (so task IDs
    and indices differ). hpcflow 0.2.0a190's JSON store then files new element IDs
    and element indices under the task at *position* ``task_ID`` (a bug that
    wfstore does not reproduce), so documents written by the two differ; readers
    still agree on any given document.
    """
    t0 = store.add_task(0, {"insert_ID": 0, "element_sets": [], "schema": ["s"]})
    store.add_element_set(t0, {"repeats": [], "label": "es0"}, save=False)
    p_res = store.add_set_parameter({"any": {}}, {"type": "workflow_resources"})
    p_nested = store.add_set_parameter(
        {"a": (1, (2, 3), [4, {"b": (5,)}]), "c": {7, 8}, "d": [None, True, 1.5]},
        {"type": "local_input", "task_insert_ID": 0, "element_set_idx": 0},
        save=False,
    )
    p_tuple = store.add_set_parameter((1, "x"), {"type": "local_input"}, save=False)
    p_set = store.add_set_parameter({3, 1, 2}, {"type": "local_input"}, save=False)
    p_enum = store.add_set_parameter(colour, {"type": "default_input"}, save=False)
    p_out = store.add_unset_parameter({"type": "EAR_output"}, save=False)
    e0 = store.add_element(t0, 0, {"inputs.p1": 0}, {"inputs.p1": 0}, save=False)
    data_idx = {"resources.any": p_res, "inputs.p1": p_nested, "outputs.p2": p_out}
    i0 = store.add_element_iteration(
        e0, data_idx, ["inputs.p1", "outputs.p2", "resources.any"], save=False
    )
    r0 = store.add_EAR(i0, 0, [0], data_idx, save=False)
    store.set_EARs_initialised(i0)  # saves everything so far

    # a second task inserted before the first; with the engine's JSON store, runs
    # must be committed together with their iteration:
    t1 = store.add_task(
        0 if insert_first else 1, {"insert_ID": 1, "element_sets": [], "schema": ["s2"]}
    )
    e1 = store.add_element(t1, 0, {}, {"inputs.p3": 1}, save=False)
    e2 = store.add_element(t0, 0, {"inputs.p1": 1}, {"inputs.p1": 0}, save=False)
    i1 = store.add_element_iteration(e1, {"inputs.p3": p_tuple}, ["inputs.p3"], save=False)
    i2 = store.add_element_iteration(e2, {"inputs.p1": p_set}, ["inputs.p1"], save=False)
    i3 = store.add_element_iteration(
        e0, {"inputs.p1": p_enum}, ["inputs.p1"], loop_idx={"loop0": 1}, save=False
    )
    r1 = store.add_EAR(i1, 0, [0, 1], {"inputs.p3": p_tuple}, save=False)
    r2 = store.add_EAR(i1, 1, [0], {"inputs.p3": p_tuple}, metadata={"k": "v"}, save=False)
    r3 = store.add_EAR(i2, 0, [0], {"inputs.p1": p_set}, save=False)
    store.add_EAR(i3, 0, [0], {"inputs.p1": p_enum}, save=False)
    store.set_EARs_initialised(i1)
    store.add_loop(
        {"name": "loop0", "num_iterations": 2, "tasks": [0]},
        iterable_parameters={"p1": {"input_task": 0, "output_tasks": [0]}},
        parents=[],
        num_added_iterations={(0,): 1},
        iter_IDs=[i0],
    )
    store.add_submission(
        0,
        {
            "submission_parts": {},
            "JS_parallelism": None,
            "jobscripts": [{"task_elements": {0: [0], 1: [1]}, "EAR_ID": [[r0, r1]]}],
        },
    )
    store.add_submission_part(0, "2026-01-01 00:00:00.000000", [0])
    store.set_jobscript_metadata(0, 0, submit_hostname="host", process_ID=42)
    for r in (r0, r1):
        store.set_EAR_submission_index(r, 0)
    store.set_EAR_start(r0)
    store.set_EAR_end(r0, 0, True)
    store.set_EAR_skip(r3)
    store.set_EAR_start(r2, save=False)
    store.set_EAR_end(r2, 1, False, save=False)
    store.set_parameter_value(p_out, ("done", [1, 2]))
    store.update_param_source({p_out: {"EAR_ID": r0}})
    store.update_loop_num_iters(0, {(0,): 2})
    store.update_loop_parents(0, {(0,): 2}, ["outer"])
    store.add_template_components({"parameters": {"h1": {"type": "p2"}}})
    store.save()
