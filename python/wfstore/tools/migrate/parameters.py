"""Parameters: each a190 parameter placed where hpcflow 0.3.0 keeps it.

Non-output values (every source but a run's output) go into the first parameter file,
numbered by ``non_output_idx`` (counting non-output parameters only, in parameter-ID
order). A run's outputs (and its input/output files) go into its run's parameter file
under ``output_idx``: the slot of the output within its action, in 0.3.0's order (the
action's outputs as parameters first appear in the schema's flow: schema inputs, each
action's inputs and outputs in action order, schema outputs; then the action's input
files and output files). Values are carried decoded (numpy and masked arrays, tuples,
sets, parameter-value objects' data), so the 0.3.0 layer encodes them its own way.

File parameters (``{"store_contents", "path"}``, the path relative to the workflow
folder) are carried as they are: a190 and 0.3.0 keep a file's contents at the same
places (``artifacts/input_files/<n>/`` for given input files, ``artifacts/tasks/...``
for files a run made), which the migration copies with the workflow folder's other
files. A path whose file the migration moves (kept aside) is rewritten to its new
place; a stored file missing from the source folder is carried as a190 recorded it.
Both are reported (:func:`place_files`).

a190 reports an unset parameter whose base row holds its fill value as set; it is
carried unset (0.3.0 reports it so) and listed in the report.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from wfstore.tools.migrate.report import MigrationReport
from wfstore.tools.migrate.runs import PlannedRun, id_ranges
from wfstore.tools.migrate.source import A190Workflow
from wfstore.tools.migrate.template import schema_param_types

#: Prefixes of a run's data-index keys that name slots of its parameter-file entry.
SLOT_PREFIXES = ("outputs.", "input_files.", "output_files.")


@dataclasses.dataclass
class PlannedParameter:
    """One parameter as 0.3.0 keeps it."""

    id_: int
    source: dict[str, Any]
    is_set: bool
    data: Any
    file: dict[str, Any] | None
    #: the run whose output it is (None: a non-output value)
    output_of: int | None

    @property
    def is_output(self) -> bool:
        return self.output_of is not None


def output_slots(wf: A190Workflow, runs: list[PlannedRun]) -> dict[tuple[int, int], dict[str, int]]:
    """Per (task ID, action index), the slot index of each output-like data-index key
    (``outputs.X``, ``input_files.X``, ``output_files.X``) its runs have, in 0.3.0's
    order (see the module's text)."""
    # per task, per action: the input and output names of its runs, in first-seen order
    seen: dict[int, dict[int, dict[str, list[str]]]] = {}
    for run in runs:
        acts = seen.setdefault(run.task_ID, {})
        kinds = acts.setdefault(run.action_idx, {"in": [], "out": [], "files": []})
        for key in run.data_idx:
            if key.startswith("inputs."):
                name = key.split(".")[1]
                if name not in kinds["in"]:
                    kinds["in"].append(name)
            elif key.startswith("outputs."):
                name = key[len("outputs.") :]
                if name not in kinds["out"]:
                    kinds["out"].append(name)
            elif key.startswith(SLOT_PREFIXES[1:]) and key not in kinds["files"]:
                kinds["files"].append(key)
    slots: dict[tuple[int, int], dict[str, int]] = {}
    for task_ID, acts in seen.items():
        schema_in, schema_out = schema_param_types(wf.template, wf.template_components, task_ID)
        flow: list[str] = []
        for name in schema_in:
            if name not in flow:
                flow.append(name)
        for act_idx in sorted(acts):
            for name in acts[act_idx]["in"] + sorted(
                acts[act_idx]["out"],
                key=lambda n: (
                    n not in schema_out,
                    schema_out.index(n) if n in schema_out else 0,
                    n,
                ),
            ):
                if name not in flow:
                    flow.append(name)
        for act_idx, kinds in acts.items():
            outs = sorted(kinds["out"], key=flow.index)
            files = sorted(kinds["files"], key=lambda k: (not k.startswith("input_files."), k))
            slots[(task_ID, act_idx)] = {
                key: i for i, key in enumerate([f"outputs.{n}" for n in outs] + files)
            }
    return slots


def plan_parameters(
    wf: A190Workflow, runs: list[PlannedRun], report: MigrationReport
) -> list[PlannedParameter]:
    """Every parameter of `wf` with its 0.3.0 source (``non_output_idx`` or
    ``output_idx``); unset parameters go into `report`."""
    by_run = {r.id_: r for r in runs}
    slots = output_slots(wf, runs)
    next_non_output = 0
    unset: list[int] = []
    out: list[PlannedParameter] = []
    for param in sorted(wf.params, key=lambda p: p.id_):
        source = dict(param.source)
        output_of = None
        if source.get("type") == "EAR_output":
            run = by_run.get(source.get("EAR_ID"))
            key = None
            if run is not None:
                key = next((k for k, v in run.data_idx.items() if v == param.id_), None)
            if (
                run is None
                or key is None
                or key not in slots.get((run.task_ID, run.action_idx), {})
            ):
                raise_unplaceable(param.id_, source)
            assert run is not None and key is not None
            source["output_idx"] = slots[(run.task_ID, run.action_idx)][key]
            output_of = run.id_
        else:
            source["non_output_idx"] = next_non_output
            next_non_output += 1
        if not param.is_set:
            unset.append(param.id_)
        out.append(
            PlannedParameter(
                id_=param.id_,
                source=source,
                is_set=bool(param.is_set),
                data=param.data,
                file=param.file,
                output_of=output_of,
            )
        )
    if unset:
        report.infer(
            f"parameters {id_ranges(unset)}",
            "is_set",
            False,
            "unset in hpcflow-new2 0.2.0a190 (its set-status getter reports them set: the "
            "stored rows are the fill value); carried unset",
        )
    return out


def place_files(
    params: list[PlannedParameter], files: dict[str, str], report: MigrationReport
) -> None:
    """Point each file parameter of `params` at its file's place in the migrated folder
    (`files`: source path -> migrated path, relative to the workflow folder); report
    paths rewritten and stored files the source folder lacks."""
    missing: list[int] = []
    for p in params:
        if p.file is None:
            continue
        path = str(p.file.get("path", "")).replace("\\", "/")
        target = files.get(path)
        if target is None:
            if p.file.get("store_contents"):
                missing.append(p.id_)
            continue
        if target != path:
            p.file = {**p.file, "path": target}
            report.infer(
                f"parameter {p.id_}",
                "file.path",
                target,
                f"its file {path!r} is kept elsewhere in the migrated workflow",
            )
    if missing:
        report.infer(
            f"parameters {id_ranges(missing)}",
            "file",
            "carried as recorded",
            "their stored files are not in the source workflow folder",
        )


def _array_signatures(
    value: Any, path: tuple[Any, ...], out: dict[tuple[Any, ...], tuple[str, int, bool]]
) -> None:
    if isinstance(value, np.ndarray):
        out[path] = (value.dtype.str, value.ndim, np.ma.isMaskedArray(value))
    elif isinstance(value, dict):
        for k, v in value.items():
            _array_signatures(v, (*path, k), out)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _array_signatures(v, (*path, i), out)


def mixed_array_outputs(
    params: list[PlannedParameter], runs: list[PlannedRun]
) -> dict[str, tuple[set[int], set[tuple[str, int, bool]]]]:
    """Outputs whose numpy arrays 0.3.0 cannot keep in NPZ archives: an archive holds
    one output's arrays (at one path inside the value) of every run of a run-file ID,
    of one dtype and number of dimensions (and masked or not). Returns output name ->
    (the tasks that output it, the signatures found)."""
    by_run = {r.id_: r for r in runs}
    seen: dict[tuple[str, tuple[Any, ...]], set[tuple[str, int, bool]]] = {}
    tasks: dict[str, set[int]] = {}
    for p in params:
        if not (p.is_output and p.is_set) or p.output_of is None:
            continue
        run = by_run[p.output_of]
        key = next((k for k, v in run.data_idx.items() if v == p.id_), None)
        if key is None or not key.startswith("outputs."):
            continue
        name = key[len("outputs.") :]
        found: dict[tuple[Any, ...], tuple[str, int, bool]] = {}
        _array_signatures(p.data, (), found)
        for path, sig in found.items():
            seen.setdefault((name, path), set()).add(sig)
            tasks.setdefault(name, set()).add(run.task_ID)
    out: dict[str, tuple[set[int], set[tuple[str, int, bool]]]] = {}
    for (name, _path), sigs in seen.items():
        if len(sigs) > 1:
            entry = out.setdefault(name, (tasks[name], set()))
            entry[1].update(sigs)
    return out


def raise_unplaceable(param_id: int, source: dict[str, Any]) -> None:
    from wfstore.common.errors import MigrationError

    raise MigrationError(
        f"parameter {param_id}: a run output (source {source!r}) whose run does not name "
        "it in its data index; it has no place in hpcflow 0.3.0's parameter files"
    )
