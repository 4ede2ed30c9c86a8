//! `wfstore._core.Store`: a local folder, a zip archive, or a Python/fsspec store.

use crate::convert::{json_object_to_py, opt_json, parse_durability, py_to_json};
use crate::errors::{to_py, IntoPyResult};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::path::PathBuf;
use std::sync::Arc;
use wfstore_core::atomic::Durability;
use wfstore_core::{LocalStore, Store, TxnStore, ZipStore};

/// A Zarr key-value store: a local folder or a read-only zip archive.
#[pyclass(module = "wfstore._core", name = "Store", frozen)]
#[derive(Clone)]
pub struct PyStore {
    pub inner: Arc<dyn Store>,
    /// The same store as a transactional one, when it is one.
    pub txn: Option<Arc<TxnStore>>,
    /// The same store as a zip archive, when it is one.
    pub zip: Option<Arc<ZipStore>>,
}

impl PyStore {
    /// A transactional store (writes can be grouped into commits).
    pub fn with_txn(store: TxnStore) -> Self {
        let txn = Arc::new(store);
        PyStore {
            inner: txn.clone(),
            txn: Some(txn),
            zip: None,
        }
    }

    /// A read-only zip archive (no transactions).
    pub fn zip_archive(store: ZipStore) -> Self {
        let zip = Arc::new(store);
        PyStore {
            inner: zip.clone(),
            txn: None,
            zip: Some(zip),
        }
    }

    fn zip_store(&self) -> PyResult<&ZipStore> {
        self.zip.as_deref().ok_or_else(|| {
            to_py(wfstore_core::Error::InvalidArgument(format!(
                "store {} is not a zip archive",
                self.inner.location()
            )))
        })
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
    /// `location`, `read_only`), such as `wfstore.storage.fsspec.FsspecKeyValueStore`.
    #[staticmethod]
    fn from_python(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        // transactional: a commit is staged, then applied through a journal when the
        // object can rename keys, else key by key (metadata last)
        Ok(PyStore::with_txn(TxnStore::new(Arc::new(
            crate::pystore::PythonStore::new(obj)?,
        ))))
    }

    /// A read-only store over a zip archive read from a Python binary file object (an
    /// fsspec file, ``open(path, "rb")``, ``BytesIO``) through the core's zip reader;
    /// `location` names it (default: the file's ``path`` or ``name``); `lock` (a
    /// ``threading`` lock) is held by each read of the file, default: a lock of its
    /// own. The file must stay open while the store is used.
    #[staticmethod]
    #[pyo3(signature = (file, location = None, lock = None))]
    fn zip_file(
        py: Python<'_>,
        file: &Bound<'_, PyAny>,
        location: Option<String>,
        lock: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let location = match location {
            Some(l) => l,
            None => ["path", "name"]
                .iter()
                .find_map(|a| file.getattr(*a).ok().and_then(|v| v.str().ok()))
                .map(|s| s.to_string())
                .unwrap_or_else(|| "<zip file object>".to_string()),
        };
        let source = Arc::new(crate::pystore::PyFileSource::new(file, lock)?);
        let z = py
            .allow_threads(|| ZipStore::from_source(source, &location))
            .py()?;
        Ok(PyStore::zip_archive(z))
    }

    /// A read-only store over a zip archive.
    #[staticmethod]
    fn zip(py: Python<'_>, archive: PathBuf) -> PyResult<Self> {
        let z = py.allow_threads(|| ZipStore::open(&archive)).py()?;
        Ok(PyStore::zip_archive(z))
    }

    /// A zip archive's file entries as ``(name, uncompressed size)``, sorted by name.
    fn zip_entries(&self) -> PyResult<Vec<(String, u64)>> {
        Ok(self.zip_store()?.entries())
    }

    /// Read a zip archive's entry `name` whole, checking its CRC-32 (``get`` checks
    /// deflated entries only); raises what is wrong with it.
    fn check_zip_entry(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        let zip = self.zip_store()?;
        py.allow_threads(|| zip.check_entry(name)).py()
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

    /// Remove the folder `prefix` if it is empty (nothing else); whether it was.
    fn remove_empty_dir(&self, py: Python<'_>, prefix: &str) -> PyResult<bool> {
        py.allow_threads(|| self.inner.remove_empty_dir(prefix))
            .py()
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
        let key = wfstore_core::meta::join(path, wfstore_core::meta::ZATTRS);
        match py.allow_threads(|| self.inner.get(&key)).py()? {
            None => Ok(PyDict::new(py).into_any()),
            Some(doc) => json_object_to_py(py, &doc)
                .map_err(|reason| to_py(wfstore_core::meta::attrs_error(path, reason))),
        }
    }

    /// Attributes as `read_attrs` reads them, from the bytes `data` of the `.zattrs`
    /// of `path` (for callers that read the document themselves, e.g. to compare it).
    #[staticmethod]
    #[pyo3(signature = (data, path = ""))]
    fn parse_attrs<'py>(py: Python<'py>, data: &[u8], path: &str) -> PyResult<Bound<'py, PyAny>> {
        json_object_to_py(py, data)
            .map_err(|reason| to_py(wfstore_core::meta::attrs_error(path, reason)))
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
