"""Run in the hpcflow 0.3.0 side environment: migrate an a190 workflow with hpcflow
0.3.0's own store class standing in for the creation members (see
``wfstore.tools.migrate.writer.Creator``); the run-time data are written by wfstore.
argv: SRC DST [SRC DST ...]."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import hpcflow.app as hf
from hpcflow.sdk.persistence.json import JSONPersistentStore
from hpcflow.sdk.persistence.zarr import ZarrPersistentStore
from wfstore.tools.migrate import Creator, plan_migration, write_migrated


def main() -> None:
    args = sys.argv[1:]
    for src, dst in zip(args[::2], args[1::2]):
        plan = plan_migration(src)
        cls = JSONPersistentStore if plan.source.kind == "json" else ZarrPersistentStore
        ts_fmt = plan.source.ts_fmt

        def make_workflow(path: str, ts_fmt: str = ts_fmt) -> SimpleNamespace:
            return SimpleNamespace(_in_batch_mode=False, _app=hf, url=path, ts_fmt=ts_fmt)

        write_migrated(plan, dst, creator=Creator(cls, hf, make_workflow))
        print(dst)


if __name__ == "__main__":
    main()
