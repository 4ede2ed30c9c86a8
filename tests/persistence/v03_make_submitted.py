"""Make an hpcflow 0.3.0 Zarr store with a submission whose jobs never run (run the 0.3.0
side environment's Python):

    python v03_make_submitted.py OUT_FOLDER N_RUNS [--run | --shared-files]

One task of 0.3.0's test schema ``test_t1_conditional_OS`` (p2 = p1 + 100) over a
sequence of N_RUNS values of p1, and ``Workflow.add_submission()``: 0.3.0 resolves the
jobscripts and gives every run its ``run_sub_dat`` (submission 0, its own run file: the
array elements of one jobscript may run at once, so no two share a file). With
``--run`` the workflow is submitted and run to the end instead (run files and output
parameter files written by 0.3.0's jobs). With ``--shared-files`` the jobscript is not
an array (as ``add_submission()`` resolves it by default): its runs share one run file
and one output parameter file. Prints the store's path.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main() -> None:
    out, n = Path(sys.argv[1]), int(sys.argv[2])
    run = "--run" in sys.argv[3:]
    from hpcflow.app import app as hf

    with tempfile.TemporaryDirectory(prefix="wfstore-v03-config-") as cfg:
        hf.load_config(config_dir=Path(cfg), warn=False)
        seq = hf.ValueSequence("inputs.p1", values=list(range(n)), nesting_order=0)
        task = hf.Task(schema=hf.task_schemas.test_t1_conditional_OS, sequences=[seq])
        out.mkdir(parents=True, exist_ok=True)
        wk = hf.Workflow.from_template_data(
            template_name="wk_sub",
            tasks=[task],
            path=out,
            workflow_name="wk_sub",
            store="zarr",
        )
        if run:
            wk.submit(wait=True, add_to_known=False, status=False)
        else:
            wk.add_submission(force_array="--shared-files" not in sys.argv[3:], status=False)
        print(wk.path)


if __name__ == "__main__":
    main()
