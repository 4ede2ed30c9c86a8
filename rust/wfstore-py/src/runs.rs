//! Rows of the Zarr `metadata/runs` array straight to run objects.
//!
//! Reading every run of a large workflow is the store's hottest read. Decoding the
//! rows to Python lists and then building each run in Python costs two conversions per
//! field; here each row's msgpack values become the run object's attributes directly.
//! The row layout is the core's `wfstore_core::engine::runs::RUN_ROW` (the engine's);
//! this file only converts to Python.

use crate::decode::{Fail, PyBuild, Res};
use crate::object_chunk::PyObjectChunk;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use rmp::Marker;
use std::cell::RefCell;
use std::collections::HashMap;
use wfstore_core::array::msgpack::Reader;
use wfstore_core::engine::runs::{run_field_position, RunField, DEFAULT_TS_FORMAT, RUN_ROW};
use wfstore_core::ts::{self, parse_iso_space};

/// The run object's attributes in the order its class's `__init__` sets them (the
/// row's fields and `is_pending`), which keeps instances in the class's shared-key
/// layout.
const ATTRS: [&str; 16] = [
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
    /// A timestamp field: nil, or a string in the store's format.
    fn timestamp(&self, rd: &mut Reader<'_>) -> Res<Bound<'py, PyAny>> {
        let py = self.py;
        let m = rd.marker()?;
        if let Marker::Null = m {
            return Ok(py.None().into_bound(py));
        }
        if self.iso {
            if let Some(b) = rd.str_bytes(m)? {
                let s = std::str::from_utf8(b)
                    .map_err(|_| Fail::Data("a string is not valid UTF-8".into()))?;
                return match parse_iso_space(s) {
                    Some(f) if ts::valid(&f) => Ok(self.local(&f)?),
                    // not a real date: the Python decoder reports it
                    _ => Ok(self.decode_ts.call1((s, &self.ts_fmt))?),
                };
            }
        }
        let v = rd.value_with(&PyBuild(py), m, 1, false)?;
        Ok(self.decode_ts.call1((v, &self.ts_fmt))?)
    }

    /// The UTC time `f` as an aware datetime in the local time zone, as
    /// `datetime(..., tzinfo=utc).astimezone()` makes it. The zone's offset and
    /// `tzinfo` are looked up once per quarter hour of UTC time (time zones change
    /// offsets on quarter hours) and the local wall time is computed here.
    fn local(&self, f: &[u32; 7]) -> PyResult<Bound<'py, PyAny>> {
        let key = (f[0], f[1], f[2], f[3], f[4] / 15);
        if let Some((offset, tz)) = self.zones.borrow().get(&key) {
            let (y, mo, d, h, mi, se) = ts::shift(f, *offset);
            if let Some(state) = datetime_state(y, mo, d, h, mi, se, f[6]) {
                // `datetime(state, tzinfo)`: the constructor's pickle form (10 bytes,
                // stable since Python 3.0: old pickles must load), which skips
                // making seven ints and parsing arguments
                return self
                    .datetime
                    .call1((PyBytes::new(self.py, &state), tz.bind(self.py)));
            }
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

    /// The `data_idx` field: `[[path index, parameter ID], ...]` -> `{path: ID}`.
    fn data_idx(&self, rd: &mut Reader<'_>) -> Res<Bound<'py, PyDict>> {
        let py = self.py;
        let bad = |what: &str| Fail::Py(PyValueError::new_err(format!("data_idx: {what}")));
        let d = PyDict::new(py);
        let m = rd.marker()?;
        let n = rd.array_len(m)?.ok_or_else(|| bad("not a list"))?;
        for _ in 0..n {
            let m = rd.marker()?;
            if rd.array_len(m)? != Some(2) {
                return Err(bad("an item is not a pair"));
            }
            let m = rd.marker()?;
            let k = rd.uint(m)?.ok_or_else(|| bad("bad parameter path index"))?;
            let path = self.paths.get_item(k as usize)?;
            let m = rd.marker()?;
            d.set_item(path, rd.value_with(&PyBuild(py), m, 2, false)?)?;
        }
        Ok(d)
    }
}

/// The 10-byte pickled state of a naive datetime (`datetime.__reduce__`'s first
/// argument): year (2 bytes, big-endian), month, day, hour, minute, second,
/// microsecond (3 bytes, big-endian); fold 0. None for values the constructor's
/// ordinary form should check and report.
#[allow(clippy::too_many_arguments)]
fn datetime_state(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> Option<[u8; 10]> {
    // the constructor trusts this form's fields: only real dates may take it
    if !(1..=9999).contains(&y) || !ts::valid(&[y as u32, mo, d, h, mi, s, us]) {
        return None;
    }
    let y = y as u16;
    Some([
        (y >> 8) as u8,
        (y & 0xff) as u8,
        mo as u8,
        d as u8,
        h as u8,
        mi as u8,
        s as u8,
        (us >> 16) as u8,
        ((us >> 8) & 0xff) as u8,
        (us & 0xff) as u8,
    ])
}

/// The next value of a row, as a Python object.
fn plain<'py>(py: Python<'py>, rd: &mut Reader<'_>) -> Res<Bound<'py, PyAny>> {
    let m = rd.marker()?;
    rd.value_with(&PyBuild(py), m, 1, false)
}

/// Rows `rows` (positions) of `chunk`, a chunk of the runs array, as instances of
/// `cls` (a dataclass whose fields are the run's, built without calling its
/// `__init__`, attributes set in field order). `parameter_paths` is the array's lookup
/// list, `ts_fmt` the timestamp format: timestamps in the engine's default format are
/// parsed here, others by `decode_ts(value, ts_fmt)`. Any row that is not a run raises
/// ValueError (the caller decodes again, slowly, to report it).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn decode_runs<'py>(
    py: Python<'py>,
    chunk: &PyObjectChunk,
    rows: Vec<usize>,
    cls: &Bound<'py, PyAny>,
    parameter_paths: Bound<'py, PyList>,
    ts_fmt: Bound<'py, PyAny>,
    decode_ts: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let dt_mod = py.import("datetime")?;
    let iso = ts_fmt.extract::<String>().ok().as_deref() == Some(DEFAULT_TS_FORMAT);
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
    let keys: Vec<Bound<'py, PyString>> = ATTRS.iter().map(|k| PyString::intern(py, k)).collect();
    // each attribute's position in the row (`is_pending` is not stored)
    let positions: Vec<Option<usize>> = ATTRS.iter().map(|a| run_field_position(a)).collect();
    let false_ = false.into_pyobject(py)?.to_owned().into_any();
    let mut out = Vec::with_capacity(rows.len());
    for k in rows {
        let obj = chunk.decode(k, |rd| {
            let m = rd.marker()?;
            if rd.array_len(m)? != Some(RUN_ROW.len()) {
                return Err(Fail::Py(PyValueError::new_err("a row is not a run")));
            }
            let mut row: Vec<Bound<'py, PyAny>> = Vec::with_capacity(RUN_ROW.len());
            for (_, kind) in RUN_ROW {
                let v = match kind {
                    RunField::Plain => plain(py, rd)?,
                    RunField::DataIdx => ctx.data_idx(rd)?.into_any(),
                    RunField::Timestamp => ctx.timestamp(rd)?,
                    RunField::CommandsIdx => {
                        let v = plain(py, rd)?;
                        if !v.is_instance_of::<PyList>() {
                            return Err(Fail::Py(PyValueError::new_err(
                                "commands_idx is not a list",
                            )));
                        }
                        v
                    }
                };
                row.push(v);
            }
            // attributes set one by one, as `__init__` would: the instance then keeps
            // them in the class's shared-key layout (a fresh dict per run would take
            // about four times the memory, which counts at a million runs)
            let obj = new.call1((cls,))?;
            for (key, pos) in keys.iter().zip(&positions) {
                match pos {
                    Some(p) => obj.setattr(key, &row[*p])?,
                    None => obj.setattr(key, &false_)?, // `is_pending`
                }
            }
            Ok(obj)
        })?;
        out.push(obj);
    }
    PyList::new(py, out)
}
