"""A workflow job, for the concurrency tests: run as a script, it opens a Zarr store
and, one commit per call as the engine's jobs do, marks its own runs submitted,
started and ended, sets their output parameters and sources, and records its
jobscript's metadata (a read-modify-write of the shared root attributes).

Usage: ``python concurrency_worker.py STORE WORKER RUN_ID ...``. A run's output
parameter is the one whose source is ``{"type": "EAR_output", "run": RUN_ID}`` (see
test_concurrency.py). Prints ``ACK <run>`` after each run's last commit.
"""

from __future__ import annotations

import sys

from wfstore.persistence import ZarrPersistentStore


def main(argv: list[str]) -> None:
    path, worker, runs = argv[0], int(argv[1]), [int(r) for r in argv[2:]]
    store = ZarrPersistentStore(None, None, path)
    store.run_dir_snapshot = lambda: None
    n_params = store._get_num_total_parameters()
    out_param = {}
    for p_id, src in enumerate(store.get_parameter_sources(range(n_params))):
        if src.get("type") == "EAR_output":
            out_param[src["run"]] = p_id
    for r in runs:
        store.set_EAR_submission_index(r, 0)
        store.set_EAR_start(r)
        store.set_parameter_value(out_param[r], {"worker": worker, "run": r, "v": [r] * 3})
        store.update_param_source({out_param[r]: {"EAR_ID": r}})
        store.set_EAR_end(r, worker, r % 2 == 0)
        store.set_jobscript_metadata(0, r, process_ID=10_000 + r, submit_hostname=f"w{worker}")
        print(f"ACK {r}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
