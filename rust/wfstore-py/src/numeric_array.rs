//! `wfstore._core.NumericArray`: N-dimensional numeric arrays, bool arrays and
//! structured (record) arrays of numeric fields.

use crate::convert::{compressor_from_py, json_to_py, py_to_json};
use crate::errors::IntoPyResult;
use crate::store::PyStore;
use numpy::{PyArray1, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use serde_json::Value as Json;
use std::sync::{Arc, RwLock};
use wfstore_core::numeric::{ItemType, NumericArrayOptions};

/// The `.zarray` fill value of a numeric array from a Python number (complex numbers
/// as `[re, im]`, NaN and infinities as zarr-python spells them).
fn numeric_fill_to_json(ob: &Bound<'_, PyAny>) -> PyResult<Json> {
    if ob.is_instance_of::<pyo3::types::PyComplex>() {
        let re: f64 = ob.getattr("real")?.extract()?;
        let im: f64 = ob.getattr("imag")?.extract()?;
        return Ok(Json::Array(vec![
            wfstore_core::numeric::float_fill_json(re),
            wfstore_core::numeric::float_fill_json(im),
        ]));
    }
    if ob.is_instance_of::<pyo3::types::PyFloat>() {
        return Ok(wfstore_core::numeric::float_fill_json(ob.extract()?));
    }
    py_to_json(ob)
}

/// The `.zarray` dtype entry of a numpy dtype: its string, or a structured dtype's
/// list descr (fields packed in order, as `np.dtype([(name, type), ...])` makes them).
fn dtype_entry(dtype: &Bound<'_, PyAny>) -> PyResult<Json> {
    let names = dtype.getattr("names")?;
    if names.is_none() {
        return Ok(Json::from(dtype.getattr("str")?.extract::<String>()?));
    }
    let fields = dtype.getattr("fields")?;
    let mut out = Vec::new();
    let mut offset = 0usize;
    for name in names.downcast::<PyTuple>()?.iter() {
        let spec = fields.get_item(&name)?;
        let sub = spec.get_item(0)?;
        let at: usize = spec.get_item(1)?.extract()?;
        if at != offset
            || !sub.getattr("names")?.is_none()
            || sub.getattr("ndim")?.extract::<usize>()? != 0
        {
            return Err(PyValueError::new_err(format!(
                "structured dtype {} is not packed numeric fields",
                dtype.str()?
            )));
        }
        offset += sub.getattr("itemsize")?.extract::<usize>()?;
        out.push(Json::Array(vec![
            Json::from(name.extract::<String>()?),
            Json::from(sub.getattr("str")?.extract::<String>()?),
        ]));
    }
    if offset != dtype.getattr("itemsize")?.extract::<usize>()? {
        return Err(PyValueError::new_err(format!(
            "structured dtype {} has padding",
            dtype.str()?
        )));
    }
    Ok(Json::Array(out))
}

/// The numpy dtype of an item type.
fn numpy_dtype<'py>(py: Python<'py>, item: &ItemType) -> PyResult<Bound<'py, PyAny>> {
    let np = py.import("numpy")?;
    match item {
        ItemType::Scalar(d) => np.call_method1("dtype", (d.to_string(),)),
        ItemType::Record(fields) => {
            let list = PyList::empty(py);
            for (n, d) in fields {
                list.append(PyTuple::new(py, [n.clone(), d.to_string()])?)?;
            }
            np.call_method1("dtype", (list,))
        }
    }
}

/// `bytes` (C order) as a writable numpy array of `item`s of shape `shape`.
fn to_numpy<'py>(
    py: Python<'py>,
    bytes: Vec<u8>,
    item: &ItemType,
    shape: Vec<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let flat = PyArray1::<u8>::from_vec(py, bytes);
    let typed = flat.call_method1("view", (numpy_dtype(py, item)?,))?;
    typed.call_method1("reshape", (shape,))
}

/// The C-order bytes of `data` as items of `item` (converted when its dtype differs).
fn from_numpy(py: Python<'_>, data: &Bound<'_, PyAny>, item: &ItemType) -> PyResult<Vec<u8>> {
    let np = py.import("numpy")?;
    let dt = numpy_dtype(py, item)?;
    let arr = np.call_method1("ascontiguousarray", (data, dt))?;
    let b = arr.call_method0("tobytes")?;
    Ok(b.downcast::<PyBytes>()?.as_bytes().to_vec())
}

/// An N-dimensional numeric, bool or structured Zarr v2 array.
#[pyclass(module = "wfstore._core", name = "NumericArray", frozen)]
pub struct PyNumericArray {
    inner: RwLock<Arc<wfstore_core::NumericArray>>,
}

impl PyNumericArray {
    fn new(a: wfstore_core::NumericArray) -> Self {
        PyNumericArray {
            inner: RwLock::new(Arc::new(a)),
        }
    }

    fn get(&self) -> Arc<wfstore_core::NumericArray> {
        match self.inner.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn row_shape(&self, n: usize) -> Vec<usize> {
        let a = self.get();
        let mut shape = vec![n];
        shape.extend(a.shape().iter().skip(1).map(|&s| s as usize));
        shape
    }
}

#[pymethods]
impl PyNumericArray {
    /// Write `data` (a numpy array of a numeric, bool or packed structured dtype) as a
    /// new array. `fill_value`: a number, or for a structured dtype a row (tuple).
    #[staticmethod]
    #[pyo3(signature = (store, path, data, chunks = None, compressor = None, compressor_kwargs = None, fill_value = None, overwrite = false, dimension_separator = None, write_empty_chunks = true))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        store: &PyStore,
        path: &str,
        data: &Bound<'_, PyAny>,
        chunks: Option<Vec<u64>>,
        compressor: Option<&Bound<'_, PyAny>>,
        compressor_kwargs: Option<&Bound<'_, PyAny>>,
        fill_value: Option<&Bound<'_, PyAny>>,
        overwrite: bool,
        dimension_separator: Option<String>,
        write_empty_chunks: bool,
    ) -> PyResult<Self> {
        let arr = data.downcast::<PyUntypedArray>().map_err(|_| {
            PyTypeError::new_err(format!(
                "data must be a numpy array, not {}",
                data.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        let np = py.import("numpy")?;
        let contiguous = np.call_method1("ascontiguousarray", (arr,))?;
        let dtype = contiguous.getattr("dtype")?;
        let entry = dtype_entry(&dtype)?;
        let item = ItemType::from_json(&entry).ok_or_else(|| {
            crate::errors::InvalidArgumentError::new_err(format!(
                "unsupported dtype {} (numbers and records of numbers only)",
                dtype.str().map(|s| s.to_string()).unwrap_or_default()
            ))
        })?;
        let shape: Vec<u64> = arr.shape().iter().map(|&s| s as u64).collect();
        let bytes_ob = contiguous.call_method0("tobytes")?;
        let bytes = bytes_ob.downcast::<PyBytes>()?.as_bytes().to_vec();
        let fill = match (fill_value, &item) {
            (None, ItemType::Record(_)) => Json::Null,
            (None, ItemType::Scalar(_)) => Json::from(0),
            (Some(f), ItemType::Record(_)) => {
                let one = np
                    .call_method1("asarray", (f, &dtype))?
                    .call_method0("tobytes")?;
                ItemType::record_fill_json(one.downcast::<PyBytes>()?.as_bytes())
            }
            (Some(f), ItemType::Scalar(_)) => numeric_fill_to_json(f)?,
        };
        let opts = NumericArrayOptions {
            chunks,
            compressor: compressor_from_py(compressor, compressor_kwargs)?,
            fill_value: fill,
            overwrite,
            dimension_separator,
            write_empty_chunks,
        };
        let st = store.inner.clone();
        let a = py
            .allow_threads(|| {
                wfstore_core::NumericArray::create_with(st, path, &entry, &shape, &bytes, &opts)
            })
            .py()?;
        Ok(Self::new(a))
    }

    /// Open an existing array (`write_empty_chunks`: as zarr-python's option, which
    /// `.zarray` does not record).
    #[staticmethod]
    #[pyo3(signature = (store, path, write_empty_chunks = true))]
    fn open(
        py: Python<'_>,
        store: &PyStore,
        path: &str,
        write_empty_chunks: bool,
    ) -> PyResult<Self> {
        let st = store.inner.clone();
        let a = py
            .allow_threads(|| wfstore_core::NumericArray::open(st, path))
            .py()?;
        Ok(Self::new(a.with_write_empty_chunks(write_empty_chunks)))
    }

    /// The dtype: a numpy dtype string, or a structured dtype's list descr as JSON.
    #[getter]
    fn dtype(&self) -> String {
        self.get().dtype()
    }

    /// The numpy dtype of the items.
    #[getter]
    fn numpy_dtype<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        numpy_dtype(py, self.get().item_type())
    }

    #[getter]
    fn shape(&self) -> Vec<u64> {
        self.get().shape().to_vec()
    }

    #[getter]
    fn chunks(&self) -> Vec<u64> {
        self.get().chunks().to_vec()
    }

    /// The `.zarray` document as a dict.
    #[getter]
    fn meta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.get().meta().to_json())
    }

    /// The fill value as one item (a numpy scalar or record).
    #[getter]
    fn fill<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let a = self.get();
        to_numpy(py, a.fill_item().to_vec(), a.item_type(), vec![1])?.get_item(0)
    }

    fn __len__(&self) -> usize {
        self.get().shape().first().copied().unwrap_or(0) as usize
    }

    /// The whole array as a numpy array.
    fn read<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let a = self.get();
        let a2 = a.clone();
        let bytes = py.allow_threads(move || a2.read()).py()?;
        let shape: Vec<usize> = a.shape().iter().map(|&s| s as usize).collect();
        to_numpy(py, bytes, a.item_type(), shape)
    }

    /// Rows `ids` (along the first axis), in that order, each chunk read once.
    fn get_rows<'py>(&self, py: Python<'py>, ids: Vec<u64>) -> PyResult<Bound<'py, PyAny>> {
        let a = self.get();
        let a2 = a.clone();
        let n = ids.len();
        let bytes = py.allow_threads(move || a2.get_rows(&ids)).py()?;
        to_numpy(py, bytes, a.item_type(), self.row_shape(n))
    }

    /// Every row of chunk `c` along the first axis (fill values where not stored).
    fn chunk_rows<'py>(&self, py: Python<'py>, c: u64) -> PyResult<Bound<'py, PyAny>> {
        let a = self.get();
        let a2 = a.clone();
        let bytes = py.allow_threads(move || a2.chunk_rows(c)).py()?;
        let rows = a.chunks().first().copied().unwrap_or(1) as usize;
        to_numpy(py, bytes, a.item_type(), self.row_shape(rows))
    }

    /// Decode `raw`, the stored bytes of the chunk `key` of this array along the first
    /// axis, to its rows (the core's checks: a damaged chunk raises
    /// ``CorruptChunkError`` naming `key`).
    fn decode_chunk<'py>(
        &self,
        py: Python<'py>,
        raw: &[u8],
        key: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let a = self.get();
        let location = a.path().to_string();
        let bytes = py
            .allow_threads(|| {
                wfstore_core::numeric::decode_chunk(a.meta(), a.item_type(), &location, key, raw)
            })
            .py()?;
        let rows = a.chunks().first().copied().unwrap_or(1) as usize;
        let mut shape = vec![rows];
        shape.extend(a.chunks().iter().skip(1).map(|&s| s as usize));
        to_numpy(py, bytes, a.item_type(), shape)
    }

    /// `(chunk key, reason)` for every stored chunk within the shape that does not
    /// decompress to exactly one chunk of items (absent chunks are fill values).
    fn verify(&self, py: Python<'_>) -> PyResult<Vec<(String, String)>> {
        let a = self.get();
        py.allow_threads(move || a.verify()).py()
    }

    /// Set rows `ids` to `data` (one row per ID, converted to the array's dtype).
    fn set_rows(&self, py: Python<'_>, ids: Vec<u64>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let a = self.get();
        let bytes = from_numpy(py, data, a.item_type())?;
        py.allow_threads(move || a.set_rows(&ids, &bytes)).py()
    }

    /// Change the length along the first axis (rewriting `.zarray`).
    fn resize(&self, py: Python<'_>, length: u64) -> PyResult<()> {
        let mut a = (*self.get()).clone();
        py.allow_threads(|| a.resize(length)).py()?;
        match self.inner.write() {
            Ok(mut g) => *g = Arc::new(a),
            Err(p) => *p.into_inner() = Arc::new(a),
        }
        Ok(())
    }

    fn __repr__(&self) -> String {
        let a = self.get();
        format!("NumericArray(dtype={:?}, shape={:?})", a.dtype(), a.shape())
    }
}
