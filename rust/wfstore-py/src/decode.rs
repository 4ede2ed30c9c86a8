//! msgpack bytes straight to Python objects, as msgpack-python's `unpackb(raw=False)`
//! makes them (arrays become lists, or tuples as map keys; maps become dicts).
//!
//! Reading rows through `rmpv::Value` first builds a tree of Rust allocations per row
//! and walks it twice more (a UTF-8 check, then the conversion); reading the bytes
//! directly builds only the Python objects. Rows come from
//! [`wfstore_core::ObjectArray::get_encoded`], whose items' structure (lengths,
//! nesting) the core has checked; the reader checks again as it goes and never reads
//! past its slice, so bad bytes give an error, not a panic.

use crate::errors::to_py;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use rmp::Marker;
use wfstore_core::codec::MAX_MSGPACK_DEPTH;
use wfstore_core::{EncodedRows, ObjectArray};

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

pub type Res<T> = std::result::Result<T, Fail>;

fn short() -> Fail {
    Fail::Data("value runs past the end of its bytes".into())
}

/// A msgpack integer: unsigned markers, or signed ones (whatever the value's sign).
enum Int {
    U(u64),
    I(i64),
}

/// A cursor over one msgpack value's bytes.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// Whether every byte was read.
    pub fn at_end(&self) -> bool {
        self.pos == self.data.len()
    }

    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or_else(short)?;
        let b = self.data.get(self.pos..end).ok_or_else(short)?;
        self.pos = end;
        Ok(b)
    }

    fn be(&mut self, n: usize) -> Res<u64> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    fn len(&mut self, n: usize) -> Res<usize> {
        usize::try_from(self.be(n)?).map_err(|_| short())
    }

    pub fn marker(&mut self) -> Res<Marker> {
        Ok(Marker::from_u8(self.take(1)?[0]))
    }

    /// The length of an array whose marker is `m`, or None if `m` is not an array's.
    pub fn array_len(&mut self, m: Marker) -> Res<Option<usize>> {
        Ok(match m {
            Marker::FixArray(n) => Some(n as usize),
            Marker::Array16 => Some(self.len(2)?),
            Marker::Array32 => Some(self.len(4)?),
            _ => None,
        })
    }

    /// The bytes of a string whose marker is `m`, or None if `m` is not a string's.
    pub fn str_bytes(&mut self, m: Marker) -> Res<Option<&'a [u8]>> {
        let n = match m {
            Marker::FixStr(n) => n as usize,
            Marker::Str8 => self.len(1)?,
            Marker::Str16 => self.len(2)?,
            Marker::Str32 => self.len(4)?,
            _ => return Ok(None),
        };
        Ok(Some(self.take(n)?))
    }

    /// The integer whose marker is `m`, or None if `m` is not an integer's.
    fn int(&mut self, m: Marker) -> Res<Option<Int>> {
        Ok(Some(match m {
            Marker::FixPos(n) => Int::U(u64::from(n)),
            Marker::FixNeg(n) => Int::I(i64::from(n)),
            Marker::U8 => Int::U(self.be(1)?),
            Marker::U16 => Int::U(self.be(2)?),
            Marker::U32 => Int::U(self.be(4)?),
            Marker::U64 => Int::U(self.be(8)?),
            Marker::I8 => Int::I(self.signed(1)?),
            Marker::I16 => Int::I(self.signed(2)?),
            Marker::I32 => Int::I(self.signed(4)?),
            Marker::I64 => Int::I(self.signed(8)?),
            _ => return Ok(None),
        }))
    }

    /// A non-negative integer whose marker is `m` (None if `m` is not an integer's
    /// or the integer is negative).
    pub fn uint(&mut self, m: Marker) -> Res<Option<u64>> {
        Ok(match self.int(m)? {
            Some(Int::U(u)) => Some(u),
            Some(Int::I(i)) => u64::try_from(i).ok(),
            None => None,
        })
    }

    fn signed(&mut self, n: usize) -> Res<i64> {
        let raw = self.be(n)?;
        let shift = 64 - 8 * n as u32;
        // sign-extend the n-byte big-endian value
        Ok(((raw << shift) as i64) >> shift)
    }

    /// The next value as a Python object.
    pub fn value<'py>(&mut self, py: Python<'py>) -> Res<Bound<'py, PyAny>> {
        let m = self.marker()?;
        self.value_from(py, m, 0, false)
    }

    /// The value whose marker `m` was just read, at nesting `depth`; arrays become
    /// tuples when `as_key` (map keys must be hashable).
    pub fn value_from<'py>(
        &mut self,
        py: Python<'py>,
        m: Marker,
        depth: usize,
        as_key: bool,
    ) -> Res<Bound<'py, PyAny>> {
        if depth > MAX_MSGPACK_DEPTH {
            return Err(Fail::Data("value nested too deeply".into()));
        }
        Ok(match m {
            Marker::Null => py.None().into_bound(py),
            Marker::True => PyBool::new(py, true).to_owned().into_any(),
            Marker::False => PyBool::new(py, false).to_owned().into_any(),
            Marker::FixPos(_)
            | Marker::FixNeg(_)
            | Marker::U8
            | Marker::U16
            | Marker::U32
            | Marker::U64
            | Marker::I8
            | Marker::I16
            | Marker::I32
            | Marker::I64 => match self.int(m)? {
                Some(Int::U(u)) => PyInt::new(py, u).into_any(),
                Some(Int::I(v)) => PyInt::new(py, v).into_any(),
                None => return Err(short()), // not reached: `m` is an integer's marker
            },
            Marker::F32 => {
                let bits = self.be(4)? as u32;
                PyFloat::new(py, f64::from(f32::from_bits(bits))).into_any()
            }
            Marker::F64 => PyFloat::new(py, f64::from_bits(self.be(8)?)).into_any(),
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                let b = self.str_bytes(m)?.ok_or_else(short)?;
                let s = std::str::from_utf8(b)
                    .map_err(|_| Fail::Data("a string is not valid UTF-8".into()))?;
                PyString::new(py, s).into_any()
            }
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
                let n = match m {
                    Marker::Bin8 => self.len(1)?,
                    Marker::Bin16 => self.len(2)?,
                    _ => self.len(4)?,
                };
                PyBytes::new(py, self.take(n)?).into_any()
            }
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
                let n = self.array_len(m)?.ok_or_else(short)?;
                // every item takes a byte at least: a bad length cannot allocate much
                let mut items = Vec::with_capacity(n.min(self.data.len() - self.pos));
                for _ in 0..n {
                    let im = self.marker()?;
                    items.push(self.value_from(py, im, depth + 1, as_key)?);
                }
                if as_key {
                    PyTuple::new(py, items)?.into_any()
                } else {
                    PyList::new(py, items)?.into_any()
                }
            }
            Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
                let n = match m {
                    Marker::FixMap(n) => n as usize,
                    Marker::Map16 => self.len(2)?,
                    _ => self.len(4)?,
                };
                let d = PyDict::new(py);
                for _ in 0..n {
                    let km = self.marker()?;
                    let k = self.value_from(py, km, depth + 1, true)?;
                    let vm = self.marker()?;
                    let v = self.value_from(py, vm, depth + 1, false)?;
                    d.set_item(k, v)?;
                }
                d.into_any()
            }
            Marker::FixExt1
            | Marker::FixExt2
            | Marker::FixExt4
            | Marker::FixExt8
            | Marker::FixExt16
            | Marker::Ext8
            | Marker::Ext16
            | Marker::Ext32 => {
                return Err(Fail::Data(
                    "msgpack extension types are not supported".into(),
                ))
            }
            Marker::Reserved => return Err(Fail::Data("reserved marker 0xc1".into())),
        })
    }
}

/// The Python error for `fail` while reading a row of chunk `chunk` of `arr`.
pub fn fail_to_py(arr: &ObjectArray, chunk: Option<u64>, fail: Fail) -> PyErr {
    match fail {
        Fail::Py(e) => e,
        Fail::Data(msg) => {
            let msg = format!("msgpack: {msg}");
            match chunk {
                Some(c) => to_py(arr.corrupt(c, msg)),
                None => to_py(wfstore_core::Error::Codec(msg)),
            }
        }
    }
}

/// Decode row `k` of `rows` with `f` (given a reader over the row's bytes), which
/// must read the row whole.
pub fn decode_row<T>(
    arr: &ObjectArray,
    rows: &EncodedRows,
    k: usize,
    f: impl FnOnce(&mut Reader<'_>) -> Res<T>,
) -> PyResult<T> {
    let (slot, range) = &rows.items[k];
    let (chunk, data) = &rows.chunks[*slot];
    let bytes = data
        .get(range.clone())
        .ok_or_else(|| fail_to_py(arr, *chunk, Fail::Data("row outside its chunk".into())))?;
    let mut rd = Reader::new(bytes);
    let out = f(&mut rd).map_err(|e| fail_to_py(arr, *chunk, e))?;
    if !rd.at_end() {
        return Err(fail_to_py(
            arr,
            *chunk,
            Fail::Data("trailing bytes after an item".into()),
        ));
    }
    Ok(out)
}

/// Every row of `rows` as Python objects.
pub fn rows_to_py<'py>(
    py: Python<'py>,
    arr: &ObjectArray,
    rows: &EncodedRows,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    (0..rows.items.len())
        .map(|k| decode_row(arr, rows, k, |rd| rd.value(py)))
        .collect()
}
