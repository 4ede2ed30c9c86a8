//! The one msgpack codec of object chunks (numcodecs' `MsgPack`): items, then the
//! dtype `"|O"` and the shape `[n]`.

use crate::error::{Error, Result};
use rmpv::Value;

/// Deepest nesting of msgpack values accepted when decoding.
pub const MAX_MSGPACK_DEPTH: usize = 512;

/// Encode items as numcodecs' `MsgPack` codec encodes a 1-D object array chunk:
/// a msgpack array of the items followed by the dtype string `"|O"` and the shape `[n]`.
pub fn msgpack_encode_items(items: &[Value]) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(16 + items.len() * 32);
    let err = |e: rmpv::encode::Error| Error::Encode(e.to_string());
    rmp::encode::write_array_len(&mut buf, items.len() as u32 + 2)
        .map_err(|e| Error::Encode(e.to_string()))?;
    for it in items {
        rmpv::encode::write_value(&mut buf, it).map_err(err)?;
    }
    rmp::encode::write_str(&mut buf, "|O").map_err(|e| Error::Encode(e.to_string()))?;
    rmp::encode::write_array_len(&mut buf, 1).map_err(|e| Error::Encode(e.to_string()))?;
    rmp::encode::write_uint(&mut buf, items.len() as u64)
        .map_err(|e| Error::Encode(e.to_string()))?;
    Ok(buf)
}

/// Decode a numcodecs `MsgPack` object chunk into its items, checking the trailing
/// dtype and shape against the number of items.
pub fn msgpack_decode_items(data: &[u8]) -> Result<Vec<Value>> {
    let mut rd = data;
    let v = rmpv::decode::read_value_with_max_depth(&mut rd, MAX_MSGPACK_DEPTH)
        .map_err(|e| Error::Codec(format!("msgpack: {e}")))?;
    if !rd.is_empty() {
        return Err(Error::Codec(format!(
            "msgpack: {} trailing bytes after the chunk",
            rd.len()
        )));
    }
    if let Some(path) = invalid_utf8(&v) {
        // numcodecs' MsgPack (raw=False) fails on such strings too.
        return Err(Error::Codec(format!(
            "msgpack: a string is not valid UTF-8 (at {path})"
        )));
    }
    let mut items = match v {
        Value::Array(a) => a,
        _ => return Err(Error::Codec("msgpack chunk is not an array".into())),
    };
    if items.len() < 2 {
        return Err(Error::Codec("msgpack chunk lacks dtype and shape".into()));
    }
    let shape = items.pop().unwrap_or(Value::Nil);
    let dtype = items.pop().unwrap_or(Value::Nil);
    match dtype.as_str() {
        Some("|O") | Some("O") => {}
        _ => {
            return Err(Error::Codec(format!(
                "msgpack chunk has dtype {dtype}, expected \"|O\""
            )))
        }
    }
    let dims: Option<Vec<u64>> = shape
        .as_array()
        .map(|a| a.iter().map(|d| d.as_u64()).collect::<Option<Vec<u64>>>())
        .unwrap_or(None);
    let dims = dims.ok_or_else(|| Error::Codec(format!("msgpack chunk has bad shape {shape}")))?;
    let n: u64 = dims.iter().product();
    if n != items.len() as u64 {
        return Err(Error::Codec(format!(
            "msgpack chunk holds {} items but its shape {:?} says {n}",
            items.len(),
            dims
        )));
    }
    Ok(items)
}

/// Skip one msgpack value at `data[pos..]`, returning the position after it, without
/// decoding it (no allocation). Nesting deeper than [`MAX_MSGPACK_DEPTH`] and values
/// running past the end are errors.
fn msgpack_skip(data: &[u8], pos: usize, depth: usize) -> Result<usize> {
    use rmp::Marker;
    let short = || Error::Codec("msgpack: value runs past the end of the chunk".into());
    if depth > MAX_MSGPACK_DEPTH {
        return Err(Error::Codec("msgpack: value nested too deeply".into()));
    }
    let marker = Marker::from_u8(*data.get(pos).ok_or_else(short)?);
    let mut at = pos + 1;
    let be = |at: usize, n: usize| -> Result<usize> {
        let b = data.get(at..at + n).ok_or_else(short)?;
        Ok(b.iter().fold(0usize, |acc, &x| (acc << 8) | x as usize))
    };
    // (bytes of payload to jump over, nested values to skip)
    let (bytes, values) = match marker {
        Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => {
            (0, 0)
        }
        Marker::U8 | Marker::I8 => (1, 0),
        Marker::U16 | Marker::I16 => (2, 0),
        Marker::U32 | Marker::I32 | Marker::F32 => (4, 0),
        Marker::U64 | Marker::I64 | Marker::F64 => (8, 0),
        Marker::FixStr(n) => (n as usize, 0),
        Marker::Str8 | Marker::Bin8 => {
            at += 1;
            (be(at - 1, 1)?, 0)
        }
        Marker::Str16 | Marker::Bin16 => {
            at += 2;
            (be(at - 2, 2)?, 0)
        }
        Marker::Str32 | Marker::Bin32 => {
            at += 4;
            (be(at - 4, 4)?, 0)
        }
        Marker::FixArray(n) => (0, n as usize),
        Marker::Array16 => {
            at += 2;
            (0, be(at - 2, 2)?)
        }
        Marker::Array32 => {
            at += 4;
            (0, be(at - 4, 4)?)
        }
        Marker::FixMap(n) => (0, 2 * n as usize),
        Marker::Map16 => {
            at += 2;
            (0, 2 * be(at - 2, 2)?)
        }
        Marker::Map32 => {
            at += 4;
            (0, 2 * be(at - 4, 4)?)
        }
        Marker::FixExt1 => (2, 0),
        Marker::FixExt2 => (3, 0),
        Marker::FixExt4 => (5, 0),
        Marker::FixExt8 => (9, 0),
        Marker::FixExt16 => (17, 0),
        Marker::Ext8 => {
            at += 1;
            (be(at - 1, 1)? + 1, 0)
        }
        Marker::Ext16 => {
            at += 2;
            (be(at - 2, 2)? + 1, 0)
        }
        Marker::Ext32 => {
            at += 4;
            (be(at - 4, 4)? + 1, 0)
        }
        Marker::Reserved => return Err(Error::Codec("msgpack: reserved marker 0xc1".into())),
    };
    at = at.checked_add(bytes).ok_or_else(short)?;
    if at > data.len() {
        return Err(short());
    }
    for _ in 0..values {
        at = msgpack_skip(data, at, depth + 1)?;
    }
    Ok(at)
}

/// The byte ranges of the items of a numcodecs `MsgPack` chunk (`[*items, dtype,
/// shape]`, uncompressed), found without decoding the items; the trailing dtype and
/// shape are checked as [`msgpack_decode_items`] checks them. Lets a reader decode
/// only the rows it wants and a writer replace rows in place.
pub fn msgpack_item_spans(data: &[u8]) -> Result<Vec<std::ops::Range<usize>>> {
    let mut rd = data;
    let n = rmp::decode::read_array_len(&mut rd)
        .map_err(|e| Error::Codec(format!("msgpack chunk is not an array ({e})")))?
        as usize;
    if n < 2 {
        return Err(Error::Codec("msgpack chunk lacks dtype and shape".into()));
    }
    let mut pos = data.len() - rd.len();
    // every item takes at least one byte: a hostile header cannot make a huge Vec
    let mut spans = Vec::with_capacity(n.min(data.len()));
    for _ in 0..n {
        let end = msgpack_skip(data, pos, 1)?;
        spans.push(pos..end);
        pos = end;
    }
    if pos != data.len() {
        return Err(Error::Codec(format!(
            "msgpack: {} trailing bytes after the chunk",
            data.len() - pos
        )));
    }
    let tail = &data[spans[n - 2].start..];
    spans.truncate(n - 2);
    let shape_items = check_chunk_tail(tail)?;
    if shape_items != spans.len() as u64 {
        return Err(Error::Codec(format!(
            "msgpack chunk holds {} items but its shape says {shape_items}",
            spans.len()
        )));
    }
    Ok(spans)
}

/// Check a chunk's `[dtype, shape]` tail (dtype `|O`) and return the shape's product.
fn check_chunk_tail(tail: &[u8]) -> Result<u64> {
    let mut rd = tail;
    let mut next = || {
        rmpv::decode::read_value_with_max_depth(&mut rd, 4)
            .map_err(|e| Error::Codec(format!("msgpack: {e}")))
    };
    let dtype = next()?;
    let shape = next()?;
    match dtype.as_str() {
        Some("|O") | Some("O") => {}
        _ => {
            return Err(Error::Codec(format!(
                "msgpack chunk has dtype {dtype}, expected \"|O\""
            )))
        }
    }
    shape
        .as_array()
        .and_then(|a| a.iter().map(|d| d.as_u64()).product::<Option<u64>>())
        .ok_or_else(|| Error::Codec(format!("msgpack chunk has bad shape {shape}")))
}

/// Decode one msgpack value that must fill `bytes` exactly (an item of a chunk), with
/// the checks of [`msgpack_decode_items`] (depth, UTF-8).
pub fn msgpack_decode_value(bytes: &[u8]) -> Result<Value> {
    let mut rd = bytes;
    let v = rmpv::decode::read_value_with_max_depth(&mut rd, MAX_MSGPACK_DEPTH - 1)
        .map_err(|e| Error::Codec(format!("msgpack: {e}")))?;
    if !rd.is_empty() {
        return Err(Error::Codec("msgpack: trailing bytes after an item".into()));
    }
    if let Some(path) = invalid_utf8(&v) {
        return Err(Error::Codec(format!(
            "msgpack: a string is not valid UTF-8 (at {path})"
        )));
    }
    Ok(v)
}

/// Where in `v` a string (value or map key) is not valid UTF-8, as a path of array
/// indices and map positions, or None if every string is valid. The depth is bounded by
/// [`MAX_MSGPACK_DEPTH`] (the decoder's limit).
fn invalid_utf8(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if s.as_str().is_none() => Some("/".into()),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, x)| invalid_utf8(x).map(|p| format!("/{i}{p}"))),
        Value::Map(m) => m.iter().enumerate().find_map(|(i, (k, x))| {
            invalid_utf8(k)
                .map(|p| format!("/key {i}{p}"))
                .or_else(|| invalid_utf8(x).map(|p| format!("/{i}{p}")))
        }),
        _ => None,
    }
}

/// Why a msgpack value could not be read from its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadBytes(pub String);

impl std::fmt::Display for BadBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn short() -> BadBytes {
    BadBytes("value runs past the end of its bytes".into())
}

/// What [`Reader::value_with`] makes of each msgpack value: the one decoder of
/// msgpack values reads the bytes and calls these (the Python bindings build Python
/// objects with it, [`ValueBuilder`] builds [`rmpv::Value`]s).
pub trait Build {
    /// A decoded value.
    type Value;
    /// An error of the builder, or bad bytes.
    type Error: From<BadBytes>;
    /// `nil`.
    fn nil(&self) -> std::result::Result<Self::Value, Self::Error>;
    /// `true` or `false`.
    fn boolean(&self, b: bool) -> std::result::Result<Self::Value, Self::Error>;
    /// An integer stored with an unsigned marker.
    fn uint(&self, u: u64) -> std::result::Result<Self::Value, Self::Error>;
    /// An integer stored with a signed marker.
    fn int(&self, i: i64) -> std::result::Result<Self::Value, Self::Error>;
    /// A float (`f32` values widened).
    fn float(&self, f: f64) -> std::result::Result<Self::Value, Self::Error>;
    /// A string (checked to be UTF-8).
    fn string(&self, s: &str) -> std::result::Result<Self::Value, Self::Error>;
    /// Binary data.
    fn bytes(&self, b: &[u8]) -> std::result::Result<Self::Value, Self::Error>;
    /// An array of `items`; `as_key` when it is (inside) a map key.
    fn array(
        &self,
        items: Vec<Self::Value>,
        as_key: bool,
    ) -> std::result::Result<Self::Value, Self::Error>;
    /// A map of `pairs`, in stored order.
    fn map(
        &self,
        pairs: Vec<(Self::Value, Self::Value)>,
    ) -> std::result::Result<Self::Value, Self::Error>;
}

/// A cursor over msgpack bytes: the one msgpack value decoder. It checks lengths and
/// nesting as it goes and never reads past its slice, so bad bytes give an error.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

/// A msgpack integer: unsigned markers, or signed ones (whatever the value's sign).
enum Int {
    U(u64),
    I(i64),
}

type Read<T> = std::result::Result<T, BadBytes>;

impl<'a> Reader<'a> {
    /// A reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// Whether every byte was read.
    pub fn at_end(&self) -> bool {
        self.pos == self.data.len()
    }

    fn take(&mut self, n: usize) -> Read<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or_else(short)?;
        let b = self.data.get(self.pos..end).ok_or_else(short)?;
        self.pos = end;
        Ok(b)
    }

    fn be(&mut self, n: usize) -> Read<u64> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    fn len(&mut self, n: usize) -> Read<usize> {
        usize::try_from(self.be(n)?).map_err(|_| short())
    }

    fn signed(&mut self, n: usize) -> Read<i64> {
        let raw = self.be(n)?;
        let shift = 64 - 8 * n as u32;
        // sign-extend the n-byte big-endian value
        Ok(((raw << shift) as i64) >> shift)
    }

    /// The next marker.
    pub fn marker(&mut self) -> Read<rmp::Marker> {
        Ok(rmp::Marker::from_u8(self.take(1)?[0]))
    }

    /// The length of an array whose marker is `m`, or None if `m` is not an array's.
    pub fn array_len(&mut self, m: rmp::Marker) -> Read<Option<usize>> {
        use rmp::Marker;
        Ok(match m {
            Marker::FixArray(n) => Some(n as usize),
            Marker::Array16 => Some(self.len(2)?),
            Marker::Array32 => Some(self.len(4)?),
            _ => None,
        })
    }

    /// The bytes of a string whose marker is `m`, or None if `m` is not a string's.
    pub fn str_bytes(&mut self, m: rmp::Marker) -> Read<Option<&'a [u8]>> {
        use rmp::Marker;
        let n = match m {
            Marker::FixStr(n) => n as usize,
            Marker::Str8 => self.len(1)?,
            Marker::Str16 => self.len(2)?,
            Marker::Str32 => self.len(4)?,
            _ => return Ok(None),
        };
        Ok(Some(self.take(n)?))
    }

    fn int(&mut self, m: rmp::Marker) -> Read<Option<Int>> {
        use rmp::Marker;
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

    /// A non-negative integer whose marker is `m` (None if `m` is not an integer's or
    /// the integer is negative).
    pub fn uint(&mut self, m: rmp::Marker) -> Read<Option<u64>> {
        Ok(match self.int(m)? {
            Some(Int::U(u)) => Some(u),
            Some(Int::I(i)) => u64::try_from(i).ok(),
            None => None,
        })
    }

    /// The next value, made by `b`.
    pub fn value<B: Build>(&mut self, b: &B) -> std::result::Result<B::Value, B::Error> {
        let m = self.marker()?;
        self.value_with(b, m, 0, false)
    }

    /// The value whose marker `m` was just read, at nesting `depth`, made by `b`;
    /// `as_key` inside map keys.
    pub fn value_with<B: Build>(
        &mut self,
        b: &B,
        m: rmp::Marker,
        depth: usize,
        as_key: bool,
    ) -> std::result::Result<B::Value, B::Error> {
        use rmp::Marker;
        if depth > MAX_MSGPACK_DEPTH {
            return Err(BadBytes("value nested too deeply".into()).into());
        }
        match m {
            Marker::Null => b.nil(),
            Marker::True => b.boolean(true),
            Marker::False => b.boolean(false),
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
                Some(Int::U(u)) => b.uint(u),
                Some(Int::I(i)) => b.int(i),
                None => Err(short().into()), // not reached: `m` is an integer's marker
            },
            Marker::F32 => {
                let bits = self.be(4)? as u32;
                b.float(f64::from(f32::from_bits(bits)))
            }
            Marker::F64 => {
                let bits = self.be(8)?;
                b.float(f64::from_bits(bits))
            }
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                let bytes = self.str_bytes(m)?.ok_or_else(short)?;
                let s = std::str::from_utf8(bytes)
                    .map_err(|_| BadBytes("a string is not valid UTF-8".into()))?;
                b.string(s)
            }
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
                let n = match m {
                    Marker::Bin8 => self.len(1)?,
                    Marker::Bin16 => self.len(2)?,
                    _ => self.len(4)?,
                };
                let bytes = self.take(n)?;
                b.bytes(bytes)
            }
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
                let n = self.array_len(m)?.ok_or_else(short)?;
                // every item takes a byte at least: a bad length cannot allocate much
                let mut items = Vec::with_capacity(n.min(self.data.len() - self.pos));
                for _ in 0..n {
                    let im = self.marker()?;
                    items.push(self.value_with(b, im, depth + 1, as_key)?);
                }
                b.array(items, as_key)
            }
            Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
                let n = match m {
                    Marker::FixMap(n) => n as usize,
                    Marker::Map16 => self.len(2)?,
                    _ => self.len(4)?,
                };
                let mut pairs = Vec::with_capacity(n.min(self.data.len() - self.pos));
                for _ in 0..n {
                    let km = self.marker()?;
                    let k = self.value_with(b, km, depth + 1, true)?;
                    let vm = self.marker()?;
                    let v = self.value_with(b, vm, depth + 1, false)?;
                    pairs.push((k, v));
                }
                b.map(pairs)
            }
            Marker::FixExt1
            | Marker::FixExt2
            | Marker::FixExt4
            | Marker::FixExt8
            | Marker::FixExt16
            | Marker::Ext8
            | Marker::Ext16
            | Marker::Ext32 => {
                Err(BadBytes("msgpack extension types are not supported".into()).into())
            }
            Marker::Reserved => Err(BadBytes("reserved marker 0xc1".into()).into()),
        }
    }
}

/// [`Build`] of [`rmpv::Value`]s.
pub struct ValueBuilder;

impl Build for ValueBuilder {
    type Value = Value;
    type Error = BadBytes;
    fn nil(&self) -> Read<Value> {
        Ok(Value::Nil)
    }
    fn boolean(&self, b: bool) -> Read<Value> {
        Ok(Value::Boolean(b))
    }
    fn uint(&self, u: u64) -> Read<Value> {
        Ok(Value::from(u))
    }
    fn int(&self, i: i64) -> Read<Value> {
        Ok(Value::from(i))
    }
    fn float(&self, f: f64) -> Read<Value> {
        Ok(Value::F64(f))
    }
    fn string(&self, s: &str) -> Read<Value> {
        Ok(Value::from(s))
    }
    fn bytes(&self, b: &[u8]) -> Read<Value> {
        Ok(Value::Binary(b.to_vec()))
    }
    fn array(&self, items: Vec<Value>, _as_key: bool) -> Read<Value> {
        Ok(Value::Array(items))
    }
    fn map(&self, pairs: Vec<(Value, Value)>) -> Read<Value> {
        Ok(Value::Map(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(v: &Value) -> Vec<u8> {
        let mut buf = Vec::new();
        rmpv::encode::write_value(&mut buf, v).unwrap();
        buf
    }

    #[test]
    fn the_reader_decodes_what_rmpv_encodes_and_refuses_bad_bytes() {
        let v = Value::Array(vec![
            Value::Nil,
            Value::from(true),
            Value::from(200u64),
            Value::from(-70_000i64),
            Value::F64(1.5),
            Value::from("é"),
            Value::Binary(vec![0, 255]),
            Value::Map(vec![(
                Value::Array(vec![Value::from(1)]),
                Value::Map(vec![(Value::from("k"), Value::from(u64::MAX))]),
            )]),
        ]);
        let bytes = encode(&v);
        let mut rd = Reader::new(&bytes);
        assert_eq!(rd.value(&ValueBuilder).unwrap(), v);
        assert!(rd.at_end());
        // f32 values come out widened
        let mut f = Vec::new();
        rmp::encode::write_f32(&mut f, 0.25).unwrap();
        assert_eq!(
            Reader::new(&f).value(&ValueBuilder).unwrap(),
            Value::F64(0.25)
        );
        // cut anywhere: an error, never a panic
        for n in 0..bytes.len() {
            assert!(
                Reader::new(&bytes[..n]).value(&ValueBuilder).is_err(),
                "{n}"
            );
        }
        let bad_utf8 = [0xa2, b'a', 0xe6];
        let err = Reader::new(&bad_utf8).value(&ValueBuilder).unwrap_err();
        assert!(err.0.contains("UTF-8"), "{err}");
        assert!(Reader::new(&[0xc1]).value(&ValueBuilder).is_err());
        let deep = [vec![0x91u8; MAX_MSGPACK_DEPTH + 2], vec![0xc0]].concat();
        let err = Reader::new(&deep).value(&ValueBuilder).unwrap_err();
        assert!(err.0.contains("deeply"), "{err}");
    }
}
