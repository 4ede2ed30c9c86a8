//! The core's on-disk names as attributes of `wfstore._core` (`TMP_PREFIX`, ...), and
//! the engine's run row layout (`RUN_ROW_FIELDS`), so the Python package defines none
//! of its own.

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use wfstore_core::names;

/// Add every name of `wfstore_core::names` to the module.
pub fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("TMP_PREFIX", names::TMP_PREFIX)?;
    m.add("JOURNAL_PREFIX", names::JOURNAL_PREFIX)?;
    m.add("RECHUNK_TMP_SUFFIX", names::RECHUNK_TMP_SUFFIX)?;
    m.add("RECHUNK_OLD_SUFFIX", names::RECHUNK_OLD_SUFFIX)?;
    m.add("BACKUP_SUFFIX", names::BACKUP_SUFFIX)?;
    m.add("BACKUP_OLD_SUFFIX", names::BACKUP_OLD_SUFFIX)?;
    m.add(
        "RECHUNK_SUFFIXES",
        PyTuple::new(m.py(), names::RECHUNK_SUFFIXES)?,
    )?;
    m.add("RECHUNK_COMPLETE_MARKER", names::RECHUNK_COMPLETE_MARKER)?;
    m.add("LOCK_NAME", names::LOCK_NAME)?;
    m.add("LINK_LOCK_NAME", names::LINK_LOCK_NAME)?;
    m.add("CHANGE_MARKER_NAME", names::CHANGE_MARKER_NAME)?;
    m.add("LEGACY_SPARE_PREFIX", names::LEGACY_SPARE_PREFIX)?;
    m.add("MIGRATION_REPORT_NAME", names::MIGRATION_REPORT_NAME)?;
    m.add("MIGRATION_KEPT_DIR", names::MIGRATION_KEPT_DIR)?;
    // the engine's run row layout (field names in row order)
    let fields = wfstore_core::engine::runs::RUN_ROW.map(|(name, _)| name);
    m.add("RUN_ROW_FIELDS", PyTuple::new(m.py(), fields)?)?;
    Ok(())
}
