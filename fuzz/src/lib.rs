//! Fuzz targets of `wfstore-core`, shared by the libFuzzer binaries (`fuzz_targets/`,
//! run with `cargo fuzz`) and the stable-Rust driver (`src/bin/wfstore-fuzz.rs`).
//!
//! Each target takes arbitrary bytes and must never panic, hang or allocate without
//! bound: every failure has to come back as a `wfstore_core::Error`. Where decoding
//! succeeds, the targets also check that re-encoding gives the same values back.
//!
//! Targets:
//! * [`object_chunk`]: stored object chunks (Blosc, Zstd or no compressor; msgpack,
//!   vlen-array, vlen-utf8, vlen-bytes), the first byte choosing the codecs;
//! * [`numeric_chunk`]: a stored chunk of a numeric array of a dtype and shape chosen
//!   by the first byte, read through `NumericArray`;
//! * [`record_array`]: structured (record) dtypes: a list descr of fields of every
//!   numeric size and byte order, valid or damaged, its fill value (base64 of one item,
//!   or damaged) and one chunk, read, verified and written back;
//! * [`metadata`]: `.zarray` and `.zattrs` documents, parsed and opened as object and
//!   numeric arrays, a few rows read;
//! * [`zip_archive`]: a zip archive opened as a `ZipStore` (every key read) and unzipped
//!   into a fresh folder, checking nothing is written outside it;
//! * [`json_spans`]: a JSON store document cut into the spans of its members and items
//!   (`jsonspan::compact_spans`), checking they give the document back.

#![warn(missing_docs)]

use rmpv::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use wfstore_core::codec::{decode_object_chunk_with, encode_object_chunk_with};
use wfstore_core::meta::{self, ArrayMeta};
use wfstore_core::numeric::{DType, ItemType};
use wfstore_core::{Compressor, NumericArray, ObjectArray, ObjectCodec, Store, ZipStore};

/// The names of the targets, in the order the stable driver runs them.
pub const TARGETS: [&str; 6] = [
    "object_chunk",
    "numeric_chunk",
    "record_array",
    "metadata",
    "zip_archive",
    "json_spans",
];

/// Run target `name` on `data`; returns whether the input decoded successfully (an
/// "interesting" input for the stable driver), or None for an unknown target.
pub fn run(name: &str, data: &[u8]) -> Option<bool> {
    Some(match name {
        "object_chunk" => object_chunk(data),
        "numeric_chunk" => numeric_chunk(data),
        "record_array" => record_array(data),
        "metadata" => metadata(data),
        "zip_archive" => zip_archive(data),
        "json_spans" => json_spans(data),
        _ => return None,
    })
}

/// An in-memory [`Store`] (keys to bytes).
#[derive(Debug, Default)]
pub struct MemStore {
    map: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemStore {
    /// A store holding `items`.
    pub fn with(items: &[(&str, &[u8])]) -> Arc<Self> {
        let map = items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect();
        Arc::new(MemStore {
            map: Mutex::new(map),
        })
    }
}

impl Store for MemStore {
    fn location(&self) -> String {
        "mem".into()
    }
    fn get(&self, key: &str) -> wfstore_core::Result<Option<Vec<u8>>> {
        Ok(self.map.lock().map(|m| m.get(key).cloned()).unwrap_or(None))
    }
    fn set(&self, key: &str, value: &[u8]) -> wfstore_core::Result<()> {
        if let Ok(mut m) = self.map.lock() {
            m.insert(key.to_string(), value.to_vec());
        }
        Ok(())
    }
    fn delete(&self, key: &str) -> wfstore_core::Result<()> {
        if let Ok(mut m) = self.map.lock() {
            m.remove(key);
        }
        Ok(())
    }
    fn list_dir(&self, prefix: &str) -> wfstore_core::Result<Vec<String>> {
        let p = if prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", prefix.trim_end_matches('/'))
        };
        let m = self.map.lock().map(|m| m.clone()).unwrap_or_default();
        let mut out: Vec<String> = m
            .keys()
            .filter_map(|k| k.strip_prefix(&p))
            .map(|rest| rest.split('/').next().unwrap_or("").to_string())
            .collect();
        out.dedup();
        Ok(out)
    }
}

/// The compressors the targets choose from.
pub fn compressors() -> [Compressor; 4] {
    [
        Compressor::None,
        Compressor::default(),
        Compressor::Blosc {
            cname: "zstd".into(),
            clevel: 3,
            shuffle: 2,
            blocksize: 0,
        },
        Compressor::Zstd {
            level: 1,
            checksum: false,
        },
    ]
}

/// The object codecs the targets choose from.
pub fn object_codecs() -> [ObjectCodec; 4] {
    [
        ObjectCodec::MsgPack,
        ObjectCodec::VLenArray(DType::parse("<i8").expect("valid dtype")),
        ObjectCodec::VLenUtf8,
        ObjectCodec::VLenBytes,
    ]
}

/// The (compressor, codec) pair selected by `sel`.
pub fn object_selection(sel: u8) -> (Compressor, ObjectCodec) {
    let c = compressors();
    let k = object_codecs();
    (
        c[sel as usize % c.len()].clone(),
        k[(sel as usize / c.len()) % k.len()].clone(),
    )
}

/// Decode a stored object chunk; the first byte selects the compressor and codec.
pub fn object_chunk(data: &[u8]) -> bool {
    let Some((&sel, payload)) = data.split_first() else {
        return false;
    };
    let (comp, codec) = object_selection(sel);
    let _ = comp.decompress(payload);
    // The partial decoder (item spans, for single-row reads and updates) must agree
    // with the full decoder on every msgpack payload it accepts.
    let raw = comp
        .decompress(payload)
        .unwrap_or_else(|_| payload.to_vec());
    if let Ok(spans) = wfstore_core::codec::msgpack_item_spans(&raw) {
        if let Ok(items) = wfstore_core::codec::msgpack_decode_items(&raw) {
            assert_eq!(
                spans.len(),
                items.len(),
                "item spans disagree with the decoder"
            );
            for (sp, it) in spans.iter().zip(&items) {
                let one = wfstore_core::codec::msgpack_decode_value(&raw[sp.clone()])
                    .expect("an item of a decodable chunk must decode alone");
                assert!(same_value(&one, it), "item span decodes differently");
            }
        }
    }
    match decode_object_chunk_with(payload, &codec, &comp) {
        Ok(items) => {
            // What decodes must encode and decode to the same items.
            if let Ok(enc) = encode_object_chunk_with(&items, &codec, &comp) {
                let again = decode_object_chunk_with(&enc, &codec, &comp)
                    .expect("re-encoded chunk must decode");
                assert!(
                    same_values(&items, &again),
                    "round trip changed the items: {:.300} -> {:.300}",
                    format!("{items:?}"),
                    format!("{again:?}")
                );
            }
            true
        }
        Err(_) => false,
    }
}

/// Equality of decoded values where NaN equals NaN.
fn same_values(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y))
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F64(x), Value::F64(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Value::F32(x), Value::F32(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Value::Array(x), Value::Array(y)) => same_values(x, y),
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| same_value(k1, k2) && same_value(v1, v2))
        }
        _ => a == b,
    }
}

/// Numeric dtypes the numeric target chooses from.
pub const NUMERIC_DTYPES: [&str; 8] = ["|b1", "|i1", "<i2", ">i4", "<u8", "<f4", ">f8", "<c16"];

/// (shape, chunks, key of the fuzzed chunk) layouts the numeric target chooses from.
pub const NUMERIC_LAYOUTS: [(&[u64], &[u64], &str); 3] = [
    (&[7], &[4], "1"),
    (&[3, 5], &[2, 2], "0.1"),
    (&[2, 2, 2], &[2, 2, 2], "0.0.0"),
];

/// The `.zarray` of the numeric array selected by `sel`, and the key of its fuzzed chunk.
pub fn numeric_selection(sel: u8) -> (Vec<u8>, &'static str, Compressor, DType) {
    let dt = NUMERIC_DTYPES[sel as usize % NUMERIC_DTYPES.len()];
    let rest = sel as usize / NUMERIC_DTYPES.len();
    let (shape, chunks, key) = NUMERIC_LAYOUTS[rest % NUMERIC_LAYOUTS.len()];
    let comp = compressors()[(rest / NUMERIC_LAYOUTS.len()) % 4].clone();
    let dtype = DType::parse(dt).expect("valid dtype");
    let fill = if dt == "|b1" {
        serde_json::json!(false)
    } else {
        serde_json::json!(0)
    };
    let m = ArrayMeta {
        shape: shape.to_vec(),
        chunks: chunks.to_vec(),
        dtype: dt.into(),
        compressor: comp.clone(),
        fill_value: fill,
        filters: None,
        dimension_separator: Some(".".into()),
    };
    let bytes = serde_json::to_vec(&m.to_json()).expect("JSON of metadata");
    (bytes, key, comp, dtype)
}

/// Read a numeric array one of whose chunks is the fuzzed data (after the selector byte).
pub fn numeric_chunk(data: &[u8]) -> bool {
    let Some((&sel, payload)) = data.split_first() else {
        return false;
    };
    let (zarray, key, _, dtype) = numeric_selection(sel);
    let chunk_key = format!("a/{key}");
    let store = MemStore::with(&[("a/.zarray", &zarray), (&chunk_key, payload)]);
    let arr = NumericArray::open(store, "a").expect("generated metadata opens");
    match arr.read() {
        Ok(bytes) => {
            let n: u64 = arr.shape().iter().product();
            assert_eq!(bytes.len() as u64, n * dtype.size as u64);
            true
        }
        Err(e) => {
            assert!(
                matches!(&e, wfstore_core::Error::CorruptChunk { key: k, .. } if k == key),
                "unexpected error {e}"
            );
            false
        }
    }
}

/// Largest numeric array (in items) the metadata target reads whole.
pub const MAX_FUZZ_READ_ITEMS: u64 = 1 << 22;

/// Parse fuzzed `.zarray` and `.zattrs` documents and open arrays over them.
pub fn metadata(data: &[u8]) -> bool {
    let mut ok = false;
    if let Ok(m) = ArrayMeta::parse("a", data) {
        ok = true;
        let doc = serde_json::to_vec(&m.to_json()).expect("metadata serialises");
        let again = ArrayMeta::parse("a", &doc).expect("written metadata parses");
        assert_eq!(again.to_json(), m.to_json(), "metadata round trip");
    }
    let _ = meta::read_attrs(MemStore::with(&[("a/.zattrs", data)]).as_ref(), "a");
    let store = MemStore::with(&[("a/.zarray", data), ("a/.zattrs", data)]);
    if let Ok(arr) = ObjectArray::open(store.clone(), "a", true) {
        let n = arr.len();
        if n > 0 {
            let _ = arr.get(&[0, n - 1]);
        }
        let _ = arr.attrs();
    }
    if let Ok(arr) = NumericArray::open(store, "a") {
        // Reading a whole numeric array allocates its declared size (impossible sizes
        // are an error, see `NumericArray::read`); keep each execution small.
        let items = arr.shape().iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        if items.is_some_and(|n| n <= MAX_FUZZ_READ_ITEMS) {
            let _ = arr.read();
        }
    }
    ok
}

/// Open the fuzzed bytes as a zip archive (every key read) and unzip them; nothing may
/// appear outside the destination folder.
pub fn zip_archive(data: &[u8]) -> bool {
    let dir = tempfile::tempdir().expect("temporary folder");
    let arc = dir.path().join("a.zip");
    std::fs::write(&arc, data).expect("write archive");
    let mut ok = false;
    if let Ok(zs) = ZipStore::open(&arc) {
        for key in zs.keys().into_iter().take(256) {
            let _ = zs.get(&key);
        }
        let _ = zs.list_dir("");
    }
    let dest = dir.path().join("out");
    match wfstore_core::zipio::unzip(&arc, &dest, None) {
        Ok(_) => {
            ok = true;
            assert!(dest.is_dir());
        }
        Err(_) => assert!(!dest.exists(), "failed unzip left its destination"),
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list temporary folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let expected: &[&str] = if ok { &["a.zip", "out"] } else { &["a.zip"] };
    assert_eq!(names, expected, "unzip wrote outside its destination");
    if ok {
        assert_no_links(&dest);
    }
    ok
}

fn assert_no_links(dir: &Path) {
    for e in std::fs::read_dir(dir).expect("list").flatten() {
        let ft = e.file_type().expect("file type");
        assert!(!ft.is_symlink(), "unzip created a link {:?}", e.path());
        if ft.is_dir() {
            assert_no_links(&e.path());
        }
    }
}

/// The top-level keys whose items the `json_spans` target asks for.
pub const JSON_ITEMISED: [&str; 3] = ["a", "runs", "data"];

/// Cut a fuzzed document into the spans of its members and items. Where spans come
/// back, joined they must give the document back, member by member and item by item,
/// and (without Python's `NaN`/`Infinity` and surrogate escapes, which serde_json
/// refuses) the document must be a JSON object with those keys.
pub fn json_spans(data: &[u8]) -> bool {
    use wfstore_core::jsonspan::{compact_spans, ItemSpans};
    let Some(spans) = compact_spans(data, &JSON_ITEMISED) else {
        return false;
    };
    let mut joined = vec![b'{'];
    for (i, e) in spans.iter().enumerate() {
        assert!(e.start < e.value_start && e.value_start < e.end && e.end <= data.len());
        if i > 0 {
            joined.push(b',');
        }
        joined.extend_from_slice(&data[e.start..e.end]);
        if let Some(items) = &e.items {
            let (open, close, bounds): (u8, u8, Vec<(usize, usize)>) = match items {
                ItemSpans::List(v) => (b'[', b']', v.clone()),
                ItemSpans::Object(v) => (b'{', b'}', v.iter().map(|&(_, a, z)| (a, z)).collect()),
            };
            let mut entry = data[e.start..e.value_start].to_vec();
            entry.push(open);
            for (j, &(a, z)) in bounds.iter().enumerate() {
                if j > 0 {
                    entry.push(b',');
                }
                entry.extend_from_slice(&data[a..z]);
            }
            entry.push(close);
            assert_eq!(entry, &data[e.start..e.end], "items of {:?}", e.key);
        }
    }
    joined.push(b'}');
    assert_eq!(joined, data, "members joined");
    let has = |needle: &[u8]| data.windows(needle.len()).any(|w| w == needle);
    let surrogate = data
        .windows(3)
        .any(|w| w[0] == b'u' && (w[1] == b'd' || w[1] == b'D') && w[2] >= b'8');
    if !has(b"NaN") && !has(b"Infinity") && !surrogate {
        let v: serde_json::Value = match serde_json::from_slice(data) {
            Ok(v) => v,
            Err(e) => panic!("spans of a document serde_json refuses: {e}"),
        };
        let obj = v
            .as_object()
            .expect("spans of a document that is not an object");
        let mut keys: Vec<&str> = spans.iter().map(|e| e.key.as_str()).collect();
        keys.sort_unstable();
        let mut want: Vec<&str> = obj.keys().map(String::as_str).collect();
        want.sort_unstable();
        assert_eq!(keys, want);
    }
    true
}

/// The field dtypes the `record_array` target builds records from: every size and byte
/// order of bool, signed, unsigned and float items numpy has (complex fields are
/// refused by the core and are one of the damaged forms).
pub const RECORD_FIELD_DTYPES: [&str; 23] = [
    "|b1", "|i1", "|u1", "<i2", ">i2", "<u2", ">u2", "<i4", ">i4", "<u4", ">u4", "<i8", ">i8",
    "<u8", ">u8", "<f2", ">f2", "<f4", ">f4", "<f8", ">f8", "=u4", "|u1",
];

/// Damaged forms of one field of a list descr, each of which the core must refuse:
/// invalid (damaged metadata) or valid for numpy but not read by wfstore.
const RECORD_FIELD_DAMAGE: usize = 10;

/// A record (structured dtype) array described by fuzzed bytes: see [`record_array`].
#[derive(Debug, Clone)]
pub struct RecordCase {
    /// The `.zarray` `dtype` entry (possibly damaged).
    pub dtype: serde_json::Value,
    /// Whether the dtype is valid and read by wfstore (the core must open the array).
    pub dtype_ok: bool,
    /// Whether the dtype is invalid (numpy would refuse it too): damaged metadata.
    pub dtype_invalid: bool,
    /// Field sizes in bytes (of a valid dtype).
    pub sizes: Vec<usize>,
    /// The `.zarray` fill value.
    pub fill: serde_json::Value,
    /// The fill value's item (None: the fill value is damaged and must be refused).
    pub fill_item: Option<Vec<u8>>,
    /// Array shape (first axis: rows).
    pub shape: Vec<u64>,
    /// Chunk shape.
    pub chunks: Vec<u64>,
    /// Dimension separator.
    pub sep: &'static str,
    /// Chunk compressor.
    pub compressor: Compressor,
    /// Store the payload as one correctly encoded chunk (else as the raw stored bytes).
    pub encode_chunk: bool,
    /// The chunk payload.
    pub payload: Vec<u8>,
}

/// Read the fuzzed bytes as a [`RecordCase`]: byte 0 the number of fields (1 to 8) and
/// flags, one byte per field (its dtype, or with the high bit set a damaged field), a
/// layout byte (shape, chunks, separator, compressor), a fill byte (null, base64 of one
/// item taken from the input, or a damaged fill value), then the chunk payload.
pub fn record_case(data: &[u8]) -> Option<RecordCase> {
    use serde_json::json;
    let (&head, mut rest) = data.split_first()?;
    let n_fields = 1 + (head & 7) as usize;
    let encode_chunk = head & 0x08 != 0;
    let empty_list = head & 0xf0 == 0xf0;
    let mut fields = Vec::new();
    let mut sizes = Vec::new();
    let mut dtype_ok = !empty_list;
    let mut dtype_invalid = empty_list;
    for i in 0..n_fields {
        let (&b, r) = rest.split_first()?;
        rest = r;
        let name = format!("f{i}");
        if empty_list {
            continue;
        }
        if b & 0x80 == 0 {
            let dt = RECORD_FIELD_DTYPES[b as usize % RECORD_FIELD_DTYPES.len()];
            sizes.push(DType::parse(dt).expect("valid dtype").size);
            fields.push(json!([name, dt]));
            continue;
        }
        dtype_ok = false;
        let prev = if i > 0 {
            format!("f{}", i - 1)
        } else {
            name.clone()
        };
        let form = (b & 0x7f) as usize % RECORD_FIELD_DAMAGE;
        // complex, sub-array, nested record, object and string fields: numpy reads them
        dtype_invalid |= !matches!(form, 0 | 4 | 5 | 7 | 9);
        fields.push(match form {
            0 => json!([name, "<c8"]),
            1 => json!([name, "<i3"]),
            2 => json!(["", "<u4"]),
            3 if i > 0 => json!([prev, "<u4"]),
            3 => json!([5, "<u4"]),
            4 => json!([name, "<u4", [2]]), // a sub-array field: not supported
            5 => json!([name, [["a", "<u1"], ["b", "<u2"]]]), // nested record
            6 => json!([name]),
            7 => json!([name, "|O"]),
            8 => json!(name),
            _ => json!([name, "<U4"]),
        });
    }
    let (&layout, r) = rest.split_first()?;
    rest = r;
    let (&fill_sel, r) = rest.split_first()?;
    rest = r;
    let item: usize = sizes.iter().sum();
    let (fill, fill_item) = match fill_sel % 8 {
        0 => (serde_json::Value::Null, Some(vec![0u8; item])),
        1..=3 => {
            let one: Vec<u8> = (0..item)
                .map(|k| rest.get(k).copied().unwrap_or(0xff))
                .collect();
            (ItemType::record_fill_json(&one), Some(one))
        }
        4 => (ItemType::record_fill_json(&vec![0u8; item + 1]), None),
        5 => (json!("!!not base64!!"), None),
        6 => (json!(0), None),
        _ => (json!([1, 2]), None),
    };
    let (shape, chunks): (Vec<u64>, Vec<u64>) = match layout % 6 {
        0 => (vec![0], vec![4]),
        1 => (vec![7], vec![8]),
        2 => (vec![5], vec![5]),
        3 => (vec![9], vec![16]),
        4 => (vec![3, 2], vec![4, 2]),
        _ => (vec![2, 3], vec![2, 3]),
    };
    let sep = if layout & 0x40 != 0 { "/" } else { "." };
    let compressor = compressors()[(layout as usize / 6) % 4].clone();
    Some(RecordCase {
        dtype: serde_json::Value::Array(fields),
        dtype_ok,
        dtype_invalid,
        sizes,
        fill,
        fill_item,
        shape,
        chunks,
        sep,
        compressor,
        encode_chunk,
        payload: rest.to_vec(),
    })
}

/// Structured (record) dtypes: a `.zarray` whose list descr and fill value are built
/// from the input (valid or damaged, see [`record_case`]) and one chunk of it (encoded
/// from the input, or the raw input as stored bytes).
///
/// Checks: a damaged dtype or fill value is refused with `Unsupported` or `Metadata`
/// naming `.zarray`, never a panic; a valid one opens, writes the same dtype and fill
/// value back, has the item size of its fields and the fill item of its base64; a
/// damaged chunk is `CorruptChunk` naming its key (and the only one `verify` names); a
/// good chunk reads back byte for byte, and writing what was read into a new array (and
/// rows of it, in reverse order) gives it back.
pub fn record_array(data: &[u8]) -> bool {
    let Some(case) = record_case(data) else {
        return false;
    };
    let m = ArrayMeta {
        shape: case.shape.clone(),
        chunks: case.chunks.clone(),
        dtype: case.dtype.clone(),
        compressor: case.compressor.clone(),
        fill_value: case.fill.clone(),
        filters: None,
        dimension_separator: Some(case.sep.into()),
    };
    let zarray = serde_json::to_vec(&m.to_json()).expect("JSON of metadata");
    let item: usize = case.sizes.iter().sum();
    let chunk_key = m.chunk_key(&vec![0; case.shape.len()]);
    let chunk_items: u64 = case.chunks.iter().product();
    let stored = if case.encode_chunk && case.dtype_ok {
        let mut raw = case.payload.clone();
        raw.resize(chunk_items as usize * item, 0x5a);
        case.compressor
            .compress(&raw, item)
            .expect("a chunk compresses")
    } else {
        case.payload.clone()
    };
    let full_key = format!("a/{chunk_key}");
    let store = MemStore::with(&[("a/.zarray", &zarray), (&full_key, &stored)]);
    let arr = match NumericArray::open(store.clone(), "a") {
        Ok(a) => a,
        Err(e) => {
            assert!(
                !(case.dtype_ok && case.fill_item.is_some()),
                "a valid record array was refused: {e}"
            );
            assert!(
                matches!(
                    &e,
                    wfstore_core::Error::Unsupported { path, .. } if path == "a"
                ) || matches!(
                    &e,
                    wfstore_core::Error::Metadata { path, key, .. } if path == "a" && key == ".zarray"
                ),
                "unexpected error {e}"
            );
            // an invalid dtype or a damaged fill value is damaged metadata; a dtype
            // numpy reads but wfstore does not is unsupported
            let metadata = matches!(&e, wfstore_core::Error::Metadata { .. });
            assert_eq!(
                metadata,
                case.dtype_invalid || case.dtype_ok,
                "{} (fill {}) refused with {e}",
                case.dtype,
                case.fill
            );
            return false;
        }
    };
    assert!(
        case.dtype_ok && case.fill_item.is_some(),
        "opened a damaged record array: {}",
        case.dtype
    );
    assert_eq!(arr.item_type().size(), item);
    // written back as numpy spells it: native order ("=") as little-endian
    let spelled = serde_json::to_string(&case.dtype)
        .expect("JSON of a dtype")
        .replace("\"=", "\"<");
    assert_eq!(
        serde_json::to_string(&arr.item_type().to_json()).expect("JSON of a dtype"),
        spelled,
        "dtype round trip"
    );
    assert_eq!(Some(arr.fill_item().to_vec()), case.fill_item);
    let again = ArrayMeta::parse("a", &zarray).expect("written metadata parses");
    assert_eq!(again.to_json(), m.to_json(), "metadata round trip");
    let bad = arr.verify().expect("verify of an in-memory array");
    let bytes = match arr.read() {
        Ok(b) => {
            assert!(bad.is_empty(), "verify named {bad:?} of a readable array");
            b
        }
        Err(e) => {
            assert!(
                matches!(&e, wfstore_core::Error::CorruptChunk { key, .. } if *key == chunk_key),
                "unexpected error {e}"
            );
            assert!(!case.encode_chunk, "an encoded chunk does not read: {e}");
            assert_eq!(bad.len(), 1, "verify: {bad:?}");
            assert_eq!(bad[0].0, chunk_key);
            return false;
        }
    };
    let n: u64 = case.shape.iter().product();
    assert_eq!(bytes.len() as u64, n * item as u64);
    if case.encode_chunk && n > 0 {
        // The array is the chunk's first rows (shape within one chunk).
        let mut raw = case.payload.clone();
        raw.resize(chunk_items as usize * item, 0x5a);
        let row = case.shape[1..].iter().product::<u64>() as usize * item;
        let crow = case.chunks[1..].iter().product::<u64>() as usize * item;
        for r in 0..case.shape[0] as usize {
            assert_eq!(
                bytes[r * row..(r + 1) * row],
                raw[r * crow..r * crow + row],
                "row {r}"
            );
        }
    }
    // What was read writes and reads back, whole and by rows.
    let opts = wfstore_core::numeric::NumericArrayOptions {
        chunks: Some(case.chunks.clone()),
        compressor: case.compressor.clone(),
        fill_value: case.fill.clone(),
        dimension_separator: Some(case.sep.into()),
        write_empty_chunks: data.len() & 1 == 0,
        ..Default::default()
    };
    let copy =
        NumericArray::create_with(store.clone(), "b", &case.dtype, &case.shape, &bytes, &opts)
            .expect("a record array is created from what was read");
    assert_eq!(copy.read().expect("copy reads"), bytes, "copy round trip");
    if n > 0 && case.shape[1..] == case.chunks[1..] {
        let rows = case.shape[0];
        let row = bytes.len() / rows as usize;
        let ids: Vec<u64> = (0..rows).rev().collect();
        let rev: Vec<u8> = bytes.chunks(row).rev().flatten().copied().collect();
        assert_eq!(copy.get_rows(&ids).expect("rows read"), rev);
        copy.set_rows(&ids, &bytes).expect("rows set");
        assert_eq!(copy.read().expect("copy reads"), rev, "rows set in reverse");
    }
    true
}
