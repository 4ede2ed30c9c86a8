"""Run in the hpcflow 0.3.0 side environment: hpcflow 0.3.0 goes on with a migrated
workflow. argv: WORKFLOW CONFIG_DIR. Adds a loop iteration to every loop, then a task
(a new schema taking ``p1``) and submits it (direct scheduler, waiting); prints what it
then shows as JSON."""

from __future__ import annotations

import json
import sys

import hpcflow.app as hf


def main() -> None:
    path, config_dir = sys.argv[1], sys.argv[2]
    hf.load_config(config_dir=config_dir)
    wf = hf.Workflow(path)
    before_runs = wf.num_EARs
    loops = []
    for loop in wf.loops:
        n = dict(loop.num_added_iterations)
        with wf.batch_update():
            loop.add_iteration()
        loops.append([sorted(n.values()), sorted(dict(loop.num_added_iterations).values())])
    wf = hf.Workflow(path)
    schema = hf.TaskSchema(
        objective="migrated_go_on",
        inputs=[hf.SchemaInput(parameter=hf.Parameter("p1"))],
        outputs=[hf.SchemaInput(parameter=hf.Parameter("p9"))],
        actions=[
            hf.Action(
                commands=[
                    hf.Command(
                        command='echo "$((<<parameter:p1>> + 1))"', stdout="<<int(parameter:p9)>>"
                    )
                ]
            )
        ],
    )
    wf.add_task(hf.Task(schema=schema, inputs=[hf.InputValue("p1", value=41)]))
    wf = hf.Workflow(path)
    wf.submit(wait=True, add_to_known=False, status=False)
    wf = hf.Workflow(path)
    task = wf.tasks[-1]
    run = task.elements[0].iterations[0].action_runs[0]
    print(
        json.dumps(
            {
                "loops": loops,
                "runs_before": before_runs,
                "runs_after": wf.num_EARs,
                "new_output": task.elements[0].get("outputs.p9"),
                "new_run_status": run.status.name,
                "new_run_submission": None
                if run.submission_idx is None
                else int(run.submission_idx),
                "num_submissions": len(wf.submissions),
            }
        )
    )


if __name__ == "__main__":
    main()
