//! One-dimensional object arrays (zarr dtype `|O`) whose items are msgpack values,
//! encoded with numcodecs' `MsgPack` codec (or its `VLenArray`/`VLenUTF8`/`VLenBytes`).
//! Reading is here, writing in [`write`].

use crate::array::codec::{
    decode_object_chunk_with, encode_object_chunk_with, msgpack_decode_value, msgpack_item_spans,
    Compressor, ObjectCodec,
};
use crate::array::meta::{self, json_to_msgpack, msgpack_to_json, ArrayMeta};
use crate::array::msgpack::ItemBytes;
use crate::error::{Error, Result};
use crate::storage::Store;
use crate::util::par;
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

/// A chunk as stored, read once (see [`ObjectArray::read_stored`]).
pub(crate) enum StoredChunk {
    /// A msgpack chunk's uncompressed bytes and each item's byte range.
    Spans(SpannedChunk),
    /// Its items: fill values when it has no file, decoded for other codecs.
    Items(Vec<Value>),
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
                "dtype is {}, expected \"|O\" for an object array",
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

    /// This array as it is now (store, path, metadata) writing with
    /// `write_empty_chunks` as given: nothing is read.
    pub fn with_write_empty_chunks(&self, write_empty_chunks: bool) -> Self {
        ObjectArray {
            store: self.store.clone(),
            path: self.path.clone(),
            meta: RwLock::new(self.meta()),
            codec: self.codec.clone(),
            fill: self.fill.clone(),
            write_empty_chunks,
        }
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

    /// The error for chunk `chunk` of this array being unreadable for `reason` (for
    /// callers that decode rows themselves, e.g. from [`ObjectArray::read_item_bytes`]).
    pub fn corrupt(&self, chunk: u64, reason: String) -> Error {
        Error::CorruptChunk {
            path: self.display_path(),
            key: chunk.to_string(),
            reason,
        }
    }

    /// Chunks `chunks` as their items' encoded bytes, read and decompressed in
    /// parallel; an absent chunk holds the fill value's bytes once per row. `None`
    /// unless the codec is msgpack. Each has `chunk_size` items.
    pub fn read_item_bytes(&self, chunks: &[u64]) -> Result<Option<Vec<ItemBytes>>> {
        if !matches!(self.codec, ObjectCodec::MsgPack) {
            return Ok(None);
        }
        let cs = usize::try_from(self.chunk_size())
            .map_err(|_| Error::InvalidArgument("chunk size above the address space".into()))?;
        let read = par::map_ref(chunks, |&c| match self.msgpack_chunk_spans(c)? {
            Some((data, spans)) => {
                ItemBytes::from_spans(data, &spans).map_err(|e| self.corrupt(c, e.to_string()))
            }
            None => {
                let mut fill = Vec::new();
                rmpv::encode::write_value(&mut fill, &self.fill)
                    .map_err(|e| Error::Encode(e.to_string()))?;
                ItemBytes::repeated(&fill, cs)
            }
        });
        read.into_iter().collect::<Result<Vec<_>>>().map(Some)
    }

    /// The array's path as errors name it (the store's location joined to it).
    pub fn display_path(&self) -> String {
        meta::join(&self.store.location(), &self.path)
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

    /// Chunk `chunk` read once for a few rows' reading or changing: a msgpack chunk as
    /// its bytes and spans (the other rows are not decoded), else its items (an absent
    /// chunk's fill values without a second lookup: on NFS each is a round trip).
    pub(crate) fn read_stored(&self, chunk: u64) -> Result<StoredChunk> {
        if !matches!(self.codec, ObjectCodec::MsgPack) {
            return self.read_chunk(chunk).map(StoredChunk::Items);
        }
        Ok(match self.msgpack_chunk_spans(chunk)? {
            Some(sp) => StoredChunk::Spans(sp),
            None => StoredChunk::Items(vec![self.fill.clone(); self.chunk_size() as usize]),
        })
    }

    /// Decode item `off` of a chunk from its span.
    fn decode_span(&self, chunk: u64, data: &[u8], span: &Range<usize>) -> Result<Value> {
        msgpack_decode_value(&data[span.clone()]).map_err(|e| self.corrupt(chunk, e.to_string()))
    }

    /// Store chunk `chunk`, of an array being built aside (a rechunk's), from its
    /// uncompressed encoded bytes: in place (see [`Store::set_temp`]).
    pub(crate) fn write_encoded_chunk(&self, chunk: u64, raw: &[u8]) -> Result<()> {
        let comp = self.compressor();
        let bytes = comp.compress(raw, 1)?;
        self.store.set_temp(&self.chunk_key(chunk), &bytes)
    }

    /// Store chunk `chunk` as `items` (deleted if they are all fill values and empty
    /// chunks are not written). `unseen`: no reader looks at the chunk until a later
    /// write shows it (past the array's recorded end, or in an array built aside), so
    /// it is written in place (see [`Store::set_temp`]).
    pub(crate) fn write_chunk(
        &self,
        chunk: u64,
        items: &[Value],
        comp: &Compressor,
        unseen: bool,
    ) -> Result<()> {
        let key = self.chunk_key(chunk);
        if !self.write_empty_chunks && items.iter().all(|v| *v == self.fill) {
            return self.store.delete(&key);
        }
        let bytes = encode_object_chunk_with(items, &self.codec, comp)?;
        if unseen {
            self.store.set_temp(&key, &bytes)
        } else {
            self.store.set(&key, &bytes)
        }
    }

    /// An [`Error::IndexOutOfRange`] naming the first of `indices` not below `len`.
    pub fn check_indices(&self, indices: &[u64], len: u64) -> Result<()> {
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
            let stored = if (wanted.len() as u64) * 4 < cs {
                self.read_stored(*c)?
            } else {
                StoredChunk::Items(self.read_chunk(*c)?)
            };
            let mut items = match stored {
                StoredChunk::Spans((data, spans)) => {
                    return wanted
                        .iter()
                        .map(|&(pos, off)| Ok((pos, self.decode_span(*c, &data, &spans[off])?)))
                        .collect::<Result<Vec<_>>>();
                }
                StoredChunk::Items(items) => items,
            };
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
}

#[cfg(test)]
mod tests;
mod write;
