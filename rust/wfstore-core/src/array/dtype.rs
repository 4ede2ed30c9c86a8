//! Numpy dtypes of numeric and bool arrays (`<f8`, `|b1`, `>i4`, `<c16`, ...): parsing,
//! fill values and the encoding of scalars.

use crate::error::{Error, Result};
use rmpv::Value;
use serde_json::Value as Json;

/// A parsed numpy dtype string of a numeric or bool type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DType {
    /// numpy kind: `b` bool, `i` signed, `u` unsigned, `f` float, `c` complex.
    pub kind: char,
    /// Bytes per item.
    pub size: usize,
    /// Whether items are stored big-endian.
    pub big_endian: bool,
}

impl DType {
    /// Parse strings such as `<f8`, `|b1`, `>i4`, `<c16`.
    pub fn parse(s: &str) -> Option<DType> {
        let mut ch = s.chars();
        let order = ch.next()?;
        let kind = ch.next()?;
        let size: usize = ch.as_str().parse().ok()?;
        let ok = match kind {
            'b' => size == 1,
            'i' | 'u' => matches!(size, 1 | 2 | 4 | 8),
            'f' => matches!(size, 2 | 4 | 8),
            'c' => matches!(size, 8 | 16),
            _ => false,
        };
        if !ok || !matches!(order, '<' | '>' | '|' | '=') {
            return None;
        }
        Some(DType {
            kind,
            size,
            big_endian: order == '>',
        })
    }

    /// The bytes of one item holding the zarr fill value `fill` (`null` gives zeros).
    pub fn fill_bytes(&self, fill: &Json) -> Result<Vec<u8>> {
        let bad = || {
            Error::Encode(format!(
                "fill value {fill} does not fit dtype {}{}",
                self.kind, self.size
            ))
        };
        let float = |v: &Json| -> Option<f64> {
            match v {
                Json::Number(n) => n.as_f64(),
                Json::String(s) if s == "NaN" => Some(f64::NAN),
                Json::String(s) if s == "Infinity" => Some(f64::INFINITY),
                Json::String(s) if s == "-Infinity" => Some(f64::NEG_INFINITY),
                Json::Bool(b) => Some(f64::from(u8::from(*b))),
                _ => None,
            }
        };
        let mut le: Vec<u8> = match (self.kind, fill) {
            (_, Json::Null) => vec![0u8; self.size],
            ('b', v) => vec![u8::from(
                v.as_bool()
                    .or_else(|| v.as_i64().map(|i| i != 0))
                    .ok_or_else(bad)?,
            )],
            ('i', v) => {
                let i = v
                    .as_i64()
                    .or_else(|| v.as_bool().map(i64::from))
                    .ok_or_else(bad)?;
                i.to_le_bytes()[..self.size].to_vec()
            }
            ('u', v) => {
                let u = v
                    .as_u64()
                    .or_else(|| v.as_bool().map(u64::from))
                    .ok_or_else(bad)?;
                u.to_le_bytes()[..self.size].to_vec()
            }
            ('f', v) => {
                let f = float(v).ok_or_else(bad)?;
                match self.size {
                    4 => (f as f32).to_le_bytes().to_vec(),
                    8 => f.to_le_bytes().to_vec(),
                    _ => f16_bits(f).to_le_bytes().to_vec(),
                }
            }
            ('c', v) => {
                let (re, im) = match v {
                    Json::Array(a) if a.len() == 2 => {
                        (float(&a[0]).ok_or_else(bad)?, float(&a[1]).ok_or_else(bad)?)
                    }
                    other => (float(other).ok_or_else(bad)?, 0.0),
                };
                if self.size == 8 {
                    [(re as f32).to_le_bytes(), (im as f32).to_le_bytes()].concat()
                } else {
                    [re.to_le_bytes(), im.to_le_bytes()].concat()
                }
            }
            _ => return Err(bad()),
        };
        if self.big_endian {
            let half = if self.kind == 'c' {
                self.size / 2
            } else {
                self.size
            };
            for part in le.chunks_mut(half) {
                part.reverse();
            }
        }
        Ok(le)
    }
}

/// A float as zarr-python writes it in `.zarray`: non-finite values as strings.
pub fn float_fill_json(f: f64) -> Json {
    if f.is_nan() {
        Json::from("NaN")
    } else if f == f64::INFINITY {
        Json::from("Infinity")
    } else if f == f64::NEG_INFINITY {
        Json::from("-Infinity")
    } else {
        Json::from(f)
    }
}

impl DType {
    /// The fill value as zarr-python records it for this dtype: floats as floats, a
    /// real number given for a complex dtype as `[re, 0.0]`. Invalid values are left
    /// for [`DType::fill_bytes`] to refuse.
    pub fn normalize_fill(&self, fill: &Json) -> Json {
        let as_float = |v: &Json| -> Option<Json> {
            match v {
                Json::Number(n) => n.as_f64().map(float_fill_json),
                Json::String(s) if ["NaN", "Infinity", "-Infinity"].contains(&s.as_str()) => {
                    Some(v.clone())
                }
                _ => None,
            }
        };
        match (self.kind, fill) {
            ('f', v) => as_float(v).unwrap_or_else(|| v.clone()),
            ('c', Json::Array(a)) if a.len() == 2 => match (as_float(&a[0]), as_float(&a[1])) {
                (Some(re), Some(im)) => Json::Array(vec![re, im]),
                _ => fill.clone(),
            },
            ('c', v) => match as_float(v) {
                Some(re) => Json::Array(vec![re, Json::from(0.0)]),
                None => v.clone(),
            },
            _ => fill.clone(),
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let order = if self.size == 1 {
            '|'
        } else if self.big_endian {
            '>'
        } else {
            '<'
        };
        write!(f, "{order}{}{}", self.kind, self.size)
    }
}

impl DType {
    /// Encode one scalar (bool, integer or float msgpack value) as an item of this dtype.
    pub fn encode_scalar(&self, v: &Value) -> Result<Vec<u8>> {
        let bad = || Error::Encode(format!("{v} is not a valid {self} item"));
        let mut le: Vec<u8> = match self.kind {
            'b' => vec![u8::from(v.as_bool().ok_or_else(bad)?)],
            'i' => {
                let i = v.as_i64().ok_or_else(bad)?;
                let bits = self.size * 8;
                if bits < 64 && (i < -(1i64 << (bits - 1)) || i >= (1i64 << (bits - 1))) {
                    return Err(bad());
                }
                i.to_le_bytes()[..self.size].to_vec()
            }
            'u' => {
                let u = v.as_u64().ok_or_else(bad)?;
                if self.size < 8 && u >= (1u64 << (self.size * 8)) {
                    return Err(bad());
                }
                u.to_le_bytes()[..self.size].to_vec()
            }
            'f' => {
                let f = v
                    .as_f64()
                    .or_else(|| v.as_i64().map(|i| i as f64))
                    .ok_or_else(bad)?;
                match self.size {
                    4 => (f as f32).to_le_bytes().to_vec(),
                    8 => f.to_le_bytes().to_vec(),
                    _ => f16_bits(f).to_le_bytes().to_vec(),
                }
            }
            _ => return Err(bad()),
        };
        if self.big_endian {
            le.reverse();
        }
        Ok(le)
    }

    /// Decode one item of this dtype (`b`, `i`, `u` or `f`; `bytes.len() == size`).
    pub fn decode_scalar(&self, bytes: &[u8]) -> Value {
        let mut b = [0u8; 8];
        b[..bytes.len().min(8)].copy_from_slice(&bytes[..bytes.len().min(8)]);
        if self.big_endian {
            b[..self.size].reverse();
        }
        match self.kind {
            'b' => Value::from(b[0] != 0),
            'i' => {
                let shift = 64 - 8 * self.size as u32;
                Value::from((i64::from_le_bytes(b) << shift) >> shift)
            }
            'u' => Value::from(u64::from_le_bytes(b)),
            'f' => Value::from(match self.size {
                4 => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                8 => f64::from_le_bytes(b),
                _ => f16_to_f64(u16::from_le_bytes([b[0], b[1]])),
            }),
            _ => Value::Nil,
        }
    }
}

fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        e => sign * (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

fn f16_bits(f: f64) -> u16 {
    // Fill values of half floats: exact for the common 0, NaN and infinities.
    if f.is_nan() {
        0x7e00
    } else if f == f64::INFINITY {
        0x7c00
    } else if f == f64::NEG_INFINITY {
        0xfc00
    } else {
        let f = f as f32;
        let b = f.to_bits();
        let sign = ((b >> 16) & 0x8000) as u16;
        let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
        if f == 0.0 {
            sign
        } else if exp >= 31 {
            sign | 0x7c00
        } else if exp <= 0 {
            sign
        } else {
            sign | ((exp as u16) << 10) | ((b >> 13) & 0x3ff) as u16
        }
    }
}

/// The item type of a numeric Zarr v2 array: a numeric or bool dtype, or a structured
/// dtype (numpy's "record": named numeric fields packed without padding, given in
/// `.zarray` as a list descr `[["name", "<u4"], ...]`, as hpcflow 0.3.0's
/// `run_sub_dat` and `run_dirs` are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemType {
    /// A numeric or bool dtype.
    Scalar(DType),
    /// A structured dtype: its fields in order.
    Record(Vec<(String, DType)>),
}

/// Why a `.zarray` dtype entry is not an [`ItemType`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DTypeRefusal {
    /// Not a dtype numpy (and so zarr-python) knows: damaged metadata (`<u3`, a field
    /// named twice, a field that is not a `[name, dtype]` pair, ...).
    Invalid(String),
    /// A dtype numpy knows that wfstore does not read (strings, dates, objects, complex
    /// fields, sub-array fields, nested records, floats of 12 or 16 bytes, ...).
    Unsupported(String),
}

impl std::fmt::Display for DTypeRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DTypeRefusal::Invalid(r) | DTypeRefusal::Unsupported(r) => f.write_str(r),
        }
    }
}

/// Whether `s` is a numpy type string wfstore does not read but numpy does: a known
/// kind of another size, or strings, bytes, voids, dates, durations and objects.
fn numpy_knows(s: &str) -> bool {
    let body = s.strip_prefix(['<', '>', '|', '=']).unwrap_or(s);
    let Some(kind) = body.chars().next() else {
        return false;
    };
    let rest = &body[kind.len_utf8()..];
    let digits = |r: &str| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit());
    match kind {
        'b' => rest == "1",
        'i' | 'u' => matches!(rest, "1" | "2" | "4" | "8"),
        'f' => matches!(rest, "2" | "4" | "8" | "12" | "16"),
        'c' => matches!(rest, "8" | "16" | "24" | "32"),
        'U' | 'S' | 'a' | 'V' => digits(rest),
        'O' => rest.is_empty() || rest == "8",
        'M' | 'm' => {
            let unit = rest.strip_prefix('8').unwrap_or("x");
            unit.is_empty()
                || unit
                    .strip_prefix('[')
                    .and_then(|u| u.strip_suffix(']'))
                    .is_some_and(|u| !u.is_empty() && u.bytes().all(|b| b.is_ascii_alphanumeric()))
        }
        _ => false,
    }
}

/// A list descr field's dtype that numpy knows but wfstore does not read (see
/// [`ItemType::parse_json`]), or why it is invalid.
fn refuse_field(name: &str, dt: &Json) -> DTypeRefusal {
    match dt {
        Json::String(s) if numpy_knows(s) => {
            DTypeRefusal::Unsupported(format!("field {name:?} of dtype {s:?}"))
        }
        Json::Array(_) => match ItemType::parse_json(dt) {
            Err(DTypeRefusal::Invalid(r)) => {
                DTypeRefusal::Invalid(format!("field {name:?} (a nested record): {r}"))
            }
            _ => DTypeRefusal::Unsupported(format!("field {name:?} is a nested record")),
        },
        other => DTypeRefusal::Invalid(format!("field {name:?} has no valid dtype ({other})")),
    }
}

impl ItemType {
    /// Parse the `dtype` entry of `.zarray`: a dtype string, or a list descr of
    /// `[name, dtype string]` pairs with distinct, non-empty names (fields with a
    /// sub-array shape, nested records, complex and object fields are not supported);
    /// None when it is not one (see [`ItemType::parse_json`] for why).
    pub fn from_json(v: &Json) -> Option<ItemType> {
        Self::parse_json(v).ok()
    }

    /// As [`ItemType::from_json`], saying why a dtype entry is refused: invalid (numpy
    /// would not read it either: damaged metadata) or valid but not read by wfstore.
    pub fn parse_json(v: &Json) -> std::result::Result<ItemType, DTypeRefusal> {
        match v {
            Json::String(s) => match DType::parse(s) {
                Some(d) => Ok(ItemType::Scalar(d)),
                None if numpy_knows(s) => Err(DTypeRefusal::Unsupported(format!(
                    "dtype {s:?} is not a numeric or bool dtype"
                ))),
                None => Err(DTypeRefusal::Invalid(format!("{s:?} is not a dtype"))),
            },
            Json::Array(fields) if !fields.is_empty() => {
                let mut out: Vec<(String, DType)> = Vec::with_capacity(fields.len());
                let mut unsupported = None;
                for f in fields {
                    let field = f
                        .as_array()
                        .filter(|p| p.len() == 2 || p.len() == 3)
                        .ok_or_else(|| {
                            DTypeRefusal::Invalid(format!("field {f} is not a [name, dtype] pair"))
                        })?;
                    let name = field[0].as_str().filter(|n| !n.is_empty()).ok_or_else(|| {
                        DTypeRefusal::Invalid(format!("field name {} is not a name", field[0]))
                    })?;
                    if out.iter().any(|(n, _)| n == name) {
                        return Err(DTypeRefusal::Invalid(format!(
                            "field {name:?} is named twice"
                        )));
                    }
                    // placeholder of a refused field, keeping the names checked
                    let keep = |out: &mut Vec<(String, DType)>| {
                        out.push((
                            name.to_string(),
                            DType {
                                kind: 'u',
                                size: 1,
                                big_endian: false,
                            },
                        ))
                    };
                    if field.len() == 3 {
                        let shape_ok = match &field[2] {
                            Json::Array(dims) => dims.iter().all(|d| d.as_u64().is_some()),
                            d => d.as_u64().is_some(),
                        };
                        if !shape_ok {
                            return Err(DTypeRefusal::Invalid(format!(
                                "field {name:?} has a bad shape {}",
                                field[2]
                            )));
                        }
                        if let Err(DTypeRefusal::Invalid(r)) = field[1]
                            .as_str()
                            .and_then(DType::parse)
                            .ok_or_else(|| refuse_field(name, &field[1]))
                        {
                            return Err(DTypeRefusal::Invalid(r));
                        }
                        unsupported.get_or_insert_with(|| {
                            format!("field {name:?} has a sub-array shape {}", field[2])
                        });
                        keep(&mut out);
                        continue;
                    }
                    match field[1].as_str().and_then(DType::parse) {
                        Some(dt) if dt.kind != 'c' => out.push((name.to_string(), dt)),
                        Some(_) => {
                            unsupported.get_or_insert_with(|| format!("field {name:?} is complex"));
                            keep(&mut out);
                        }
                        None => match refuse_field(name, &field[1]) {
                            DTypeRefusal::Invalid(r) => return Err(DTypeRefusal::Invalid(r)),
                            DTypeRefusal::Unsupported(r) => {
                                unsupported.get_or_insert(r);
                                keep(&mut out);
                            }
                        },
                    }
                }
                match unsupported {
                    Some(r) => Err(DTypeRefusal::Unsupported(format!(
                        "structured dtype {v}: {r}"
                    ))),
                    None => Ok(ItemType::Record(out)),
                }
            }
            Json::Array(_) => Err(DTypeRefusal::Invalid(
                "a structured dtype of no fields".into(),
            )),
            other => Err(DTypeRefusal::Invalid(format!(
                "{other} is not a dtype string or a list of fields"
            ))),
        }
    }

    /// The `dtype` entry of `.zarray` as zarr-python 2 writes it.
    pub fn to_json(&self) -> Json {
        match self {
            ItemType::Scalar(d) => Json::from(d.to_string()),
            ItemType::Record(fields) => Json::Array(
                fields
                    .iter()
                    .map(|(n, d)| {
                        Json::Array(vec![Json::from(n.as_str()), Json::from(d.to_string())])
                    })
                    .collect(),
            ),
        }
    }

    /// Bytes per item.
    pub fn size(&self) -> usize {
        match self {
            ItemType::Scalar(d) => d.size,
            ItemType::Record(fields) => fields.iter().map(|(_, d)| d.size).sum(),
        }
    }

    /// Bytes per item of each part for a compressor's shuffle (numcodecs gives Blosc
    /// the item size of the whole record).
    pub fn typesize(&self) -> usize {
        self.size()
    }

    /// The fill value as zarr-python records it (see [`DType::normalize_fill`]; a
    /// record's fill value is kept as given: base64 of one item, or null).
    pub fn normalize_fill(&self, fill: &Json) -> Json {
        match self {
            ItemType::Scalar(d) => d.normalize_fill(fill),
            ItemType::Record(_) => fill.clone(),
        }
    }

    /// The bytes of one item holding the zarr fill value `fill` (null: zeros; a
    /// record's: base64 of exactly one item, as zarr-python 2 writes it).
    pub fn fill_bytes(&self, fill: &Json) -> Result<Vec<u8>> {
        match (self, fill) {
            (ItemType::Scalar(d), f) => d.fill_bytes(f),
            (ItemType::Record(_), Json::Null) => Ok(vec![0u8; self.size()]),
            (ItemType::Record(_), Json::String(s)) => match base64_decode(s) {
                Some(b) if b.len() == self.size() => Ok(b),
                _ => Err(Error::Encode(format!(
                    "fill value {s:?} is not base64 of one {}-byte item",
                    self.size()
                ))),
            },
            (ItemType::Record(_), other) => Err(Error::Encode(format!(
                "fill value {other} of a structured dtype must be base64 of one item"
            ))),
        }
    }

    /// The `.zarray` fill value of a record whose one item is `item` (base64, as
    /// zarr-python 2 encodes it).
    pub fn record_fill_json(item: &[u8]) -> Json {
        Json::from(base64_encode(item))
    }
}

impl std::fmt::Display for ItemType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ItemType::Scalar(d) => write!(f, "{d}"),
            ItemType::Record(_) => write!(f, "{}", self.to_json()),
        }
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (Python's `base64.standard_b64encode`).
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= c.len() {
                out.push(B64[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decode standard base64 with padding; None if `s` is not that.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for (i, q) in b.chunks(4).enumerate() {
        let last = i + 1 == b.len() / 4;
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            let v = B64.iter().position(|&x| x == c)? as u32;
            n = (n << 6) | v;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}
