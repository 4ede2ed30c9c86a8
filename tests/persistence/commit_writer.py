"""A writer for the crash tests: run as a script, it appends batches to a Zarr store,
one commit per batch, and prints ``ACK <n>`` once batch ``n`` is committed, until it
is killed.

Usage: ``python commit_writer.py STORE [params]``. Batch ``n`` (one commit) adds a
parameter ``{"batch": n, ...}``, one element with one iteration and 3 runs, marks the
runs started and ended, and sets the loop's iteration count (root attributes) to n + 1.
With ``params``, parameter ``n`` is added unset with the source ``{"type": "out", "n":
n}`` (one commit, applied without a journal), then set to ``{"n": n}`` (another), as a
job adds and sets an output; ``ACK <n>`` follows the second.
"""

from __future__ import annotations

import sys

from wfstore.persistence import ZarrPersistentStore


def add_and_set_outputs(store: ZarrPersistentStore) -> None:
    n = store._get_num_total_parameters()
    while True:
        p = store.add_unset_parameter({"type": "out", "n": n})
        store.set_parameter_value(p, {"n": n})
        print(f"ACK {n}", flush=True)
        n += 1


def main(path: str, mode: str = "batches") -> None:
    store = ZarrPersistentStore(None, None, path)
    store.run_dir_snapshot = lambda: None
    if mode == "params":
        add_and_set_outputs(store)
    n = store._get_num_total_elements()
    while True:
        with store.batch_update():
            p = store.add_set_parameter({"batch": n, "v": list(range(n % 7))}, {"type": "t"})
            e = store.add_element(0, 0, {}, {}, save=False)
            it = store.add_element_iteration(e, {"inputs.p": p}, ["inputs.p"], save=False)
            runs = [store.add_EAR(it, a, [0], {"inputs.p": p}, save=False) for a in range(3)]
            store.set_EARs_initialised(it)
            for r in runs:
                store.set_EAR_start(r, save=False)
                store.set_EAR_end(r, 0, True, save=False)
            store.update_loop_num_iters(0, {(0,): n + 1}, save=False)
        # the batch is one commit
        print(f"ACK {n}", flush=True)
        n += 1


if __name__ == "__main__":
    main(*sys.argv[1:])
