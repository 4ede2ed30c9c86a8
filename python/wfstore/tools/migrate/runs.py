"""Runs: a190's one row per run split into hpcflow 0.3.0's creation data
(``run_metadata``), submission data (``run_sub_dat``: submission index, commands file,
run file and index in it) and run-file entries (skip reason, success, historical start
and end times, snapshots, exit code, host name).

Run files: one per submission (run-file ID 0 of that submission), its runs in ID order
(0.3.0 needs only that no two jobs write one file; a migrated submission's jobs have
finished). Skips: a190 records a flag, 0.3.0 a reason; it is inferred and reported: a
skipped run in an iteration of a loop with a termination condition, after the loop's
first iteration, was skipped by the loop's termination (2); any other skip by a
failure upstream (1).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from wfstore.tools.migrate.report import MigrationReport
from wfstore.tools.migrate.source import A190Workflow

#: 0.3.0's skip reasons.
SKIP_NONE = 0
SKIP_UPSTREAM_FAILURE = 1
SKIP_LOOP_TERMINATION = 2

#: The run-file ID each submission's runs get.
RUN_FILE_ID = 0


@dataclasses.dataclass
class PlannedRun:
    """One run as 0.3.0 keeps it."""

    id_: int
    elem_iter_ID: int
    action_idx: int
    commands_idx: list[int]
    data_idx: dict[str, int]
    task_ID: int
    element_idx: int
    iteration_idx: int
    submission_idx: int | None
    run_file_ID: int | None
    run_file_idx: int | None
    skip: int
    success: bool | None
    start_time: datetime | None
    end_time: datetime | None
    snapshot_start: Any
    snapshot_end: Any
    exit_code: int | None
    run_hostname: str | None
    metadata: Any

    def run_file_fields(self) -> dict[str, Any]:
        """The fields of its run-file entry (by 0.3.0's field names)."""
        return {
            "skip": self.skip,
            "success": self.success,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "snapshot_start": self.snapshot_start,
            "snapshot_end": self.snapshot_end,
            "exit_code": self.exit_code,
            "run_hostname": self.run_hostname,
            "port_number": None,
        }


def active_submissions(wf: A190Workflow) -> set[int]:
    """Submissions with a jobscript that was submitted (it has a submit time, a
    scheduler job ID or a process ID): their jobs may still run. A submission a190 made
    but never submitted has none."""
    out = set()
    for idx, sub in wf.submissions.items():
        for js in sub.get("jobscripts") or []:
            if any(
                js.get(k) is not None for k in ("submit_time", "scheduler_job_ID", "process_ID")
            ):
                out.add(idx)
    return out


def unfinished_runs(wf: A190Workflow) -> dict[tuple[int, str], list[int]]:
    """Runs still pending or running in an active submission (:func:`active_submissions`),
    by ``(submission index, "pending" | "running")``: their jobs would go on writing
    a190's layout."""
    active = active_submissions(wf)
    out: dict[tuple[int, str], list[int]] = {}
    for run in sorted(wf.runs, key=lambda r: r.id_):
        sub = run.submission_idx
        if sub is None or sub not in active or run.skip or run.end_time is not None:
            continue
        out.setdefault((sub, "running" if run.start_time else "pending"), []).append(run.id_)
    return out


def id_ranges(ids: list[int]) -> str:
    """Sorted IDs as ranges: ``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    parts: list[str] = []
    start = prev = None
    for i in sorted(ids):
        if start is None:
            start = prev = i
        elif i == prev + 1:
            prev = i
        else:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = i
    if start is not None:
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ", ".join(parts)


def _terminating_loops(wf: A190Workflow) -> set[str]:
    return {
        lp.get("name")
        for lp in wf.template.get("loops") or []
        if isinstance(lp, dict) and lp.get("termination")
    }


def infer_skip_reason(
    wf: A190Workflow, run: Any, iters: dict[int, Any], terminating: set[str]
) -> tuple[int, str]:
    """The 0.3.0 skip reason of a run a190 marked skipped, and why it was chosen."""
    loop_idx = iters[run.elem_iter_ID].loop_idx or {}
    for name in sorted(terminating):
        if loop_idx.get(name, 0) > 0:
            return (
                SKIP_LOOP_TERMINATION,
                f"iteration {loop_idx[name]} of loop {name!r}, which has a termination condition",
            )
    return SKIP_UPSTREAM_FAILURE, "not in a later iteration of a terminating loop"


def plan_runs(wf: A190Workflow, report: MigrationReport) -> list[PlannedRun]:
    """Every run of `wf` as 0.3.0 keeps it (see the module's text); inferred skip
    reasons go into `report`."""
    iters = {it.id_: it for it in wf.iters}
    elems = {e.id_: e for e in wf.elements}
    terminating = _terminating_loops(wf)
    next_idx: dict[int, int] = {}
    inferred: dict[tuple[int, str], list[int]] = {}
    with_metadata: list[int] = []
    out: list[PlannedRun] = []
    for run in sorted(wf.runs, key=lambda r: r.id_):
        it = iters[run.elem_iter_ID]
        elem = elems[it.element_ID]
        skip = SKIP_NONE
        if run.skip:
            skip, why = infer_skip_reason(wf, run, iters, terminating)
            inferred.setdefault((skip, why), []).append(run.id_)
        sub = run.submission_idx
        file_id = file_idx = None
        if sub is not None:
            file_id = RUN_FILE_ID
            file_idx = next_idx.get(sub, 0)
            next_idx[sub] = file_idx + 1
        out.append(
            PlannedRun(
                id_=run.id_,
                elem_iter_ID=run.elem_iter_ID,
                action_idx=run.action_idx,
                commands_idx=list(run.commands_idx or []),
                data_idx=dict(run.data_idx or {}),
                task_ID=elem.task_ID,
                element_idx=elem.index,
                iteration_idx=elem.iteration_IDs.index(it.id_),
                submission_idx=sub,
                run_file_ID=file_id,
                run_file_idx=file_idx,
                skip=skip,
                success=run.success,
                start_time=run.start_time,
                end_time=run.end_time,
                snapshot_start=run.snapshot_start,
                snapshot_end=run.snapshot_end,
                exit_code=run.exit_code,
                run_hostname=run.run_hostname,
                metadata=run.metadata,
            )
        )
        if run.metadata:
            with_metadata.append(run.id_)
    for (skip, why), ids in sorted(inferred.items()):
        report.infer(f"runs {id_ranges(ids)}", "skip_reason", skip, why)
    if with_metadata:
        report.aside(
            f"runs {id_ranges(with_metadata)}",
            "metadata",
            {r.id_: r.metadata for r in out if r.metadata},
            "0.3.0's Zarr store keeps no run metadata; kept in the migration report",
        )
    return out
