"""Run in the hpcflow-new2 0.2.0a190 side environment: make a workflow whose runs have
numpy array outputs, as a190 records them (a190's own store). argv: WORKFLOW_PARENT
CONFIG_DIR; prints the workflow's path.

Two tasks over three elements: ``t1`` outputs ``p2``, a float array of one dtype and
number of dimensions in every run (0.3.0 keeps such outputs in NPZ archives); ``t2``
outputs ``p3``, a masked array for one run and int arrays of different numbers of
dimensions for the others (0.3.0 cannot keep those in one archive). Every run is
started, its output saved, and ended, as job scripts do."""

from __future__ import annotations

import sys
from pathlib import Path

import hpcflow.app as hf
import numpy as np
from hpcflow.sdk.core.test_utils import make_schemas


def output(name: str, run_id: int) -> object:
    if name == "outputs.p2":
        return np.arange(4, dtype=float) + run_id
    if run_id % 3 == 0:
        return np.ma.masked_array(np.arange(3) + run_id, mask=[0, 1, 0])
    if run_id % 3 == 1:
        return np.arange(6, dtype=np.int64).reshape(2, 3) + run_id
    return np.arange(2, dtype=np.int32) + run_id


def main() -> None:
    parent, config = Path(sys.argv[1]), Path(sys.argv[2])
    envs = config / "envs.yaml"
    envs.write_text("- name: env_1\n")
    hf.load_config(config_dir=config, warn=False)
    hf.config.environment_sources = [str(envs)]
    s1, s2 = make_schemas(({"p1": None}, ("p2",), "t1"), ({"p2": None}, ("p3",), "t2"))
    values = [np.arange(3, dtype=float) * j for j in range(3)]
    wk = hf.Workflow.from_template(
        hf.WorkflowTemplate(
            name="array_outputs",
            tasks=[
                hf.Task(schema=s1, sequences=[hf.ValueSequence("inputs.p1", values=values)]),
                hf.Task(schema=s2),
            ],
        ),
        path=parent,
        name="array_outputs",
        overwrite=True,
    )
    sub = wk.add_submission()
    for js in sub.jobscripts:
        ids = js.EAR_ID
        for e in range(ids.shape[1]):
            for a in range(ids.shape[0]):
                run_id = int(ids[a, e])
                run = wk.get_EARs_from_IDs([run_id])[0]
                out = next(k for k in run.data_idx if k.startswith("outputs."))
                wk.set_EAR_start(run_id)
                wk.save_parameter(out, output(out, run_id), run_id)
                wk.set_EAR_end(js.index, a, run_id, 0)
    print(wk.path)


if __name__ == "__main__":
    main()
