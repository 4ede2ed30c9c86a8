//! Mapping of core errors onto the Python exception classes of `wfstore.common.errors`.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};
use wfstore_core::Error;

// The exception classes of `wfstore.common.errors` (a Python hierarchy with `OSError`,
// `ValueError`, ... mixed in), each imported once and then cached by pyo3.
pyo3::import_exception!(wfstore.common.errors, StoreIOError);
pyo3::import_exception!(wfstore.common.errors, ArrayNotFoundError);
pyo3::import_exception!(wfstore.common.errors, ArrayExistsError);
pyo3::import_exception!(wfstore.common.errors, MetadataError);
pyo3::import_exception!(wfstore.common.errors, UnsupportedFeatureError);
pyo3::import_exception!(wfstore.common.errors, CorruptChunkError);
pyo3::import_exception!(wfstore.common.errors, CodecError);
pyo3::import_exception!(wfstore.common.errors, EncodeError);
pyo3::import_exception!(wfstore.common.errors, StoreIndexError);
pyo3::import_exception!(wfstore.common.errors, InvalidArgumentError);
pyo3::import_exception!(wfstore.common.errors, ReadOnlyStoreError);
pyo3::import_exception!(wfstore.common.errors, RechunkError);
pyo3::import_exception!(wfstore.common.errors, ZipArchiveError);
pyo3::import_exception!(wfstore.common.errors, UnsafeArchiveError);

/// The Python class of a core error.
fn class<'py>(py: Python<'py>, e: &Error) -> Bound<'py, PyType> {
    match e {
        Error::Io { .. } => py.get_type::<StoreIOError>(),
        Error::ArrayNotFound { .. } => py.get_type::<ArrayNotFoundError>(),
        Error::ArrayExists { .. } => py.get_type::<ArrayExistsError>(),
        Error::Metadata { .. } => py.get_type::<MetadataError>(),
        Error::Unsupported { .. } => py.get_type::<UnsupportedFeatureError>(),
        Error::CorruptChunk { .. } => py.get_type::<CorruptChunkError>(),
        Error::Codec(_) => py.get_type::<CodecError>(),
        Error::Encode(_) => py.get_type::<EncodeError>(),
        Error::IndexOutOfRange { .. } => py.get_type::<StoreIndexError>(),
        Error::InvalidArgument(_) => py.get_type::<InvalidArgumentError>(),
        Error::ReadOnly { .. } => py.get_type::<ReadOnlyStoreError>(),
        Error::Rechunk { .. } => py.get_type::<RechunkError>(),
        Error::Zip { .. } => py.get_type::<ZipArchiveError>(),
        Error::UnsafeArchive { .. } => py.get_type::<UnsafeArchiveError>(),
    }
}

fn build(py: Python<'_>, e: &Error) -> PyResult<PyErr> {
    let cls = class(py, e);
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

/// Convert a core error into the matching `wfstore.common.errors` exception; an exception
/// raised by a Python store callback is re-raised as it was.
pub fn to_py(e: Error) -> PyErr {
    let e = match crate::pystore::take_python_error(e) {
        Ok(py_err) => return py_err,
        Err(e) => e,
    };
    Python::with_gil(|py| {
        build(py, &e).unwrap_or_else(|import_err| {
            PyRuntimeError::new_err(format!(
                "{e} (and wfstore.common.errors failed: {import_err})"
            ))
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
