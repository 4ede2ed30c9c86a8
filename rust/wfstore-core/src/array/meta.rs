//! Zarr v2 metadata documents: `.zarray` and `.zgroup` written as zarr-python 2 writes
//! them (sorted keys, four-space indent); `.zattrs` as compact JSON with sorted keys.
//! A workflow's root attributes hold its template and submissions, which every job
//! process reads: indented they are six to eight times larger (16 MB at 100,000 runs).
//! zarr, and so the engines, read either form.

use crate::array::codec::Compressor;
use crate::error::{Error, Result};
use crate::storage::Store;
use rmpv::Value;
use serde_json::{json, Map, Value as Json};

/// Key of an array's metadata document.
pub const ZARRAY: &str = ".zarray";
/// Key of a node's attributes document.
pub const ZATTRS: &str = ".zattrs";
/// Key of a group's metadata document.
pub const ZGROUP: &str = ".zgroup";

/// Join a node path and a key with `/` (an empty path is the root).
pub fn join(path: &str, key: &str) -> String {
    let p = path.trim_end_matches('/');
    let key = key.trim_start_matches('/');
    if p.is_empty() {
        key.to_string()
    } else {
        format!("{p}/{key}")
    }
}

/// Serialise JSON as zarr-python 2 does (`json.dumps(indent=4, sort_keys=True)`).
pub fn to_json_bytes(v: &Json) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(v, &mut ser).map_err(|e| Error::Encode(e.to_string()))?;
    Ok(out)
}

/// The parsed `.zarray` of an array.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayMeta {
    /// Length along each dimension.
    pub shape: Vec<u64>,
    /// Chunk length along each dimension.
    pub chunks: Vec<u64>,
    /// The `dtype` entry: a numpy dtype string (for example `|O` or `<f8`), or a
    /// structured dtype's list descr (`[["name", "<u4"], ...]`).
    pub dtype: Json,
    /// The chunk compressor.
    pub compressor: Compressor,
    /// The fill value as stored in JSON.
    pub fill_value: Json,
    /// `filters` (the object codec for object arrays).
    pub filters: Option<Vec<Json>>,
    /// Separator of chunk-key dimensions (`.` or `/`); `None` when `.zarray` has no
    /// such key (zarr then uses `.`), kept absent when the document is rewritten.
    pub dimension_separator: Option<String>,
}

impl ArrayMeta {
    /// Parse `.zarray` bytes; `path` names the array in errors.
    pub fn parse(path: &str, bytes: &[u8]) -> Result<Self> {
        let bad = |reason: String| Error::Metadata {
            path: path.to_string(),
            key: ZARRAY.to_string(),
            reason,
        };
        let v: Json =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| bad("not a JSON object".into()))?;
        match obj.get("zarr_format").and_then(|v| v.as_u64()) {
            Some(2) => {}
            other => return Err(bad(format!("zarr_format is {other:?}, expected 2"))),
        }
        let dims = |key: &str| -> Result<Vec<u64>> {
            obj.get(key)
                .and_then(|v| v.as_array())
                .and_then(|a| a.iter().map(|d| d.as_u64()).collect::<Option<Vec<_>>>())
                .ok_or_else(|| {
                    bad(format!(
                        "{key:?} is missing or not a list of non-negative integers"
                    ))
                })
        };
        let shape = dims("shape")?;
        let chunks = dims("chunks")?;
        if shape.len() != chunks.len() {
            return Err(bad(format!(
                "shape has {} dimensions but chunks has {}",
                shape.len(),
                chunks.len()
            )));
        }
        if chunks.contains(&0) {
            return Err(bad("a chunk length is zero".into()));
        }
        if shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .is_none()
        {
            return Err(bad(format!("shape {shape:?} has more than 2^64 items")));
        }
        match chunks.iter().try_fold(1u64, |a, &d| a.checked_mul(d)) {
            Some(n) if n <= crate::array::codec::MAX_DECODED_BYTES as u64 => {}
            _ => {
                return Err(bad(format!(
                    "chunks {chunks:?} hold more items than a chunk can decode to ({} bytes)",
                    crate::array::codec::MAX_DECODED_BYTES
                )))
            }
        }
        let dtype = obj
            .get("dtype")
            .filter(|v| v.is_string() || v.is_array())
            .ok_or_else(|| bad("\"dtype\" is missing or not a string or a list".into()))?
            .clone();
        let compressor = Compressor::from_config(obj.get("compressor").unwrap_or(&Json::Null))
            .map_err(|e| bad(e.to_string()))?;
        let order = obj.get("order").and_then(|v| v.as_str()).unwrap_or("C");
        if order != "C" {
            return Err(Error::Unsupported {
                path: path.to_string(),
                reason: format!("order {order:?} (only C order)"),
            });
        }
        let filters = match obj.get("filters") {
            None | Some(Json::Null) => None,
            Some(Json::Array(a)) => Some(a.clone()),
            Some(_) => return Err(bad("\"filters\" is not a list".into())),
        };
        let dimension_separator = match obj.get("dimension_separator") {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) if s == "." || s == "/" => Some(s.clone()),
            Some(other) => return Err(bad(format!("bad dimension_separator {other}"))),
        };
        Ok(ArrayMeta {
            shape,
            chunks,
            dtype,
            compressor,
            fill_value: obj.get("fill_value").cloned().unwrap_or(Json::Null),
            filters,
            dimension_separator,
        })
    }

    /// The `.zarray` document as JSON.
    pub fn to_json(&self) -> Json {
        let mut doc = json!({
            "chunks": self.chunks,
            "compressor": self.compressor.to_config(),
            "dtype": self.dtype,
            "fill_value": self.fill_value,
            "filters": self.filters,
            "order": "C",
            "shape": self.shape,
            "zarr_format": 2,
        });
        if let (Some(sep), Some(obj)) = (&self.dimension_separator, doc.as_object_mut()) {
            obj.insert("dimension_separator".into(), Json::from(sep.as_str()));
        }
        doc
    }

    /// Number of chunks along each dimension.
    pub fn grid(&self) -> Vec<u64> {
        self.shape
            .iter()
            .zip(&self.chunks)
            .map(|(s, c)| s.div_ceil(*c))
            .collect()
    }

    /// The key (relative to the array) of the chunk at grid position `idx`.
    pub fn chunk_key(&self, idx: &[u64]) -> String {
        if idx.is_empty() {
            return "0".to_string();
        }
        idx.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(self.dimension_separator.as_deref().unwrap_or("."))
    }
}

/// Read and parse the `.zarray` of the array at `path`.
pub fn read_array_meta(store: &dyn Store, path: &str) -> Result<ArrayMeta> {
    match store.get(&join(path, ZARRAY))? {
        Some(b) => ArrayMeta::parse(path, &b),
        None => Err(Error::ArrayNotFound {
            path: join(&store.location(), path),
        }),
    }
}

/// Write the `.zarray` of an array.
pub fn write_array_meta(store: &dyn Store, path: &str, meta: &ArrayMeta) -> Result<()> {
    store.set(&join(path, ZARRAY), &to_json_bytes(&meta.to_json())?)
}

/// Read a node's attributes (`{}` when it has no `.zattrs`).
pub fn read_attrs(store: &dyn Store, path: &str) -> Result<Json> {
    match store.get(&join(path, ZATTRS))? {
        None => Ok(Json::Object(Map::new())),
        Some(b) => {
            let v: Json = serde_json::from_slice(&b)
                .map_err(|e| attrs_error(path, format!("not valid JSON: {e}")))?;
            if !v.is_object() {
                return Err(attrs_error(path, "not a JSON object".into()));
            }
            Ok(v)
        }
    }
}

/// The error for a node's `.zattrs` that is not a JSON object (for readers that
/// parse the document themselves, such as the Python binding).
pub fn attrs_error(path: &str, reason: String) -> Error {
    Error::Metadata {
        path: path.to_string(),
        key: ZATTRS.to_string(),
        reason,
    }
}

/// Replace a node's attributes (must be a JSON object).
pub fn write_attrs(store: &dyn Store, path: &str, attrs: &Json) -> Result<()> {
    if !attrs.is_object() {
        return Err(Error::InvalidArgument(
            "attributes must be a mapping".into(),
        ));
    }
    store.set(&join(path, ZATTRS), &attrs_json_bytes(attrs)?)
}

/// Serialise an attributes document: compact JSON, keys sorted (see the module doc).
fn attrs_json_bytes(v: &Json) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Encode(e.to_string()))
}

/// Create a group (`.zgroup`) at `path`, with attributes if given; an existing group is kept.
pub fn create_group(store: &dyn Store, path: &str, attrs: Option<&Json>) -> Result<()> {
    let key = join(path, ZGROUP);
    if store.get(&key)?.is_none() {
        store.set(&key, &to_json_bytes(&json!({"zarr_format": 2}))?)?;
    }
    if let Some(a) = attrs {
        write_attrs(store, path, a)?;
    }
    Ok(())
}

/// Convert a JSON value to a msgpack value (integers stay integers).
pub fn json_to_msgpack(v: &Json) -> Value {
    match v {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(a) => Value::Array(a.iter().map(json_to_msgpack).collect()),
        Json::Object(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (Value::from(k.as_str()), json_to_msgpack(v)))
                .collect(),
        ),
    }
}

/// Convert a msgpack value to JSON, for fill values and attributes. Fails on binary
/// data, non-string map keys and non-finite floats.
pub fn msgpack_to_json(v: &Value) -> Result<Json> {
    Ok(match v {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => {
            if let Some(u) = i.as_u64() {
                Json::from(u)
            } else if let Some(s) = i.as_i64() {
                Json::from(s)
            } else {
                return Err(Error::Encode(format!("integer {i} out of range")));
            }
        }
        Value::F32(f) => serde_json::Number::from_f64(f64::from(*f))
            .map(Json::Number)
            .ok_or_else(|| Error::Encode(format!("non-finite float {f}")))?,
        Value::F64(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .ok_or_else(|| Error::Encode(format!("non-finite float {f}")))?,
        Value::String(s) => Json::String(
            s.as_str()
                .ok_or_else(|| Error::Encode("string is not valid UTF-8".into()))?
                .to_string(),
        ),
        Value::Array(a) => Json::Array(a.iter().map(msgpack_to_json).collect::<Result<_>>()?),
        Value::Map(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let k = k
                    .as_str()
                    .ok_or_else(|| Error::Encode(format!("map key {k} is not a string")))?;
                out.insert(k.to_string(), msgpack_to_json(v)?);
            }
            Json::Object(out)
        }
        Value::Binary(_) | Value::Ext(..) => {
            return Err(Error::Encode(
                "binary values cannot be stored as JSON".into(),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_trip_exactly() {
        // Found by fuzzing: without serde_json's `float_roundtrip`, some numbers were
        // read one unit in the last place off, so rewriting `.zarray`/`.zattrs` changed
        // them. Python's `repr` of each value is given.
        for text in [
            "1.1844674407370957e+20",
            "118446744073709551615",
            "0.1",
            "5e-324",
            "1.7976931348623157e+308",
            "2.2250738585072014e-308",
            "0.30000000000000004",
        ] {
            let v: Json = serde_json::from_str(text).unwrap();
            let want: f64 = text.parse().unwrap();
            assert_eq!(v.as_f64().unwrap().to_bits(), want.to_bits(), "{text}");
            let again: Json = serde_json::from_slice(&to_json_bytes(&v).unwrap()).unwrap();
            assert_eq!(again, v, "{text}");
        }
    }

    const ENGINE_ZARRAY: &str = r#"{
    "chunks": [
        1
    ],
    "compressor": {
        "blocksize": 0,
        "clevel": 5,
        "cname": "lz4",
        "id": "blosc",
        "shuffle": 1
    },
    "dimension_separator": ".",
    "dtype": "|O",
    "fill_value": 0,
    "filters": [
        {
            "id": "msgpack2",
            "raw": false,
            "use_bin_type": true,
            "use_single_float": false
        }
    ],
    "order": "C",
    "shape": [
        4
    ],
    "zarr_format": 2
}"#;

    #[test]
    fn engine_zarray_round_trips_byte_for_byte() {
        let m = ArrayMeta::parse("metadata/runs", ENGINE_ZARRAY.as_bytes()).unwrap();
        assert_eq!(m.shape, vec![4]);
        assert_eq!(m.chunks, vec![1]);
        assert_eq!(m.compressor, Compressor::default());
        let out = to_json_bytes(&m.to_json()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), ENGINE_ZARRAY);
    }

    #[test]
    fn broken_metadata_names_the_path() {
        let e = ArrayMeta::parse("metadata/runs", b"{\"shape\": [1").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("metadata/runs") && s.contains(".zarray"), "{s}");
        let e = ArrayMeta::parse(
            "a",
            br#"{"zarr_format": 2, "shape": [1], "chunks": [0], "dtype": "|O"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("zero"));
        let e = ArrayMeta::parse("a", br#"{"zarr_format": 3}"#).unwrap_err();
        assert!(e.to_string().contains("zarr_format"));
    }

    #[test]
    fn absent_dimension_separator_stays_absent() {
        let doc = ENGINE_ZARRAY.replace("    \"dimension_separator\": \".\",\n", "");
        let m = ArrayMeta::parse("a", doc.as_bytes()).unwrap();
        assert_eq!(m.dimension_separator, None);
        assert_eq!(m.chunk_key(&[2]), "2");
        assert_eq!(
            String::from_utf8(to_json_bytes(&m.to_json()).unwrap()).unwrap(),
            doc
        );
    }

    #[test]
    fn join_keeps_absolute_locations() {
        assert_eq!(join("/tmp/x", "a"), "/tmp/x/a");
        assert_eq!(join("", "/a"), "a");
        assert_eq!(join("m/", ".zarray"), "m/.zarray");
    }

    #[test]
    fn attrs_written_compact_with_sorted_keys() {
        let d = tempfile::tempdir().unwrap();
        let s = crate::LocalStore::new(d.path());
        let attrs = json!({"b": [1, 2, {"z": null, "y": "\u{e9}"}], "a": 1.5});
        write_attrs(&s, "g", &attrs).unwrap();
        let raw = s.get("g/.zattrs").unwrap().unwrap();
        assert_eq!(
            String::from_utf8(raw).unwrap(),
            "{\"a\":1.5,\"b\":[1,2,{\"y\":\"\u{e9}\",\"z\":null}]}"
        );
        assert_eq!(read_attrs(&s, "g").unwrap(), attrs);
    }

    #[test]
    fn chunk_keys() {
        let mut m = ArrayMeta::parse("m", ENGINE_ZARRAY.as_bytes()).unwrap();
        assert_eq!(m.chunk_key(&[3]), "3");
        m.dimension_separator = Some("/".into());
        assert_eq!(m.chunk_key(&[1, 2]), "1/2");
    }

    #[test]
    fn json_msgpack_conversion() {
        let j = json!({"a": [1, -2, 2.5, null, true, "x"]});
        assert_eq!(msgpack_to_json(&json_to_msgpack(&j)).unwrap(), j);
        assert!(msgpack_to_json(&Value::from(f64::NAN)).is_err());
    }
}
