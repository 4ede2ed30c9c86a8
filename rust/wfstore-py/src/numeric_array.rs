//! `wfstore._core.NumericArray`: N-dimensional numeric arrays.

use crate::convert::{compressor_from_py, json_to_py, py_to_json};
use crate::errors::IntoPyResult;
use crate::store::PyStore;
use numpy::{PyArray1, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::Arc;

/// The `.zarray` fill value of a numeric array from a Python number (complex numbers
/// as `[re, im]`, NaN and infinities as zarr-python spells them).
fn numeric_fill_to_json(ob: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    if ob.is_instance_of::<pyo3::types::PyComplex>() {
        let re: f64 = ob.getattr("real")?.extract()?;
        let im: f64 = ob.getattr("imag")?.extract()?;
        return Ok(serde_json::Value::Array(vec![
            wfstore_core::numeric::float_fill_json(re),
            wfstore_core::numeric::float_fill_json(im),
        ]));
    }
    if ob.is_instance_of::<pyo3::types::PyFloat>() {
        return Ok(wfstore_core::numeric::float_fill_json(ob.extract()?));
    }
    py_to_json(ob)
}

/// An N-dimensional numeric Zarr v2 array.
#[pyclass(module = "wfstore._core", name = "NumericArray", frozen)]
pub struct PyNumericArray {
    inner: Arc<wfstore_core::NumericArray>,
}

#[pymethods]
impl PyNumericArray {
    /// Write `data` (a numpy array of a numeric or bool dtype) as a new array.
    #[staticmethod]
    #[pyo3(signature = (store, path, data, chunks = None, compressor = None, compressor_kwargs = None, fill_value = None, overwrite = false))]
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
        let dtype: String = contiguous.getattr("dtype")?.getattr("str")?.extract()?;
        let shape: Vec<u64> = arr.shape().iter().map(|&s| s as u64).collect();
        let bytes_ob = contiguous.call_method0("tobytes")?;
        let bytes = bytes_ob.downcast::<PyBytes>()?.as_bytes().to_vec();
        let comp = compressor_from_py(compressor, compressor_kwargs)?;
        let fill = match fill_value {
            None => serde_json::Value::from(0),
            Some(f) => numeric_fill_to_json(f)?,
        };
        let st = store.inner.clone();
        let a = py
            .allow_threads(|| {
                wfstore_core::NumericArray::create(
                    st,
                    path,
                    &dtype,
                    &shape,
                    chunks.as_deref(),
                    comp,
                    fill,
                    &bytes,
                    overwrite,
                )
            })
            .py()?;
        Ok(PyNumericArray { inner: Arc::new(a) })
    }

    /// Open an existing numeric array.
    #[staticmethod]
    fn open(py: Python<'_>, store: &PyStore, path: &str) -> PyResult<Self> {
        let st = store.inner.clone();
        let a = py
            .allow_threads(|| wfstore_core::NumericArray::open(st, path))
            .py()?;
        Ok(PyNumericArray { inner: Arc::new(a) })
    }

    #[getter]
    fn dtype(&self) -> String {
        self.inner.dtype().to_string()
    }

    #[getter]
    fn shape(&self) -> Vec<u64> {
        self.inner.shape().to_vec()
    }

    #[getter]
    fn chunks(&self) -> Vec<u64> {
        self.inner.chunks().to_vec()
    }

    /// The `.zarray` document as a dict.
    #[getter]
    fn meta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner.meta().to_json())
    }

    /// The whole array as a numpy array.
    fn read<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let a = self.inner.clone();
        let bytes = py.allow_threads(move || a.read()).py()?;
        let flat = PyArray1::<u8>::from_vec(py, bytes);
        let typed = flat.call_method1("view", (self.inner.dtype(),))?;
        let shape: Vec<usize> = self.inner.shape().iter().map(|&s| s as usize).collect();
        let out = typed.call_method1("reshape", (shape,))?;
        Ok(out)
    }

    fn __repr__(&self) -> String {
        format!(
            "NumericArray(dtype={:?}, shape={:?})",
            self.inner.dtype(),
            self.inner.shape()
        )
    }
}
