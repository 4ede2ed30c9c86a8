//! A [`Store`] whose keys live behind a Python object, such as the fsspec adapters of
//! `wfstore.storage.fsspec`: every array operation of the core works unchanged over any
//! fsspec file system, with chunk bytes moved by Python and encoded/decoded in Rust.
//!
//! The object provides `get(key) -> bytes | None`, `set(key, value)`, `delete(key)`,
//! `list_dir(prefix) -> list[str]` and the attributes `location` (str) and
//! `read_only` (bool); optionally `rename(from_key, to_key)` (replacing `to_key`: then
//! commits of several keys are journaled, see `wfstore_core::txn`),
//! `set_temp(key, value)` (a write no reader sees yet, which need not be atomic),
//! `rename_dir(from, to)` and `delete_dir(prefix)` (moving and deleting folders: then
//! arrays can be rechunked in the store, see `wfstore_core::rechunk`). Calls are made with the GIL taken from whichever thread needs
//! them (core threads run without it); an exception raised by the object is carried
//! through the core unchanged and re-raised to the caller as it was raised.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::path::PathBuf;
use wfstore_core::{Error, Result, Store};

/// A store calling back into a Python key-value object.
pub struct PythonStore {
    obj: Py<PyAny>,
    location: String,
    read_only: bool,
    /// whether the object has `rename(from, to)` (then commits are journaled)
    can_rename: bool,
    /// whether the object has `set_temp(key, value)` (a write readers never see)
    has_set_temp: bool,
    /// whether the object has `rename_dir(from, to)` (then arrays can be rechunked)
    can_rename_dir: bool,
    /// whether the object has `delete_dir(prefix)`
    has_delete_dir: bool,
}

impl PythonStore {
    /// Wrap `obj`, reading its `location` and `read_only` attributes once.
    pub fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let location: String = obj.getattr("location")?.str()?.extract()?;
        let read_only = match obj.getattr("read_only") {
            Ok(v) => v.is_truthy()?,
            Err(_) => false,
        };
        for method in ["get", "set", "delete", "list_dir"] {
            if !obj.hasattr(method)? {
                return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "a Python store needs a `{method}` method ({} has none)",
                    obj.get_type().name()?
                )));
            }
        }
        Ok(PythonStore {
            obj: obj.clone().unbind(),
            location,
            read_only,
            can_rename: obj.hasattr("rename")?,
            has_set_temp: obj.hasattr("set_temp")?,
            can_rename_dir: obj.hasattr("rename_dir")?,
            has_delete_dir: obj.hasattr("delete_dir")?,
        })
    }

    /// A core error carrying the Python exception `err` raised for `key`.
    fn error(&self, key: &str, err: PyErr) -> Error {
        let path = format!("{}/{}", self.location.trim_end_matches('/'), key);
        Error::io(PathBuf::from(path), std::io::Error::other(err))
    }

    /// Call the writing method `method(key, value)` of the Python store (refused on a
    /// read-only store).
    fn write(&self, method: &str, key: &str, value: &[u8]) -> Result<()> {
        if self.read_only {
            return Err(self.read_only_error());
        }
        Python::with_gil(|py| {
            self.obj
                .bind(py)
                .call_method1(method, (key, PyBytes::new(py, value)))
                .map(|_| ())
                .map_err(|e| self.error(key, e))
        })
    }

    /// Call the moving method `method(from, to)` of the Python store (refused on a
    /// read-only store).
    fn call2(&self, method: &str, from: &str, to: &str) -> Result<()> {
        if self.read_only {
            return Err(self.read_only_error());
        }
        Python::with_gil(|py| {
            self.obj
                .bind(py)
                .call_method1(method, (from, to))
                .map(|_| ())
                .map_err(|e| self.error(to, e))
        })
    }

    fn read_only_error(&self) -> Error {
        Error::ReadOnly {
            path: self.location.clone(),
        }
    }
}

impl Store for PythonStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Python::with_gil(|py| {
            let out = self
                .obj
                .bind(py)
                .call_method1("get", (key,))
                .map_err(|e| self.error(key, e))?;
            if out.is_none() {
                return Ok(None);
            }
            if let Ok(b) = out.downcast::<PyBytes>() {
                return Ok(Some(b.as_bytes().to_vec()));
            }
            // bytearray, memoryview, ...: through `bytes(...)`.
            let b = py
                .get_type::<PyBytes>()
                .call1((out,))
                .map_err(|e| self.error(key, e))?;
            let b = b
                .downcast::<PyBytes>()
                .map_err(|e| self.error(key, e.into()))?;
            Ok(Some(b.as_bytes().to_vec()))
        })
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.write("set", key, value)
    }

    fn delete(&self, key: &str) -> Result<()> {
        if self.read_only {
            return Err(self.read_only_error());
        }
        Python::with_gil(|py| {
            self.obj
                .bind(py)
                .call_method1("delete", (key,))
                .map(|_| ())
                .map_err(|e| self.error(key, e))
        })
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn can_rename(&self) -> bool {
        self.can_rename && !self.read_only
    }

    fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.call2("rename", from, to)
    }

    fn can_rename_dir(&self) -> bool {
        self.can_rename_dir && !self.read_only
    }

    fn rename_dir(&self, from: &str, to: &str) -> Result<()> {
        self.call2("rename_dir", from, to)
    }

    fn delete_dir(&self, prefix: &str) -> Result<()> {
        if !self.has_delete_dir {
            return wfstore_core::storage::delete_dir_by_keys(self, prefix);
        }
        if self.read_only {
            return Err(self.read_only_error());
        }
        Python::with_gil(|py| {
            self.obj
                .bind(py)
                .call_method1("delete_dir", (prefix,))
                .map(|_| ())
                .map_err(|e| self.error(prefix, e))
        })
    }

    fn set_temp(&self, key: &str, value: &[u8]) -> Result<()> {
        if !self.has_set_temp {
            return self.set(key, value);
        }
        self.write("set_temp", key, value)
    }

    fn list_dir(&self, prefix: &str) -> Result<Vec<String>> {
        Python::with_gil(|py| {
            let out = self
                .obj
                .bind(py)
                .call_method1("list_dir", (prefix,))
                .map_err(|e| self.error(prefix, e))?;
            let mut names: Vec<String> = out.extract().map_err(|e| self.error(prefix, e))?;
            names.sort();
            Ok(names)
        })
    }
}

/// The Python exception inside a core error raised by a [`PythonStore`] callback.
pub fn take_python_error(e: Error) -> std::result::Result<PyErr, Error> {
    match e {
        Error::Io { path, source } => {
            if source.get_ref().is_some_and(|s| s.is::<PyErr>()) {
                if let Some(inner) = source.into_inner() {
                    return match inner.downcast::<PyErr>() {
                        Ok(err) => Ok(*err),
                        Err(other) => Err(Error::io(path, std::io::Error::other(other))),
                    };
                }
                return Err(Error::io(path, std::io::Error::other("lost Python error")));
            }
            Err(Error::Io { path, source })
        }
        other => Err(other),
    }
}

/// The bytes of a Python binary file object (an fsspec file, `open(path, "rb")`, a
/// `BytesIO`) read at offsets for the core's zip reader: each read seeks and reads
/// under a Python lock (waited for without the GIL), so threads never interleave: the
/// caller's (for a file system whose other calls must not overlap it, such as SFTP's
/// one connection), else one of its own.
pub struct PyFileSource {
    file: Py<PyAny>,
    lock: Py<PyAny>,
    size: u64,
}

impl PyFileSource {
    /// Wrap `file`, taking its length from a seek to its end (`tell`: some files'
    /// `seek`, such as SFTP's, return nothing); `lock` (with `acquire` and `release`)
    /// is held by every read, default: a new `threading.Lock`.
    pub fn new(file: &Bound<'_, PyAny>, lock: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let py = file.py();
        let lock = match lock {
            Some(l) => l.clone().unbind(),
            None => py.import("threading")?.call_method0("Lock")?.unbind(),
        };
        let size: u64 = {
            let lock = lock.bind(py);
            lock.call_method0("acquire")?;
            let size = file
                .call_method1("seek", (0, 2))
                .and_then(|_| file.call_method0("tell"))
                .and_then(|t| t.extract());
            lock.call_method0("release")?;
            size?
        };
        Ok(PyFileSource {
            file: file.clone().unbind(),
            lock,
            size,
        })
    }

    fn read(&self, py: Python<'_>, buf: &mut [u8], offset: u64) -> PyResult<usize> {
        let file = self.file.bind(py);
        file.call_method1("seek", (offset,))?;
        let data = file.call_method1("read", (buf.len(),))?;
        let data = match data.downcast::<PyBytes>() {
            Ok(b) => b.clone(),
            Err(_) => py
                .get_type::<PyBytes>()
                .call1((data,))?
                .downcast_into::<PyBytes>()?,
        };
        let bytes = data.as_bytes();
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        Ok(n)
    }
}

impl wfstore_core::zipio::ReadAt for PyFileSource {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        Python::with_gil(|py| {
            let lock = self.lock.bind(py);
            lock.call_method0("acquire")?;
            let out = self.read(py, buf, offset);
            lock.call_method0("release")?;
            out
        })
        .map_err(std::io::Error::other)
    }

    fn size(&self) -> std::io::Result<u64> {
        Ok(self.size)
    }
}
