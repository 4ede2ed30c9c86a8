"""Run in the hpcflow 0.3.0 side environment: for each migrated workflow, every run
output's ``output_idx`` (its slot in the run's parameter-file entry) beside the slot
0.3.0 itself gives that output (``TaskSchema.get_output_indices``). argv: workflow
paths; prints ``{path: [[run ID, key, stored, 0.3.0's], ...]}``."""

from __future__ import annotations

import json
import sys

import hpcflow.app as hf


def slots(path: str) -> list[list[object]]:
    wf = hf.Workflow(path)
    out: list[list[object]] = []
    for task in wf.tasks:
        _, by_action = task.template.schema.get_output_indices()
        for el in task.elements:
            for it in el.iterations:
                for runs in it.actions.values():
                    for run in runs.runs:
                        for key, pid in run.data_idx.items():
                            if not key.startswith(("outputs.", "input_files.", "output_files.")):
                                continue
                            src = wf._store.get_parameter_sources([pid])[0]
                            if src.get("type") != "EAR_output":
                                continue
                            want = by_action.get(run.element_action.action_idx, {}).get(key)
                            out.append([run.id_, key, src.get("output_idx"), want])
    return out


def main() -> None:
    print(json.dumps({p: slots(p) for p in sys.argv[1:]}))


if __name__ == "__main__":
    main()
