//! Rows of the Zarr `metadata/runs` array straight to run objects.
//!
//! Reading every run of a large workflow is the store's hottest read. Decoding the
//! rows to Python lists and then building each run in Python costs two conversions per
//! field; here each row's msgpack values become the run object's attributes directly.
//! The row layout is the engine's (see `ZarrStoreEAR` in `items.py`):
//! `[id_, elem_iter_ID, action_idx, [[path_idx, param_ID]...], submission_idx, skip,
//! success, start_time, end_time, snapshot_start, snapshot_end, exit_code, metadata,
//! run_hostname, commands_idx]`.

use crate::arrays::PyObjectArray;
use crate::convert::value_to_py;
use crate::errors::IntoPyResult;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use rmpv::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use wfstore_core::ts::{self, parse_iso_space};

const FIELDS: [&str; 16] = [
    "id_",
    "is_pending",
    "elem_iter_ID",
    "action_idx",
    "commands_idx",
    "data_idx",
    "submission_idx",
    "skip",
    "success",
    "start_time",
    "end_time",
    "snapshot_start",
    "snapshot_end",
    "exit_code",
    "metadata",
    "run_hostname",
];

/// A quarter hour of UTC time: year, month, day, hour, quarter.
type QuarterHour = (u32, u32, u32, u32, u32);

struct Ctx<'py> {
    py: Python<'py>,
    paths: Bound<'py, PyList>,
    iso: bool,
    ts_fmt: Bound<'py, PyAny>,
    decode_ts: Bound<'py, PyAny>,
    datetime: Bound<'py, PyAny>,
    utc: Bound<'py, PyAny>,
    /// (offset seconds, tzinfo) of the local zone per quarter hour of UTC time
    zones: RefCell<HashMap<QuarterHour, (i64, Py<PyAny>)>>,
}

impl<'py> Ctx<'py> {
    fn timestamp(&self, v: &Value) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        match v {
            Value::Nil => Ok(py.None().into_bound(py)),
            Value::String(s) if self.iso => match s.as_str().and_then(parse_iso_space) {
                Some(f) if ts::valid(&f) => self.local(&f),
                // not a real date: the Python decoder reports it
                _ => self.decode_ts.call1((value_to_py(py, v)?, &self.ts_fmt)),
            },
            _ => self.decode_ts.call1((value_to_py(py, v)?, &self.ts_fmt)),
        }
    }

    /// The UTC time `f` as an aware datetime in the local time zone, as
    /// `datetime(..., tzinfo=utc).astimezone()` makes it. The zone's offset and
    /// `tzinfo` are looked up once per quarter hour of UTC time (time zones change
    /// offsets on quarter hours) and the local wall time is computed here.
    fn local(&self, f: &[u32; 7]) -> PyResult<Bound<'py, PyAny>> {
        let key = (f[0], f[1], f[2], f[3], f[4] / 15);
        if let Some((offset, tz)) = self.zones.borrow().get(&key) {
            let (y, mo, d, h, mi, se) = ts::shift(f, *offset);
            return self
                .datetime
                .call1((y, mo, d, h, mi, se, f[6], tz.bind(self.py)));
        }
        let dt = self
            .datetime
            .call1((f[0], f[1], f[2], f[3], f[4], f[5], f[6], &self.utc))?
            .call_method0("astimezone")?;
        let offset: f64 = dt
            .call_method0("utcoffset")?
            .call_method0("total_seconds")?
            .extract()?;
        if offset.fract() == 0.0 {
            let tz = dt.getattr("tzinfo")?.unbind();
            self.zones.borrow_mut().insert(key, (offset as i64, tz));
        }
        Ok(dt)
    }

    fn data_idx(&self, v: &Value) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(self.py);
        let pairs = v
            .as_array()
            .ok_or_else(|| PyValueError::new_err("data_idx is not a list"))?;
        for p in pairs {
            match p.as_array().map(|a| a.as_slice()) {
                Some([k, id]) => {
                    let k = k
                        .as_u64()
                        .ok_or_else(|| PyValueError::new_err("bad parameter path index"))?;
                    d.set_item(self.paths.get_item(k as usize)?, value_to_py(self.py, id)?)?;
                }
                _ => return Err(PyValueError::new_err("data_idx item is not a pair")),
            }
        }
        Ok(d)
    }
}

/// Runs `ids` of the runs array `arr` as instances of `cls` (a dataclass whose fields
/// are the run's, built without calling its `__init__`, attributes set in field order). `parameter_paths` is the
/// array's lookup list, `ts_fmt` the timestamp format: timestamps in the engine's
/// default format are parsed here, others by `decode_ts(value, ts_fmt)`. Any row that
/// is not a run raises ValueError (the caller decodes again, slowly, to report it).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn decode_runs<'py>(
    py: Python<'py>,
    arr: &PyObjectArray,
    ids: Vec<u64>,
    cls: &Bound<'py, PyAny>,
    parameter_paths: Bound<'py, PyList>,
    ts_fmt: Bound<'py, PyAny>,
    decode_ts: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let a = arr.inner.clone();
    let rows = py.allow_threads(move || a.get(&ids)).py()?;
    let dt_mod = py.import("datetime")?;
    let iso = ts_fmt.extract::<String>().ok().as_deref() == Some("%Y-%m-%d %H:%M:%S.%f");
    let ctx = Ctx {
        py,
        paths: parameter_paths,
        iso,
        ts_fmt,
        decode_ts,
        datetime: dt_mod.getattr("datetime")?,
        utc: dt_mod.getattr("timezone")?.getattr("utc")?,
        zones: RefCell::new(HashMap::new()),
    };
    let new = py
        .import("builtins")?
        .getattr("object")?
        .getattr("__new__")?;
    let keys: Vec<Bound<'py, PyString>> = FIELDS.iter().map(|k| PyString::intern(py, k)).collect();
    let false_ = false.into_pyobject(py)?.to_owned().into_any();
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let f = match row.as_array() {
            Some(f) if f.len() == 15 => f,
            _ => return Err(PyValueError::new_err("a row is not a run")),
        };
        // attributes set one by one, as `__init__` would: the instance then keeps
        // them in the class's shared-key layout (a fresh dict per run would take
        // about four times the memory, which counts at a million runs)
        let obj = new.call1((cls,))?;
        let plain = |i: usize| value_to_py(py, &f[i]);
        if f[14].as_array().is_none() {
            return Err(PyValueError::new_err("commands_idx is not a list"));
        }
        obj.setattr(&keys[0], plain(0)?)?;
        obj.setattr(&keys[1], &false_)?;
        obj.setattr(&keys[2], plain(1)?)?;
        obj.setattr(&keys[3], plain(2)?)?;
        obj.setattr(&keys[4], plain(14)?)?;
        obj.setattr(&keys[5], ctx.data_idx(&f[3])?)?;
        obj.setattr(&keys[6], plain(4)?)?;
        obj.setattr(&keys[7], plain(5)?)?;
        obj.setattr(&keys[8], plain(6)?)?;
        obj.setattr(&keys[9], ctx.timestamp(&f[7])?)?;
        obj.setattr(&keys[10], ctx.timestamp(&f[8])?)?;
        obj.setattr(&keys[11], plain(9)?)?;
        obj.setattr(&keys[12], plain(10)?)?;
        obj.setattr(&keys[13], plain(11)?)?;
        obj.setattr(&keys[14], plain(12)?)?;
        obj.setattr(&keys[15], plain(13)?)?;
        out.push(obj);
    }
    PyList::new(py, out)
}
