"""Run in the hpcflow-new2 0.2.0a190 side environment: make a workflow with file
parameters, as a190 records them (a190's own store). argv: WORKFLOW_PARENT CONFIG_DIR
STORE (``zarr`` or ``json``); prints the workflow's path.

One schema: an input-file generator makes ``my_in.txt`` from ``p1``, the main action
makes ``my_out.txt``, an output-file parser reads it into ``p2``. Task ``t1`` runs all
three actions for two elements; task ``t2`` is given ``my_in.txt`` (an ``InputFile``:
a190 copies it to ``artifacts/input_files/0/``), so only the main action and the
parser run. Every run is started, its files written in its element's folder inside
the workflow (where a190 expects a run's files), its output saved, and ended: a190's
``set_EAR_end`` then stores the generated input file and the output file under
``artifacts/tasks/`` and sets their parameters, as job scripts do."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hpcflow.app as hf

ENVS = """\
- name: env_1
  executables:
  - label: python_script
    instances:
    - command: python <<script_name>> <<args>>
      num_cores: 1
      parallel_mode: null
"""


def main() -> None:
    parent, config, store = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    envs = config / "envs.yaml"
    envs.write_text(ENVS)
    hf.load_config(config_dir=config, warn=False)
    hf.config.environment_sources = [str(envs)]
    given = parent / "given_in.txt"
    given.write_text("a given input file\n")
    fs_in = hf.FileSpec(label="my_in", name="my_in.txt")
    fs_out = hf.FileSpec(label="my_out", name="my_out.txt")
    action = hf.Action(
        commands=[hf.Command("cat my_in.txt > my_out.txt")],
        input_file_generators=[
            hf.InputFileGenerator(input_file=fs_in, inputs=[hf.Parameter("p1")], script="gen.py")
        ],
        output_file_parsers=[
            hf.OutputFileParser(output_files=[fs_out], output=hf.Parameter("p2"), script="parse.py")
        ],
        environments=[hf.ActionEnvironment("env_1")],
    )
    schema = hf.TaskSchema(
        "t1", actions=[action], inputs=[hf.SchemaInput("p1")], outputs=[hf.SchemaOutput("p2")]
    )
    wk = hf.Workflow.from_template(
        hf.WorkflowTemplate(
            name="files",
            tasks=[
                hf.Task(schema=schema, sequences=[hf.ValueSequence("inputs.p1", values=[1, 2])]),
                hf.Task(schema=schema, input_files=[hf.InputFile(file=fs_in, path=str(given))]),
            ],
        ),
        path=parent,
        name="files",
        overwrite=True,
        store=store,
    )
    sub = wk.add_submission()
    for js in sub.jobscripts:
        ids = js.EAR_ID
        for e in range(ids.shape[1]):
            for a in range(ids.shape[0]):
                run_id = int(ids[a, e])
                if run_id < 0:
                    continue
                run = wk.get_EARs_from_IDs([run_id])[0]
                folder = Path(wk.path, "execute", f"t_{run.task.insert_ID}", f"e_{e}")
                folder.mkdir(parents=True, exist_ok=True)
                os.chdir(folder)
                wk.set_EAR_start(run_id)
                if "inputs.p1" in run.data_idx:
                    Path("my_in.txt").write_text(f"made by run {run_id}\n")
                if "outputs.p2" in run.data_idx:
                    wk.save_parameter("outputs.p2", 10 + run_id, run_id)
                elif "output_files.my_out" in run.data_idx:
                    Path("my_out.txt").write_text(f"written by run {run_id}\n")
                wk.set_EAR_end(js.index, a, run_id, 0)
    print(wk.path)


if __name__ == "__main__":
    main()
