//! Rechunking an object array to a new chunk size, streaming with bounded memory and
//! swapping the new array in so that a crash at any moment leaves the old or the new
//! array whole.
//!
//! The new array is built beside the old one in `<array>.rechunk-tmp`, with a marker
//! file written once it is complete. The swap is two renames: the old array goes to
//! `<array>.bak` (when a backup is asked for; any earlier backup is first renamed to
//! `<array>.bak.old` and deleted after the swap) or to `<array>.rechunk-old`, then the
//! new one takes the array's name. [`recover_array`] finishes or rolls back an
//! interrupted rechunk and is run before every rechunk; callers opening a store should
//! run it too.
//!
//! The steps run over any [`Store`] that moves folders ([`rechunk_array`]): a local
//! folder, or an fsspec file system through the Python bindings, with the same names and
//! the same recovery.

use crate::array::codec::ObjectCodec;
use crate::array::meta;
use crate::array::numeric::{NumericArray, NumericArrayOptions};
use crate::array::object::{ObjectArray, ObjectArrayOptions};
use crate::error::{Error, Result};
use crate::storage::Store;
use rayon::prelude::*;
use rmpv::Value;
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::names::{
    BACKUP_OLD_SUFFIX, BACKUP_SUFFIX, RECHUNK_COMPLETE_MARKER as COMPLETE_MARKER,
    RECHUNK_OLD_SUFFIX as OLD_SUFFIX, RECHUNK_TMP_SUFFIX as TMP_SUFFIX,
};

/// Rows read per step (at least one old and one new chunk are always held).
const WINDOW_ROWS: u64 = 1 << 16;

/// Figures of a rechunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RechunkReport {
    /// Rows in the array.
    pub rows: u64,
    /// Chunk size before.
    pub old_chunk_size: u64,
    /// Chunk size after.
    pub new_chunk_size: u64,
    /// Number of chunk files written.
    pub chunks_written: u64,
    /// Where the backup is, when one was made.
    pub backup: Option<PathBuf>,
}

/// Finish or roll back an interrupted rechunk of the array `array` (a folder key) of
/// `store`; returns whether anything was done. Run before every rechunk; callers
/// opening a store for writing should run it too (under the store's lock: while the
/// array is in place another process may be rechunking it).
pub fn recover_array(store: &dyn Store, array: &str) -> Result<bool> {
    let array = array.trim_matches('/');
    let tmp = format!("{array}{TMP_SUFFIX}");
    let old = format!("{array}{OLD_SUFFIX}");
    let bak = format!("{array}{BACKUP_SUFFIX}");
    let bak_old = format!("{array}{BACKUP_OLD_SUFFIX}");
    let mut acted = false;
    if !store.dir_exists(array)? {
        if store.get(&format!("{tmp}/{COMPLETE_MARKER}"))?.is_some() {
            // Crash between the two moves of the swap: the new array is whole.
            store.rename_dir(&tmp, array)?;
            acted = true;
        } else if store.dir_exists(&old)? {
            store.rename_dir(&old, array)?;
            acted = true;
        }
    }
    if store.dir_exists(array)? {
        for leftover in [&tmp, &old] {
            if store.dir_exists(leftover)? {
                store.delete_dir(leftover)?;
                acted = true;
            }
        }
        if store.dir_exists(&bak_old)? {
            if store.dir_exists(&bak)? {
                // The swap happened: `.bak` is the new backup, `.bak.old` the one before.
                store.delete_dir(&bak_old)?;
            } else {
                // Crash after the earlier backup was moved aside but before the array
                // took its place: the array is unchanged, so the backup goes back too.
                store.rename_dir(&bak_old, &bak)?;
            }
            acted = true;
        }
        let marker = format!("{array}/{COMPLETE_MARKER}");
        if store.get(&marker)?.is_some() {
            store.delete(&marker)?;
            acted = true;
        }
    }
    Ok(acted)
}

/// Rechunk the object array `array` (a folder key) of `store` to chunks of
/// `chunk_size` rows (`None`: one chunk holding every row), keeping the old array as
/// `<array>.bak` when `backup`. The store must move folders
/// ([`Store::can_rename_dir`]): local folders, and fsspec file systems through the
/// Python bindings.
///
/// Every old chunk is decoded; when any fails, nothing is changed and
/// [`Error::Rechunk`] lists each bad chunk. `progress(rows_done, rows_total)` is called
/// as rows are copied. An interrupted rechunk is finished or rolled back by
/// [`recover_array`], which this runs first.
pub fn rechunk_array(
    store: Arc<dyn Store>,
    array: &str,
    chunk_size: Option<u64>,
    backup: bool,
    progress: Option<&(dyn Fn(u64, u64) + Sync)>,
) -> Result<RechunkReport> {
    let name = array.trim_matches('/').to_string();
    if name.is_empty() {
        return Err(Error::InvalidArgument(
            "the array to rechunk must be a folder of the store, not its root".into(),
        ));
    }
    if store.read_only() || !store.can_rename_dir() {
        return Err(Error::InvalidArgument(format!(
            "cannot rechunk {name} in store {}: it cannot move folders",
            store.location()
        )));
    }
    recover_array(store.as_ref(), &name)?;
    if meta::read_array_meta(store.as_ref(), &name)?.dtype != "|O" {
        return rechunk_numeric(store, &name, chunk_size, backup, progress);
    }
    let src = ObjectArray::open(store.clone(), &name, true)?;
    let n = src.len();
    let old_cs = src.chunk_size();
    let new_cs = match chunk_size {
        Some(0) => {
            return Err(Error::InvalidArgument(
                "chunk size must be at least 1".into(),
            ))
        }
        Some(c) => c,
        None => n.max(1),
    };
    if new_cs > crate::array::object::MAX_CHUNK_ROWS {
        return Err(Error::InvalidArgument(format!(
            "chunk size {new_cs} of {} is above the limit of {} rows per chunk",
            meta::join(&store.location(), &name),
            crate::array::object::MAX_CHUNK_ROWS
        )));
    }
    let tmp_name = format!("{name}{TMP_SUFFIX}");
    store.delete_dir(&tmp_name)?;
    let result = if matches!(src.object_codec(), ObjectCodec::MsgPack) {
        build_new_spliced(&store, &src, &tmp_name, n, old_cs, new_cs, progress)
    } else {
        build_new(&store, &src, &tmp_name, n, old_cs, new_cs, progress)
    };
    let built = result.and_then(|chunks_written| {
        meta::write_array_meta(store.as_ref(), &tmp_name, &{
            let mut m = src.meta();
            m.chunks = vec![new_cs];
            m.shape = vec![n];
            m
        })?;
        store.set(&format!("{tmp_name}/{COMPLETE_MARKER}"), b"")?;
        // whatever the durability, the new array is on disk before the swap's moves
        // can be: a power cut leaves the old or the new array whole, never empty files
        // under the array's name (one flush per file, against a rewrite of every chunk)
        store.flush_dir(&tmp_name)?;
        Ok(chunks_written)
    });
    let chunks_written = match built {
        Ok(c) => c,
        Err(e) => {
            let _ = store.delete_dir(&tmp_name);
            return Err(e);
        }
    };
    let backup_key = swap_in(store.as_ref(), &name, &tmp_name, backup)?;
    Ok(RechunkReport {
        rows: n,
        old_chunk_size: old_cs,
        new_chunk_size: new_cs,
        chunks_written,
        backup: backup_key.map(|k| PathBuf::from(meta::join(&store.location(), &k))),
    })
}

/// Swap the complete new array `tmp_name` in for `name` (keeping the old one as the
/// backup when `backup`); returns the backup's key.
fn swap_in(store: &dyn Store, name: &str, tmp_name: &str, backup: bool) -> Result<Option<String>> {
    let backup_key = if backup {
        let bak = format!("{name}{BACKUP_SUFFIX}");
        if store.dir_exists(&bak)? {
            store.rename_dir(&bak, &format!("{name}{BACKUP_OLD_SUFFIX}"))?;
        }
        store.rename_dir(name, &bak)?;
        Some(bak)
    } else {
        store.rename_dir(name, &format!("{name}{OLD_SUFFIX}"))?;
        None
    };
    store.rename_dir(tmp_name, name)?;
    recover_array(store, name)?;
    Ok(backup_key)
}

/// [`rechunk_array`] of a numeric, bool or structured array: rows along the first
/// axis regrouped into chunks of `chunk_size` rows (the other axes kept whole, as the
/// array must have them), a window of rows at a time; chunks of fill values only are
/// not written (they read the same). Bad chunks are all reported, nothing changed.
fn rechunk_numeric(
    store: Arc<dyn Store>,
    name: &str,
    chunk_size: Option<u64>,
    backup: bool,
    progress: Option<&(dyn Fn(u64, u64) + Sync)>,
) -> Result<RechunkReport> {
    let src = NumericArray::open(store.clone(), name)?;
    let shape = src.shape().to_vec();
    if shape.is_empty() || shape[1..] != src.chunks()[1..] {
        return Err(Error::Unsupported {
            path: meta::join(&store.location(), name),
            reason: format!(
                "rechunk of chunks {:?} that do not span shape {shape:?} past the first axis",
                src.chunks()
            ),
        });
    }
    let n = shape[0];
    let old_cs = src.chunks()[0];
    let new_cs = match chunk_size {
        Some(0) => {
            return Err(Error::InvalidArgument(
                "chunk size must be at least 1".into(),
            ))
        }
        Some(c) => c,
        None => n.max(1),
    };
    let mut new_chunks = src.chunks().to_vec();
    new_chunks[0] = new_cs;
    // every old chunk decodes, or nothing is changed
    let bad = src.verify()?;
    if !bad.is_empty() {
        let mut bad = bad;
        bad.sort();
        return Err(Error::Rechunk {
            path: meta::join(&store.location(), name),
            bad_chunks: bad,
        });
    }
    let tmp_name = format!("{name}{TMP_SUFFIX}");
    store.delete_dir(&tmp_name)?;
    let built = (|| -> Result<u64> {
        let m = src.meta();
        let mut empty = shape.clone();
        empty[0] = 0;
        let opts = NumericArrayOptions {
            chunks: Some(new_chunks.clone()),
            compressor: m.compressor.clone(),
            fill_value: m.fill_value.clone(),
            overwrite: true,
            dimension_separator: m.dimension_separator.clone(),
            write_empty_chunks: false,
        };
        let mut dst =
            NumericArray::create_with(store.clone(), &tmp_name, &m.dtype, &empty, &[], &opts)?;
        let attrs = meta::read_attrs(store.as_ref(), name)?;
        if attrs.as_object().is_some_and(|o| !o.is_empty()) {
            meta::write_attrs(store.as_ref(), &tmp_name, &attrs)?;
        }
        dst.resize(n)?;
        let window = new_cs * WINDOW_ROWS.div_ceil(new_cs).max(1);
        let mut a = 0u64;
        while a < n {
            let b = (a + window).min(n);
            let ids: Vec<u64> = (a..b).collect();
            dst.set_rows(&ids, &src.get_rows(&ids)?)?;
            if let Some(p) = progress {
                p(b, n);
            }
            a = b;
        }
        store.set(&format!("{tmp_name}/{COMPLETE_MARKER}"), b"")?;
        store.flush_dir(&tmp_name)?;
        Ok(n.div_ceil(new_cs))
    })();
    let chunks_written = match built {
        Ok(c) => c,
        Err(e) => {
            let _ = store.delete_dir(&tmp_name);
            return Err(e);
        }
    };
    let backup_key = swap_in(store.as_ref(), name, &tmp_name, backup)?;
    Ok(RechunkReport {
        rows: n,
        old_chunk_size: old_cs,
        new_chunk_size: new_cs,
        chunks_written,
        backup: backup_key.map(|k| PathBuf::from(meta::join(&store.location(), &k))),
    })
}

/// The error of a rechunk that found `bad` chunks (key, reason), in chunk order.
fn rechunk_error(
    store: &Arc<dyn Store>,
    src: &ObjectArray,
    mut bad: Vec<(String, String)>,
) -> Error {
    bad.sort_by_key(|(k, _)| k.parse::<u64>().unwrap_or(u64::MAX));
    bad.dedup();
    Error::Rechunk {
        path: meta::join(&store.location(), src.path()),
        bad_chunks: bad,
    }
}

/// The new (empty) array beside the old one, with its attributes and layout.
fn create_dst(
    store: &Arc<dyn Store>,
    src: &ObjectArray,
    tmp_name: &str,
    new_cs: u64,
) -> Result<ObjectArray> {
    ObjectArray::create(
        store.clone(),
        tmp_name,
        0,
        &ObjectArrayOptions {
            chunk_size: Some(new_cs),
            compressor: src.compressor(),
            fill_value: src.fill_value().clone(),
            attrs: Some(src.attrs()?),
            object_codec: src.object_codec().clone(),
            ..Default::default()
        },
    )
}

/// [`build_new`] for msgpack arrays without decoding any row: each new chunk is the
/// old chunks' item bytes copied in order (found by skipping over the msgpack), so
/// memory holds one old chunk and one new chunk's bytes, whatever the chunk sizes
/// (a million runs rechunked into one chunk hold about a hundred megabytes, not the
/// gigabytes of decoded values). Chunks whose structure is damaged are reported.
fn build_new_spliced(
    store: &Arc<dyn Store>,
    src: &ObjectArray,
    tmp_name: &str,
    n: u64,
    old_cs: u64,
    new_cs: u64,
    progress: Option<&(dyn Fn(u64, u64) + Sync)>,
) -> Result<u64> {
    let dst = create_dst(store, src, tmp_name, new_cs)?;
    let enc = |e: rmp::encode::ValueWriteError| Error::Encode(e.to_string());
    let mut fill = Vec::new();
    rmpv::encode::write_value(&mut fill, src.fill_value())
        .map_err(|e| Error::Encode(e.to_string()))?;
    let mut tail = Vec::new();
    rmp::encode::write_str(&mut tail, "|O").map_err(enc)?;
    rmp::encode::write_array_len(&mut tail, 1).map_err(enc)?;
    rmp::encode::write_uint(&mut tail, new_cs).map_err(enc)?;
    let mut bad: Vec<(String, String)> = Vec::new();
    // the old chunk being copied: (number, bytes and item spans, None if not stored)
    let mut cur: Option<(u64, Option<crate::array::object::SpannedChunk>)> = None;
    let mut written = 0u64;
    let mut start = 0u64;
    let mut last_progress = 0u64;
    while start < n {
        let stop = (start + new_cs).min(n);
        let mut buf: Vec<u8> = Vec::new();
        rmp::encode::write_array_len(&mut buf, (new_cs + 2) as u32)
            .map_err(|e| Error::Encode(e.to_string()))?;
        let mut r = start;
        while r < stop {
            let c = r / old_cs;
            if cur.as_ref().map(|(k, _)| *k) != Some(c) {
                cur = match src.msgpack_chunk_spans(c) {
                    Ok(sp) => Some((c, sp)),
                    Err(Error::CorruptChunk { key, reason, .. }) => {
                        bad.push((key, reason));
                        Some((c, None))
                    }
                    Err(e) => return Err(e),
                };
            }
            let end = stop.min((c + 1) * old_cs);
            if bad.is_empty() {
                match cur.as_ref().and_then(|(_, sp)| sp.as_ref()) {
                    Some((data, spans)) => {
                        let lo = spans[(r - c * old_cs) as usize].start;
                        let hi = spans[(end - 1 - c * old_cs) as usize].end;
                        buf.extend_from_slice(&data[lo..hi]);
                    }
                    None => (r..end).for_each(|_| buf.extend_from_slice(&fill)),
                }
            }
            r = end;
        }
        if bad.is_empty() {
            (stop..start + new_cs).for_each(|_| buf.extend_from_slice(&fill));
            buf.extend_from_slice(&tail);
            dst.write_encoded_chunk(start / new_cs, &buf)?;
            written += 1;
        }
        if let Some(p) = progress {
            if stop == n || stop - last_progress >= WINDOW_ROWS {
                p(stop, n);
                last_progress = stop;
            }
        }
        start = stop;
    }
    if !bad.is_empty() {
        return Err(rechunk_error(store, src, bad));
    }
    Ok(written)
}

fn build_new(
    store: &Arc<dyn Store>,
    src: &ObjectArray,
    tmp_name: &str,
    n: u64,
    old_cs: u64,
    new_cs: u64,
    progress: Option<&(dyn Fn(u64, u64) + Sync)>,
) -> Result<u64> {
    let dst = create_dst(store, src, tmp_name, new_cs)?;
    let comp = src.compressor();
    let window = new_cs * WINDOW_ROWS.div_ceil(new_cs).max(1);
    let mut bad: Vec<(String, String)> = Vec::new();
    let mut carry: Option<(u64, Vec<Value>)> = None;
    let mut written = 0u64;
    let mut a = 0u64;
    while a < n {
        let b = (a + window).min(n);
        let first = a / old_cs;
        let last = (b - 1) / old_cs;
        let need: Vec<u64> = (first..=last)
            .filter(|c| carry.as_ref().map(|(k, _)| k != c).unwrap_or(true))
            .collect();
        let read: Vec<(u64, Result<Vec<Value>>)> =
            need.par_iter().map(|&c| (c, src.read_chunk(c))).collect();
        let mut chunks: Vec<(u64, Vec<Value>)> = Vec::with_capacity(read.len() + 1);
        if let Some(c) = carry.take() {
            if c.0 >= first {
                chunks.push(c);
            }
        }
        for (c, r) in read {
            match r {
                Ok(items) => chunks.push((c, items)),
                Err(Error::CorruptChunk { key, reason, .. }) => bad.push((key, reason)),
                Err(e) => return Err(e),
            }
        }
        chunks.sort_by_key(|(c, _)| *c);
        if bad.is_empty() {
            let mut rows: Vec<Value> = Vec::with_capacity((b - a) as usize);
            for (c, items) in &chunks {
                let lo = a.max(c * old_cs) - c * old_cs;
                let hi = b.min((c + 1) * old_cs) - c * old_cs;
                rows.extend(items[lo as usize..hi as usize].iter().cloned());
            }
            let fill = src.fill_value().clone();
            let new_chunks: Vec<(u64, Vec<Value>)> = rows
                .chunks(new_cs as usize)
                .enumerate()
                .map(|(k, r)| {
                    let mut items = r.to_vec();
                    items.resize(new_cs as usize, fill.clone());
                    (a / new_cs + k as u64, items)
                })
                .collect();
            written += new_chunks.len() as u64;
            new_chunks
                .par_iter()
                .try_for_each(|(c, items)| dst.write_chunk(*c, items, &comp, true))?;
        }
        carry = chunks.pop().filter(|(c, _)| (c + 1) * old_cs > b);
        if let Some(p) = progress {
            p(b, n);
        }
        a = b;
    }
    if !bad.is_empty() {
        return Err(rechunk_error(store, src, bad));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::codec::Compressor;
    use crate::storage::local::LocalStore;
    use proptest::prelude::*;
    use std::path::Path;

    /// [`rechunk_array`] of the array `runs` in the local folder `root`.
    fn rechunk_runs(root: &Path, chunk_size: Option<u64>, backup: bool) -> Result<RechunkReport> {
        rechunk_array(
            Arc::new(LocalStore::new(root)),
            "runs",
            chunk_size,
            backup,
            None,
        )
    }

    /// [`recover_array`] of the array `runs` in the local folder `root`.
    fn recover_runs(root: &Path) -> Result<bool> {
        recover_array(&LocalStore::new(root), "runs")
    }

    fn make(dir: &Path, n: u64, cs: u64) -> Vec<Value> {
        make_with(dir, n, cs, false, false)
    }

    /// An array of `n` rows in chunks of `cs`; `vlen` stores strings with the
    /// `vlen-utf8` codec (rechunked by decoding) instead of msgpack rows (copied as
    /// bytes); `holes` leaves every third chunk all fill values and unwritten.
    fn make_with(dir: &Path, n: u64, cs: u64, vlen: bool, holes: bool) -> Vec<Value> {
        let store: Arc<dyn Store> = Arc::new(LocalStore::new(dir));
        let fill = if vlen {
            Value::from("")
        } else {
            Value::from(0)
        };
        let a = ObjectArray::create(
            store,
            "runs",
            0,
            &ObjectArrayOptions {
                chunk_size: Some(cs),
                compressor: Compressor::default(),
                fill_value: fill.clone(),
                attrs: Some(serde_json::json!({"k": 1})),
                write_empty_chunks: !holes,
                object_codec: if vlen {
                    ObjectCodec::VLenUtf8
                } else {
                    ObjectCodec::MsgPack
                },
                ..Default::default()
            },
        )
        .unwrap();
        let rows: Vec<Value> = (0..n)
            .map(|i| {
                if holes && (i / cs) % 3 == 1 {
                    fill.clone()
                } else if vlen {
                    Value::from(format!("r{i}"))
                } else {
                    Value::Array(vec![Value::from(i), Value::from(format!("r{i}"))])
                }
            })
            .collect();
        a.append(rows.clone()).unwrap();
        rows
    }

    fn read(dir: &Path, name: &str) -> (u64, Vec<Value>) {
        let store: Arc<dyn Store> = Arc::new(LocalStore::new(dir));
        let a = ObjectArray::open(store, name, true).unwrap();
        (a.chunk_size(), a.get_all().unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn rechunk_preserves_every_row(n in 0u64..300, old in 1u64..40, new in proptest::option::of(1u64..70), backup in any::<bool>()) {
            let d = tempfile::tempdir().unwrap();
            let rows = make(d.path(), n, old);
            let rep = rechunk_runs(d.path(), new, backup).unwrap();
            let (cs, got) = read(d.path(), "runs");
            prop_assert_eq!(cs, new.unwrap_or(n.max(1)));
            prop_assert_eq!(got, rows.clone());
            prop_assert_eq!(rep.rows, n);
            if backup {
                let (bcs, brows) = read(d.path(), "runs.bak");
                prop_assert_eq!(bcs, old);
                prop_assert_eq!(brows, rows);
            }
            let names: Vec<String> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
            prop_assert_eq!(names.len(), if backup { 2 } else { 1 }, "{:?}", names);
        }

        #[test]
        fn rechunk_of_either_codec_with_unwritten_chunks(n in 0u64..200, old in 1u64..20, new in proptest::option::of(1u64..50), vlen in any::<bool>()) {
            let d = tempfile::tempdir().unwrap();
            let rows = make_with(d.path(), n, old, vlen, true);
            rechunk_runs(d.path(), new, false).unwrap();
            let (cs, got) = read(d.path(), "runs");
            prop_assert_eq!(cs, new.unwrap_or(n.max(1)));
            prop_assert_eq!(got, rows);
        }
    }

    #[test]
    fn structured_array_rechunked_rows_kept() {
        use crate::array::numeric::{ItemType, NumericArray, NumericArrayOptions};
        let d = tempfile::tempdir().unwrap();
        let s: Arc<dyn Store> = Arc::new(LocalStore::new(d.path()));
        let dt = serde_json::json!([["a", "|u1"], ["b", "<u4"]]);
        let opts = NumericArrayOptions {
            chunks: Some(vec![3]),
            fill_value: ItemType::record_fill_json(&[0xff; 5]),
            dimension_separator: Some("/".into()),
            ..Default::default()
        };
        let data: Vec<u8> = (0..50u8).collect();
        NumericArray::create_with(s.clone(), "m/x", &dt, &[10], &data, &opts).unwrap();
        meta::write_attrs(s.as_ref(), "m/x", &serde_json::json!({"k": 1})).unwrap();
        let rep = rechunk_array(s.clone(), "m/x", Some(4), true, None).unwrap();
        assert_eq!(
            (rep.rows, rep.old_chunk_size, rep.new_chunk_size),
            (10, 3, 4)
        );
        let back = NumericArray::open(s.clone(), "m/x").unwrap();
        assert_eq!(back.chunks(), &[4]);
        assert_eq!(back.read().unwrap(), data);
        assert_eq!(back.meta().dimension_separator.as_deref(), Some("/"));
        assert_eq!(
            meta::read_attrs(s.as_ref(), "m/x").unwrap(),
            serde_json::json!({"k": 1})
        );
        assert!(d.path().join("m/x.bak").is_dir());
        // a damaged chunk: reported, nothing changed
        std::fs::write(d.path().join("m/x/1"), b"bad").unwrap();
        assert!(matches!(
            rechunk_array(s.clone(), "m/x", Some(2), false, None),
            Err(Error::Rechunk { .. })
        ));
        assert_eq!(NumericArray::open(s, "m/x").unwrap().chunks(), &[4]);
    }

    #[test]
    fn attrs_kept_and_bad_chunks_reported_without_change() {
        let d = tempfile::tempdir().unwrap();
        let rows = make(d.path(), 10, 2);
        std::fs::write(d.path().join("runs/1"), b"xx").unwrap();
        std::fs::write(d.path().join("runs/3"), b"yy").unwrap();
        let e = rechunk_runs(d.path(), Some(5), true).unwrap_err();
        match &e {
            Error::Rechunk { bad_chunks, .. } => {
                assert_eq!(
                    bad_chunks
                        .iter()
                        .map(|(k, _)| k.as_str())
                        .collect::<Vec<_>>(),
                    vec!["1", "3"]
                )
            }
            other => panic!("{other}"),
        }
        assert!(!d.path().join("runs.bak").exists());
        assert!(!d.path().join("runs.rechunk-tmp").exists());
        std::fs::remove_file(d.path().join("runs/1")).unwrap();
        std::fs::remove_file(d.path().join("runs/3")).unwrap();
        let store: Arc<dyn Store> = Arc::new(LocalStore::new(d.path()));
        let a = ObjectArray::open(store.clone(), "runs", true).unwrap();
        a.set(
            &[2, 3, 6, 7],
            rows[2..4].iter().chain(&rows[6..8]).cloned().collect(),
        )
        .unwrap();
        rechunk_runs(d.path(), None, false).unwrap();
        let a = ObjectArray::open(store, "runs", true).unwrap();
        assert_eq!(a.attrs().unwrap(), serde_json::json!({"k": 1}));
        assert_eq!(a.get_all().unwrap(), rows);
    }

    #[test]
    fn recover_finishes_interrupted_swap() {
        let d = tempfile::tempdir().unwrap();
        let rows = make(d.path(), 7, 2);
        rechunk_runs(d.path(), Some(3), true).unwrap();
        // Simulate a crash between the renames: array moved to .bak, new one complete in tmp.
        std::fs::rename(d.path().join("runs"), d.path().join("runs.rechunk-tmp")).unwrap();
        std::fs::write(d.path().join("runs.rechunk-tmp").join(COMPLETE_MARKER), b"").unwrap();
        assert!(recover_runs(d.path()).unwrap());
        assert_eq!(read(d.path(), "runs"), (3, rows.clone()));
        // Crash while building: tmp incomplete, array whole.
        std::fs::create_dir(d.path().join("runs.rechunk-tmp")).unwrap();
        assert!(recover_runs(d.path()).unwrap());
        assert!(!d.path().join("runs.rechunk-tmp").exists());
        assert_eq!(read(d.path(), "runs"), (3, rows.clone()));
    }

    #[test]
    fn recover_keeps_the_earlier_backup() {
        let d = tempfile::tempdir().unwrap();
        let rows = make(d.path(), 7, 2);
        rechunk_runs(d.path(), Some(3), true).unwrap();
        // A second rechunk with a backup, killed after the earlier backup was moved to
        // `.bak.old` and before the array was moved to `.bak`.
        std::fs::create_dir(d.path().join("runs.rechunk-tmp")).unwrap();
        std::fs::write(d.path().join("runs.rechunk-tmp").join(COMPLETE_MARKER), b"").unwrap();
        std::fs::rename(d.path().join("runs.bak"), d.path().join("runs.bak.old")).unwrap();
        assert!(recover_runs(d.path()).unwrap());
        assert_eq!(read(d.path(), "runs"), (3, rows.clone()));
        assert_eq!(read(d.path(), "runs.bak"), (2, rows));
        let mut names: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["runs", "runs.bak"]);
    }

    /// A store in memory that moves folders key by key (as an object store does),
    /// counting the moves.
    #[derive(Default)]
    struct MemStore {
        keys: std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
        moves: std::sync::atomic::AtomicUsize,
    }

    impl Store for MemStore {
        fn location(&self) -> String {
            "mem://".into()
        }
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
            Ok(self.keys.lock().unwrap().get(key).cloned())
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<()> {
            self.keys
                .lock()
                .unwrap()
                .insert(key.to_string(), value.to_vec());
            Ok(())
        }
        fn delete(&self, key: &str) -> Result<()> {
            self.keys.lock().unwrap().remove(key);
            Ok(())
        }
        fn list_dir(&self, prefix: &str) -> Result<Vec<String>> {
            let pre = format!("{}/", prefix.trim_matches('/'));
            let keys = self.keys.lock().unwrap();
            let mut out: Vec<String> = keys
                .keys()
                .filter_map(|k| k.strip_prefix(pre.as_str()))
                .filter_map(|rest| rest.split('/').next())
                .map(str::to_string)
                .collect();
            out.sort();
            out.dedup();
            Ok(out)
        }
        fn can_rename_dir(&self) -> bool {
            true
        }
        fn rename_dir(&self, from: &str, to: &str) -> Result<()> {
            self.moves.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut keys = self.keys.lock().unwrap();
            let moved: Vec<String> = keys
                .keys()
                .filter(|k| k.starts_with(&format!("{from}/")))
                .cloned()
                .collect();
            for k in moved {
                let v = keys.remove(&k).unwrap();
                keys.insert(format!("{to}{}", &k[from.len()..]), v);
            }
            Ok(())
        }
    }

    fn mem_rows(store: &Arc<dyn Store>, name: &str) -> (u64, Vec<Value>) {
        let a = ObjectArray::open(store.clone(), name, true).unwrap();
        (a.chunk_size(), a.get_all().unwrap())
    }

    #[test]
    fn any_store_that_moves_folders_is_rechunked_and_recovered_the_same_way() {
        let mem = Arc::new(MemStore::default());
        let store: Arc<dyn Store> = mem.clone();
        let a = ObjectArray::create(
            store.clone(),
            "metadata/runs",
            0,
            &ObjectArrayOptions {
                chunk_size: Some(2),
                attrs: Some(serde_json::json!({"k": 1})),
                ..Default::default()
            },
        )
        .unwrap();
        let rows: Vec<Value> = (0..7).map(Value::from).collect();
        a.append(rows.clone()).unwrap();
        let done = std::sync::Mutex::new(Vec::new());
        let progress = |d: u64, t: u64| done.lock().unwrap().push((d, t));
        let rep = rechunk_array(
            store.clone(),
            "metadata/runs",
            Some(3),
            true,
            Some(&progress),
        )
        .unwrap();
        assert_eq!(
            (rep.rows, rep.old_chunk_size, rep.new_chunk_size),
            (7, 2, 3)
        );
        assert_eq!(rep.chunks_written, 3);
        assert_eq!(rep.backup, Some(PathBuf::from("mem:///metadata/runs.bak")));
        assert_eq!(done.lock().unwrap().last(), Some(&(7, 7)));
        assert_eq!(mem_rows(&store, "metadata/runs"), (3, rows.clone()));
        assert_eq!(mem_rows(&store, "metadata/runs.bak"), (2, rows.clone()));
        assert_eq!(
            store.list_dir("metadata").unwrap(),
            vec!["runs", "runs.bak"],
            "no temporary folder nor marker left"
        );
        assert!(store
            .get("metadata/runs/.wfstore-rechunk-complete")
            .unwrap()
            .is_none());

        // a crash between the two moves of the swap: the next recovery finishes it
        mem.rename_dir("metadata/runs", "metadata/runs.rechunk-tmp")
            .unwrap();
        store
            .set("metadata/runs.rechunk-tmp/.wfstore-rechunk-complete", b"")
            .unwrap();
        assert!(recover_array(store.as_ref(), "metadata/runs").unwrap());
        assert_eq!(mem_rows(&store, "metadata/runs"), (3, rows.clone()));
        assert_eq!(
            store.list_dir("metadata").unwrap(),
            vec!["runs", "runs.bak"]
        );
        // a crash while building: the unfinished folder goes, the array stays
        store.set("metadata/runs.rechunk-tmp/0", b"half").unwrap();
        assert!(recover_array(store.as_ref(), "metadata/runs").unwrap());
        assert_eq!(
            store.list_dir("metadata").unwrap(),
            vec!["runs", "runs.bak"]
        );
        assert!(!recover_array(store.as_ref(), "metadata/runs").unwrap());

        // stores that cannot move folders are refused before anything is written
        struct NoFolders(Arc<MemStore>);
        impl Store for NoFolders {
            fn location(&self) -> String {
                self.0.location()
            }
            fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
                self.0.get(key)
            }
            fn set(&self, key: &str, value: &[u8]) -> Result<()> {
                self.0.set(key, value)
            }
            fn delete(&self, key: &str) -> Result<()> {
                self.0.delete(key)
            }
            fn list_dir(&self, prefix: &str) -> Result<Vec<String>> {
                self.0.list_dir(prefix)
            }
        }
        let plain: Arc<dyn Store> = Arc::new(crate::storage::txn::TxnStore::new(Arc::new(
            NoFolders(mem.clone()),
        )));
        let moves = mem.moves.load(std::sync::atomic::Ordering::SeqCst);
        let err = rechunk_array(plain, "metadata/runs", Some(1), false, None).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        assert_eq!(mem.moves.load(std::sync::atomic::Ordering::SeqCst), moves);
        assert_eq!(mem_rows(&store, "metadata/runs"), (3, rows));
    }
}
