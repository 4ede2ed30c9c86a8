//! Rechunking object arrays of any store (`wfstore_core::rechunk`).

use crate::errors::IntoPyResult;
use crate::progress::Progress;
use crate::store::PyStore;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use wfstore_core::rechunk;

fn rechunk_report(py: Python<'_>, rep: rechunk::RechunkReport) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("rows", rep.rows)?;
    d.set_item("old_chunk_size", rep.old_chunk_size)?;
    d.set_item("new_chunk_size", rep.new_chunk_size)?;
    d.set_item("chunks_written", rep.chunks_written)?;
    d.set_item("backup", rep.backup.map(|p| p.display().to_string()))?;
    Ok(d)
}

/// Rechunk the object array `path` of `store` (any store that moves folders: a local
/// folder, an fsspec file system) to `chunk_size` rows per chunk (None: one chunk),
/// keeping the old array as ``<path>.bak`` when `backup`; returns the report.
#[pyfunction]
#[pyo3(signature = (store, path, chunk_size = None, backup = false, progress = None))]
pub fn rechunk_array<'py>(
    py: Python<'py>,
    store: &PyStore,
    path: &str,
    chunk_size: Option<u64>,
    backup: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let prog = Progress::new(progress);
    let st = store.inner.clone();
    let rep = py
        .allow_threads(|| {
            let f = prog.as_fn();
            rechunk::rechunk_array(
                st,
                path,
                chunk_size,
                backup,
                f.as_ref().map(|f| f as &(dyn Fn(u64, u64) + Sync)),
            )
        })
        .py()?;
    rechunk_report(py, rep)
}

/// Finish or roll back an interrupted rechunk of the array `path` of `store`; True
/// when something was done.
#[pyfunction]
pub fn recover_rechunk_array(py: Python<'_>, store: &PyStore, path: &str) -> PyResult<bool> {
    let st = store.inner.clone();
    py.allow_threads(|| rechunk::recover_array(st.as_ref(), path))
        .py()
}
