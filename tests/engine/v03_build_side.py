"""Run in the hpcflow 0.3.0 side environment by tests/engine/test_v03_engine_build.py.

``make WORK [KIND]``: with wfstore registered, build the sequence workflow (one task,
four elements) in a store of KIND (zarr, default, or json), submit it with the direct
scheduler and wait; print the store's path and the job scripts' command lines (JSON).
``make WORK KIND --own``: the same with 0.3.0's own classes.
``counts WORK``: with wfstore registered, make a two-task workflow (the engine's test
helper) and print what the making process counts right after (runs, iterations,
elements, tasks; JSON).
``dump PATH [--wfstore]``: what the engine reads from the store (make_fixtures.expected),
through 0.3.0's own classes, or through wfstore's when ``--wfstore`` (JSON).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "data"))


def main() -> None:
    cmd, arg = sys.argv[1], Path(sys.argv[2])
    if (cmd in ("make", "counts") and "--own" not in sys.argv) or "--wfstore" in sys.argv:
        import wfstore.hpcflow as wfh

        wfh.register()
    from hpcflow.app import app as hf

    if cmd == "counts":
        # the engine's test helper makes a two-task workflow of 10 runs; the making
        # process then counts, before any getter (wfstore registered)
        from hpcflow.sdk.core.test_utils import make_workflow

        hf.load_config(config_dir=arg / "config", warn=False)
        wk = make_workflow(
            [({"p1": None}, ("p2",), "t1"), ({"p2": None}, ("p3",), "t2")],
            path=arg / "wf",
            local_sequences={0: [("inputs.p1", 5, 0)]},
            name="counts",
            overwrite=True,
        )
        print(json.dumps([wk.num_EARs, wk.num_element_iterations, wk.num_elements, wk.num_tasks]))
        return
    if cmd == "make":
        hf.load_config(config_dir=arg / "config", warn=False)
        seq = hf.ValueSequence("inputs.p1", values=[1, 2, 3, 4], nesting_order=0)
        tasks = [hf.Task(schema=hf.task_schemas.test_t1_conditional_OS, sequences=[seq])]
        (arg / "wk").mkdir()
        wk = hf.Workflow.from_template_data(
            template_name="wk_seq",
            tasks=tasks,
            path=arg / "wk",
            workflow_name="wk_seq",
            store=sys.argv[3] if len(sys.argv) > 3 and not sys.argv[3].startswith("-") else "zarr",
        )
        store_cls = type(wk._store)
        # what the making process itself counts right after its commits (no getter
        # in between: counts and root attributes must not come from before them)
        counts = [wk.num_EARs, wk.num_element_iterations, wk.num_elements, wk.num_tasks]
        wk.submit(wait=True, add_to_known=False, status=False)
        scripts = sorted((Path(wk.path) / "artifacts").rglob("*.sh"))
        print(
            json.dumps(
                {
                    "path": str(wk.path),
                    "store_class": f"{store_cls.__module__}.{store_cls.__name__}",
                    "counts_after_make": counts,
                    "submissions_after_submit": wk.num_submissions,
                    "scripts": [p.read_text() for p in scripts],
                }
            )
        )
        return
    import make_fixtures

    print(json.dumps(make_fixtures.expected(arg, "0.3.0"), sort_keys=True, default=str))


if __name__ == "__main__":
    main()
