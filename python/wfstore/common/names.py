"""Every name wfstore gives files and folders on disk: defined once, in the Rust core
(``wfstore_core::names``), and re-exported here for the Python layers. Temporary files,
commit journals, a rechunk's folders and marker, the store lock's files and the spare
files of older versions."""

from __future__ import annotations

from wfstore._core import (
    BACKUP_OLD_SUFFIX,
    BACKUP_SUFFIX,
    CHANGE_MARKER_NAME,
    JOURNAL_PREFIX,
    LEGACY_SPARE_PREFIX,
    LINK_LOCK_NAME,
    LOCK_NAME,
    MIGRATION_KEPT_DIR,
    MIGRATION_REPORT_NAME,
    RECHUNK_COMPLETE_MARKER,
    RECHUNK_OLD_SUFFIX,
    RECHUNK_SUFFIXES,
    RECHUNK_TMP_SUFFIX,
    TMP_PREFIX,
)

__all__ = [
    "BACKUP_OLD_SUFFIX",
    "BACKUP_SUFFIX",
    "CHANGE_MARKER_NAME",
    "JOURNAL_PREFIX",
    "LEGACY_SPARE_PREFIX",
    "LINK_LOCK_NAME",
    "LOCK_NAME",
    "MIGRATION_KEPT_DIR",
    "MIGRATION_REPORT_NAME",
    "RECHUNK_COMPLETE_MARKER",
    "RECHUNK_OLD_SUFFIX",
    "RECHUNK_SUFFIXES",
    "RECHUNK_TMP_SUFFIX",
    "TMP_PREFIX",
]
