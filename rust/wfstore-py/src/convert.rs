//! Conversion between Python objects and msgpack values (as msgpack-python does with
//! `use_bin_type=True, raw=False`), and between Python objects and JSON.

use crate::errors::{to_py, IntoPyResult};
use pyo3::exceptions::{PyOverflowError, PyRecursionError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};
use rmpv::Value;
use serde_json::Value as Json;
use wfstore_core::atomic::Durability;
use wfstore_core::codec::MAX_MSGPACK_DEPTH;
use wfstore_core::Compressor;

/// Python object -> msgpack value. Tuples become arrays (msgpack has no tuple).
pub fn py_to_value(ob: &Bound<'_, PyAny>) -> PyResult<Value> {
    py_to_value_depth(ob, 0)
}

fn py_to_value_depth(ob: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if depth > MAX_MSGPACK_DEPTH {
        return Err(PyRecursionError::new_err(
            "value nested too deeply to store",
        ));
    }
    if ob.is_none() {
        return Ok(Value::Nil);
    }
    if let Ok(b) = ob.downcast::<PyBool>() {
        return Ok(Value::Boolean(b.is_true()));
    }
    if ob.is_instance_of::<PyInt>() {
        if let Ok(i) = ob.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = ob.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(PyOverflowError::new_err(format!(
            "integer {} does not fit in 64 bits",
            ob.str()?
        )));
    }
    if let Ok(f) = ob.downcast::<PyFloat>() {
        return Ok(Value::F64(f.value()));
    }
    if let Ok(s) = ob.downcast::<PyString>() {
        return Ok(Value::from(s.to_cow()?.as_ref()));
    }
    if let Ok(b) = ob.downcast::<PyBytes>() {
        return Ok(Value::Binary(b.as_bytes().to_vec()));
    }
    if let Ok(b) = ob.downcast::<PyByteArray>() {
        return Ok(Value::Binary(b.to_vec()));
    }
    if let Ok(l) = ob.downcast::<PyList>() {
        let mut out = Vec::with_capacity(l.len());
        for it in l.iter() {
            out.push(py_to_value_depth(&it, depth + 1)?);
        }
        return Ok(Value::Array(out));
    }
    if let Ok(t) = ob.downcast::<PyTuple>() {
        let mut out = Vec::with_capacity(t.len());
        for it in t.iter() {
            out.push(py_to_value_depth(&it, depth + 1)?);
        }
        return Ok(Value::Array(out));
    }
    if let Ok(d) = ob.downcast::<PyDict>() {
        let mut out = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            out.push((
                py_to_value_depth(&k, depth + 1)?,
                py_to_value_depth(&v, depth + 1)?,
            ));
        }
        return Ok(Value::Map(out));
    }
    // numpy arrays (vlen-array items) as lists
    if ob.downcast::<numpy::PyUntypedArray>().is_ok() {
        return py_to_value_depth(&ob.call_method0("tolist")?, depth + 1);
    }
    // numpy integer and bool scalars
    if ob.hasattr("__index__")? && ob.hasattr("dtype")? {
        let i = ob.call_method0("__index__")?;
        return py_to_value_depth(&i, depth);
    }
    Err(PyTypeError::new_err(format!(
        "cannot store a value of type {} (msgpack takes None, bool, int, float, str, bytes, list, tuple and dict)",
        ob.get_type().name()?
    )))
}

/// msgpack value -> Python object. Arrays become lists; maps become dicts, with
/// array keys turned into tuples so that they stay hashable.
pub fn value_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    value_to_py_inner(py, v, false)
}

fn value_to_py_inner<'py>(py: Python<'py>, v: &Value, as_key: bool) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Nil => py.None().into_bound(py),
        Value::Boolean(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Integer(i) => {
            if let Some(s) = i.as_i64() {
                s.into_pyobject(py)?.into_any()
            } else if let Some(u) = i.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                return Err(PyOverflowError::new_err("msgpack integer out of range"));
            }
        }
        Value::F32(f) => PyFloat::new(py, f64::from(*f)).into_any(),
        Value::F64(f) => PyFloat::new(py, *f).into_any(),
        Value::String(s) => match s.as_str() {
            Some(t) => PyString::new(py, t).into_any(),
            None => PyBytes::new(py, s.as_bytes()).into_any(),
        },
        Value::Binary(b) => PyBytes::new(py, b).into_any(),
        Value::Array(a) => {
            let items = a
                .iter()
                .map(|x| value_to_py_inner(py, x, as_key))
                .collect::<PyResult<Vec<_>>>()?;
            if as_key {
                PyTuple::new(py, items)?.into_any()
            } else {
                PyList::new(py, items)?.into_any()
            }
        }
        Value::Map(m) => {
            let d = PyDict::new(py);
            for (k, val) in m {
                d.set_item(
                    value_to_py_inner(py, k, true)?,
                    value_to_py_inner(py, val, false)?,
                )?;
            }
            d.into_any()
        }
        Value::Ext(code, data) => {
            return Err(to_py(wfstore_core::Error::Codec(format!(
                "msgpack extension type {code} ({} bytes) is not supported",
                data.len()
            ))))
        }
    })
}

/// Python object (dict/list/str/number/bool/None) -> JSON.
pub fn py_to_json(ob: &Bound<'_, PyAny>) -> PyResult<Json> {
    let v = py_to_value(ob)?;
    wfstore_core::meta::msgpack_to_json(&v).map_err(to_py)
}

/// JSON -> Python object.
pub fn json_to_py<'py>(py: Python<'py>, j: &Json) -> PyResult<Bound<'py, PyAny>> {
    value_to_py(py, &wfstore_core::meta::json_to_msgpack(j))
}

/// A JSON document that must be an object -> a Python dict, parsed straight into
/// Python objects (no JSON value between: a 100,000-run workflow's root attributes
/// are 16 MB of JSON, and a value tree of them would take several times that).
/// The error is the reason the document is refused.
pub fn json_object_to_py<'py>(py: Python<'py>, doc: &[u8]) -> Result<Bound<'py, PyAny>, String> {
    let mut de = serde_json::Deserializer::from_slice(doc);
    let ob = serde_transcode::transcode(&mut de, pythonize::Pythonizer::new(py))
        .map_err(|e| format!("not valid JSON: {e}"))?;
    de.end().map_err(|e| format!("not valid JSON: {e}"))?;
    if !ob.is_instance_of::<PyDict>() {
        return Err("not a JSON object".into());
    }
    Ok(ob)
}

/// Optional Python mapping -> optional JSON.
pub fn opt_json(ob: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Json>> {
    match ob {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => Ok(Some(py_to_json(o)?)),
    }
}

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

/// A durability name from Python (``None``: the default).
pub fn parse_durability(name: Option<&str>) -> PyResult<Durability> {
    name.map_or(Ok(Durability::default()), |n| n.parse().py())
}
