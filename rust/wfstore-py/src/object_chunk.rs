//! `ObjectChunk`: one msgpack object chunk kept as its uncompressed bytes and the byte
//! range of each row, a row decoded to Python objects only when asked for. A reader
//! that keeps chunks between calls (hpcflow 0.3 stores' memos) holds ~1/10 of the
//! memory the decoded rows would take, and decodes only the rows it reads.

use crate::convert::compressor_from_py;
use crate::decode::{Fail, PyBuild};
use crate::errors::{to_py, IntoPyResult};
use pyo3::exceptions::PyIndexError;
use pyo3::prelude::*;
use wfstore_core::array::msgpack::{msgpack_item_spans, Reader};
use wfstore_core::Error;

/// A msgpack object chunk's rows, decoded one at a time (see the module doc).
#[pyclass(frozen, name = "ObjectChunk", module = "wfstore._core")]
pub struct PyObjectChunk {
    data: Vec<u8>,
    /// Row `k` is `data[starts[k]..starts[k + 1]]` (one entry more than rows).
    starts: Vec<u32>,
    path: String,
    key: String,
}

impl PyObjectChunk {
    fn corrupt(&self, reason: String) -> PyErr {
        to_py(Error::CorruptChunk {
            path: self.path.clone(),
            key: self.key.clone(),
            reason,
        })
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
    let (raw, starts) = py
        .allow_threads(|| {
            let raw = comp.decompress(data).map_err(|e| corrupt(e.to_string()))?;
            let spans = msgpack_item_spans(&raw).map_err(|e| corrupt(e.to_string()))?;
            if spans.len() != rows {
                return Err(corrupt(format!(
                    "holds {} items, expected {rows}",
                    spans.len()
                )));
            }
            // spans are contiguous: the items follow one another
            let mut starts = Vec::with_capacity(spans.len() + 1);
            for s in spans
                .iter()
                .map(|s| s.start)
                .chain(spans.last().map(|s| s.end))
            {
                let s = u32::try_from(s)
                    .map_err(|_| corrupt("more than 4 GiB uncompressed".to_string()))?;
                starts.push(s);
            }
            if starts.is_empty() {
                starts.push(0);
            }
            Ok((raw, starts))
        })
        .py()?;
    Ok(PyObjectChunk {
        data: raw,
        starts,
        path,
        key,
    })
}

#[pymethods]
impl PyObjectChunk {
    fn __len__(&self) -> usize {
        self.starts.len() - 1
    }

    /// Row `index` (negative from the end), decoded as msgpack-python's
    /// `unpackb(raw=False)` decodes it; a new object at every call.
    fn __getitem__<'py>(&self, py: Python<'py>, index: isize) -> PyResult<Bound<'py, PyAny>> {
        let n = self.__len__();
        let k = if index < 0 { index + n as isize } else { index };
        if k < 0 || k as usize >= n {
            return Err(PyIndexError::new_err(format!(
                "row {index} of a chunk of {n} rows ({})",
                self.key
            )));
        }
        let k = k as usize;
        let (a, b) = (self.starts[k] as usize, self.starts[k + 1] as usize);
        let mut rd = Reader::new(&self.data[a..b]);
        let value = rd.value(&PyBuild(py)).map_err(|e| match e {
            Fail::Py(e) => e,
            Fail::Data(msg) => self.corrupt(format!("row {k}: {msg}")),
        })?;
        if !rd.at_end() {
            return Err(self.corrupt(format!("row {k}: trailing bytes after the item")));
        }
        Ok(value)
    }

    /// Bytes held (uncompressed rows and their offsets).
    #[getter]
    fn nbytes(&self) -> usize {
        self.data.len() + 4 * self.starts.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "ObjectChunk({:?}, {} rows, {} bytes)",
            self.key,
            self.__len__(),
            self.nbytes()
        )
    }
}
