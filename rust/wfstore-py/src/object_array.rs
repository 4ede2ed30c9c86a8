//! `wfstore._core.ObjectArray`: 1-D object arrays of msgpack values.

use crate::convert::{
    compressor_from_py, json_to_py, opt_json, py_to_json, py_to_value, value_to_py,
};
use crate::decode::PyBuild;
use crate::errors::{to_py, IntoPyResult};
use crate::object_chunk::PyObjectChunk;
use crate::store::PyStore;
use numpy::PyUntypedArray;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use rmpv::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use wfstore_core::array::msgpack::ItemBytes;

/// A 1-D Zarr v2 object array of msgpack values.
#[pyclass(module = "wfstore._core", name = "ObjectArray", frozen)]
pub struct PyObjectArray {
    pub(crate) inner: Arc<wfstore_core::ObjectArray>,
    /// The store it was opened on (with its transactions).
    store: PyStore,
}

fn indices_from_py(ob: &Bound<'_, PyAny>) -> PyResult<Vec<u64>> {
    // lists and tuples first: the numpy check below loads numpy's C API on its first
    // use in a process (~0.3 ms, a job's single commit would pay it)
    if ob.is_instance_of::<PyList>() || ob.is_instance_of::<PyTuple>() {
        if let Ok(v) = ob.extract::<Vec<u64>>() {
            return Ok(v);
        }
    }
    if let Ok(a) = ob.downcast::<PyUntypedArray>() {
        let l = a.call_method0("tolist")?;
        return l.extract::<Vec<u64>>();
    }
    ob.extract::<Vec<u64>>()
        .map_err(|_| PyTypeError::new_err("indices must be a sequence of non-negative integers"))
}

/// The bytes of `items` as 64-bit integers (`None` if one is not such an integer).
fn i64_bytes(items: &[Value], big_endian: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(items.len() * 8);
    for x in items {
        let i = x.as_i64()?;
        out.extend_from_slice(&if big_endian {
            i.to_be_bytes()
        } else {
            i.to_le_bytes()
        });
    }
    Some(out)
}

/// Rows to Python: `vlen-array` items become numpy arrays of the codec's dtype, as
/// zarr-python returns them.
fn values_to_py<'py>(
    py: Python<'py>,
    vals: &[Value],
    codec: &wfstore_core::ObjectCodec,
) -> PyResult<Bound<'py, PyList>> {
    let items = match codec {
        wfstore_core::ObjectCodec::VLenArray(dt) => {
            let numpy = py.import("numpy")?;
            let np_array = numpy.getattr("array")?;
            let frombuffer = numpy.getattr("frombuffer")?;
            let dtype = dt.to_string();
            // 64-bit integers (task element IDs, ...) from their bytes, not through a
            // list of Python ints (numpy.frombuffer, copied to be writable as
            // zarr-python's are; not rust-numpy, whose first use in a process costs
            // ~0.3 ms); other dtypes through a list and numpy.array
            let i8 = dt.kind == 'i' && dt.size == 8;
            vals.iter()
                .map(|v| match v {
                    Value::Array(a) => {
                        if i8 {
                            if let Some(bytes) = i64_bytes(a, dt.big_endian) {
                                let b = PyBytes::new(py, &bytes);
                                return frombuffer.call1((b, &dtype))?.call_method0("copy");
                            }
                        }
                        np_array.call1((value_to_py(py, v)?, &dtype))
                    }
                    other => value_to_py(py, other),
                })
                .collect::<PyResult<Vec<_>>>()?
        }
        _ => vals
            .iter()
            .map(|v| value_to_py(py, v))
            .collect::<PyResult<Vec<_>>>()?,
    };
    PyList::new(py, items)
}

fn values_from_py(ob: &Bound<'_, PyAny>) -> PyResult<Vec<Value>> {
    let mut out = Vec::new();
    for it in ob.try_iter()? {
        out.push(py_to_value(&it?)?);
    }
    Ok(out)
}

impl PyObjectArray {
    /// Rows `idx` as Python objects: msgpack rows decoded straight from their chunks'
    /// bytes (as `ObjectChunk` rows are), rows of other codecs through `rmpv::Value`.
    fn rows<'py>(&self, py: Python<'py>, idx: Vec<u64>) -> PyResult<Bound<'py, PyList>> {
        let a = self.inner.clone();
        let (idx, read) = py.allow_threads(move || {
            let read = (|| {
                a.check_indices(&idx, a.len())?;
                let cs = a.chunk_size();
                let mut chunks: Vec<u64> = idx.iter().map(|i| i / cs).collect();
                chunks.sort_unstable();
                chunks.dedup();
                let items = a.read_item_bytes(&chunks)?;
                Ok::<_, wfstore_core::Error>(items.map(|items| (cs, chunks, items)))
            })();
            (idx, read)
        });
        let Some((cs, chunks, items)) = read.py()? else {
            let a = self.inner.clone();
            let vals = py.allow_threads(move || a.get(&idx)).py()?;
            return values_to_py(py, &vals, self.inner.object_codec());
        };
        let path = self.inner.display_path();
        let held: Vec<PyObjectChunk> = items
            .into_iter()
            .zip(&chunks)
            .map(|(it, c)| PyObjectChunk::new(it, path.clone(), c.to_string()))
            .collect();
        let out = idx
            .iter()
            .map(|&i| {
                // every row's chunk was read above (`chunks` is sorted)
                let slot = chunks.binary_search(&(i / cs)).unwrap_or_default();
                held[slot].decode((i % cs) as usize, |rd| rd.value(&PyBuild(py)))
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, out)
    }
}

#[pymethods]
impl PyObjectArray {
    /// Create an object array (see the stub file for the arguments).
    #[staticmethod]
    #[pyo3(signature = (store, path, length = 0, chunk_size = Some(1000), compressor = None, compressor_kwargs = None, fill_value = None, attrs = None, write_empty_chunks = true, overwrite = false, object_codec = None))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        store: &PyStore,
        path: &str,
        length: u64,
        chunk_size: Option<u64>,
        compressor: Option<&Bound<'_, PyAny>>,
        compressor_kwargs: Option<&Bound<'_, PyAny>>,
        fill_value: Option<&Bound<'_, PyAny>>,
        attrs: Option<&Bound<'_, PyAny>>,
        write_empty_chunks: bool,
        overwrite: bool,
        object_codec: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let comp = compressor_from_py(compressor, compressor_kwargs)?;
        let object_codec = match opt_json(object_codec)? {
            None => wfstore_core::ObjectCodec::MsgPack,
            Some(cfg) => wfstore_core::ObjectCodec::from_filters(&Some(vec![cfg]))
                .map_err(|e| to_py(wfstore_core::Error::InvalidArgument(e)))?,
        };
        let fill = match fill_value {
            None => Value::from(0),
            Some(f) => py_to_value(f)?,
        };
        let attrs = opt_json(attrs)?;
        let st = store.inner.clone();
        let opts = wfstore_core::ObjectArrayOptions {
            chunk_size,
            compressor: comp,
            fill_value: fill,
            object_codec,
            attrs,
            write_empty_chunks,
            overwrite,
        };
        let arr = py
            .allow_threads(|| wfstore_core::ObjectArray::create(st, path, length, &opts))
            .py()?;
        Ok(PyObjectArray {
            inner: Arc::new(arr),
            store: store.clone(),
        })
    }

    /// Open an existing object array.
    #[staticmethod]
    #[pyo3(signature = (store, path, write_empty_chunks = true))]
    fn open(
        py: Python<'_>,
        store: &PyStore,
        path: &str,
        write_empty_chunks: bool,
    ) -> PyResult<Self> {
        let st = store.inner.clone();
        let arr = py
            .allow_threads(|| wfstore_core::ObjectArray::open(st, path, write_empty_chunks))
            .py()?;
        Ok(PyObjectArray {
            inner: Arc::new(arr),
            store: store.clone(),
        })
    }

    /// This array as it is now, writing with `write_empty_chunks` as given (its
    /// metadata are not read again).
    fn with_write_empty_chunks(&self, write_empty_chunks: bool) -> Self {
        PyObjectArray {
            inner: Arc::new(self.inner.with_write_empty_chunks(write_empty_chunks)),
            store: self.store.clone(),
        }
    }

    #[getter]
    fn path(&self) -> String {
        self.inner.path().to_string()
    }

    #[getter]
    fn store(&self) -> PyStore {
        self.store.clone()
    }

    #[getter]
    fn chunk_size(&self) -> u64 {
        self.inner.chunk_size()
    }

    #[getter]
    fn num_chunks(&self) -> u64 {
        self.inner.len().div_ceil(self.inner.chunk_size())
    }

    /// The object codec configuration (the `filters` entry).
    #[getter]
    fn object_codec<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner.object_codec().filter_config())
    }

    #[getter]
    fn fill_value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        value_to_py(py, self.inner.fill_value())
    }

    /// The `.zarray` document as a dict.
    #[getter]
    fn meta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner.meta().to_json())
    }

    fn __len__(&self) -> usize {
        self.inner.len() as usize
    }

    /// Re-read `.zarray` from the store.
    fn reload(&self, py: Python<'_>) -> PyResult<()> {
        py.allow_threads(|| self.inner.reload()).py()
    }

    /// Rows at `indices` (any order, repeats allowed).
    fn get<'py>(
        &self,
        py: Python<'py>,
        indices: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let idx = indices_from_py(indices)?;
        self.rows(py, idx)
    }

    /// Chunks `chunks` (indices), each read whole as an `ObjectChunk` whose rows are
    /// decoded when asked for; `None` unless the codec is msgpack.
    fn read_chunks(
        &self,
        py: Python<'_>,
        chunks: Vec<u64>,
    ) -> PyResult<Option<Vec<PyObjectChunk>>> {
        let a = self.inner.clone();
        let read = py
            .allow_threads(move || a.read_item_bytes(&chunks).map(|r| r.map(|r| (r, chunks))))
            .py()?;
        Ok(read.map(|(items, chunks)| {
            let path = self.inner.display_path();
            items
                .into_iter()
                .zip(chunks)
                .map(|(it, c)| PyObjectChunk::new(it, path.clone(), c.to_string()))
                .collect()
        }))
    }

    /// Rows `start` to `stop` (exclusive; default: to the end).
    #[pyo3(signature = (start = 0, stop = None))]
    fn get_range<'py>(
        &self,
        py: Python<'py>,
        start: u64,
        stop: Option<u64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let a = self.inner.clone();
        if !matches!(a.object_codec(), wfstore_core::ObjectCodec::MsgPack) {
            let vals = py
                .allow_threads(move || {
                    let stop = stop.unwrap_or_else(|| a.len());
                    a.get_range(start, stop)
                })
                .py()?;
            return values_to_py(py, &vals, self.inner.object_codec());
        }
        let stop = stop.unwrap_or_else(|| a.len());
        if start > stop || stop > a.len() {
            // the core's error for a range that does not fit
            let vals = py.allow_threads(move || a.get_range(start, stop)).py()?;
            return values_to_py(py, &vals, self.inner.object_codec());
        }
        self.rows(py, (start..stop).collect())
    }

    /// Overwrite rows.
    fn set(
        &self,
        py: Python<'_>,
        indices: &Bound<'_, PyAny>,
        values: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let idx = indices_from_py(indices)?;
        let vals = values_from_py(values)?;
        let a = self.inner.clone();
        py.allow_threads(move || a.set(&idx, vals)).py()
    }

    /// Overwrite rows, but only where none of them holds a map now (an unset
    /// parameter's row); each chunk is read once, unless `known` holds it (as
    /// `patch`). Returns the indices whose rows hold a map (then nothing is written).
    #[pyo3(signature = (indices, values, known = None))]
    fn set_unless_map(
        &self,
        py: Python<'_>,
        indices: &Bound<'_, PyAny>,
        values: &Bound<'_, PyAny>,
        known: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Vec<u64>> {
        let idx = indices_from_py(indices)?;
        let vals = values_from_py(values)?;
        let held = known_chunks(known)?;
        let a = self.inner.clone();
        py.allow_threads(move || a.set_unless_map_known(&idx, vals, &held))
            .py()
    }

    /// Set fields of rows in place: `patches[k]` maps field positions of row
    /// `indices[k]` (a list) to new values. One read and one write per chunk; a chunk
    /// in `known` (chunk index -> ObjectChunk) is taken as what is stored, not read
    /// (for a caller that knows nobody changed it since). Returns the msgpack chunks
    /// as written, `(chunk index, ObjectChunk)` (for a read cache).
    #[pyo3(signature = (indices, patches, known = None))]
    fn patch(
        &self,
        py: Python<'_>,
        indices: &Bound<'_, PyAny>,
        patches: &Bound<'_, PyAny>,
        known: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Vec<(u64, PyObjectChunk)>> {
        let idx = indices_from_py(indices)?;
        let mut ps = Vec::with_capacity(idx.len());
        for p in patches.try_iter()? {
            let p = p?;
            let d = p
                .downcast::<PyDict>()
                .map_err(|_| PyTypeError::new_err("each patch must be a dict {position: value}"))?;
            let mut fields = Vec::with_capacity(d.len());
            for (k, v) in d.iter() {
                fields.push((k.extract::<usize>()?, py_to_value(&v)?));
            }
            ps.push(fields);
        }
        let held = known_chunks(known)?;
        let a = self.inner.clone();
        let written = py
            .allow_threads(move || a.patch_known(&idx, ps, &held))
            .py()?;
        let path = self.inner.display_path();
        Ok(written
            .into_iter()
            .map(|(c, it)| (c, PyObjectChunk::new(it, path.clone(), c.to_string())))
            .collect())
    }

    /// Append rows; returns the new length.
    fn append(&self, py: Python<'_>, values: &Bound<'_, PyAny>) -> PyResult<u64> {
        let vals = values_from_py(values)?;
        let a = self.inner.clone();
        py.allow_threads(move || a.append(vals)).py()
    }

    /// Change the number of rows.
    fn resize(&self, py: Python<'_>, length: u64) -> PyResult<()> {
        py.allow_threads(|| self.inner.resize(length)).py()
    }

    /// The array's attributes.
    fn attrs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let j = py.allow_threads(|| self.inner.attrs()).py()?;
        json_to_py(py, &j)
    }

    /// Replace the array's attributes.
    fn set_attrs(&self, py: Python<'_>, attrs: &Bound<'_, PyAny>) -> PyResult<()> {
        let j = py_to_json(attrs)?;
        py.allow_threads(|| self.inner.set_attrs(&j)).py()
    }

    /// `(chunk key, reason)` for every chunk that fails to decode.
    fn verify(&self, py: Python<'_>) -> PyResult<Vec<(String, String)>> {
        py.allow_threads(|| self.inner.verify()).py()
    }

    fn __repr__(&self) -> String {
        format!(
            "ObjectArray({:?}, len={}, chunk_size={})",
            self.inner.path(),
            self.inner.len(),
            self.inner.chunk_size()
        )
    }
}

/// A `known` argument (chunk index -> ObjectChunk) as the core takes it.
fn known_chunks(known: Option<&Bound<'_, PyDict>>) -> PyResult<BTreeMap<u64, ItemBytes>> {
    let mut held = BTreeMap::new();
    for (k, v) in known.into_iter().flat_map(|d| d.iter()) {
        let chunk = v.downcast::<PyObjectChunk>()?;
        held.insert(k.extract::<u64>()?, chunk.borrow().items().clone());
    }
    Ok(held)
}
