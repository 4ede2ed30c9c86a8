//! msgpack rows straight to Python objects, as msgpack-python's `unpackb(raw=False)`
//! makes them (arrays become lists, or tuples as map keys; maps become dicts): the
//! core's msgpack `Reader` reads the bytes, [`PyBuild`] makes the objects (no
//! `rmpv::Value` tree in between). Rows come from `ObjectChunk`s.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use wfstore_core::array::msgpack::{BadBytes, Build};

/// Why a value could not be read: bad bytes (reported as a corrupt chunk by the
/// caller, who knows which) or a Python error (e.g. an unhashable map key).
pub enum Fail {
    Data(String),
    Py(PyErr),
}

impl From<PyErr> for Fail {
    fn from(e: PyErr) -> Self {
        Fail::Py(e)
    }
}

impl From<BadBytes> for Fail {
    fn from(e: BadBytes) -> Self {
        Fail::Data(e.0)
    }
}

pub type Res<T> = std::result::Result<T, Fail>;

/// Builds Python objects as msgpack-python's `unpackb(raw=False)` does from the
/// core's msgpack [`Reader`].
pub struct PyBuild<'py>(pub Python<'py>);

impl<'py> Build for PyBuild<'py> {
    type Value = Bound<'py, PyAny>;
    type Error = Fail;
    fn nil(&self) -> Res<Self::Value> {
        Ok(self.0.None().into_bound(self.0))
    }
    fn boolean(&self, b: bool) -> Res<Self::Value> {
        Ok(PyBool::new(self.0, b).to_owned().into_any())
    }
    fn uint(&self, u: u64) -> Res<Self::Value> {
        Ok(PyInt::new(self.0, u).into_any())
    }
    fn int(&self, i: i64) -> Res<Self::Value> {
        Ok(PyInt::new(self.0, i).into_any())
    }
    fn float(&self, f: f64) -> Res<Self::Value> {
        Ok(PyFloat::new(self.0, f).into_any())
    }
    fn string(&self, s: &str) -> Res<Self::Value> {
        Ok(PyString::new(self.0, s).into_any())
    }
    fn bytes(&self, b: &[u8]) -> Res<Self::Value> {
        Ok(PyBytes::new(self.0, b).into_any())
    }
    fn array(&self, items: Vec<Self::Value>, as_key: bool) -> Res<Self::Value> {
        Ok(if as_key {
            PyTuple::new(self.0, items)?.into_any()
        } else {
            PyList::new(self.0, items)?.into_any()
        })
    }
    fn map(&self, pairs: Vec<(Self::Value, Self::Value)>) -> Res<Self::Value> {
        let d = PyDict::new(self.0);
        for (k, v) in pairs {
            d.set_item(k, v)?;
        }
        Ok(d.into_any())
    }
}
