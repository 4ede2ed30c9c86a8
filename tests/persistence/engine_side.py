"""Run by the side venv's Python (holding hpcflow 0.2.0a190).

Usage: ``python engine_side.py read PATH`` prints what hpcflow's JSON store returns for
the store at PATH (tagged JSON); ``python engine_side.py write PATH [append]`` writes a
store at PATH with hpcflow's JSON store by running the shared scenario (with
``append``, without inserting a task before another).
"""

from __future__ import annotations

import enum
import json
import logging
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hpcflow.app  # noqa: F401  (initialises hpcflow; avoids its circular imports)
from fsspec.implementations.local import LocalFileSystem
from hpcflow.sdk.persistence.json import JSONPersistentStore
from store_dump import TS_FMT, dump_store, empty_workflow_kwargs, run_scenario


class Colour(enum.Enum):
    """An enum parameter value."""

    RED = "red"


def main() -> None:
    mode, path = sys.argv[1], sys.argv[2]
    insert_first = sys.argv[3:] != ["append"]
    app = types.SimpleNamespace(
        persistence_logger=logging.getLogger("engine"),
        RunDirAppFiles=types.SimpleNamespace(take_snapshot=lambda: {"data": {}}),
    )
    wk = types.SimpleNamespace(ts_fmt=TS_FMT, _in_batch_mode=False)
    fs = LocalFileSystem()
    if mode == "write":
        JSONPersistentStore.write_empty_workflow(app, **empty_workflow_kwargs(path, fs))
        run_scenario(JSONPersistentStore(app, wk, path, fs), Colour.RED, insert_first)
    else:
        print(json.dumps(dump_store(JSONPersistentStore(app, wk, path, fs), "json")))


if __name__ == "__main__":
    main()
