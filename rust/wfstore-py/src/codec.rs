//! Chunk codecs: bytes in, bytes out.

use crate::convert::{compressor_from_py, json_to_py, py_to_value, value_to_py};
use crate::errors::IntoPyResult;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use wfstore_core::codec;

/// Encode object items to the stored bytes of one chunk (msgpack2 + compressor). The
/// list must already hold `chunk_size` items (pad with the fill value).
#[pyfunction]
#[pyo3(signature = (items, compressor = None))]
pub fn encode_object_chunk<'py>(
    py: Python<'py>,
    items: &Bound<'py, PyAny>,
    compressor: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let comp = compressor_from_py(compressor, None)?;
    let mut vals = Vec::new();
    for it in items.try_iter()? {
        vals.push(py_to_value(&it?)?);
    }
    let out = py
        .allow_threads(|| codec::encode_object_chunk(&vals, &comp))
        .py()?;
    Ok(PyBytes::new(py, &out))
}

/// Decode the stored bytes of an object chunk to its items.
#[pyfunction]
#[pyo3(signature = (data, compressor = None))]
pub fn decode_object_chunk<'py>(
    py: Python<'py>,
    data: &[u8],
    compressor: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    let comp = compressor_from_py(compressor, None)?;
    let vals = py
        .allow_threads(|| codec::decode_object_chunk(data, &comp))
        .py()?;
    let items = vals
        .iter()
        .map(|v| value_to_py(py, v))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// Compress bytes with a compressor (name or numcodecs configuration).
#[pyfunction]
#[pyo3(signature = (data, compressor, typesize = 1))]
pub fn compress<'py>(
    py: Python<'py>,
    data: &[u8],
    compressor: Option<&Bound<'py, PyAny>>,
    typesize: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let comp = compressor_from_py(compressor, None)?;
    let out = py.allow_threads(|| comp.compress(data, typesize)).py()?;
    Ok(PyBytes::new(py, &out))
}

/// Decompress bytes.
#[pyfunction]
#[pyo3(signature = (data, compressor))]
pub fn decompress<'py>(
    py: Python<'py>,
    data: &[u8],
    compressor: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let comp = compressor_from_py(compressor, None)?;
    let out = py.allow_threads(|| comp.decompress(data)).py()?;
    Ok(PyBytes::new(py, &out))
}

/// The numcodecs configuration of a compressor name and keyword arguments.
#[pyfunction]
#[pyo3(signature = (name, kwargs = None))]
pub fn compressor_config<'py>(
    py: Python<'py>,
    name: Option<&Bound<'py, PyAny>>,
    kwargs: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let comp = compressor_from_py(name, kwargs)?;
    json_to_py(py, &comp.to_config())
}
