//! Finding the damage a store's files hold: every metadata document, chunk or file that
//! cannot be read as it should, named by its folder and key.
//!
//! The rules are those of `wfstore verify` (python/wfstore/tools/verify.py, which reads
//! object arrays through [`ObjectArray::verify`] as this does): `.zarray`, `.zattrs`
//! and `.zgroup` must be JSON objects (and `.zarray` an array the core opens); every
//! chunk within an array's shape must decode to exactly one chunk of rows or bytes (of
//! a numeric array of a dtype numpy reads but wfstore does not, such as strings, or
//! with filters: decompress); a
//! JSON store's three documents must parse as their JSON types; hpcflow 0.3.0's run
//! files and parameter files must decode. Absent chunks are fill values (Zarr's rule,
//! and the engine leaves unset parameters' chunks out), not damage. Traces of writes
//! cut short (temporary files, journals, a rechunk's folders) are not data and are
//! skipped: recovery and `wfstore repair` deal with them.

use crate::array::codec::Compressor;
use crate::array::meta::ArrayMeta;
use crate::array::numeric::NumericArray;
use crate::array::object::ObjectArray;
use crate::error::{Error, Result};
use crate::names::{JOURNAL_PREFIX, RECHUNK_SUFFIXES, TMP_PREFIX};
use crate::storage::Store;
use rmpv::Value;
use std::sync::Arc;

// hpcflow 0.3.0's layout (docs/hpcflow-0.3-format.md; the engine's names, not
// wfstore's, as in python/wfstore/persistence/v03/layout.py)
/// The groups holding the engines' arrays (both generations): a chunk key in one of
/// their folders belongs to an array.
const ARRAY_GROUPS: [&str; 2] = ["metadata", "parameters"];
/// The folder of run files (`<sub>/<shard>/<number>`, plain msgpack).
const V03_RUN_FILES_DIR: &str = "metadata/run_multi";
/// The folder of parameter files (`<sub>/<shard>/<number>`).
const V03_PARAM_FILES_DIR: &str = "parameters/base_multi";
/// The header of a zstd-compressed parameter file.
const V03_PARAM_FILE_MAGIC: &[u8] = b"HPCFZ1";

/// One damaged document, chunk or file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The folder holding it (an array's path; `""` for the root).
    pub folder: String,
    /// Its name in that folder (`.zarray`, a chunk key, `metadata.json`, a file number).
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl Damage {
    /// `folder/key`: the key's path in the store.
    pub fn location(&self) -> String {
        crate::array::meta::join(&self.folder, &self.key)
    }
}

/// The JSON store's documents and the JSON type each must have.
const JSON_DOCUMENTS: [(&str, bool); 3] = [
    ("metadata.json", true),
    ("parameters.json", true),
    ("submissions.json", false),
];

/// Every damaged item of the store (a Zarr store of either engine generation, or a
/// JSON store), in folder order.
pub fn verify_store(store: Arc<dyn Store>) -> Result<Vec<Damage>> {
    let mut out = Vec::new();
    let root = store.list_dir("")?;
    if root.iter().any(|n| n == JSON_DOCUMENTS[0].0) {
        for (name, is_object) in JSON_DOCUMENTS {
            let reason = match store.get(name)? {
                None => Some("missing".to_string()),
                Some(b) => match serde_json::from_slice::<serde_json::Value>(&b) {
                    Err(e) => Some(format!("invalid JSON: {e}")),
                    Ok(v) if is_object && !v.is_object() => Some("not a JSON object".into()),
                    Ok(v) if !is_object && !v.is_array() => Some("not a JSON list".into()),
                    Ok(_) => None,
                },
            };
            if let Some(reason) = reason {
                out.push(damage("", name, reason));
            }
        }
        return Ok(out);
    }
    verify_folder(&store, "", &mut out)?;
    Ok(out)
}

fn damage(folder: &str, key: &str, reason: String) -> Damage {
    Damage {
        folder: folder.to_string(),
        key: key.to_string(),
        reason,
    }
}

/// Whether a name is a trace of an interrupted write, not data.
fn is_trace(name: &str) -> bool {
    name.starts_with(TMP_PREFIX)
        || name.starts_with(JOURNAL_PREFIX)
        || RECHUNK_SUFFIXES.iter().any(|s| name.ends_with(s))
}

fn verify_folder(store: &Arc<dyn Store>, folder: &str, out: &mut Vec<Damage>) -> Result<()> {
    let names = store.list_dir(folder)?;
    let key = |n: &str| crate::array::meta::join(folder, n);
    for doc in [".zgroup", ".zattrs"] {
        if names.iter().any(|n| n == doc) {
            if let Some(reason) = json_object_damage(store.get(&key(doc))?) {
                out.push(damage(folder, doc, reason));
            }
        }
    }
    if names.iter().any(|n| n == ".zarray") {
        verify_array(store, folder, out)?;
        return Ok(()); // nested chunk keys belong to the array
    }
    let files_of = |dir: &str| folder == dir || folder.starts_with(&format!("{dir}/"));
    let in_arrays = ARRAY_GROUPS
        .iter()
        .any(|g| folder.starts_with(&format!("{g}/")));
    for n in &names {
        if n.starts_with('.') || is_trace(n) {
            continue;
        }
        if store.dir_exists(&key(n))? {
            verify_folder(store, &key(n), out)?;
        } else if files_of(V03_RUN_FILES_DIR) {
            if let Some(Err(reason)) = store.get(&key(n))?.map(|b| run_file(&b)) {
                out.push(damage(folder, n, format!("run file: {reason}")));
            }
        } else if files_of(V03_PARAM_FILES_DIR) {
            if let Some(Err(reason)) = store.get(&key(n))?.map(|b| param_file(&b)) {
                out.push(damage(folder, n, format!("parameter file: {reason}")));
            }
        } else if in_arrays && is_chunk_key(n) {
            // a chunk key in a folder of the arrays' groups that holds no array: what
            // a crash leaves of a new array whose `.zarray` never reached the disk
            // (never read, but in the way of the next writer that creates the array)
            out.push(damage(
                folder,
                n,
                "a chunk without its array's .zarray (never read)".into(),
            ));
        }
    }
    Ok(())
}

/// Whether `name` has the form of a Zarr chunk key (`3`, `0.1`).
fn is_chunk_key(name: &str) -> bool {
    name.split('.')
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn json_object_damage(bytes: Option<Vec<u8>>) -> Option<String> {
    let bytes = bytes?;
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Err(e) => Some(format!("invalid JSON: {e}")),
        Ok(v) if !v.is_object() => Some("not a JSON object".into()),
        Ok(_) => None,
    }
}

fn verify_array(store: &Arc<dyn Store>, path: &str, out: &mut Vec<Damage>) -> Result<()> {
    let zarray = crate::array::meta::join(path, ".zarray");
    let Some(bytes) = store.get(&zarray)? else {
        return Ok(());
    };
    let chunk_files = || -> Result<Vec<String>> {
        Ok(store
            .list_dir(path)?
            .into_iter()
            .filter(|n| !n.starts_with('.') && !is_trace(n))
            .collect())
    };
    // no reader can read the chunks of an array whose metadata is damaged: each is
    // named with it
    let unreadable = |reason: String, out: &mut Vec<Damage>| -> Result<()> {
        out.push(damage(path, ".zarray", reason));
        for n in chunk_files()? {
            out.push(damage(
                path,
                &n,
                "unreadable: the array's .zarray is damaged".into(),
            ));
        }
        Ok(())
    };
    let meta = match ArrayMeta::parse(path, &bytes) {
        Ok(m) => m,
        Err(e) => return unreadable(e.to_string(), out),
    };
    let numeric = meta.dtype != "|O";
    let bad = if numeric {
        NumericArray::open(store.clone(), path).and_then(|a| a.verify())
    } else {
        ObjectArray::open(store.clone(), path, true).and_then(|a| a.verify())
    };
    match bad {
        Ok(bad) => out.extend(bad.into_iter().map(|(k, r)| damage(path, &k, r))),
        // a dtype numpy reads but wfstore does not (strings, dates, ...), or filters:
        // no damage; each stored chunk must still decompress
        Err(Error::Unsupported { .. }) if numeric => {
            for (key, reason) in undecompressable_chunks(store.as_ref(), path, &meta)? {
                out.push(damage(path, &key, reason));
            }
        }
        Err(e @ (Error::Metadata { .. } | Error::Unsupported { .. } | Error::Codec(_))) => {
            unreadable(e.to_string(), out)?
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// The stored chunks within the shape of the array `meta` at `path` that do not
/// decompress, as (chunk key, reason); for numeric arrays whose items wfstore does
/// not decode (as `wfstore verify` checks them).
fn undecompressable_chunks(
    store: &dyn Store,
    path: &str,
    meta: &ArrayMeta,
) -> Result<Vec<(String, String)>> {
    let grid = meta.grid();
    let mut out = Vec::new();
    if grid.contains(&0) {
        return Ok(out);
    }
    let mut pos = vec![0u64; grid.len()];
    loop {
        let key = meta.chunk_key(&pos);
        if let Some(raw) = store.get(&crate::array::meta::join(path, &key))? {
            if let Err(e) = meta.compressor.decompress(&raw) {
                out.push((key, e.to_string()));
            }
        }
        // next grid position in C order
        let mut d = grid.len();
        loop {
            if d == 0 {
                return Ok(out);
            }
            d -= 1;
            pos[d] += 1;
            if pos[d] < grid[d] {
                break;
            }
            pos[d] = 0;
        }
    }
}

/// Exactly one msgpack value in `bytes`.
fn one_msgpack(bytes: &[u8]) -> std::result::Result<Value, String> {
    let mut rd = bytes;
    let v = rmpv::decode::read_value(&mut rd).map_err(|e| e.to_string())?;
    if !rd.is_empty() {
        return Err(format!("{} bytes after the msgpack value", rd.len()));
    }
    Ok(v)
}

/// An hpcflow 0.3.0 run file: a msgpack list of nil or run entries (lists).
fn run_file(bytes: &[u8]) -> std::result::Result<(), String> {
    match one_msgpack(bytes)? {
        Value::Array(v) if v.iter().all(|e| e.is_nil() || e.is_array()) => Ok(()),
        _ => Err("not a list of run entries".into()),
    }
}

/// An hpcflow 0.3.0 parameter file: `HPCFZ1` and a zstd frame, or plain msgpack, of a
/// list of maps.
fn param_file(bytes: &[u8]) -> std::result::Result<(), String> {
    let plain;
    let raw = match bytes.strip_prefix(V03_PARAM_FILE_MAGIC) {
        Some(frame) => {
            let zstd = Compressor::Zstd {
                level: 1,
                checksum: false,
            };
            plain = zstd.decompress(frame).map_err(|e| e.to_string())?;
            &plain[..]
        }
        None => bytes,
    };
    match one_msgpack(raw)? {
        Value::Array(v) if v.iter().all(Value::is_map) => Ok(()),
        _ => Err("not a list of maps".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::object::ObjectArrayOptions;
    use crate::storage::local::LocalStore;

    #[test]
    fn names_each_damaged_key_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let st: Arc<dyn Store> = Arc::new(LocalStore::new(d.path()));
        let opts = ObjectArrayOptions {
            chunk_size: Some(2),
            ..Default::default()
        };
        let a = ObjectArray::create(st.clone(), "metadata/runs", 0, &opts).unwrap();
        a.append((0..5).map(|i| Value::from(i as i64 + 10)).collect())
            .unwrap();
        NumericArray::create(
            st.clone(),
            "parameters/arrays/0",
            "<f8",
            &[3],
            None,
            Compressor::default(),
            serde_json::json!(0.0),
            &[1u8; 24],
            false,
        )
        .unwrap();
        st.set("metadata/run_multi/0/0/3", &[0x91, 0x90]).unwrap();
        st.set(".zattrs", b"{}").unwrap();
        assert_eq!(verify_store(st.clone()).unwrap(), vec![]);
        // damage of each kind a power cut leaves: empty, zero-filled, cut short
        std::fs::write(d.path().join("metadata/runs/1"), b"").unwrap();
        std::fs::write(d.path().join("parameters/arrays/0/0"), [0u8; 30]).unwrap();
        std::fs::write(d.path().join("metadata/run_multi/0/0/3"), [0x91]).unwrap();
        std::fs::write(d.path().join(".zattrs"), b"{\"na").unwrap();
        // traces are no damage
        std::fs::write(d.path().join("metadata/runs/.wfstore-tmp-x"), b"").unwrap();
        let got: Vec<String> = verify_store(st.clone())
            .unwrap()
            .iter()
            .map(Damage::location)
            .collect();
        assert_eq!(
            got,
            [
                ".zattrs",
                "metadata/run_multi/0/0/3",
                "metadata/runs/1",
                "parameters/arrays/0/0"
            ]
        );
        // a damaged `.zarray` makes every chunk of its array unreadable: each is named
        std::fs::write(d.path().join("metadata/runs/.zarray"), [0u8; 8]).unwrap();
        let got: Vec<String> = verify_store(st.clone())
            .unwrap()
            .iter()
            .map(Damage::location)
            .filter(|l| l.starts_with("metadata/runs/"))
            .collect();
        assert_eq!(
            got,
            [
                "metadata/runs/.zarray",
                "metadata/runs/0",
                "metadata/runs/1",
                "metadata/runs/2"
            ]
        );
        // a chunk whose array's `.zarray` never reached the disk
        std::fs::remove_file(d.path().join("parameters/arrays/0/.zarray")).unwrap();
        assert!(verify_store(st)
            .unwrap()
            .iter()
            .any(|x| x.location() == "parameters/arrays/0/0"));
    }

    #[test]
    fn numeric_arrays_of_unread_dtypes_are_checked_to_decompress() {
        let d = tempfile::tempdir().unwrap();
        let st: Arc<dyn Store> = Arc::new(LocalStore::new(d.path()));
        let zstd = Compressor::Zstd {
            level: 1,
            checksum: false,
        };
        // strings as zarr-python writes them (4 items of <U2 in chunks of 2), and a
        // record with a sub-array field: numpy reads both, wfstore does not
        for (path, dtype) in [
            ("parameters/arrays/s", serde_json::json!("<U2")),
            (
                "metadata/rec",
                serde_json::json!([["a", "|u1"], ["b", "<u4", [2]]]),
            ),
        ] {
            let meta = ArrayMeta {
                shape: vec![4],
                chunks: vec![2],
                dtype,
                compressor: zstd.clone(),
                fill_value: serde_json::Value::Null,
                filters: None,
                dimension_separator: None,
            };
            crate::array::meta::write_array_meta(st.as_ref(), path, &meta).unwrap();
            for k in ["0", "1", "7"] {
                let chunk = zstd.compress(&[b'a'; 16], 1).unwrap();
                st.set(&format!("{path}/{k}"), &chunk).unwrap();
            }
        }
        assert_eq!(verify_store(st.clone()).unwrap(), vec![]);
        // chunk 7 is beyond the shape: never read, so not named
        for p in ["parameters/arrays/s/1", "metadata/rec/0", "metadata/rec/7"] {
            st.set(p, b"not zstd").unwrap();
        }
        let got: Vec<String> = verify_store(st)
            .unwrap()
            .iter()
            .map(Damage::location)
            .collect();
        assert_eq!(got, ["metadata/rec/0", "parameters/arrays/s/1"]);
    }

    #[test]
    fn a_json_store_documents_are_checked() {
        let d = tempfile::tempdir().unwrap();
        let st: Arc<dyn Store> = Arc::new(LocalStore::new(d.path()));
        st.set("metadata.json", b"{}").unwrap();
        st.set("parameters.json", b"{\"data\": {}}").unwrap();
        st.set("submissions.json", b"{}").unwrap();
        let got: Vec<String> = verify_store(st)
            .unwrap()
            .iter()
            .map(|x| format!("{}: {}", x.location(), x.reason))
            .collect();
        assert_eq!(got, ["submissions.json: not a JSON list"]);
    }
}
