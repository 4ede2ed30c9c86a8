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
