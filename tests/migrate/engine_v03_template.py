"""Run in the hpcflow 0.3.0 side environment: parse migrated templates with 0.3.0's own
classes. argv[1]: a JSON file ``{name: {"template": ..., "template_components": ...}}``;
prints ``{name: {"ok": bool, "error": str | None, "is_creation": [...],
"program_data": [...], "max_array_size": bool}}`` as JSON."""

from __future__ import annotations

import json
import sys

import hpcflow.app as hf


def check(template: dict, components: dict) -> dict:
    tcs = hf.template_components_from_json_like(components)
    for task in template["tasks"]:
        task.pop("id_", None)
    wt = hf.WorkflowTemplate.from_json_like(template, tcs)
    is_creation = [es.is_creation for t in wt.tasks for es in t.element_sets]
    program_data = [
        (act.program_data_in, act.program_data_out)
        for t in wt.tasks
        for s in t.schemas
        for act in s.actions
    ]
    return {
        "ok": True,
        "error": None,
        "is_creation": is_creation,
        "program_data": [[dict(a or {}), dict(b or {})] for a, b in program_data],
        "num_tasks": len(wt.tasks),
        "num_loops": len(wt.loops),
    }


def main() -> None:
    with open(sys.argv[1]) as fh:
        cases = json.load(fh)
    out = {}
    for name, case in cases.items():
        try:
            out[name] = check(case["template"], case["template_components"])
        except Exception as exc:  # reported, not raised: the test names the case
            out[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
