//! Mapping of core errors onto the Python exception classes of `wfstore.errors`.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use wfstore_core::Error;

fn class_name(e: &Error) -> &'static str {
    match e {
        Error::Io { .. } => "StoreIOError",
        Error::ArrayNotFound { .. } => "ArrayNotFoundError",
        Error::ArrayExists { .. } => "ArrayExistsError",
        Error::Metadata { .. } => "MetadataError",
        Error::Unsupported { .. } => "UnsupportedFeatureError",
        Error::CorruptChunk { .. } => "CorruptChunkError",
        Error::Codec(_) => "CodecError",
        Error::Encode(_) => "EncodeError",
        Error::IndexOutOfRange { .. } => "StoreIndexError",
        Error::InvalidArgument(_) => "InvalidArgumentError",
        Error::ReadOnly { .. } => "ReadOnlyStoreError",
        Error::Rechunk { .. } => "RechunkError",
        Error::Zip { .. } => "ZipArchiveError",
        Error::UnsafeArchive { .. } => "UnsafeArchiveError",
    }
}

fn build(py: Python<'_>, e: &Error) -> PyResult<PyErr> {
    let module = py.import("wfstore.errors")?;
    let cls = module.getattr(class_name(e))?;
    let msg = e.to_string();
    let inst = match e {
        // OSError subclasses: (errno, strerror, filename) fills the usual attributes.
        Error::Io { path, source } => cls.call1((
            source.raw_os_error().unwrap_or(0),
            msg,
            path.display().to_string(),
        ))?,
        _ => cls.call1(PyTuple::new(py, [msg])?)?,
    };
    match e {
        Error::CorruptChunk { path, key, .. } => {
            inst.setattr("path", path)?;
            inst.setattr("key", key)?;
        }
        Error::Rechunk { path, bad_chunks } => {
            inst.setattr("path", path)?;
            inst.setattr("bad_chunks", bad_chunks.clone())?;
        }
        Error::IndexOutOfRange { index, .. } => inst.setattr("index", index)?,
        _ => {}
    }
    Ok(PyErr::from_value(inst))
}

/// Convert a core error into the matching `wfstore.errors` exception; an exception
/// raised by a Python store callback is re-raised as it was.
pub fn to_py(e: Error) -> PyErr {
    let e = match crate::pystore::take_python_error(e) {
        Ok(py_err) => return py_err,
        Err(e) => e,
    };
    Python::with_gil(|py| {
        build(py, &e).unwrap_or_else(|import_err| {
            PyRuntimeError::new_err(format!("{e} (and wfstore.errors failed: {import_err})"))
        })
    })
}

/// `Result` adapter: `core_call().map_err(to_py)?` shorthand.
pub trait IntoPyResult<T> {
    /// Map a core error to its Python exception.
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, Error> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
