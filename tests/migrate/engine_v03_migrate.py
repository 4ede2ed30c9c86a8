"""Run in the hpcflow 0.3.0 side environment: migrate a190 workflows. argv: SRC DST
[SRC DST ...]; prints one line per pair: ``DST wfstore`` when ``wfstore.migrate``
wrote it (wfstore's own 0.3.0 layer, the product), ``DST stand-in`` when this build of
wfstore cannot yet write some of it (``MigrationUnavailableError``, or a value kind the
layer refuses) and hpcflow 0.3.0's own store class stood in for the creation members
(``wfstore.tools.migrate.writer.Creator``; the run-time data still written by wfstore)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import hpcflow.app as hf
from hpcflow.sdk.persistence.json import JSONPersistentStore
from hpcflow.sdk.persistence.zarr import ZarrPersistentStore
from wfstore.common.errors import MigrationUnavailableError, UnsupportedStoreOperationError
from wfstore.tools.migrate import Creator, migrate, plan_migration, write_migrated


def main() -> None:
    args = sys.argv[1:]
    for src, dst in zip(args[::2], args[1::2]):
        try:
            migrate(src, dst)
        except (MigrationUnavailableError, UnsupportedStoreOperationError):
            pass
        else:
            print(dst, "wfstore")
            continue
        plan = plan_migration(src)
        cls = JSONPersistentStore if plan.source.kind == "json" else ZarrPersistentStore
        ts_fmt = plan.source.ts_fmt

        def make_workflow(path: str, ts_fmt: str = ts_fmt) -> SimpleNamespace:
            return SimpleNamespace(_in_batch_mode=False, _app=hf, url=path, ts_fmt=ts_fmt)

        write_migrated(plan, dst, creator=Creator(cls, hf, make_workflow))
        print(dst, "stand-in")


if __name__ == "__main__":
    main()
