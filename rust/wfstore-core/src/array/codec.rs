//! Codecs: the compressors zarr-python 2 uses (Blosc, Zstd, none) and numcodecs'
//! `MsgPack` object codec (`msgpack2`), as bytes in, bytes out.

use super::dtype::DType;
pub use super::msgpack::{
    msgpack_decode_items, msgpack_decode_value, msgpack_encode_items, msgpack_item_spans,
    MAX_MSGPACK_DEPTH,
};
use crate::error::{Error, Result};
use rmpv::Value;
use serde_json::{json, Value as Json};

/// Largest decoded chunk accepted (1 GiB): a header claiming more is treated as corrupt,
/// so hostile or damaged data cannot make the decoder allocate without bound.
pub const MAX_DECODED_BYTES: usize = 1 << 30;

/// A chunk compressor, as recorded in `.zarray`'s `compressor` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compressor {
    /// No compression (`"compressor": null`).
    None,
    /// numcodecs' `Blosc`.
    Blosc {
        /// Inner compressor: `lz4`, `lz4hc`, `blosclz`, `zstd` or `zlib`.
        cname: String,
        /// Compression level, 0 to 9.
        clevel: i32,
        /// 0 no shuffle, 1 byte shuffle, 2 bit shuffle (-1, auto, is stored as given).
        shuffle: i32,
        /// Block size in bytes, 0 for automatic.
        blocksize: usize,
    },
    /// numcodecs' `Zstd`.
    Zstd {
        /// Compression level.
        level: i32,
        /// Whether a content checksum is written.
        checksum: bool,
    },
}

impl Default for Compressor {
    /// numcodecs' default Blosc: lz4, clevel 5, byte shuffle, automatic block size.
    fn default() -> Self {
        Compressor::Blosc {
            cname: "lz4".into(),
            clevel: 5,
            shuffle: 1,
            blocksize: 0,
        }
    }
}

fn cfg_int(cfg: &Json, key: &str, default: i64) -> Result<i64> {
    match cfg.get(key) {
        None | Some(Json::Null) => Ok(default),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| Error::Codec(format!("compressor field {key:?} is not an integer"))),
    }
}

impl Compressor {
    /// Parse a numcodecs compressor configuration (`null`, `{"id": "blosc", ...}`, `{"id": "zstd", ...}`).
    pub fn from_config(cfg: &Json) -> Result<Self> {
        if cfg.is_null() {
            return Ok(Compressor::None);
        }
        let id = cfg
            .get("id")
            .and_then(|v| v.as_str())
            .ok_or_else(|| Error::Codec("compressor configuration has no \"id\"".into()))?;
        match id {
            "blosc" => {
                let cname = cfg
                    .get("cname")
                    .and_then(|v| v.as_str())
                    .unwrap_or("lz4")
                    .to_string();
                if !["lz4", "lz4hc", "blosclz", "zstd", "zlib"].contains(&cname.as_str()) {
                    return Err(Error::Codec(format!("unsupported blosc cname {cname:?}")));
                }
                let clevel = cfg_int(cfg, "clevel", 5)?;
                if !(0..=9).contains(&clevel) {
                    return Err(Error::Codec(format!("blosc clevel {clevel} not in 0..=9")));
                }
                let shuffle = cfg_int(cfg, "shuffle", 1)?;
                if !(-1..=2).contains(&shuffle) {
                    return Err(Error::Codec(format!(
                        "blosc shuffle {shuffle} not in -1..=2"
                    )));
                }
                let blocksize = cfg_int(cfg, "blocksize", 0)?;
                if blocksize < 0 {
                    return Err(Error::Codec("blosc blocksize is negative".into()));
                }
                Ok(Compressor::Blosc {
                    cname,
                    clevel: clevel as i32,
                    shuffle: shuffle as i32,
                    blocksize: blocksize as usize,
                })
            }
            "zstd" => Ok(Compressor::Zstd {
                level: cfg_int(cfg, "level", 1)? as i32,
                checksum: cfg
                    .get("checksum")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
            }),
            other => Err(Error::Codec(format!("unsupported compressor id {other:?}"))),
        }
    }

    /// Build a compressor from a name (`"blosc"`, `"zstd"`, `"none"`) and optional
    /// keyword arguments as numcodecs takes them (`cname`, `clevel`, `shuffle`, `blocksize`; `level`, `checksum`).
    pub fn from_name(name: Option<&str>, kwargs: Option<&Json>) -> Result<Self> {
        let mut cfg = match kwargs {
            Some(Json::Object(m)) => Json::Object(m.clone()),
            Some(Json::Null) | None => json!({}),
            Some(_) => return Err(Error::Codec("compressor_kwargs must be a mapping".into())),
        };
        match name {
            None | Some("none") | Some("None") => return Ok(Compressor::None),
            Some(n @ ("blosc" | "zstd")) => cfg["id"] = Json::from(n),
            Some(other) => {
                return Err(Error::Codec(format!(
                    "unknown compressor {other:?} (expected \"blosc\", \"zstd\" or None)"
                )))
            }
        }
        Compressor::from_config(&cfg)
    }

    /// The numcodecs configuration as written into `.zarray` (`null` for none).
    pub fn to_config(&self) -> Json {
        match self {
            Compressor::None => Json::Null,
            Compressor::Blosc {
                cname,
                clevel,
                shuffle,
                blocksize,
            } => {
                json!({"blocksize": blocksize, "clevel": clevel, "cname": cname, "id": "blosc", "shuffle": shuffle})
            }
            // numcodecs < 0.13 has no `checksum` argument: only written when set.
            Compressor::Zstd {
                level,
                checksum: false,
            } => json!({"id": "zstd", "level": level}),
            Compressor::Zstd {
                level,
                checksum: true,
            } => {
                json!({"checksum": true, "id": "zstd", "level": level})
            }
        }
    }

    /// Compress `data`; `typesize` is the item size used by Blosc's shuffle.
    pub fn compress(&self, data: &[u8], typesize: usize) -> Result<Vec<u8>> {
        match self {
            Compressor::None => Ok(data.to_vec()),
            Compressor::Blosc {
                cname,
                clevel,
                shuffle,
                blocksize,
            } => blosc_compress(data, typesize, cname, *clevel, *shuffle, *blocksize),
            Compressor::Zstd { level, checksum } => zstd_compress(data, *level, *checksum),
        }
    }

    /// Decompress `data`, refusing output larger than [`MAX_DECODED_BYTES`].
    pub fn decompress(&self, data: &[u8]) -> Result<Vec<u8>> {
        match self {
            Compressor::None => Ok(data.to_vec()),
            Compressor::Blosc { .. } => blosc_decompress(data),
            Compressor::Zstd { .. } => zstd_decompress(data),
        }
    }
}

#[cfg(feature = "blosc")]
fn blosc_compress(
    data: &[u8],
    typesize: usize,
    cname: &str,
    clevel: i32,
    shuffle: i32,
    blocksize: usize,
) -> Result<Vec<u8>> {
    use std::ffi::CString;
    let cname_c = CString::new(cname).map_err(|_| Error::Codec("bad blosc cname".into()))?;
    let overhead = blosc_src::BLOSC_MAX_OVERHEAD as usize;
    let mut out = vec![0u8; data.len() + overhead];
    let shuffle = if shuffle < 0 {
        // numcodecs' AUTOSHUFFLE: bit shuffle for 1-byte items, byte shuffle otherwise.
        if typesize == 1 {
            2
        } else {
            1
        }
    } else {
        shuffle
    };
    let typesize = typesize.clamp(1, 255);
    // SAFETY: src and dest are valid for the lengths given and do not overlap; the
    // compressor name is a NUL-terminated C string living across the call.
    let n = unsafe {
        blosc_src::blosc_compress_ctx(
            clevel,
            shuffle,
            typesize,
            data.len(),
            data.as_ptr().cast(),
            out.as_mut_ptr().cast(),
            out.len(),
            cname_c.as_ptr(),
            blocksize,
            1,
        )
    };
    if n <= 0 {
        return Err(Error::Codec(format!("blosc compression failed ({n})")));
    }
    out.truncate(n as usize);
    Ok(out)
}

#[cfg(not(feature = "blosc"))]
fn blosc_compress(_: &[u8], _: usize, _: &str, _: i32, _: i32, _: usize) -> Result<Vec<u8>> {
    Err(Error::Codec(
        "wfstore-core was built without the blosc feature".into(),
    ))
}

#[cfg(feature = "blosc")]
fn blosc_decompress(data: &[u8]) -> Result<Vec<u8>> {
    if data.len() < blosc_src::BLOSC_MIN_HEADER_LENGTH as usize {
        return Err(Error::Codec(format!(
            "blosc buffer of {} bytes is shorter than its header",
            data.len()
        )));
    }
    let mut nbytes: usize = 0;
    // SAFETY: data is valid for data.len() bytes; nbytes is a valid out pointer.
    let rc =
        unsafe { blosc_src::blosc_cbuffer_validate(data.as_ptr().cast(), data.len(), &mut nbytes) };
    if rc < 0 {
        return Err(Error::Codec("invalid blosc header".into()));
    }
    if nbytes > MAX_DECODED_BYTES {
        return Err(Error::Codec(format!(
            "blosc header claims {nbytes} bytes, over the {MAX_DECODED_BYTES} byte limit"
        )));
    }
    let mut out = vec![0u8; nbytes];
    // SAFETY: the header was validated against data.len(); out has nbytes of room.
    let n = unsafe {
        blosc_src::blosc_decompress_ctx(data.as_ptr().cast(), out.as_mut_ptr().cast(), out.len(), 1)
    };
    if n < 0 || n as usize != nbytes {
        return Err(Error::Codec(format!("blosc decompression failed ({n})")));
    }
    Ok(out)
}

#[cfg(not(feature = "blosc"))]
fn blosc_decompress(_: &[u8]) -> Result<Vec<u8>> {
    Err(Error::Codec(
        "wfstore-core was built without the blosc feature".into(),
    ))
}

#[cfg(feature = "zstd")]
fn zstd_compress(data: &[u8], level: i32, checksum: bool) -> Result<Vec<u8>> {
    let mut c = zstd::bulk::Compressor::new(level).map_err(|e| Error::Codec(e.to_string()))?;
    c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(checksum))
        .map_err(|e| Error::Codec(e.to_string()))?;
    c.compress(data)
        .map_err(|e| Error::Codec(format!("zstd: {e}")))
}

#[cfg(not(feature = "zstd"))]
fn zstd_compress(_: &[u8], _: i32, _: bool) -> Result<Vec<u8>> {
    Err(Error::Codec(
        "wfstore-core was built without the zstd feature".into(),
    ))
}

#[cfg(feature = "zstd")]
fn zstd_decompress(data: &[u8]) -> Result<Vec<u8>> {
    use std::io::Read;
    let dec =
        zstd::stream::read::Decoder::new(data).map_err(|e| Error::Codec(format!("zstd: {e}")))?;
    let mut out = Vec::new();
    dec.take(MAX_DECODED_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::Codec(format!("zstd: {e}")))?;
    if out.len() > MAX_DECODED_BYTES {
        return Err(Error::Codec(format!(
            "zstd data decodes to more than {MAX_DECODED_BYTES} bytes"
        )));
    }
    Ok(out)
}

#[cfg(not(feature = "zstd"))]
fn zstd_decompress(_: &[u8]) -> Result<Vec<u8>> {
    Err(Error::Codec(
        "wfstore-core was built without the zstd feature".into(),
    ))
}

/// The object codec of an object array: the single entry of `.zarray`'s `filters`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ObjectCodec {
    /// numcodecs' `MsgPack` (`msgpack2`): items are any msgpack values.
    #[default]
    MsgPack,
    /// numcodecs' `VLenArray` (`vlen-array`): items are 1-D numeric arrays of one dtype,
    /// given and returned as msgpack arrays of numbers (`Nil` encodes as empty).
    VLenArray(DType),
    /// numcodecs' `VLenUTF8` (`vlen-utf8`): items are strings.
    VLenUtf8,
    /// numcodecs' `VLenBytes` (`vlen-bytes`): items are byte strings.
    VLenBytes,
}

impl ObjectCodec {
    /// The codec named by an object array's `filters`.
    pub fn from_filters(filters: &Option<Vec<Json>>) -> std::result::Result<Self, String> {
        let f = match filters {
            Some(f) if f.len() == 1 => &f[0],
            Some(f) => {
                return Err(format!(
                    "expected one object codec filter, found {}",
                    f.len()
                ))
            }
            None => return Err("object array has no object codec filter".into()),
        };
        match f.get("id").and_then(|v| v.as_str()) {
            Some("msgpack2") => {
                if f.get("raw").and_then(|v| v.as_bool()).unwrap_or(false) {
                    return Err("msgpack2 with raw=true is not supported".into());
                }
                if f.get("use_single_float")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false)
                {
                    return Err("msgpack2 with use_single_float=true is not supported".into());
                }
                Ok(ObjectCodec::MsgPack)
            }
            Some("vlen-array") => {
                let dt = f
                    .get("dtype")
                    .and_then(|v| v.as_str())
                    .and_then(DType::parse)
                    .filter(|d| d.kind != 'c')
                    .ok_or_else(|| format!("vlen-array with bad dtype {:?}", f.get("dtype")))?;
                Ok(ObjectCodec::VLenArray(dt))
            }
            Some("vlen-utf8") => Ok(ObjectCodec::VLenUtf8),
            Some("vlen-bytes") => Ok(ObjectCodec::VLenBytes),
            Some(other) => Err(format!(
                "unsupported object codec {other:?} (msgpack2, vlen-array, vlen-utf8, vlen-bytes)"
            )),
            None => Err("object codec filter has no id".into()),
        }
    }

    /// The `filters` entry zarr-python writes for this codec.
    pub fn filter_config(&self) -> Json {
        match self {
            ObjectCodec::MsgPack => msgpack_filter_config(),
            ObjectCodec::VLenArray(dt) => json!({"dtype": dt.to_string(), "id": "vlen-array"}),
            ObjectCodec::VLenUtf8 => json!({"id": "vlen-utf8"}),
            ObjectCodec::VLenBytes => json!({"id": "vlen-bytes"}),
        }
    }

    /// Encode items (before compression).
    pub fn encode(&self, items: &[Value]) -> Result<Vec<u8>> {
        match self {
            ObjectCodec::MsgPack => msgpack_encode_items(items),
            _ => self.vlen_encode(items),
        }
    }

    /// Decode items (after decompression).
    pub fn decode(&self, data: &[u8]) -> Result<Vec<Value>> {
        match self {
            ObjectCodec::MsgPack => msgpack_decode_items(data),
            _ => self.vlen_decode(data),
        }
    }

    fn vlen_encode(&self, items: &[Value]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        out.extend_from_slice(&(items.len() as u32).to_le_bytes());
        for it in items {
            let body: Vec<u8> = match (self, it) {
                (_, Value::Nil) => Vec::new(),
                (ObjectCodec::VLenUtf8, Value::String(s)) => s.as_bytes().to_vec(),
                (ObjectCodec::VLenBytes, Value::Binary(b)) => b.clone(),
                (ObjectCodec::VLenArray(dt), Value::Array(a)) => {
                    let mut b = Vec::with_capacity(a.len() * dt.size);
                    for x in a {
                        b.extend(dt.encode_scalar(x)?);
                    }
                    b
                }
                // a number is a one-element array: zarr-python pads a chunk's rows beyond
                // the array with the fill value so (`[0]` for hpcflow 0.3.0's `tasks`)
                (
                    ObjectCodec::VLenArray(dt),
                    v @ (Value::Integer(_) | Value::F32(_) | Value::F64(_)),
                ) => dt.encode_scalar(v)?,
                (c, v) => return Err(Error::Encode(format!("{c:?} cannot encode {v}"))),
            };
            let n =
                u32::try_from(body.len()).map_err(|_| Error::Encode("item over 4 GiB".into()))?;
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(&body);
        }
        Ok(out)
    }

    fn vlen_decode(&self, data: &[u8]) -> Result<Vec<Value>> {
        let bad = |m: &str| Error::Codec(format!("vlen chunk: {m}"));
        let le32 = |at: usize| -> Result<usize> {
            data.get(at..at + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                .ok_or_else(|| bad("truncated"))
        };
        let n = le32(0)?;
        if n > data.len() / 4 {
            return Err(bad("item count larger than the data"));
        }
        let mut pos = 4;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let len = le32(pos)?;
            pos += 4;
            let body = data
                .get(pos..pos.saturating_add(len))
                .ok_or_else(|| bad("truncated item"))?;
            pos += len;
            out.push(match self {
                ObjectCodec::VLenUtf8 => Value::from(
                    std::str::from_utf8(body).map_err(|_| bad("item is not valid UTF-8"))?,
                ),
                ObjectCodec::VLenBytes => Value::Binary(body.to_vec()),
                ObjectCodec::VLenArray(dt) => {
                    if body.len() % dt.size != 0 {
                        return Err(bad("item length is not a multiple of the item size"));
                    }
                    Value::Array(body.chunks(dt.size).map(|c| dt.decode_scalar(c)).collect())
                }
                ObjectCodec::MsgPack => return Err(bad("not a vlen codec")),
            });
        }
        if pos != data.len() {
            return Err(bad("trailing bytes"));
        }
        Ok(out)
    }
}

/// The `filters` entry zarr-python writes for numcodecs' `MsgPack()` codec.
pub fn msgpack_filter_config() -> Json {
    json!({"id": "msgpack2", "raw": false, "use_bin_type": true, "use_single_float": false})
}

/// Encode a chunk of object items to its stored bytes (msgpack, then the compressor).
pub fn encode_object_chunk(items: &[Value], compressor: &Compressor) -> Result<Vec<u8>> {
    encode_object_chunk_with(items, &ObjectCodec::MsgPack, compressor)
}

/// Decode the stored bytes of a msgpack object chunk to its items.
pub fn decode_object_chunk(data: &[u8], compressor: &Compressor) -> Result<Vec<Value>> {
    decode_object_chunk_with(data, &ObjectCodec::MsgPack, compressor)
}

/// Encode a chunk of object items with any object codec, then compress.
pub fn encode_object_chunk_with(
    items: &[Value],
    codec: &ObjectCodec,
    compressor: &Compressor,
) -> Result<Vec<u8>> {
    compressor.compress(&codec.encode(items)?, 1)
}

/// Decompress, then decode a chunk with any object codec.
pub fn decode_object_chunk_with(
    data: &[u8],
    codec: &ObjectCodec,
    compressor: &Compressor,
) -> Result<Vec<Value>> {
    codec.decode(&compressor.decompress(data)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn invalid_utf8_strings_are_corrupt() {
        // [ "a\xe6", "|O", [1] ] and the same inside a map key.
        let chunk = b"\x93\xa2a\xe6\xa2|O\x91\x01";
        let err = msgpack_decode_items(chunk).unwrap_err().to_string();
        assert!(err.contains("UTF-8") && err.contains("/0/"), "{err}");
        let chunk = b"\x93\x81\xa1\xff\x01\xa2|O\x91\x01";
        assert!(msgpack_decode_items(chunk).is_err());
        let good = b"\x93\x81\xa1k\x01\xa2|O\x91\x01";
        assert_eq!(msgpack_decode_items(good).unwrap().len(), 1);
    }

    #[test]
    fn item_spans_match_the_decoder_and_reject_bad_chunks() {
        let items = vec![
            Value::Nil,
            Value::from(-3),
            Value::from(1u64 << 40),
            Value::F64(1.5),
            Value::from("x".repeat(300)),
            Value::Binary(vec![1; 70000]),
            Value::Array((0..20).map(Value::from).collect()),
            Value::Map(vec![(Value::from("k"), Value::Array(vec![Value::Nil]))]),
            Value::Ext(5, vec![1, 2, 3]),
        ];
        let buf = msgpack_encode_items(&items).unwrap();
        let spans = msgpack_item_spans(&buf).unwrap();
        assert_eq!(spans.len(), items.len());
        for (sp, it) in spans.iter().zip(&items) {
            assert_eq!(&msgpack_decode_value(&buf[sp.clone()]).unwrap(), it);
        }
        // truncated, trailing bytes, wrong shape, not an array
        assert!(msgpack_item_spans(&buf[..buf.len() - 1]).is_err());
        let mut long = buf.clone();
        long.push(0);
        assert!(msgpack_item_spans(&long).is_err());
        let wrong = b"\x93\x01\xa2|O\x91\x02";
        assert!(msgpack_item_spans(wrong).is_err());
        assert!(msgpack_item_spans(b"\x01").is_err());
        assert!(msgpack_item_spans(b"\x93\xc1\xa2|O\x91\x01").is_err());
    }

    fn all_compressors() -> Vec<Compressor> {
        vec![
            Compressor::None,
            Compressor::default(),
            Compressor::Blosc {
                cname: "zstd".into(),
                clevel: 3,
                shuffle: 2,
                blocksize: 0,
            },
            Compressor::Blosc {
                cname: "zlib".into(),
                clevel: 1,
                shuffle: 0,
                blocksize: 0,
            },
            Compressor::Blosc {
                cname: "blosclz".into(),
                clevel: 9,
                shuffle: -1,
                blocksize: 256,
            },
            Compressor::Zstd {
                level: 0,
                checksum: false,
            },
            Compressor::Zstd {
                level: 5,
                checksum: true,
            },
        ]
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Nil),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("NaN != NaN", |f| !f.is_nan())
                .prop_map(Value::from),
            ".{0,20}".prop_map(Value::from),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::vec((".{0,8}".prop_map(Value::from), inner), 0..8)
                    .prop_map(Value::Map),
            ]
        })
    }

    proptest! {
        #[test]
        fn item_spans_agree_with_the_decoder(items in proptest::collection::vec(arb_value(), 0..40)) {
            let buf = msgpack_encode_items(&items).unwrap();
            let spans = msgpack_item_spans(&buf).unwrap();
            let got: Vec<Value> = spans.iter().map(|sp| msgpack_decode_value(&buf[sp.clone()]).unwrap()).collect();
            prop_assert_eq!(got, items);
        }

        #[test]
        fn vlen_array_numbers_decode_as_one_element_arrays(x in any::<i32>(), pad in 0usize..5) {
            let c = ObjectCodec::VLenArray(DType::parse("<i4").unwrap());
            let mut items = vec![Value::Array(vec![Value::from(x)])];
            items.extend(std::iter::repeat_n(Value::from(x), pad));
            let dec = c.decode(&c.encode(&items).unwrap()).unwrap();
            prop_assert_eq!(dec, vec![Value::Array(vec![Value::from(x)]); pad + 1]);
        }

        #[test]
        fn item_spans_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = msgpack_item_spans(&bytes);
        }

        #[test]
        fn object_chunk_round_trip(items in proptest::collection::vec(arb_value(), 0..40), ci in 0usize..7) {
            let c = &all_compressors()[ci];
            let enc = encode_object_chunk(&items, c).unwrap();
            let dec = decode_object_chunk(&enc, c).unwrap();
            prop_assert_eq!(dec, items);
        }

        #[test]
        fn compressors_round_trip(data in proptest::collection::vec(any::<u8>(), 0..5000), ts in 1usize..9, ci in 0usize..7) {
            let c = &all_compressors()[ci];
            let enc = c.compress(&data, ts).unwrap();
            prop_assert_eq!(c.decompress(&enc).unwrap(), data);
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), ci in 0usize..7) {
            let c = &all_compressors()[ci];
            let _ = decode_object_chunk(&data, c);
        }
    }

    #[test]
    fn msgpack_layout_matches_numcodecs() {
        // numcodecs: msgpack.packb(["a", 1, "|O", (2,)], use_bin_type=True)
        let enc = msgpack_encode_items(&[Value::from("a"), Value::from(1)]).unwrap();
        assert_eq!(
            enc,
            vec![0x94, 0xa1, b'a', 0x01, 0xa2, b'|', b'O', 0x91, 0x02]
        );
    }

    #[test]
    fn wrong_item_count_is_an_error() {
        let mut enc = msgpack_encode_items(&[Value::from(1), Value::from(2)]).unwrap();
        let last = enc.len() - 1;
        enc[last] = 3; // shape says 3 items
        let err = msgpack_decode_items(&enc).unwrap_err().to_string();
        assert!(err.contains("shape"), "{err}");
    }

    #[test]
    fn truncated_blosc_is_an_error() {
        let c = Compressor::default();
        let enc = encode_object_chunk(&vec![Value::from("hello world"); 50], &c).unwrap();
        assert!(decode_object_chunk(&enc[..enc.len() / 2], &c).is_err());
        assert!(decode_object_chunk(&enc[..8], &c).is_err());
    }

    #[test]
    fn vlen_layout_and_round_trip() {
        // numcodecs VLenArray('<i8').encode([array([1, 2]), array([])])
        let c = ObjectCodec::VLenArray(DType::parse("<i8").unwrap());
        let items = vec![
            Value::Array(vec![Value::from(1), Value::from(2)]),
            Value::Array(vec![]),
        ];
        let enc = c.encode(&items).unwrap();
        let mut want = vec![2, 0, 0, 0, 16, 0, 0, 0];
        want.extend(1i64.to_le_bytes());
        want.extend(2i64.to_le_bytes());
        want.extend([0, 0, 0, 0]);
        assert_eq!(enc, want);
        assert_eq!(c.decode(&enc).unwrap(), items);
        assert!(c.decode(&enc[..enc.len() - 3]).is_err());
        let u = ObjectCodec::VLenUtf8;
        let s = vec![Value::from("héllo"), Value::from("")];
        assert_eq!(u.decode(&u.encode(&s).unwrap()).unwrap(), s);
        assert!(ObjectCodec::from_filters(&Some(vec![json!({"id": "pickle"})])).is_err());
    }

    #[test]
    fn vlen_array_encodes_a_number_as_one_element() {
        // zarr-python's padding of a vlen-array chunk with the fill value 0 (hpcflow
        // 0.3.0's `metadata/tasks`, 100 rows a chunk): each padding row is `[0]`
        let c = ObjectCodec::VLenArray(DType::parse("<i8").unwrap());
        let enc = c
            .encode(&[Value::Array(vec![Value::from(7)]), Value::from(0)])
            .unwrap();
        let mut want = vec![2, 0, 0, 0, 8, 0, 0, 0];
        want.extend(7i64.to_le_bytes());
        want.extend([8, 0, 0, 0]);
        want.extend(0i64.to_le_bytes());
        assert_eq!(enc, want);
        let back = c.decode(&enc).unwrap();
        assert_eq!(back[1], Value::Array(vec![Value::from(0)]));
        assert!(c.encode(&[Value::from("x")]).is_err());
    }

    #[test]
    fn config_round_trip_and_errors() {
        for c in all_compressors() {
            assert_eq!(Compressor::from_config(&c.to_config()).unwrap(), c);
        }
        assert!(Compressor::from_config(&json!({"id": "lzma"})).is_err());
        assert!(Compressor::from_name(Some("gzip"), None).is_err());
        assert_eq!(
            Compressor::from_name(Some("zstd"), Some(&json!({"level": 3}))).unwrap(),
            Compressor::Zstd {
                level: 3,
                checksum: false
            }
        );
        assert_eq!(
            Compressor::from_name(Some("blosc"), None).unwrap(),
            Compressor::default()
        );
    }
}
