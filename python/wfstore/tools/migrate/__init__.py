"""``wfstore.migrate``: move a workflow from hpcflow-new2 0.2.0a190's store layout to
hpcflow 0.3.0's (docs/migration.md).

Layers: :mod:`.source` (the a190 workflow read whole, read-only), :mod:`.template`,
:mod:`.runs`, :mod:`.parameters`, :mod:`.submissions`, :mod:`.loops`,
:mod:`.artifacts` (the mapping, one module per layer), :mod:`.report`,
:mod:`.plan` (the mapping put together, and the pre-flight check) and :mod:`.writer`
(the new store, written only through wfstore's 0.3.0 layer).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable

from wfstore import _core
from wfstore.common.errors import (
    MigrationRefusedError,
    MigrationUnavailableError,
    StoreExistsError,
    StorePathError,
    UnknownStoreKindError,
)
from wfstore.common.names import MIGRATION_REPORT_NAME, TMP_PREFIX
from wfstore.persistence.gcpause import gc_paused
from wfstore.tools.migrate.artifacts import submission_dirs
from wfstore.tools.migrate.plan import TARGET_GENERATION, MigrationPlan, plan_migration
from wfstore.tools.migrate.report import MigrationReport
from wfstore.tools.migrate.source import read_file
from wfstore.tools.migrate.writer import write_store

#: ``--to`` names: the generation each writes.
TARGETS = {"hpcflow-0.3": TARGET_GENERATION}
#: The reverse, named for a clear refusal.
REVERSE_TARGET = "hpcflow-0.2.0a190"

Progress = Callable[[int, int], object]

__all__ = [
    "REVERSE_TARGET",
    "TARGETS",
    "MigrationPlan",
    "MigrationReport",
    "migrate",
    "plan_migration",
    "write_migrated",
]


def _check_target(to: str) -> None:
    if to == REVERSE_TARGET:
        raise MigrationUnavailableError(
            f"migration to {REVERSE_TARGET} (from hpcflow 0.3.0) is not implemented"
        )
    if to not in TARGETS:
        raise UnknownStoreKindError(f"unknown migration target {to!r}; known: {', '.join(TARGETS)}")


def migrate(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    to: str = "hpcflow-0.3",
    *,
    force: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> MigrationReport:
    """Migrate the hpcflow-new2 0.2.0a190 workflow at `src` (a Zarr folder, JSON store
    or zip archive) to a new hpcflow 0.3.0 store at `dst` of the same kind, and return
    the migration report (also stored in `dst` as
    :data:`~wfstore.common.names.MIGRATION_REPORT_NAME`).

    `src` is only read. Before anything is written the whole workflow is read and
    mapped; what cannot be carried raises
    :class:`~wfstore.common.errors.MigrationRefusedError` naming each item (runs still
    pending or running in a submission, unless `force`). With `dry_run` the report is
    returned and nothing is written. `dst` is built under a temporary name beside it
    and renamed when complete; on any failure (or interruption) nothing is left at
    `dst`.
    """
    _check_target(to)
    dst_path = os.path.abspath(os.fspath(dst))
    if os.path.lexists(dst_path):
        raise StoreExistsError(f"cannot migrate into {dst_path!r}: it exists")
    src_path = os.path.realpath(os.fspath(src))
    if os.path.realpath(os.path.dirname(dst_path)).startswith(src_path + os.sep) or (
        os.path.realpath(os.path.dirname(dst_path)) == src_path
    ):
        raise StorePathError(
            f"cannot migrate into {dst_path!r}: it is inside the source {src_path!r}, "
            "which a migration never writes"
        )
    # a bulk read and a bulk build of objects that all live on: the cyclic collector
    # would walk them again and again (see wfstore.persistence.gcpause)
    with gc_paused():
        plan = plan_migration(src, force=force)
        report = plan.report
        if report.refusals:
            raise MigrationRefusedError(report.refusals)
        if dry_run:
            return report
        write_migrated(plan, dst_path, progress)
    return report


def write_migrated(
    plan: MigrationPlan,
    dst_path: str,
    progress: Progress | None = None,
) -> None:
    """Write `plan` at `dst_path`: built under a temporary name in the same folder,
    then renamed (a zip archive: zipped from the temporary folder by the core, which
    writes the archive under a temporary name too)."""

    kind = plan.source.kind
    parent = os.path.dirname(dst_path) or "."
    tmp = os.path.join(parent, f"{TMP_PREFIX}migrate-{uuid.uuid4().hex}")
    try:
        write_store(plan, tmp, "json" if kind == "json" else "zarr", progress)
        for rel, target in plan.files.items():
            out = os.path.join(tmp, *target.split("/"))
            os.makedirs(os.path.dirname(out), exist_ok=True)
            _core.write_atomic(out, read_file(plan.source.files[rel]))
        for sub in plan.submissions:
            for rel in submission_dirs(sub.index):
                os.makedirs(os.path.join(tmp, *rel.split("/")), exist_ok=True)
        _core.write_atomic(os.path.join(tmp, MIGRATION_REPORT_NAME), plan.report.to_json())
        if kind == "zip":
            _core.zip_dir(tmp, dst_path)
        else:
            if os.path.lexists(dst_path):
                raise StoreExistsError(f"cannot migrate into {dst_path!r}: it appeared meanwhile")
            os.rename(tmp, dst_path)
    finally:
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
