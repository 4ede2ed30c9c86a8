"""The migration plan: an a190 workflow read whole, mapped layer by layer to what
hpcflow 0.3.0 keeps (template, runs, parameters, submissions, loops, files), and the
pre-flight check that finds, before anything is written, what cannot be carried."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from wfstore.common.errors import MigrationError
from wfstore.tools.migrate.artifacts import target_path
from wfstore.tools.migrate.loops import PlannedLoop, plan_loops
from wfstore.tools.migrate.parameters import (
    PlannedParameter,
    mixed_array_outputs,
    place_files,
    plan_parameters,
)
from wfstore.tools.migrate.report import MigrationReport
from wfstore.tools.migrate.runs import (
    PlannedRun,
    active_submissions,
    id_ranges,
    plan_runs,
    unfinished_runs,
)
from wfstore.tools.migrate.source import A190Workflow, read_a190
from wfstore.tools.migrate.submissions import PlannedSubmission, plan_submission
from wfstore.tools.migrate.template import rewrite_template, rewrite_template_components
from wfstore.tools.stores import A190_GENERATION

#: The generation a migration to ``hpcflow-0.3`` writes.
TARGET_GENERATION = "0.3.0"
#: 0.3.0's ``run_sub_dat`` keeps submission indices as uint8 (255: not set).
MAX_SUBMISSIONS = 255


@dataclasses.dataclass
class MigrationPlan:
    """Everything the writer needs, and the report."""

    source: A190Workflow
    template: dict[str, Any]
    template_components: dict[str, Any]
    runs: list[PlannedRun]
    parameters: list[PlannedParameter]
    submissions: list[PlannedSubmission]
    loops: list[PlannedLoop]
    #: source file (relative path) -> its path in the migrated workflow
    files: dict[str, str]
    report: MigrationReport


def _signature(sig: tuple[str, int, bool]) -> str:
    dtype, ndim, masked = sig
    return f"{dtype} {ndim}-d" + (" masked" if masked else "")


def plan_migration(src: str | os.PathLike[str], *, force: bool = False) -> MigrationPlan:
    """Read the a190 workflow at `src` and plan its migration to hpcflow 0.3.0.

    Nothing is written. What cannot be carried is listed in ``plan.report.refusals``
    (runs still pending or running in a submission: their jobs would go on writing the
    old layout; kept as refusals with `force`, which carries them as they are).
    """
    wf = read_a190(src)
    report = MigrationReport(
        source=wf.path,
        source_generation=A190_GENERATION,
        source_kind=wf.kind,
        target_generation=TARGET_GENERATION,
        forced=force,
    )
    report.counts = {
        "tasks": len(wf.tasks),
        "elements": len(wf.elements),
        "iterations": len(wf.iters),
        "runs": len(wf.runs),
        "parameters": len(wf.params),
        "loops": len(wf.loops),
        "submissions": len(wf.submissions),
        "files": len(wf.files),
    }
    for (sub_idx, state), ids in sorted(unfinished_runs(wf).items()):
        what = f"submission {sub_idx}: {len(ids)} run(s) {state} (runs {id_ranges(ids)})"
        if force:
            report.infer(
                f"submission {sub_idx}",
                f"runs {state}",
                id_ranges(ids),
                "carried as they are (--force)",
            )
        else:
            report.refusals.append(what + "; their jobs would write the old layout (use --force)")
    for sub_idx in sorted(set(wf.submissions) - active_submissions(wf)):
        report.infer(
            f"submission {sub_idx}",
            "submitted",
            False,
            "made but never submitted; carried unsubmitted",
        )
    if len(wf.submissions) >= MAX_SUBMISSIONS:
        report.refusals.append(
            f"{len(wf.submissions)} submissions: hpcflow 0.3.0 keeps at most {MAX_SUBMISSIONS - 1}"
        )
    template = rewrite_template(wf.template, wf.creation_info, wf.name, report)
    components = rewrite_template_components(wf.template_components)
    runs = plan_runs(wf, report)
    try:
        params = plan_parameters(wf, runs, report)
    except MigrationError as exc:
        report.refusals.append(str(exc))
        params = []
    for name, (task_ids, sigs) in sorted(mixed_array_outputs(params, runs).items()):
        kinds = ", ".join(_signature(sig) for sig in sorted(sigs))
        for task in template["tasks"]:
            task_id = task.get("insert_ID", task.get("id_"))
            if task_id in task_ids:
                task["disable_array_outputs"] = sorted({*task["disable_array_outputs"], name})
                report.infer(
                    f"task {task_id}",
                    "disable_array_outputs",
                    name,
                    f"its array values differ ({kinds}): 0.3.0 keeps them as plain arrays, "
                    "not in NPZ archives",
                )
    subs = [plan_submission(i, s, report) for i, s in sorted(wf.submissions.items())]
    loops = plan_loops(wf, template, report)
    files = {rel: target_path(rel, report) for rel in wf.files}
    place_files(params, files, report)
    return MigrationPlan(wf, template, components, runs, params, subs, loops, files, report)
