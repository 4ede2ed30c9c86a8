//! `ObjectChunk`: one msgpack object chunk kept as its rows' encoded bytes
//! ([`ItemBytes`]), a row decoded to Python objects only when asked for. Readers keep
//! these between calls (the read cache, hpcflow 0.3 stores' memos): a chunk takes
//! 1/10 to 1/40 of the memory of its rows decoded, no objects for the cycle collector
//! to visit, and only the rows read are decoded.

use crate::convert::compressor_from_py;
use crate::decode::{Fail, PyBuild, Res};
use crate::errors::{to_py, IntoPyResult};
use pyo3::exceptions::PyIndexError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use wfstore_core::array::msgpack::{ItemBytes, Reader};
use wfstore_core::Error;

/// A msgpack object chunk's rows, decoded one at a time (see the module doc).
#[pyclass(frozen, name = "ObjectChunk", module = "wfstore._core")]
pub struct PyObjectChunk {
    items: ItemBytes,
    /// The array and chunk key errors name.
    path: String,
    key: String,
}

impl PyObjectChunk {
    pub(crate) fn new(items: ItemBytes, path: String, key: String) -> Self {
        PyObjectChunk { items, path, key }
    }

    /// The chunk's rows as their encoded bytes.
    pub(crate) fn items(&self) -> &ItemBytes {
        &self.items
    }

    fn corrupt(&self, reason: String) -> PyErr {
        to_py(Error::CorruptChunk {
            path: self.path.clone(),
            key: self.key.clone(),
            reason,
        })
    }

    /// Row `k` read by `f`, which must read it whole; bad bytes are reported as this
    /// chunk being corrupt.
    pub(crate) fn decode<T>(
        &self,
        k: usize,
        f: impl FnOnce(&mut Reader<'_>) -> Res<T>,
    ) -> PyResult<T> {
        let bytes = self.items.item(k).ok_or_else(|| {
            PyIndexError::new_err(format!(
                "row {k} of a chunk of {} rows ({})",
                self.items.len(),
                self.key
            ))
        })?;
        let mut rd = Reader::new(bytes);
        let value = f(&mut rd).map_err(|e| match e {
            Fail::Py(e) => e,
            Fail::Data(msg) => self.corrupt(format!("row {k}: {msg}")),
        })?;
        if !rd.at_end() {
            return Err(self.corrupt(format!("row {k}: trailing bytes after the item")));
        }
        Ok(value)
    }
}

/// Split the stored bytes of a msgpack object chunk (of array `path`, chunk key `key`,
/// as named in errors) into its rows; it must hold `rows` items.
#[pyfunction]
#[pyo3(signature = (data, compressor, rows, path, key))]
pub fn split_object_chunk(
    py: Python<'_>,
    data: &[u8],
    compressor: Option<&Bound<'_, PyAny>>,
    rows: usize,
    path: String,
    key: String,
) -> PyResult<PyObjectChunk> {
    let comp = compressor_from_py(compressor, None)?;
    let corrupt = |reason: String| Error::CorruptChunk {
        path: path.clone(),
        key: key.clone(),
        reason,
    };
    let items = py
        .allow_threads(|| {
            let raw = comp.decompress(data).map_err(|e| corrupt(e.to_string()))?;
            let items = ItemBytes::split(raw).map_err(|e| corrupt(e.to_string()))?;
            if items.len() != rows {
                return Err(corrupt(format!(
                    "holds {} items, expected {rows}",
                    items.len()
                )));
            }
            Ok(items)
        })
        .py()?;
    Ok(PyObjectChunk::new(items, path, key))
}

#[pymethods]
impl PyObjectChunk {
    fn __len__(&self) -> usize {
        self.items.len()
    }

    /// Row `index` (negative from the end), decoded as msgpack-python's
    /// `unpackb(raw=False)` decodes it; a new object at every call.
    fn __getitem__<'py>(&self, py: Python<'py>, index: isize) -> PyResult<Bound<'py, PyAny>> {
        let n = self.items.len() as isize;
        let k = if index < 0 { index + n } else { index };
        if !(0..n).contains(&k) {
            return Err(PyIndexError::new_err(format!(
                "row {index} of a chunk of {n} rows ({})",
                self.key
            )));
        }
        self.decode(k as usize, |rd| rd.value(&PyBuild(py)))
    }

    /// Rows `rows` (positions in the chunk), each decoded as `chunk[k]` is.
    fn get<'py>(&self, py: Python<'py>, rows: Vec<usize>) -> PyResult<Bound<'py, PyList>> {
        let out = rows
            .into_iter()
            .map(|k| self.decode(k, |rd| rd.value(&PyBuild(py))))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, out)
    }

    /// Bytes held (the rows' encoded bytes and their offsets).
    #[getter]
    fn nbytes(&self) -> usize {
        self.items.nbytes()
    }

    fn __repr__(&self) -> String {
        format!(
            "ObjectChunk({:?}, {} rows, {} bytes)",
            self.key,
            self.items.len(),
            self.nbytes()
        )
    }
}
