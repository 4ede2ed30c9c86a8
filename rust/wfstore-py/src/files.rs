//! Atomic file writes and commit journals of local folders.

use crate::convert::parse_durability;
use crate::errors::IntoPyResult;
use pyo3::prelude::*;
use std::path::PathBuf;

/// Write a file atomically (temporary name in the same folder, then rename) with the
/// given durability (``"full"`` or ``"normal"`` (default); ``fsync=True`` is
/// ``"full"``).
#[pyfunction]
#[pyo3(signature = (path, data, fsync = false, durability = None))]
pub fn write_atomic(
    py: Python<'_>,
    path: PathBuf,
    data: &[u8],
    fsync: bool,
    durability: Option<&str>,
) -> PyResult<()> {
    let durability = parse_durability(durability)?.or_full(fsync);
    py.allow_threads(|| wfstore_core::atomic::write_atomic_with(&path, data, durability))
        .py()
}

/// Write several files so that each is replaced whole and a failure while writing
/// changes none of them: every value to its temporary sibling first, then the renames
/// in the given order (with ``"full"`` durability the files and folders are flushed
/// before the first rename and the folders after the last).
#[pyfunction]
#[pyo3(signature = (files, durability = None))]
pub fn write_files_atomic(
    py: Python<'_>,
    files: Vec<(PathBuf, Vec<u8>)>,
    durability: Option<&str>,
) -> PyResult<()> {
    let durability = parse_durability(durability)?;
    py.allow_threads(|| wfstore_core::atomic::write_files_atomic(&files, durability))
        .py()
}

/// Rename the file `tmp` over its sibling `dst` (with ``"full"`` durability the folder
/// is flushed after). On failure `dst` is unchanged and `tmp` is left to the caller.
#[pyfunction]
#[pyo3(signature = (tmp, dst, durability = None))]
pub fn replace_file(
    py: Python<'_>,
    tmp: PathBuf,
    dst: PathBuf,
    durability: Option<&str>,
) -> PyResult<()> {
    let durability = parse_durability(durability)?;
    py.allow_threads(|| wfstore_core::atomic::replace_file(&tmp, &dst, durability))
        .map_err(|e| wfstore_core::Error::io(&dst, e))
        .py()
}

/// Finish the commits that crashed writers left half-applied in the local store at
/// `root`; returns how many were finished. With `locked` (the caller holds the store
/// lock) every journal is a dead writer's; without, only those of gone processes of
/// this host or old ones.
#[pyfunction]
#[pyo3(signature = (root, locked = false))]
pub fn recover_journals(py: Python<'_>, root: PathBuf, locked: bool) -> PyResult<usize> {
    py.allow_threads(|| {
        if locked {
            wfstore_core::recover_journals_under_lock(&root)
        } else {
            wfstore_core::recover_journals(&root)
        }
    })
    .py()
}
