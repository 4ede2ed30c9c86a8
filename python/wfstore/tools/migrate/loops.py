"""Loops: hpcflow 0.3.0 records each loop's iterable parameters (as a190 did) and its
output parameters (new: each schema output of the loop's tasks, with the last of those
tasks that outputs it). Both are recomputed from the template: a parameter is iterable
when it is a schema input of one of the loop's tasks and an output of the same or a
later one (less the loop's non-iterable parameters). A recomputed iterable-parameter
map that differs from a190's keeps a190's (the runs were made by it) and is reported.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from wfstore.tools.migrate.report import MigrationReport
from wfstore.tools.migrate.source import A190Workflow
from wfstore.tools.migrate.template import schema_param_types


@dataclasses.dataclass
class PlannedLoop:
    index: int
    template: dict[str, Any]
    iterable_parameters: dict[str, Any]
    output_parameters: dict[str, int]
    parents: list[str]
    num_added_iterations: list[Any]


def loop_parameters(
    template: dict[str, Any], components: dict[str, Any], loop: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, int]]:
    """``(iterable_parameters, output_parameters)`` of the loop template `loop`."""
    first_in: dict[str, int] = {}
    outs: dict[str, list[int]] = {}
    for task_id in loop.get("task_insert_IDs") or []:
        ins, outputs = schema_param_types(template, components, task_id)
        for typ in ins:
            first_in.setdefault(typ, task_id)
        for typ in outputs:
            outs.setdefault(typ, []).append(task_id)
    iterable = {
        typ: {"input_task": first, "output_tasks": outs[typ]}
        for typ, first in first_in.items()
        if typ in outs and first <= outs[typ][0]
    }
    for typ in loop.get("non_iterable_parameters") or []:
        iterable.pop(typ, None)
    return iterable, {typ: ids[-1] for typ, ids in outs.items()}


def plan_loops(
    wf: A190Workflow, template: dict[str, Any], report: MigrationReport
) -> list[PlannedLoop]:
    """Every loop of `wf` as 0.3.0 keeps it (`template`: the rewritten template)."""
    out = []
    for idx, loop in sorted(wf.loops.items()):
        loop_tpl = (template.get("loops") or [])[idx]
        iterable, outputs = loop_parameters(wf.template, wf.template_components, loop_tpl)
        if iterable != loop.get("iterable_parameters"):
            report.infer(
                f"loop {idx}",
                "iterable_parameters",
                loop.get("iterable_parameters"),
                f"recomputed from the template as {iterable!r}; hpcflow-new2 0.2.0a190's "
                "kept (its runs were made by it)",
            )
            iterable = loop.get("iterable_parameters") or {}
        out.append(
            PlannedLoop(
                index=idx,
                template=loop_tpl,
                iterable_parameters=iterable,
                output_parameters=outputs,
                parents=list(loop.get("parents") or []),
                num_added_iterations=loop.get("num_added_iterations") or [],
            )
        )
    return out
