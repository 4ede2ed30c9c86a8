//! Stores and arrays: `Store`, `ObjectArray`, `NumericArray`.

use crate::convert::{json_to_py, opt_json, py_to_json, py_to_value, value_to_py};
use crate::decode::rows_to_py;
use crate::errors::{to_py, IntoPyResult};
use numpy::{PyArray1, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use rmpv::Value;
use std::path::PathBuf;
use std::sync::Arc;
use wfstore_core::atomic::Durability;
use wfstore_core::{Compressor, LocalStore, Store, TxnStore, ZipStore};

/// Compressor from `None`, a name (`"blosc"`, `"zstd"`, `"none"`) with keyword
/// arguments, or a numcodecs configuration mapping.
pub fn compressor_from_py(
    compressor: Option<&Bound<'_, PyAny>>,
    kwargs: Option<&Bound<'_, PyAny>>,
) -> PyResult<Compressor> {
    let kw = opt_json(kwargs)?;
    match compressor {
        None => Ok(Compressor::None),
        Some(c) if c.is_none() => Ok(Compressor::None),
        Some(c) => {
            if let Ok(name) = c.extract::<String>() {
                Compressor::from_name(Some(&name), kw.as_ref()).py()
            } else {
                Compressor::from_config(&py_to_json(c)?).py()
            }
        }
    }
}

/// A Zarr key-value store: a local folder or a read-only zip archive.
#[pyclass(module = "wfstore._core", name = "Store", frozen)]
#[derive(Clone)]
pub struct PyStore {
    pub inner: Arc<dyn Store>,
    /// The same store as a transactional one, when it is one.
    pub txn: Option<Arc<TxnStore>>,
}

impl PyStore {
    /// A transactional store (writes can be grouped into commits).
    pub fn with_txn(store: TxnStore) -> Self {
        let txn = Arc::new(store);
        PyStore {
            inner: txn.clone(),
            txn: Some(txn),
        }
    }

    /// A store without transactions (a read-only zip archive).
    pub fn plain(store: Arc<dyn Store>) -> Self {
        PyStore {
            inner: store,
            txn: None,
        }
    }

    fn txn(&self) -> PyResult<&TxnStore> {
        self.txn.as_deref().ok_or_else(|| {
            to_py(wfstore_core::Error::InvalidArgument(format!(
                "store {} does not support transactions",
                self.inner.location()
            )))
        })
    }
}

#[pymethods]
impl PyStore {
    /// Finish commits that a crash or a lost connection left half-applied (their
    /// journals); returns how many were finished. Local folders and stores over file
    /// systems that rename keys; others have no journals.
    fn recover_journals(&self, py: Python<'_>) -> PyResult<usize> {
        let txn = self.txn()?;
        py.allow_threads(|| txn.recover_journals()).py()
    }

    /// A store over the local folder `root` (created on first write). `durability`
    /// (``"full"`` or ``"normal"`` (default)) sets what its writes
    /// survive; ``fsync=True`` is ``"full"``.
    #[staticmethod]
    #[pyo3(signature = (root, fsync = false, durability = None))]
    fn local(root: PathBuf, fsync: bool, durability: Option<&str>) -> PyResult<Self> {
        let durability = parse_durability(durability)?;
        Ok(PyStore::with_txn(TxnStore::local(
            LocalStore::new(root).with_durability(durability),
            fsync,
        )))
    }

    /// What a local folder's writes survive (``"full"`` or ``"normal"``);
    /// ``None`` for other stores.
    #[getter]
    fn durability(&self) -> Option<&'static str> {
        self.txn
            .as_deref()
            .and_then(TxnStore::durability)
            .map(Durability::as_str)
    }

    /// Open a transaction: until `commit()` or `rollback()`, writes and deletes are
    /// staged in memory and reads see them (local stores only).
    fn begin(&self) -> PyResult<()> {
        self.txn()?.begin().py()
    }

    /// Apply the staged changes all or nothing (crash-safe on a local folder); returns
    /// ``{"written": n, "deleted": n, "journaled": bool}``. Closes the transaction.
    ///
    /// With ``journal=False`` the changes are applied in order without a journal
    /// (chunks first, then metadata keys in the order staged): for appends that become
    /// visible with the last metadata key staged, where a crash after any rename leaves
    /// a valid store.
    #[pyo3(signature = (journal = true))]
    fn commit<'py>(&self, py: Python<'py>, journal: bool) -> PyResult<Bound<'py, PyDict>> {
        let txn = self.txn()?;
        let r = py
            .allow_threads(|| {
                if journal {
                    txn.commit()
                } else {
                    txn.commit_in_order()
                }
            })
            .py()?;
        let d = PyDict::new(py);
        d.set_item("written", r.written)?;
        d.set_item("deleted", r.deleted)?;
        d.set_item("journaled", r.journaled)?;
        Ok(d)
    }

    /// The keys staged in the open transaction, in the order first staged.
    fn staged_keys(&self) -> PyResult<Vec<String>> {
        Ok(self.txn()?.staged_keys())
    }

    /// Drop the staged changes of the open transaction.
    fn rollback(&self) -> PyResult<()> {
        self.txn()?.rollback();
        Ok(())
    }

    /// Whether the store supports transactions (`begin`/`commit`/`rollback`).
    #[getter]
    fn transactional(&self) -> bool {
        self.txn.is_some()
    }

    /// Whether a transaction is open.
    #[getter]
    fn in_transaction(&self) -> bool {
        self.txn.as_ref().is_some_and(|t| t.in_transaction())
    }

    /// A store over a Python key-value object (`get`, `set`, `delete`, `list_dir`,
    /// `location`, `read_only`), such as the fsspec adapters of `wfstore.fsspec_store`.
    #[staticmethod]
    fn from_python(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        // transactional: a commit is staged, then applied through a journal when the
        // object can rename keys, else key by key (metadata last)
        Ok(PyStore::with_txn(TxnStore::new(Arc::new(
            crate::pystore::PythonStore::new(obj)?,
        ))))
    }

    /// A store over the folder `root` of an fsspec file system: the local file system
    /// takes the Rust fast path (`Store.local`), any other moves bytes through fsspec.
    #[staticmethod]
    #[pyo3(signature = (fs, root, write_mode = None))]
    fn fsspec(
        py: Python<'_>,
        fs: &Bound<'_, PyAny>,
        root: &Bound<'_, PyAny>,
        write_mode: Option<&str>,
    ) -> PyResult<Self> {
        let store = py
            .import("wfstore.fsspec_store")?
            .call_method1("core_store", (fs, root, write_mode))?;
        store.extract::<PyStore>()
    }

    /// A read-only store over a zip archive on an fsspec file system (local archives
    /// take the Rust fast path, `Store.zip`).
    #[staticmethod]
    fn fsspec_zip(
        py: Python<'_>,
        fs: &Bound<'_, PyAny>,
        archive: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let store = py
            .import("wfstore.fsspec_store")?
            .call_method1("core_zip_store", (fs, archive))?;
        store.extract::<PyStore>()
    }

    /// A read-only store over a zip archive read from a Python binary file object (an
    /// fsspec file, ``open(path, "rb")``, ``BytesIO``) through the core's zip reader;
    /// `location` names it (default: the file's ``path`` or ``name``). The file must
    /// stay open while the store is used.
    #[staticmethod]
    #[pyo3(signature = (file, location = None))]
    fn zip_file(
        py: Python<'_>,
        file: &Bound<'_, PyAny>,
        location: Option<String>,
    ) -> PyResult<Self> {
        let location = match location {
            Some(l) => l,
            None => ["path", "name"]
                .iter()
                .find_map(|a| file.getattr(*a).ok().and_then(|v| v.str().ok()))
                .map(|s| s.to_string())
                .unwrap_or_else(|| "<zip file object>".to_string()),
        };
        let source = Arc::new(crate::pystore::PyFileSource::new(file)?);
        let z = py
            .allow_threads(|| ZipStore::from_source(source, &location))
            .py()?;
        Ok(PyStore::plain(Arc::new(z)))
    }

    /// A read-only store over a zip archive.
    #[staticmethod]
    fn zip(py: Python<'_>, archive: PathBuf) -> PyResult<Self> {
        let z = py.allow_threads(|| ZipStore::open(&archive)).py()?;
        Ok(PyStore::plain(Arc::new(z)))
    }

    #[getter]
    fn location(&self) -> String {
        self.inner.location()
    }

    #[getter]
    fn read_only(&self) -> bool {
        self.inner.read_only()
    }

    /// The bytes of `key`, or None.
    fn get<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let v = py.allow_threads(|| self.inner.get(key)).py()?;
        Ok(v.map(|b| PyBytes::new(py, &b)))
    }

    /// Write `key` atomically.
    fn set(&self, py: Python<'_>, key: &str, value: Vec<u8>) -> PyResult<()> {
        py.allow_threads(|| self.inner.set(key, &value)).py()
    }

    /// Delete `key` (no error when missing).
    fn delete(&self, py: Python<'_>, key: &str) -> PyResult<()> {
        py.allow_threads(|| self.inner.delete(key)).py()
    }

    /// Names directly below the folder key `prefix`.
    #[pyo3(signature = (prefix = ""))]
    fn list_dir(&self, py: Python<'_>, prefix: &str) -> PyResult<Vec<String>> {
        py.allow_threads(|| self.inner.list_dir(prefix)).py()
    }

    /// Create a group (`.zgroup`, and `.zattrs` when attrs are given).
    #[pyo3(signature = (path, attrs = None))]
    fn create_group(
        &self,
        py: Python<'_>,
        path: &str,
        attrs: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let a = opt_json(attrs)?;
        py.allow_threads(|| wfstore_core::meta::create_group(self.inner.as_ref(), path, a.as_ref()))
            .py()
    }

    /// The attributes (`.zattrs`) of a group or array, `{}` when none.
    #[pyo3(signature = (path = ""))]
    fn read_attrs<'py>(&self, py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyAny>> {
        let j = py
            .allow_threads(|| wfstore_core::meta::read_attrs(self.inner.as_ref(), path))
            .py()?;
        json_to_py(py, &j)
    }

    /// Replace the attributes of a group or array.
    fn write_attrs(&self, py: Python<'_>, path: &str, attrs: &Bound<'_, PyAny>) -> PyResult<()> {
        let a = py_to_json(attrs)?;
        py.allow_threads(|| wfstore_core::meta::write_attrs(self.inner.as_ref(), path, &a))
            .py()
    }

    fn __repr__(&self) -> String {
        format!(
            "Store({:?}, read_only={})",
            self.inner.location(),
            self.inner.read_only()
        )
    }
}

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
    /// Rows `idx` as Python objects: msgpack rows decoded straight from their bytes
    /// (see `decode.rs`), rows of other codecs through `rmpv::Value`.
    fn rows<'py>(&self, py: Python<'py>, idx: Vec<u64>) -> PyResult<Bound<'py, PyList>> {
        let a = self.inner.clone();
        let enc = py
            .allow_threads(move || a.get_encoded(&idx).map(|e| (e, idx)))
            .py()?;
        match enc {
            (Some(rows), _) => PyList::new(py, rows_to_py(py, &self.inner, &rows)?),
            (None, idx) => {
                let a = self.inner.clone();
                let vals = py.allow_threads(move || a.get(&idx)).py()?;
                values_to_py(py, &vals, self.inner.object_codec())
            }
        }
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
    /// parameter's row); each chunk is read once. Returns the indices whose rows hold
    /// a map (then nothing is written).
    fn set_unless_map(
        &self,
        py: Python<'_>,
        indices: &Bound<'_, PyAny>,
        values: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<u64>> {
        let idx = indices_from_py(indices)?;
        let vals = values_from_py(values)?;
        let a = self.inner.clone();
        py.allow_threads(move || a.set_unless_map(&idx, vals)).py()
    }

    /// Set fields of rows in place: `patches[k]` maps field positions of row
    /// `indices[k]` (a list) to new values. One read and one write per chunk.
    fn patch(
        &self,
        py: Python<'_>,
        indices: &Bound<'_, PyAny>,
        patches: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
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
        let a = self.inner.clone();
        py.allow_threads(move || a.patch(&idx, ps)).py()
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

/// A durability name from Python (``None``: the default).
pub(crate) fn parse_durability(name: Option<&str>) -> PyResult<Durability> {
    name.map_or(Ok(Durability::default()), |n| n.parse().py())
}
