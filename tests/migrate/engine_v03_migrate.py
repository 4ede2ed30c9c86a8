"""Run in the hpcflow 0.3.0 side environment: migrate an a190 workflow with hpcflow
0.3.0's own store class standing in for the creation members (see
``wfstore.tools.migrate.writer.Creator``); the run-time data are written by wfstore.
argv: SRC DST."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import hpcflow.app as hf
from hpcflow.sdk.persistence.json import JSONPersistentStore
from hpcflow.sdk.persistence.zarr import ZarrPersistentStore
from wfstore.tools.migrate import Creator, plan_migration, write_migrated


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    plan = plan_migration(src)
    cls = JSONPersistentStore if plan.source.kind == "json" else ZarrPersistentStore
    write_migrated(
        plan,
        dst,
        creator=Creator(
            cls, hf, lambda path: SimpleNamespace(
        _in_batch_mode=False, _app=hf, url=path, ts_fmt=plan.source.ts_fmt
    )
        ),
    )
    print(dst)


if __name__ == "__main__":
    main()
