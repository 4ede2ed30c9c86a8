//! Zip archives of whole stores.

use crate::errors::IntoPyResult;
use crate::progress::Progress;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use wfstore_core::zipio;

fn report<'py>(py: Python<'py>, r: zipio::ZipReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("entries", r.entries)?;
    d.set_item("bytes", r.bytes)?;
    Ok(d)
}

/// Write folder `src` into a new zip archive `dst`.
#[pyfunction]
#[pyo3(signature = (src, dst, exclude = Vec::new(), progress = None))]
pub fn zip_dir<'py>(
    py: Python<'py>,
    src: PathBuf,
    dst: PathBuf,
    exclude: Vec<String>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let prog = Progress::new(progress);
    let r = py
        .allow_threads(|| {
            let f = prog.as_fn();
            zipio::zip_dir(
                &src,
                &dst,
                &exclude,
                f.as_ref().map(|f| f as &(dyn Fn(u64, u64) + Sync)),
            )
        })
        .py()?;
    report(py, r)
}

/// Extract a zip archive into the new folder `dest`.
#[pyfunction]
#[pyo3(signature = (archive, dest, progress = None))]
pub fn unzip<'py>(
    py: Python<'py>,
    archive: PathBuf,
    dest: PathBuf,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let prog = Progress::new(progress);
    let r = py
        .allow_threads(|| {
            let f = prog.as_fn();
            zipio::unzip(
                &archive,
                &dest,
                f.as_ref().map(|f| f as &(dyn Fn(u64, u64) + Sync)),
            )
        })
        .py()?;
    report(py, r)
}
