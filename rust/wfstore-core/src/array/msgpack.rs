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
    let v = decode_whole(data, 0, "the chunk")?;
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

/// A msgpack chunk's items kept as their encoded bytes, in one buffer: item `k` is
/// `data[starts[k]..starts[k + 1]]`. What a reader keeps of a chunk to decode a few
/// rows at a time; it takes a small part (1/10 to 1/40 for the engine's rows) of the
/// memory of the rows decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemBytes {
    data: Vec<u8>,
    /// One entry more than items.
    starts: Vec<u32>,
}

impl ItemBytes {
    /// The items of an uncompressed numcodecs `MsgPack` chunk (checked as
    /// [`msgpack_item_spans`] checks it).
    pub fn split(chunk: Vec<u8>) -> Result<Self> {
        let spans = msgpack_item_spans(&chunk)?;
        Self::from_spans(chunk, &spans)
    }

    /// The items at `spans` of `data` (contiguous ranges, as [`msgpack_item_spans`]
    /// gives them).
    pub fn from_spans(data: Vec<u8>, spans: &[std::ops::Range<usize>]) -> Result<Self> {
        let too_big = || Error::Codec("a chunk of more than 4 GiB uncompressed".into());
        let mut starts = Vec::with_capacity(spans.len() + 1);
        for (k, s) in spans.iter().enumerate() {
            if k > 0 && s.start != spans[k - 1].end {
                return Err(Error::Codec("item spans are not contiguous".into()));
            }
            starts.push(u32::try_from(s.start).map_err(|_| too_big())?);
        }
        let end = spans.last().map_or(0, |s| s.end);
        if end > data.len() {
            return Err(Error::Codec("item spans run past the chunk".into()));
        }
        starts.push(u32::try_from(end).map_err(|_| too_big())?);
        Ok(ItemBytes { data, starts })
    }

    /// `n` items, each the bytes `item` (one encoded value: an absent chunk's fill).
    pub fn repeated(item: &[u8], n: usize) -> Result<Self> {
        let spans: Vec<_> = (0..n)
            .map(|k| k * item.len()..(k + 1) * item.len())
            .collect();
        Self::from_spans(item.repeat(n), &spans)
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoded bytes of item `k`, if there is one.
    pub fn item(&self, k: usize) -> Option<&[u8]> {
        let (a, b) = (*self.starts.get(k)?, *self.starts.get(k + 1)?);
        self.data.get(a as usize..b as usize)
    }

    /// Bytes held (the chunk's bytes and the items' offsets).
    pub fn nbytes(&self) -> usize {
        self.data.len() + 4 * self.starts.len()
    }

    /// The whole uncompressed chunk and each item's byte range in it, when these
    /// items were split from a chunk (its header and `[dtype, shape]` tail held too);
    /// None for items made without one ([`Self::repeated`]).
    pub fn chunk_spans(&self) -> Option<(&[u8], Vec<std::ops::Range<usize>>)> {
        let first = *self.starts.first()? as usize;
        let end = *self.starts.last()? as usize;
        if first == 0 || end >= self.data.len() {
            return None;
        }
        let spans = self
            .starts
            .windows(2)
            .map(|w| w[0] as usize..w[1] as usize)
            .collect();
        Some((&self.data, spans))
    }
}

/// Check a chunk's `[dtype, shape]` tail (dtype `|O`) and return the shape's product.
fn check_chunk_tail(tail: &[u8]) -> Result<u64> {
    let mut rd = Reader::new(tail);
    let mut next = || {
        rd.value(&ValueBuilder)
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
    // at the depth of a chunk's items
    decode_whole(bytes, 1, "an item")
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
    /// A float stored as 64 bits.
    fn float(&self, f: f64) -> std::result::Result<Self::Value, Self::Error>;
    /// A float stored as 32 bits (default: widened to [`Build::float`]).
    fn float32(&self, f: f32) -> std::result::Result<Self::Value, Self::Error> {
        self.float(f64::from(f))
    }
    /// An extension value (`tag`, `data`); default: refused, as msgpack-python's
    /// `unpackb` without an `ext_hook` would not give a plain value.
    fn ext(&self, tag: i8, data: &[u8]) -> std::result::Result<Self::Value, Self::Error> {
        let _ = (tag, data);
        Err(BadBytes("msgpack extension types are not supported".into()).into())
    }
    /// `e`, raised inside the item or map entry `step` of the value being read (for
    /// builders whose errors say where; default: `e` as it is).
    fn at(&self, e: Self::Error, step: Step) -> Self::Error {
        let _ = step;
        e
    }
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

/// Where in a value an error was met: an array item, or a map entry's key or value
/// (by position).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Item `n` of an array.
    Item(usize),
    /// The key of entry `n` of a map.
    Key(usize),
    /// The value of entry `n` of a map.
    Value(usize),
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
                b.float32(f32::from_bits(bits))
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
                self.array_with(b, n, depth, as_key)
            }
            Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
                let n = match m {
                    Marker::FixMap(n) => n as usize,
                    Marker::Map16 => self.len(2)?,
                    _ => self.len(4)?,
                };
                self.map_with(b, n, depth)
            }
            Marker::FixExt1
            | Marker::FixExt2
            | Marker::FixExt4
            | Marker::FixExt8
            | Marker::FixExt16
            | Marker::Ext8
            | Marker::Ext16
            | Marker::Ext32 => {
                let n = match m {
                    Marker::FixExt1 => 1,
                    Marker::FixExt2 => 2,
                    Marker::FixExt4 => 4,
                    Marker::FixExt8 => 8,
                    Marker::FixExt16 => 16,
                    Marker::Ext8 => self.len(1)?,
                    Marker::Ext16 => self.len(2)?,
                    _ => self.len(4)?,
                };
                let tag = self.take(1)?[0] as i8;
                let data = self.take(n)?;
                b.ext(tag, data)
            }
            Marker::Reserved => Err(BadBytes("reserved marker 0xc1".into()).into()),
        }
    }
}

/// Bad bytes met while decoding a value, and where (`/2/key 0/`: item 2, the key of
/// its entry 0, the value itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// What is wrong.
    pub reason: String,
    /// Where, from the top value down.
    pub path: String,
}

impl From<BadBytes> for Located {
    fn from(e: BadBytes) -> Self {
        Located {
            reason: e.0,
            path: "/".into(),
        }
    }
}

impl std::fmt::Display for Located {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at {})", self.reason, self.path)
    }
}

impl Reader<'_> {
    /// The next value, nested `depth` deep (its marker not read yet).
    fn nested<B: Build>(
        &mut self,
        b: &B,
        depth: usize,
        as_key: bool,
    ) -> std::result::Result<B::Value, B::Error> {
        let m = self.marker()?;
        self.value_with(b, m, depth, as_key)
    }

    /// The `n` items of an array at nesting `depth` (kept out of
    /// [`Reader::value_with`], whose frame every level of nesting holds).
    #[inline(never)]
    fn array_with<B: Build>(
        &mut self,
        b: &B,
        n: usize,
        depth: usize,
        as_key: bool,
    ) -> std::result::Result<B::Value, B::Error> {
        // every item takes a byte at least: a bad length cannot allocate much
        let mut items = Vec::with_capacity(n.min(self.data.len() - self.pos));
        for i in 0..n {
            match self.nested(b, depth + 1, as_key) {
                Ok(v) => items.push(v),
                Err(e) => return Err(b.at(e, Step::Item(i))),
            }
        }
        b.array(items, as_key)
    }

    /// The `n` entries of a map at nesting `depth`.
    #[inline(never)]
    fn map_with<B: Build>(
        &mut self,
        b: &B,
        n: usize,
        depth: usize,
    ) -> std::result::Result<B::Value, B::Error> {
        let mut pairs = Vec::with_capacity(n.min(self.data.len() - self.pos));
        for i in 0..n {
            let k = match self.nested(b, depth + 1, true) {
                Ok(k) => k,
                Err(e) => return Err(b.at(e, Step::Key(i))),
            };
            let v = match self.nested(b, depth + 1, false) {
                Ok(v) => v,
                Err(e) => return Err(b.at(e, Step::Value(i))),
            };
            pairs.push((k, v));
        }
        b.map(pairs)
    }
}

/// [`Build`] of [`rmpv::Value`]s (floats keep their width), with errors that say where
/// they were met.
pub struct ValueBuilder;

type Built = std::result::Result<Value, Located>;

impl Build for ValueBuilder {
    type Value = Value;
    type Error = Located;
    fn nil(&self) -> Built {
        Ok(Value::Nil)
    }
    fn boolean(&self, b: bool) -> Built {
        Ok(Value::Boolean(b))
    }
    fn uint(&self, u: u64) -> Built {
        Ok(Value::from(u))
    }
    fn int(&self, i: i64) -> Built {
        Ok(Value::from(i))
    }
    fn float(&self, f: f64) -> Built {
        Ok(Value::F64(f))
    }
    fn float32(&self, f: f32) -> Built {
        Ok(Value::F32(f))
    }
    fn string(&self, s: &str) -> Built {
        Ok(Value::from(s))
    }
    fn bytes(&self, b: &[u8]) -> Built {
        Ok(Value::Binary(b.to_vec()))
    }
    fn array(&self, items: Vec<Value>, _as_key: bool) -> Built {
        Ok(Value::Array(items))
    }
    fn map(&self, pairs: Vec<(Value, Value)>) -> Built {
        Ok(Value::Map(pairs))
    }
    fn ext(&self, tag: i8, data: &[u8]) -> Built {
        Ok(Value::Ext(tag, data.to_vec()))
    }
    fn at(&self, mut e: Located, step: Step) -> Located {
        e.path = match step {
            Step::Item(n) | Step::Value(n) => format!("/{n}{}", e.path),
            Step::Key(n) => format!("/key {n}{}", e.path),
        };
        e
    }
}

/// Decode one msgpack value that fills `bytes`, read as if nested `depth` deep.
fn decode_whole(bytes: &[u8], depth: usize, what: &str) -> Result<Value> {
    let mut rd = Reader::new(bytes);
    let v = rd
        .marker()
        .map_err(Located::from)
        .and_then(|m| rd.value_with(&ValueBuilder, m, depth, false))
        .map_err(|e| Error::Codec(format!("msgpack: {e}")))?;
    if !rd.at_end() {
        return Err(Error::Codec(format!(
            "msgpack: trailing bytes after {what}"
        )));
    }
    Ok(v)
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
    fn item_bytes_hold_each_item_and_refuse_spans_that_do_not_tile() {
        let items = [Value::from(1), Value::from("two"), Value::Nil];
        let mut chunk = Vec::new();
        let mut all: Vec<Value> = items.to_vec();
        all.push(Value::from("|O"));
        all.push(Value::Array(vec![Value::from(3)]));
        rmpv::encode::write_value(&mut chunk, &Value::Array(all)).unwrap();
        let ib = ItemBytes::split(chunk).unwrap();
        assert_eq!(ib.len(), 3);
        for (k, v) in items.iter().enumerate() {
            assert_eq!(&msgpack_decode_value(ib.item(k).unwrap()).unwrap(), v);
        }
        assert!(ib.item(3).is_none());
        assert!(ItemBytes::from_spans(vec![0; 4], &[0..1, 2..3]).is_err());
        assert!(ItemBytes::from_spans(vec![0; 4], std::slice::from_ref(&(0..5))).is_err());
        let fill = ItemBytes::repeated(&encode(&Value::from(0)), 4).unwrap();
        assert_eq!(fill.len(), 4);
        assert_eq!(
            msgpack_decode_value(fill.item(3).unwrap()).unwrap(),
            Value::from(0)
        );
        assert!(ItemBytes::repeated(&[], 0).unwrap().is_empty());
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
        // floats keep their width; extension values are kept
        let mut f = Vec::new();
        rmp::encode::write_f32(&mut f, 0.25).unwrap();
        assert_eq!(
            Reader::new(&f).value(&ValueBuilder).unwrap(),
            Value::F32(0.25)
        );
        let ext = Value::Ext(5, vec![1, 2, 3]);
        assert_eq!(
            Reader::new(&encode(&ext)).value(&ValueBuilder).unwrap(),
            ext
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
        assert!(err.reason.contains("UTF-8") && err.path == "/", "{err}");
        // the path says where: the key of entry 0 of item 1
        let nested = [0x92, 0xc0, 0x81, 0xa1, 0xff, 0x01];
        let err = Reader::new(&nested).value(&ValueBuilder).unwrap_err();
        assert_eq!(err.path, "/1/key 0/", "{err}");
        assert!(Reader::new(&[0xc1]).value(&ValueBuilder).is_err());
        let deep = [vec![0x91u8; MAX_MSGPACK_DEPTH + 2], vec![0xc0]].concat();
        let err = Reader::new(&deep).value(&ValueBuilder).unwrap_err();
        assert!(err.reason.contains("deeply"), "{err}");
    }
}
