//! One-dimensional object arrays (zarr dtype `|O`) whose items are msgpack values,
//! encoded with numcodecs' `MsgPack` codec (or its `VLenArray`/`VLenUTF8`/`VLenBytes`).

use crate::codec::{
    decode_object_chunk_with, encode_object_chunk_with, msgpack_decode_value, msgpack_item_spans,
    Compressor, ObjectCodec,
};
use crate::error::{Error, Result};
use crate::meta::{self, json_to_msgpack, msgpack_to_json, ArrayMeta};
use crate::par;
use crate::store::Store;
use rayon::prelude::*;
use rmpv::Value;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::{Arc, RwLock};

/// Most rows an object-array chunk may hold (2^24). Rows are held in memory as whole
/// chunks (an absent chunk reads as this many fill values), so a larger chunk size in a
/// damaged or hostile `.zarray` is refused rather than allocated.
pub const MAX_CHUNK_ROWS: u64 = 1 << 24;

/// New values of some fields of a row: `(position in the row, value)` pairs.
pub type RowPatch = Vec<(usize, Value)>;

/// A chunk's uncompressed msgpack bytes and the byte range of each item.
pub(crate) type SpannedChunk = (Vec<u8>, Vec<Range<usize>>);

/// Where a read chunk sits in [`EncodedRows::chunks`], with its items' byte ranges.
type ChunkSlot = (usize, Vec<Range<usize>>);

/// Rows of a msgpack object array as their encoded bytes (see
/// [`ObjectArray::get_encoded`]): row `k` is `chunks[items[k].0].data[items[k].1]`.
#[derive(Debug, Clone, Default)]
pub struct EncodedRows {
    /// The chunks read: each one's index (`None` for the encoded fill value, which
    /// stands for the rows of absent chunks) and uncompressed msgpack bytes.
    pub chunks: Vec<(Option<u64>, Vec<u8>)>,
    /// Per requested row: which of `chunks` holds it and its byte range there.
    pub items: Vec<(usize, Range<usize>)>,
}

fn check_chunk_rows(path: &str, rows: u64) -> Result<()> {
    if rows > MAX_CHUNK_ROWS {
        return Err(Error::InvalidArgument(format!(
            "chunk size {rows} of object array {path} is above the limit of \
             {MAX_CHUNK_ROWS} rows per chunk"
        )));
    }
    Ok(())
}

/// Options of [`ObjectArray::create`].
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectArrayOptions {
    /// Rows per chunk; `None` makes one chunk holding all rows. Default 1000.
    pub chunk_size: Option<u64>,
    /// Chunk compressor. Default: numcodecs' Blosc (lz4, clevel 5, byte shuffle).
    pub compressor: Compressor,
    /// Value of rows never written. Default 0, as the engine uses.
    pub fill_value: Value,
    /// The object codec. Default msgpack2.
    pub object_codec: ObjectCodec,
    /// Attributes (`.zattrs`) to write with the array.
    pub attrs: Option<Json>,
    /// When false, chunks whose items all equal the fill value are deleted rather than
    /// written (zarr's `write_empty_chunks=False`). Default true.
    pub write_empty_chunks: bool,
    /// Replace (and clear) an array already at the path. Default false.
    pub overwrite: bool,
}

impl Default for ObjectArrayOptions {
    fn default() -> Self {
        ObjectArrayOptions {
            chunk_size: Some(1000),
            compressor: Compressor::default(),
            fill_value: Value::from(0),
            object_codec: ObjectCodec::MsgPack,
            attrs: None,
            write_empty_chunks: true,
            overwrite: false,
        }
    }
}

/// A one-dimensional Zarr v2 object array whose items are msgpack values.
///
/// Every operation takes many rows at once, groups them by chunk, touches each chunk
/// once and reads, decodes, encodes and writes chunks in parallel (rayon). Each chunk
/// and metadata file is written atomically by the [`Store`].
pub struct ObjectArray {
    store: Arc<dyn Store>,
    path: String,
    meta: RwLock<ArrayMeta>,
    codec: ObjectCodec,
    fill: Value,
    write_empty_chunks: bool,
}

impl std::fmt::Debug for ObjectArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectArray")
            .field("store", &self.store.location())
            .field("path", &self.path)
            .finish()
    }
}

fn validate_meta(path: &str, meta: &ArrayMeta) -> Result<ObjectCodec> {
    if meta.dtype != "|O" {
        return Err(Error::Metadata {
            path: path.into(),
            key: meta::ZARRAY.into(),
            reason: format!(
                "dtype is {:?}, expected \"|O\" for an object array",
                meta.dtype
            ),
        });
    }
    if meta.shape.len() != 1 {
        return Err(Error::Unsupported {
            path: path.into(),
            reason: format!("object array with {} dimensions (only 1)", meta.shape.len()),
        });
    }
    if meta.chunks[0] > MAX_CHUNK_ROWS {
        return Err(Error::Metadata {
            path: path.into(),
            key: meta::ZARRAY.into(),
            reason: format!(
                "chunk size {} is above the limit of {MAX_CHUNK_ROWS} rows per chunk",
                meta.chunks[0]
            ),
        });
    }
    ObjectCodec::from_filters(&meta.filters).map_err(|reason| Error::Unsupported {
        path: path.into(),
        reason,
    })
}

impl ObjectArray {
    /// Create an array at `path` in `store` holding `len` fill values.
    pub fn create(
        store: Arc<dyn Store>,
        path: &str,
        len: u64,
        opts: &ObjectArrayOptions,
    ) -> Result<Self> {
        if store.read_only() {
            return Err(Error::ReadOnly {
                path: store.location(),
            });
        }
        let path = path.trim_matches('/').to_string();
        if store.get(&meta::join(&path, meta::ZARRAY))?.is_some() {
            if !opts.overwrite {
                return Err(Error::ArrayExists {
                    path: meta::join(&store.location(), &path),
                });
            }
            for name in store.list_dir(&path)? {
                if !name.starts_with('.') && name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                    store.delete(&meta::join(&path, &name))?;
                }
            }
        }
        let chunk = match opts.chunk_size {
            Some(0) => {
                return Err(Error::InvalidArgument(
                    "chunk size must be at least 1".into(),
                ))
            }
            Some(c) => c,
            None => len.max(1),
        };
        check_chunk_rows(&path, chunk)?;
        let meta = ArrayMeta {
            shape: vec![len],
            chunks: vec![chunk],
            dtype: "|O".into(),
            compressor: opts.compressor.clone(),
            fill_value: msgpack_to_json(&opts.fill_value)?,
            filters: Some(vec![opts.object_codec.filter_config()]),
            dimension_separator: Some(".".into()),
        };
        match &opts.attrs {
            Some(a) => meta::write_attrs(store.as_ref(), &path, a)?,
            None => store.delete(&meta::join(&path, meta::ZATTRS))?,
        }
        meta::write_array_meta(store.as_ref(), &path, &meta)?;
        Ok(ObjectArray {
            store,
            path,
            meta: RwLock::new(meta),
            codec: opts.object_codec.clone(),
            fill: opts.fill_value.clone(),
            write_empty_chunks: opts.write_empty_chunks,
        })
    }

    /// Open the array at `path` in `store`.
    pub fn open(store: Arc<dyn Store>, path: &str, write_empty_chunks: bool) -> Result<Self> {
        let path = path.trim_matches('/').to_string();
        let meta = meta::read_array_meta(store.as_ref(), &path)?;
        let codec = validate_meta(&path, &meta)?;
        let fill = json_to_msgpack(&meta.fill_value);
        Ok(ObjectArray {
            store,
            path,
            meta: RwLock::new(meta),
            codec,
            fill,
            write_empty_chunks,
        })
    }

    /// Re-read `.zarray` (after another process changed the array).
    pub fn reload(&self) -> Result<()> {
        let meta = meta::read_array_meta(self.store.as_ref(), &self.path)?;
        validate_meta(&self.path, &meta)?;
        *self.meta_mut() = meta;
        Ok(())
    }

    fn meta_ref(&self) -> std::sync::RwLockReadGuard<'_, ArrayMeta> {
        self.meta.read().unwrap_or_else(|p| p.into_inner())
    }

    fn meta_mut(&self) -> std::sync::RwLockWriteGuard<'_, ArrayMeta> {
        self.meta.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The array's path within its store.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The store holding the array.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// A copy of the array's metadata.
    pub fn meta(&self) -> ArrayMeta {
        self.meta_ref().clone()
    }

    /// Number of rows.
    pub fn len(&self) -> u64 {
        self.meta_ref().shape[0]
    }

    /// Whether the array has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows per chunk.
    pub fn chunk_size(&self) -> u64 {
        self.meta_ref().chunks[0]
    }

    /// The fill value returned for rows never written.
    pub fn fill_value(&self) -> &Value {
        &self.fill
    }

    /// The object codec of the chunks.
    pub fn object_codec(&self) -> &ObjectCodec {
        &self.codec
    }

    /// The compressor of the chunks.
    pub fn compressor(&self) -> Compressor {
        self.meta_ref().compressor.clone()
    }

    fn chunk_key(&self, chunk: u64) -> String {
        meta::join(&self.path, &chunk.to_string())
    }

    /// The error for chunk `chunk` of this array that cannot be read as it should.
    /// The error for chunk `chunk` of this array being unreadable for `reason` (for
    /// callers that decode rows themselves, e.g. from [`ObjectArray::get_encoded`]).
    pub fn corrupt(&self, chunk: u64, reason: String) -> Error {
        Error::CorruptChunk {
            path: meta::join(&self.store.location(), &self.path),
            key: chunk.to_string(),
            reason,
        }
    }

    /// Read and decode chunk `chunk` (fill values when absent). The result always has
    /// `chunk_size` items.
    pub fn read_chunk(&self, chunk: u64) -> Result<Vec<Value>> {
        let (cs, comp) = {
            let m = self.meta_ref();
            (m.chunks[0], m.compressor.clone())
        };
        let key = self.chunk_key(chunk);
        let corrupt = |reason: String| self.corrupt(chunk, reason);
        match self.store.get(&key)? {
            None => Ok(vec![self.fill.clone(); cs as usize]),
            Some(bytes) => {
                let items = decode_object_chunk_with(&bytes, &self.codec, &comp)
                    .map_err(|e| corrupt(e.to_string()))?;
                if items.len() as u64 != cs {
                    return Err(corrupt(format!(
                        "holds {} items, expected {cs}",
                        items.len()
                    )));
                }
                Ok(items)
            }
        }
    }

    /// The uncompressed bytes of stored chunk `chunk` with the byte range of each of
    /// its items, when the codec is msgpack (None: chunk absent or another codec).
    /// Lets a few rows be read or changed without decoding the others.
    pub(crate) fn msgpack_chunk_spans(&self, chunk: u64) -> Result<Option<SpannedChunk>> {
        if !matches!(self.codec, ObjectCodec::MsgPack) {
            return Ok(None);
        }
        let (cs, comp) = {
            let m = self.meta_ref();
            (m.chunks[0], m.compressor.clone())
        };
        let corrupt = |reason: String| self.corrupt(chunk, reason);
        let Some(bytes) = self.store.get(&self.chunk_key(chunk))? else {
            return Ok(None);
        };
        let data = comp
            .decompress(&bytes)
            .map_err(|e| corrupt(e.to_string()))?;
        let spans = msgpack_item_spans(&data).map_err(|e| corrupt(e.to_string()))?;
        if spans.len() as u64 != cs {
            return Err(corrupt(format!(
                "holds {} items, expected {cs}",
                spans.len()
            )));
        }
        Ok(Some((data, spans)))
    }

    /// Decode item `off` of a chunk from its span.
    fn decode_span(&self, chunk: u64, data: &[u8], span: &Range<usize>) -> Result<Value> {
        msgpack_decode_value(&data[span.clone()]).map_err(|e| self.corrupt(chunk, e.to_string()))
    }

    /// Store chunk `chunk` from its uncompressed encoded bytes.
    pub(crate) fn write_encoded_chunk(&self, chunk: u64, raw: &[u8]) -> Result<()> {
        let comp = self.compressor();
        let bytes = comp.compress(raw, 1)?;
        self.store.set(&self.chunk_key(chunk), &bytes)
    }

    pub(crate) fn write_chunk(&self, chunk: u64, items: &[Value], comp: &Compressor) -> Result<()> {
        let key = self.chunk_key(chunk);
        if !self.write_empty_chunks && items.iter().all(|v| *v == self.fill) {
            return self.store.delete(&key);
        }
        let bytes = encode_object_chunk_with(items, &self.codec, comp)?;
        self.store.set(&key, &bytes)
    }

    fn check_indices(&self, indices: &[u64], len: u64) -> Result<()> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= len) {
            return Err(Error::IndexOutOfRange {
                path: meta::join(&self.store.location(), &self.path),
                index: bad,
                len,
            });
        }
        Ok(())
    }

    /// Read the rows at `indices` (any order, repeats allowed).
    pub fn get(&self, indices: &[u64]) -> Result<Vec<Value>> {
        let (len, cs) = {
            let m = self.meta_ref();
            (m.shape[0], m.chunks[0])
        };
        self.check_indices(indices, len)?;
        let mut by_chunk: BTreeMap<u64, Vec<(usize, usize)>> = BTreeMap::new();
        for (pos, &i) in indices.iter().enumerate() {
            by_chunk
                .entry(i / cs)
                .or_default()
                .push((pos, (i % cs) as usize));
        }
        let groups: Vec<(u64, Vec<(usize, usize)>)> = by_chunk.into_iter().collect();
        let parts: Vec<Vec<(usize, Value)>> = par::map_ref(&groups, |(c, wanted)| {
            if (wanted.len() as u64) * 4 < cs {
                if let Some((data, spans)) = self.msgpack_chunk_spans(*c)? {
                    return wanted
                        .iter()
                        .map(|&(pos, off)| Ok((pos, self.decode_span(*c, &data, &spans[off])?)))
                        .collect::<Result<Vec<_>>>();
                }
            }
            let mut items = self.read_chunk(*c)?;
            Ok(wanted
                .iter()
                .map(|&(pos, off)| (pos, std::mem::replace(&mut items[off], Value::Nil)))
                .collect::<Vec<_>>())
        })
        .into_iter()
        .collect::<Result<_>>()?;
        let mut out = vec![Value::Nil; indices.len()];
        // Repeated indices: the chunk item was moved out once; copy for the others.
        let mut first_pos: BTreeMap<u64, usize> = BTreeMap::new();
        for part in parts {
            for (pos, v) in part {
                out[pos] = v;
            }
        }
        for (pos, &i) in indices.iter().enumerate() {
            match first_pos.get(&i) {
                Some(&p) if p < pos => out[pos] = out[p].clone(),
                Some(_) => {}
                None => {
                    first_pos.insert(i, pos);
                }
            }
        }
        Ok(out)
    }

    /// Rows at `indices` (any order, repeats allowed) as msgpack bytes, for callers
    /// that decode them straight into their own objects; `None` unless the codec is
    /// msgpack. Chunks are decompressed and split into items (in parallel), and the
    /// items' structure is checked, but the items are not decoded: a decoder must
    /// still check what it reads (UTF-8, extension types), reporting failures with
    /// [`ObjectArray::corrupt`].
    pub fn get_encoded(&self, indices: &[u64]) -> Result<Option<EncodedRows>> {
        if !matches!(self.codec, ObjectCodec::MsgPack) {
            return Ok(None);
        }
        let len = self.len();
        self.check_indices(indices, len)?;
        let cs = self.chunk_size();
        let mut chunk_ids: Vec<u64> = indices.iter().map(|&i| i / cs).collect();
        chunk_ids.sort_unstable();
        chunk_ids.dedup();
        let read = par::map_ref(&chunk_ids, |&c| self.msgpack_chunk_spans(c));
        let mut out = EncodedRows::default();
        // per chunk index: slot in out.chunks and the items' spans (None: absent)
        let mut slots: BTreeMap<u64, Option<ChunkSlot>> = BTreeMap::new();
        let mut fill_slot = None;
        for (c, r) in chunk_ids.iter().zip(read) {
            let entry = match r? {
                Some((data, spans)) => {
                    out.chunks.push((Some(*c), data));
                    Some((out.chunks.len() - 1, spans))
                }
                None => None,
            };
            slots.insert(*c, entry);
        }
        for &i in indices {
            let item = match slots.get(&(i / cs)) {
                Some(Some((slot, spans))) => (*slot, spans[(i % cs) as usize].clone()),
                _ => {
                    let slot = match fill_slot {
                        Some(s) => s,
                        None => {
                            let mut buf = Vec::new();
                            rmpv::encode::write_value(&mut buf, &self.fill)
                                .map_err(|e| Error::Encode(e.to_string()))?;
                            out.chunks.push((None, buf));
                            fill_slot = Some(out.chunks.len() - 1);
                            out.chunks.len() - 1
                        }
                    };
                    (slot, 0..out.chunks[slot].1.len())
                }
            };
            out.items.push(item);
        }
        Ok(Some(out))
    }

    /// Read rows `start..stop`.
    pub fn get_range(&self, start: u64, stop: u64) -> Result<Vec<Value>> {
        let len = self.len();
        if start > stop || stop > len {
            return Err(Error::InvalidArgument(format!(
                "range {start}..{stop} does not fit array {} of length {len}",
                self.path
            )));
        }
        let cs = self.chunk_size();
        if start == stop {
            return Ok(Vec::new());
        }
        let first = start / cs;
        let last = (stop - 1) / cs;
        let chunks: Vec<Vec<Value>> =
            par::map_owned((first..=last).collect(), |c| self.read_chunk(c))
                .into_iter()
                .collect::<Result<_>>()?;
        let mut out = Vec::with_capacity((stop - start) as usize);
        for (k, items) in chunks.into_iter().enumerate() {
            let c = first + k as u64;
            let lo = start.max(c * cs) - c * cs;
            let hi = stop.min((c + 1) * cs) - c * cs;
            out.extend(items.into_iter().skip(lo as usize).take((hi - lo) as usize));
        }
        Ok(out)
    }

    /// Read every row.
    pub fn get_all(&self) -> Result<Vec<Value>> {
        self.get_range(0, self.len())
    }

    /// The checks of a write of `n` items at `indices`: as many items as indices, a
    /// writable store, every index below `len`.
    fn check_write(&self, indices: &[u64], n: usize, what: &str, len: u64) -> Result<()> {
        if indices.len() != n {
            return Err(Error::InvalidArgument(format!(
                "{} indices but {n} {what}",
                indices.len()
            )));
        }
        if self.store.read_only() {
            return Err(Error::ReadOnly {
                path: self.store.location(),
            });
        }
        self.check_indices(indices, len)
    }

    fn write_rows(&self, indices: &[u64], values: Vec<Value>, len: u64) -> Result<()> {
        self.check_write(indices, values.len(), "values", len)?;
        let (cs, comp) = {
            let m = self.meta_ref();
            (m.chunks[0], m.compressor.clone())
        };
        let mut by_chunk: BTreeMap<u64, Vec<(usize, Value)>> = BTreeMap::new();
        for (&i, v) in indices.iter().zip(values) {
            by_chunk
                .entry(i / cs)
                .or_default()
                .push(((i % cs) as usize, v));
        }
        let groups: Vec<(u64, Vec<(usize, Value)>)> = by_chunk.into_iter().collect();
        par::map_owned(groups, |(c, rows)| {
            let mut covered = vec![false; cs as usize];
            for (off, _) in &rows {
                covered[*off] = true;
            }
            // Rows past the end of the array in the last chunk are fill values.
            let valid = len.saturating_sub(c * cs).min(cs) as usize;
            let full = covered[..valid].iter().all(|b| *b);
            // A few rows of a stored chunk: splice them in, leaving the other rows'
            // bytes as they are. Rows that are all fill values may leave a chunk of only
            // fill values, which is deleted rather than written without
            // `write_empty_chunks`: they are spliced only when they change nothing.
            let all_fill = rows.iter().all(|(_, v)| *v == self.fill);
            if !full && rows.len() * 4 < cs as usize {
                if let Some((data, spans)) = self.msgpack_chunk_spans(c)? {
                    let new_rows = encode_rows(rows.iter().map(|(off, v)| (*off, v)))?;
                    if unchanged(&data, &spans, &new_rows) {
                        return Ok(());
                    }
                    if self.write_empty_chunks || !all_fill {
                        return self.splice_items(c, &data, &spans, &new_rows, &comp);
                    }
                }
            }
            let mut items = if full {
                vec![self.fill.clone(); cs as usize]
            } else {
                self.read_chunk(c)?
            };
            for (off, v) in rows {
                items[off] = v;
            }
            self.write_rows_of(c, items, len, &comp)
        })
        .into_iter()
        .collect()
    }

    /// Overwrite the rows at `indices` with `values` (one value per index; a repeated
    /// index takes its last value).
    pub fn set(&self, indices: &[u64], values: Vec<Value>) -> Result<()> {
        self.write_rows(indices, values, self.len())
    }

    /// Write chunk `c` as `items`, its rows past the array's end (`len` rows) made
    /// fill values.
    fn write_rows_of(
        &self,
        c: u64,
        mut items: Vec<Value>,
        len: u64,
        comp: &Compressor,
    ) -> Result<()> {
        let cs = items.len() as u64;
        let valid = len.saturating_sub(c * cs).min(cs) as usize;
        for it in items.iter_mut().skip(valid) {
            *it = self.fill.clone();
        }
        self.write_chunk(c, &items, comp)
    }

    /// [`Self::set`], but only where no row to set holds a map now (an unset
    /// parameter's row is the fill value or a number; a set one is a map). Each chunk
    /// concerned is read once, for the check and the write. Returns the indices whose
    /// rows hold a map, in the order given, and then writes nothing.
    pub fn set_unless_map(&self, indices: &[u64], values: Vec<Value>) -> Result<Vec<u64>> {
        let len = self.len();
        self.check_write(indices, values.len(), "values", len)?;
        let (cs, comp) = {
            let m = self.meta_ref();
            (m.chunks[0], m.compressor.clone())
        };
        let mut by_chunk: BTreeMap<u64, Vec<(u64, Value)>> = BTreeMap::new();
        for (&i, v) in indices.iter().zip(values) {
            by_chunk.entry(i / cs).or_default().push((i, v));
        }
        enum Held {
            Spans(SpannedChunk),
            Items(Vec<Value>),
        }
        let mut held = Vec::with_capacity(by_chunk.len());
        let mut maps: Vec<u64> = Vec::new();
        for (c, rows) in by_chunk {
            let h = match self.msgpack_chunk_spans(c)? {
                Some((data, spans)) => {
                    maps.extend(rows.iter().map(|(i, _)| *i).filter(|i| {
                        let sp = &spans[(i % cs) as usize];
                        matches!(data.get(sp.start), Some(0x80..=0x8f | 0xde | 0xdf))
                    }));
                    Held::Spans((data, spans))
                }
                None => {
                    let items = self.read_chunk(c)?;
                    maps.extend(
                        rows.iter()
                            .map(|(i, _)| *i)
                            .filter(|i| matches!(items[(i % cs) as usize], Value::Map(_))),
                    );
                    Held::Items(items)
                }
            };
            held.push((c, rows, h));
        }
        if !maps.is_empty() {
            let mut left: BTreeSet<u64> = maps.into_iter().collect();
            return Ok(indices.iter().copied().filter(|i| left.remove(i)).collect());
        }
        for (c, rows, h) in held {
            match h {
                Held::Spans((data, spans)) => {
                    let all_fill = rows.iter().all(|(_, v)| *v == self.fill);
                    if all_fill && !self.write_empty_chunks {
                        // the chunk may become all fill values: the general way
                        let (idx, vals): (Vec<u64>, Vec<Value>) = rows.into_iter().unzip();
                        self.write_rows(&idx, vals, len)?;
                        continue;
                    }
                    let new_rows = encode_rows(rows.iter().map(|(i, v)| ((i % cs) as usize, v)))?;
                    self.splice_items(c, &data, &spans, &new_rows, &comp)?;
                }
                Held::Items(mut items) => {
                    for (i, v) in rows {
                        items[(i % cs) as usize] = v;
                    }
                    self.write_rows_of(c, items, len, &comp)?;
                }
            }
        }
        Ok(Vec::new())
    }

    /// Change fields of rows in place: for each `indices[k]`, the row (a msgpack array)
    /// gets `patches[k]`'s `(position, value)` pairs. Each chunk concerned is read once
    /// and written once; the other fields of the rows are not decoded into anything
    /// but their msgpack values, so no lookup lists are needed. A row that is not an
    /// array long enough for a position is reported as a corrupt chunk naming the row.
    pub fn patch(&self, indices: &[u64], patches: Vec<RowPatch>) -> Result<()> {
        let (len, cs, comp) = {
            let m = self.meta_ref();
            (m.shape[0], m.chunks[0], m.compressor.clone())
        };
        self.check_write(indices, patches.len(), "patches", len)?;
        let mut by_chunk: BTreeMap<u64, Vec<(u64, RowPatch)>> = BTreeMap::new();
        for (&i, p) in indices.iter().zip(patches) {
            by_chunk.entry(i / cs).or_default().push((i, p));
        }
        let groups: Vec<_> = by_chunk.into_iter().collect();
        par::map_owned(groups, |(c, rows)| {
            if let Some((data, spans)) = self.msgpack_chunk_spans(c)? {
                return self.patch_spans(c, &data, &spans, rows, &comp);
            }
            let mut items = self.read_chunk(c)?;
            for (i, fields) in rows {
                self.apply_patch(c, i, &mut items[(i % cs) as usize], fields)?;
            }
            self.write_chunk(c, &items, &comp)
        })
        .into_iter()
        .collect()
    }

    /// Set `fields` of `row` (row `i`, in chunk `c`), which must be a list long enough.
    fn apply_patch(&self, c: u64, i: u64, row: &mut Value, fields: RowPatch) -> Result<()> {
        let row = match row {
            Value::Array(row) => row,
            other => return Err(self.corrupt(c, format!("row {i} is not a list but {other}"))),
        };
        for (pos, v) in fields {
            let n = row.len();
            match row.get_mut(pos) {
                Some(slot) => *slot = v,
                None => {
                    return Err(self.corrupt(
                        c,
                        format!("row {i} has {n} fields, field {pos} cannot be set"),
                    ))
                }
            }
        }
        Ok(())
    }

    /// [`Self::patch`] of the rows of one stored msgpack chunk: only the patched rows
    /// are decoded and encoded again; the other rows' bytes are copied as they are.
    fn patch_spans(
        &self,
        c: u64,
        data: &[u8],
        spans: &[Range<usize>],
        rows: Vec<(u64, RowPatch)>,
        comp: &Compressor,
    ) -> Result<()> {
        let cs = spans.len() as u64;
        let mut new_rows: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
        for (i, fields) in rows {
            let off = (i % cs) as usize;
            let mut value = match new_rows.get(&off) {
                Some(bytes) => self.decode_span(c, bytes, &(0..bytes.len()))?,
                None => self.decode_span(c, data, &spans[off])?,
            };
            self.apply_patch(c, i, &mut value, fields)?;
            let mut buf = Vec::new();
            rmpv::encode::write_value(&mut buf, &value)
                .map_err(|e| Error::Encode(e.to_string()))?;
            new_rows.insert(off, buf);
        }
        self.splice_items(c, data, spans, &new_rows, comp)
    }

    /// Write chunk `c` as `data` (its uncompressed msgpack, items at `spans`) with the
    /// items at the offsets of `new_rows` replaced by those encoded bytes.
    fn splice_items(
        &self,
        c: u64,
        data: &[u8],
        spans: &[Range<usize>],
        new_rows: &BTreeMap<usize, Vec<u8>>,
        comp: &Compressor,
    ) -> Result<()> {
        if unchanged(data, spans, new_rows) {
            return Ok(());
        }
        let mut out = Vec::with_capacity(data.len() + 64);
        let mut at = 0;
        for (off, bytes) in new_rows {
            let sp = &spans[*off];
            out.extend_from_slice(&data[at..sp.start]);
            out.extend_from_slice(bytes);
            at = sp.end;
        }
        out.extend_from_slice(&data[at..]);
        let stored = comp.compress(&out, 1)?;
        self.store.set(&self.chunk_key(c), &stored)
    }

    /// Append rows at the end. Chunks are written before `.zarray` grows, so a reader
    /// never sees the new length without the new rows.
    pub fn append(&self, values: Vec<Value>) -> Result<u64> {
        let old = self.len();
        let n = values.len() as u64;
        if n == 0 {
            return Ok(old);
        }
        let indices: Vec<u64> = (old..old + n).collect();
        self.write_rows(&indices, values, old + n)?;
        let mut m = self.meta();
        m.shape[0] = old + n;
        meta::write_array_meta(self.store.as_ref(), &self.path, &m)?;
        *self.meta_mut() = m;
        Ok(old + n)
    }

    /// Change the number of rows. Growing adds fill values; shrinking deletes chunks
    /// past the end and clears the dropped rows of the last chunk, so that growing again
    /// never brings old rows back.
    pub fn resize(&self, new_len: u64) -> Result<()> {
        if self.store.read_only() {
            return Err(Error::ReadOnly {
                path: self.store.location(),
            });
        }
        let mut m = self.meta();
        let old = m.shape[0];
        let cs = m.chunks[0];
        // The length is written before rows past it are cleared: a failure part-way
        // then never loses a row inside the length recorded in `.zarray`.
        m.shape[0] = new_len;
        meta::write_array_meta(self.store.as_ref(), &self.path, &m)?;
        *self.meta_mut() = m.clone();
        // Rows from `lo` on must read as the fill value: clear them in the chunk that
        // holds `lo` and delete whole chunks after it (when shrinking, the old rows; when
        // growing, leftovers of writes that failed before their length was recorded).
        let lo = new_len.min(old);
        let hi_chunks = new_len.max(old).div_ceil(cs);
        if lo % cs != 0 {
            let c = lo / cs;
            if self.store.get(&self.chunk_key(c))?.is_some() {
                let mut items = self.read_chunk(c)?;
                let mut changed = false;
                for it in items.iter_mut().skip((lo % cs) as usize) {
                    if *it != self.fill {
                        *it = self.fill.clone();
                        changed = true;
                    }
                }
                if changed {
                    self.write_chunk(c, &items, &m.compressor)?;
                }
            }
        }
        let first_whole = lo.div_ceil(cs);
        if new_len < old {
            for c in first_whole..hi_chunks {
                self.store.delete(&self.chunk_key(c))?;
            }
        } else if first_whole < hi_chunks {
            for name in self.store.list_dir(&self.path)? {
                if let Ok(c) = name.parse::<u64>() {
                    if (first_whole..hi_chunks).contains(&c) {
                        self.store.delete(&self.chunk_key(c))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The array's attributes (`.zattrs`), `{}` when none.
    pub fn attrs(&self) -> Result<Json> {
        meta::read_attrs(self.store.as_ref(), &self.path)
    }

    /// Replace the array's attributes.
    pub fn set_attrs(&self, attrs: &Json) -> Result<()> {
        if self.store.read_only() {
            return Err(Error::ReadOnly {
                path: self.store.location(),
            });
        }
        meta::write_attrs(self.store.as_ref(), &self.path, attrs)
    }

    /// Decode every stored chunk and list those that fail as (chunk key, reason).
    pub fn verify(&self) -> Result<Vec<(String, String)>> {
        let n = self.len().div_ceil(self.chunk_size());
        let bad: Vec<(String, String)> = (0..n)
            .into_par_iter()
            .filter_map(|c| match self.read_chunk(c) {
                Ok(_) => None,
                Err(Error::CorruptChunk { key, reason, .. }) => Some(Ok((key, reason))),
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<_>>()?;
        Ok(bad)
    }
}

/// Each row's msgpack bytes, by its offset in its chunk.
fn encode_rows<'a>(
    rows: impl Iterator<Item = (usize, &'a Value)>,
) -> Result<BTreeMap<usize, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for (off, v) in rows {
        let mut buf = Vec::new();
        rmpv::encode::write_value(&mut buf, v).map_err(|e| Error::Encode(e.to_string()))?;
        out.insert(off, buf);
    }
    Ok(out)
}

/// Whether replacing the items at the offsets of `new_rows` by those encoded bytes
/// leaves chunk `data` (items at `spans`) as it is: such a write is skipped, so an
/// update that changes nothing (an appended row equal to what the padded last chunk
/// holds, a field set to its value) costs no file write.
fn unchanged(data: &[u8], spans: &[Range<usize>], new_rows: &BTreeMap<usize, Vec<u8>>) -> bool {
    new_rows.iter().all(|(off, bytes)| {
        spans
            .get(*off)
            .is_some_and(|sp| data[sp.clone()] == bytes[..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Compressor;
    use crate::store::LocalStore;
    use proptest::prelude::*;

    fn new_store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let d = tempfile::tempdir().unwrap();
        let s: Arc<dyn Store> = Arc::new(LocalStore::new(d.path()));
        (d, s)
    }

    fn vals(r: std::ops::Range<i64>) -> Vec<Value> {
        r.map(|i| Value::Map(vec![(Value::from("i"), Value::from(i))]))
            .collect()
    }

    /// A store recording the keys written to it.
    struct Counting {
        inner: LocalStore,
        sets: std::sync::Mutex<Vec<String>>,
    }

    impl Store for Counting {
        fn location(&self) -> String {
            self.inner.location()
        }
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
            self.inner.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<()> {
            self.sets.lock().unwrap().push(key.to_string());
            self.inner.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<()> {
            self.inner.delete(key)
        }
        fn list_dir(&self, prefix: &str) -> Result<Vec<String>> {
            self.inner.list_dir(prefix)
        }
    }

    #[test]
    fn updates_that_change_nothing_write_nothing() {
        let d = tempfile::tempdir().unwrap();
        let c = Arc::new(Counting {
            inner: LocalStore::new(d.path()),
            sets: Default::default(),
        });
        let s: Arc<dyn Store> = c.clone();
        for write_empty_chunks in [true, false] {
            let path = format!("p{write_empty_chunks}");
            let opts = ObjectArrayOptions {
                chunk_size: Some(10),
                fill_value: Value::from(0),
                write_empty_chunks,
                ..Default::default()
            };
            let a = ObjectArray::create(s.clone(), &path, 0, &opts).unwrap();
            a.append(vec![Value::from("a"), Value::from("b")]).unwrap();
            let written = |c: &Counting| std::mem::take(&mut *c.sets.lock().unwrap());
            written(&c);
            // an appended row equal to the fill value the padded chunk holds: only the
            // metadata (the new length) is written
            a.append(vec![Value::from(0)]).unwrap();
            assert_eq!(written(&c), vec![format!("{path}/.zarray")]);
            // a row set to its value, a field patched to its value: nothing written
            a.set(&[1], vec![Value::from("b")]).unwrap();
            assert_eq!(written(&c), Vec::<String>::new());
            a.set(
                &[0],
                vec![Value::Array(vec![Value::from(1), Value::from("x")])],
            )
            .unwrap();
            written(&c);
            a.patch(&[0], vec![vec![(1, Value::from("x"))]]).unwrap();
            assert_eq!(written(&c), Vec::<String>::new());
            // a real change is written, and read back
            a.patch(&[0], vec![vec![(1, Value::from("y"))]]).unwrap();
            a.set(&[2], vec![Value::from("c")]).unwrap();
            assert_eq!(written(&c), vec![format!("{path}/0"), format!("{path}/0")]);
            let b = ObjectArray::open(s.clone(), &path, write_empty_chunks).unwrap();
            assert_eq!(
                b.get_all().unwrap(),
                vec![
                    Value::Array(vec![Value::from(1), Value::from("y")]),
                    Value::from("b"),
                    Value::from("c")
                ]
            );
        }
    }

    #[test]
    fn append_get_set_resize() {
        let (_d, s) = new_store();
        let a = ObjectArray::create(
            s.clone(),
            "metadata/runs",
            0,
            &ObjectArrayOptions {
                chunk_size: Some(3),
                compressor: Compressor::default(),
                fill_value: Value::from(0),
                ..Default::default()
            },
        )
        .unwrap();
        a.append(vals(0..7)).unwrap();
        assert_eq!(a.len(), 7);
        assert_eq!(
            a.get(&[6, 0, 6, 3]).unwrap(),
            vec![
                vals(6..7)[0].clone(),
                vals(0..1)[0].clone(),
                vals(6..7)[0].clone(),
                vals(3..4)[0].clone()
            ]
        );
        a.set(&[1, 5], vec![Value::from("x"), Value::from("y")])
            .unwrap();
        let b = ObjectArray::open(s.clone(), "metadata/runs", true).unwrap();
        let all = b.get_all().unwrap();
        assert_eq!(all[1], Value::from("x"));
        assert_eq!(all[5], Value::from("y"));
        assert_eq!(all[4], vals(4..5)[0]);
        a.resize(4).unwrap();
        a.resize(9).unwrap();
        let all = a.get_all().unwrap();
        assert_eq!(all.len(), 9);
        assert!(all[4..].iter().all(|v| *v == Value::from(0)), "{all:?}");
        assert!(matches!(
            a.get(&[9]),
            Err(Error::IndexOutOfRange {
                index: 9,
                len: 9,
                ..
            })
        ));
        assert!(matches!(
            a.set(&[1], vec![]),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn patch_sets_fields_of_rows_and_names_bad_rows() {
        let (_d, store) = new_store();
        let a = ObjectArray::create(
            store.clone(),
            "rows",
            0,
            &ObjectArrayOptions {
                chunk_size: Some(3),
                ..Default::default()
            },
        )
        .unwrap();
        let rows: Vec<Value> = (0..7)
            .map(|i| Value::Array(vec![Value::from(i), Value::Nil, Value::from("x")]))
            .collect();
        a.append(rows).unwrap();
        a.patch(
            &[1, 5, 6],
            vec![
                vec![(1, Value::from(10))],
                vec![(1, Value::from(50)), (2, Value::from("y"))],
                vec![],
            ],
        )
        .unwrap();
        let got = a.get_all().unwrap();
        assert_eq!(
            got[1],
            Value::Array(vec![Value::from(1), Value::from(10), Value::from("x")])
        );
        assert_eq!(
            got[5],
            Value::Array(vec![Value::from(5), Value::from(50), Value::from("y")])
        );
        assert_eq!(
            got[0],
            Value::Array(vec![Value::from(0), Value::Nil, Value::from("x")])
        );
        // out of range index, position past the row's end, and a row that is no list
        assert!(matches!(
            a.patch(&[7], vec![vec![]]),
            Err(Error::IndexOutOfRange { .. })
        ));
        let e = a.patch(&[2], vec![vec![(3, Value::Nil)]]).unwrap_err();
        assert!(e.to_string().contains("row 2 has 3 fields"), "{e}");
        a.set(&[4], vec![Value::from(4)]).unwrap();
        let e = a.patch(&[4], vec![vec![(0, Value::Nil)]]).unwrap_err();
        assert!(e.to_string().contains("row 4 is not a list"), "{e}");
        // a failed patch wrote nothing
        assert_eq!(a.get(&[2]).unwrap()[0], got[2]);
    }

    #[test]
    fn empty_chunks_not_written_when_asked() {
        let (d, s) = new_store();
        let a = ObjectArray::create(
            s,
            "p",
            4,
            &ObjectArrayOptions {
                chunk_size: Some(2),
                compressor: Compressor::default(),
                fill_value: Value::from(0),
                write_empty_chunks: false,
                ..Default::default()
            },
        )
        .unwrap();
        a.set(&[0, 1], vec![Value::from(0), Value::from(0)])
            .unwrap();
        assert!(!d.path().join("p/0").exists());
        a.set(&[2], vec![Value::from(5)]).unwrap();
        assert!(d.path().join("p/1").exists());
        a.set(&[2], vec![Value::from(0)]).unwrap();
        assert!(!d.path().join("p/1").exists());
    }

    #[test]
    fn corrupt_chunk_named_and_others_readable() {
        let (d, s) = new_store();
        let a = ObjectArray::create(
            s,
            "r",
            0,
            &ObjectArrayOptions {
                chunk_size: Some(2),
                compressor: Compressor::default(),
                fill_value: Value::Nil,
                ..Default::default()
            },
        )
        .unwrap();
        a.append(vals(0..6)).unwrap();
        std::fs::write(d.path().join("r/1"), b"garbage").unwrap();
        let e = a.get(&[2]).unwrap_err();
        assert!(
            matches!(&e, Error::CorruptChunk { key, .. } if key == "1"),
            "{e}"
        );
        assert_eq!(a.get(&[0, 5]).unwrap().len(), 2);
        assert_eq!(a.verify().unwrap().len(), 1);
    }

    #[test]
    fn exists_and_missing_errors() {
        let (_d, s) = new_store();
        ObjectArray::create(
            s.clone(),
            "x",
            0,
            &ObjectArrayOptions {
                chunk_size: Some(2),
                compressor: Compressor::None,
                fill_value: Value::Nil,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(matches!(
            ObjectArray::create(
                s.clone(),
                "x",
                0,
                &ObjectArrayOptions {
                    chunk_size: Some(2),
                    compressor: Compressor::None,
                    fill_value: Value::Nil,
                    ..Default::default()
                }
            ),
            Err(Error::ArrayExists { .. })
        ));
        assert!(matches!(
            ObjectArray::open(s, "y", true),
            Err(Error::ArrayNotFound { .. })
        ));
    }

    #[test]
    fn encoded_rows_check_indices_and_codec() {
        let (_d, s) = new_store();
        let a = ObjectArray::create(s.clone(), "a", 0, &ObjectArrayOptions::default()).unwrap();
        a.append(vals(0..3)).unwrap();
        assert!(matches!(
            a.get_encoded(&[3]),
            Err(Error::IndexOutOfRange { index: 3, .. })
        ));
        let enc = a.get_encoded(&[2, 0, 2]).unwrap().unwrap();
        assert_eq!(enc.chunks.len(), 1);
        assert_eq!(enc.items[0], enc.items[2]);
        let v = ObjectArray::create(
            s,
            "v",
            0,
            &ObjectArrayOptions {
                object_codec: ObjectCodec::VLenUtf8,
                fill_value: Value::from(""),
                ..Default::default()
            },
        )
        .unwrap();
        v.append(vec![Value::from("a")]).unwrap();
        assert!(v.get_encoded(&[0]).unwrap().is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn random_patches_match_model(n in 1u64..40, cs in 1u64..9, patches in proptest::collection::vec((0u64..40, 0usize..3, any::<i32>()), 0..30)) {
            let (_d, s) = new_store();
            let a = ObjectArray::create(s, "a", 0, &ObjectArrayOptions { chunk_size: Some(cs), ..Default::default() }).unwrap();
            let row = |i: u64| Value::Array(vec![Value::from(i), Value::from("s"), Value::Nil]);
            a.append((0..n).map(row).collect()).unwrap();
            let mut model: Vec<Value> = (0..n).map(row).collect();
            let p: Vec<(u64, usize, i32)> = patches.into_iter().filter(|(i, ..)| *i < n).collect();
            let idx: Vec<u64> = p.iter().map(|(i, ..)| *i).collect();
            a.patch(&idx, p.iter().map(|(_, pos, v)| vec![(*pos, Value::from(*v))]).collect()).unwrap();
            for (i, pos, v) in &p {
                if let Value::Array(r) = &mut model[*i as usize] { r[*pos] = Value::from(*v); }
            }
            prop_assert_eq!(a.get_all().unwrap(), model.clone());
            // single rows read back through the partial decoder too
            for i in 0..n {
                prop_assert_eq!(&a.get(&[i]).unwrap()[0], &model[i as usize]);
            }
        }

        #[test]
        fn encoded_rows_decode_as_get(n in 0u64..50, cs in 1u64..9, writes in proptest::collection::vec((0u64..50, any::<i32>()), 0..30), wanted in proptest::collection::vec(0u64..50, 0..40)) {
            let (_d, s) = new_store();
            // absent chunks (all fill values, not written) must read as the fill value
            let a = ObjectArray::create(s, "a", n, &ObjectArrayOptions { chunk_size: Some(cs), fill_value: Value::Nil, write_empty_chunks: false, ..Default::default() }).unwrap();
            let w: Vec<(u64, i32)> = writes.into_iter().filter(|(i, _)| *i < n).collect();
            let idx: Vec<u64> = w.iter().map(|(i, _)| *i).collect();
            a.set(&idx, w.iter().map(|(_, v)| Value::Array(vec![Value::from(*v), Value::from("x")])).collect()).unwrap();
            let wanted: Vec<u64> = wanted.into_iter().filter(|i| *i < n).collect();
            let enc = a.get_encoded(&wanted).unwrap().unwrap();
            prop_assert_eq!(enc.items.len(), wanted.len());
            let decoded: Vec<Value> = enc.items.iter().map(|(slot, r)| msgpack_decode_value(&enc.chunks[*slot].1[r.clone()]).unwrap()).collect();
            prop_assert_eq!(decoded, a.get(&wanted).unwrap());
        }

        #[test]
        fn set_unless_map_sets_all_or_names_the_rows_holding_maps(
            rows in proptest::collection::vec(0u8..3, 0..50),
            cs in 1u64..9,
            empty in any::<bool>(),
            writes in proptest::collection::vec((0usize..50, any::<i32>()), 0..12),
        ) {
            // a row is nil (the fill), a number, or a map (a set parameter)
            let row = |k: u8, i: usize| match k {
                0 => Value::Nil,
                1 => Value::from(i as i64),
                _ => Value::Map(vec![(Value::from("data"), Value::from(i as i64))]),
            };
            let (_d, s) = new_store();
            let opts = ObjectArrayOptions { chunk_size: Some(cs), compressor: Compressor::default(), fill_value: Value::Nil, write_empty_chunks: empty, ..Default::default() };
            let a = ObjectArray::create(s, "a", 0, &opts).unwrap();
            let model: Vec<Value> = rows.iter().enumerate().map(|(i, k)| row(*k, i)).collect();
            a.append(model.clone()).unwrap();
            let w: Vec<(u64, Value)> = writes.into_iter().filter(|(i, _)| *i < rows.len())
                .map(|(i, v)| (i as u64, Value::Map(vec![(Value::from("data"), Value::from(v))]))).collect();
            let idx: Vec<u64> = w.iter().map(|(i, _)| *i).collect();
            let mut expected_maps: Vec<u64> = Vec::new();
            for &i in &idx {
                if rows[i as usize] == 2 && !expected_maps.contains(&i) { expected_maps.push(i); }
            }
            let got = a.set_unless_map(&idx, w.iter().map(|(_, v)| v.clone()).collect()).unwrap();
            prop_assert_eq!(&got, &expected_maps);
            let mut after = model.clone();
            if expected_maps.is_empty() {
                for (i, v) in &w { after[*i as usize] = v.clone(); }
            }
            let fresh = ObjectArray::open(a.store().clone(), "a", empty).unwrap();
            prop_assert_eq!(fresh.get_all().unwrap(), after);
        }

        #[test]
        fn random_sets_match_model(n in 0u64..60, cs in 1u64..9, writes in proptest::collection::vec((0u64..60, any::<i32>()), 0..40)) {
            let (_d, s) = new_store();
            let a = ObjectArray::create(s, "a", 0, &ObjectArrayOptions { chunk_size: Some(cs), compressor: Compressor::default(), fill_value: Value::from(0), ..Default::default() }).unwrap();
            a.append((0..n).map(Value::from).collect()).unwrap();
            let mut model: Vec<Value> = (0..n).map(Value::from).collect();
            let w: Vec<(u64, i32)> = writes.into_iter().filter(|(i, _)| *i < n).collect();
            let idx: Vec<u64> = w.iter().map(|(i, _)| *i).collect();
            a.set(&idx, w.iter().map(|(_, v)| Value::from(*v)).collect()).unwrap();
            for (i, v) in &w { model[*i as usize] = Value::from(*v); }
            prop_assert_eq!(a.get_all().unwrap(), model.clone());
            let rev: Vec<u64> = (0..n).rev().collect();
            let mut m2 = model.clone(); m2.reverse();
            prop_assert_eq!(a.get(&rev).unwrap(), m2);
        }
    }
}
