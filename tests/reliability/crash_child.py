"""Child process of test_rel_crash.py: repeats one operation until it is killed.

    python crash_child.py OPERATION WORKDIR

It prints ``ready`` once set up, then runs the operation in a loop. For ``commit`` it
appends the ID of every acknowledged commit (``save()`` returned) to WORKDIR/acked,
flushed, after the commit.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

from wfstore import _core


def main() -> None:
    op, work = sys.argv[1], Path(sys.argv[2])
    if op == "commit":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from rel_helpers import open_store

        store = open_store(work / "wk")
        acked = open(work / "acked", "a", buffering=1)
        print("ready", flush=True)
        for i in itertools.count():
            pid = store.add_set_parameter({"commit": i, "pad": "x" * (i % 50)}, {"type": "c"})
            store.set_EAR_submission_index(i % 5, i)
            acked.write(f"{pid} {i}\n")
            acked.flush()
            os.fsync(acked.fileno())
    print("ready", flush=True)
    for i in itertools.count():
        if op.startswith("rechunk"):
            size = (7, None, 1, 13)[i % 4]
            store = _core.Store.local(work / "store")
            _core.rechunk_array(store, "runs", size, backup=op.endswith("bak"))
        elif op == "zip":
            _core.zip_dir(work / "store", work / f"out-{i}.zip")
        elif op == "unzip":
            _core.unzip(work / "store.zip", work / f"out-{i}")
        else:
            raise SystemExit(f"unknown operation {op}")


if __name__ == "__main__":
    main()
