"""Apply execution-time writes to an hpcflow 0.3.0 Zarr store through 0.3.0's own store
(run the 0.3.0 side environment's Python):

    python v03_engine_write.py STORE SPEC.json
    python v03_engine_write.py --api STORE
    python v03_engine_write.py --arrays STORE


SPEC: ``{"runs": {run_ID: {field: value}}, "outputs": {param_ID: encoded value}}``;
``start_time`` / ``end_time`` values are ISO strings, given to the engine as datetimes.
Runs go through ``ZarrPersistentStore._update_run_execution_metadata`` (what
``_update_EAR_start`` / ``_end`` / ``_skip`` call), outputs through ``write_param_files``
at the place 0.3.0 gives a run's output (file ``run_file_ID + 1`` of the run's
submission, entry ``run_file_idx``, key ``output_idx``). The wfstore side of the
comparison is ``V03ZarrPersistentStore.write_run_fields`` / ``write_output_values``
(tests/persistence/test_v03_write.py).

``--arrays`` makes those of :func:`apply_arrays` (numpy array outputs, to NPZ
archives); ``--api`` makes the calls of :func:`apply_api` (0.3.0's execution-time store members)
on the store 0.3.0's ``Workflow`` opens; the test makes the same calls on wfstore's
store.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

TIME_FIELDS = ("start_time", "end_time")


def run_updates(spec: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The spec's run updates, run IDs as ints and times as datetimes."""
    return {
        int(run): {
            k: datetime.fromisoformat(v) if k in TIME_FIELDS and v is not None else v
            for k, v in fields.items()
        }
        for run, fields in spec.get("runs", {}).items()
    }


#: An output value with a tuple, a set and nesting (outputs are written by 0.3.0's
#: encoder here, wfstore's in the test).
OUTPUT_VALUE: Any = {"a": (1, 2.5), "b": [{"c": {3}}, "d"], "e": None}


def apply_api(store: Any) -> None:
    """Execution-time writes through the 0.3.0 store API on wk_seq_zarr (runs 0-3,
    outputs 6-9), each saved, then two saved together."""
    store.set_EAR_skip({3: 2})
    store.set_multi_run_starts([0, 1], [None, None], 4242)
    store.set_EAR_start(2, None, None)
    store.set_multi_run_ends([0, 1], [None, None], [7, 0], [False, True])
    store.set_EAR_end(2, 1, False, False)
    store.unset_parameter_value(6)
    store.set_parameter_values({6: OUTPUT_VALUE})
    store.unset_parameter_value(9)
    store.set_EAR_skip({1: 4}, save=False)  # queued until save()
    store.set_multi_run_ends([3], [None], [9], [False], save=False)
    store.save()


def apply_arrays(store: Any) -> None:
    """Run outputs holding numpy arrays on wk_seq_zarr (outputs 6-9; runs 0-3 share
    run file 0): 0.3.0 writes them to NPZ archives ``parameters/array_outputs/p2/...``,
    appending one entry per run (shapes and dtypes differ between entries)."""
    import numpy as np

    for pid in (6, 7, 8, 9):  # (set by the run: unset first)
        store.unset_parameter_value(pid)
    store.set_parameter_values({6: np.arange(4, dtype=np.int64)})
    store.set_parameter_values({7: {"a": np.ones((2, 3)), "b": 1}, 8: np.arange(6)})
    store.set_parameter_values({9: np.arange(10, 0, -1)})


def main() -> None:
    from hpcflow.app import app as hf

    if sys.argv[1] in ("--api", "--arrays"):
        apply = apply_api if sys.argv[1] == "--api" else apply_arrays
        with tempfile.TemporaryDirectory(prefix="wfstore-v03-write-config-") as cfg:
            hf.load_config(config_dir=Path(cfg), warn=False)
            apply(hf.Workflow(sys.argv[2])._store)
        return
    store_path, spec_path = Path(sys.argv[1]), Path(sys.argv[2])
    spec = json.loads(spec_path.read_text())
    with tempfile.TemporaryDirectory(prefix="wfstore-v03-write-config-") as cfg:
        hf.load_config(config_dir=Path(cfg), warn=False)
        store = hf.Workflow(str(store_path))._store
        runs = run_updates(spec)
        if runs:
            store._update_run_execution_metadata(runs)
        outputs = {int(k): v for k, v in spec.get("outputs", {}).items()}
        files: dict[int, dict[int, dict[tuple[int, int], Any]]] = {}
        for pid, value in outputs.items():
            src = store.get_parameter_sources([pid])[0]
            run = store.get_EARs([src["EAR_ID"]])[0]
            place = (run.run_file_idx, src["output_idx"])
            files.setdefault(run.submission_idx, {}).setdefault(run.run_file_ID + 1, {})[
                place
            ] = value
        if files:
            store.write_param_files(files)


if __name__ == "__main__":
    main()
