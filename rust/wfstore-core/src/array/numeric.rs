//! N-dimensional numeric and bool arrays in C order (zarr dtypes such as `<f8`, `|b1`).

use super::codec::Compressor;
pub use super::dtype::{float_fill_json, DType, DTypeRefusal, ItemType};
use crate::array::meta::{self, ArrayMeta};
use crate::error::{Error, Result};
use crate::storage::Store;
use rayon::prelude::*;

use serde_json::Value as Json;
use std::sync::Arc;

/// Chunks are at most this many bytes when wfstore chooses the chunk shape.
pub const DEFAULT_CHUNK_BYTES: u64 = 8 << 20;

/// Chunk shape wfstore picks: the whole array when small, else split along the first axes.
pub fn default_chunks(shape: &[u64], itemsize: usize) -> Vec<u64> {
    let mut chunks: Vec<u64> = shape.iter().map(|&s| s.max(1)).collect();
    let mut bytes: u64 = chunks.iter().product::<u64>() * itemsize as u64;
    let mut d = 0;
    while bytes > DEFAULT_CHUNK_BYTES && d < chunks.len() {
        let per_row = bytes / chunks[d];
        let rows = (DEFAULT_CHUNK_BYTES / per_row.max(1)).max(1);
        if rows < chunks[d] {
            chunks[d] = rows;
        }
        bytes = chunks.iter().product::<u64>() * itemsize as u64;
        d += 1;
    }
    chunks
}

/// An N-dimensional numeric Zarr v2 array (numeric, bool or structured items).
#[derive(Clone)]
pub struct NumericArray {
    store: Arc<dyn Store>,
    path: String,
    meta: ArrayMeta,
    item: ItemType,
    fill: Vec<u8>,
    write_empty_chunks: bool,
}

impl std::fmt::Debug for NumericArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NumericArray")
            .field("path", &self.path)
            .field("dtype", &self.meta.dtype)
            .field("shape", &self.meta.shape)
            .finish()
    }
}

/// How [`NumericArray::create_with`] makes an array.
#[derive(Debug, Clone)]
pub struct NumericArrayOptions {
    /// Chunk shape (None: [`default_chunks`]).
    pub chunks: Option<Vec<u64>>,
    /// Chunk compressor.
    pub compressor: Compressor,
    /// `.zarray` fill value (a record's: base64 of one item, see
    /// [`ItemType::record_fill_json`]; null: zeros).
    pub fill_value: Json,
    /// Replace an existing array at the path.
    pub overwrite: bool,
    /// Separator of chunk-key dimensions (None: `.`).
    pub dimension_separator: Option<String>,
    /// Write chunks that hold only fill values (zarr-python's `write_empty_chunks`;
    /// false: such a chunk is deleted instead, as zarr-python does).
    pub write_empty_chunks: bool,
}

impl Default for NumericArrayOptions {
    fn default() -> Self {
        NumericArrayOptions {
            chunks: None,
            compressor: Compressor::default(),
            fill_value: Json::Null,
            overwrite: false,
            dimension_separator: None,
            write_empty_chunks: true,
        }
    }
}

/// The decompressed bytes of a stored chunk of the array `meta` of items `item`,
/// checked to be exactly one chunk (else [`Error::CorruptChunk`] naming `location`
/// and `key`). Every read of a numeric chunk goes through here.
pub fn decode_chunk(
    meta: &ArrayMeta,
    item: &ItemType,
    location: &str,
    key: &str,
    raw: &[u8],
) -> Result<Vec<u8>> {
    let corrupt = |reason: String| Error::CorruptChunk {
        path: location.to_string(),
        key: key.to_string(),
        reason,
    };
    let data = meta
        .compressor
        .decompress(raw)
        .map_err(|e| corrupt(e.to_string()))?;
    let want = chunk_bytes(&meta.chunks, item.size())
        .ok_or_else(|| corrupt(format!("chunks {:?} are too large", meta.chunks)))?;
    if data.len() as u64 != want {
        return Err(corrupt(format!(
            "decodes to {} bytes, expected {want}",
            data.len()
        )));
    }
    Ok(data)
}

/// Bytes of a chunk of shape `chunks` and item size `itemsize`, or None when above
/// [`crate::array::codec::MAX_DECODED_BYTES`].
fn chunk_bytes(chunks: &[u64], itemsize: usize) -> Option<u64> {
    chunks
        .iter()
        .try_fold(itemsize as u64, |a, &d| a.checked_mul(d))
        .filter(|&b| b <= crate::array::codec::MAX_DECODED_BYTES as u64)
}

/// A vector with room for `n` items, or an error (not an abort) when it cannot be had.
fn try_with_capacity<T>(n: u64, what: impl FnOnce() -> String) -> Result<Vec<T>> {
    let mut v = Vec::new();
    usize::try_from(n)
        .ok()
        .and_then(|n| v.try_reserve_exact(n).ok())
        .ok_or_else(|| Error::InvalidArgument(format!("{} does not fit in memory", what())))?;
    Ok(v)
}

/// Visit every grid position of `grid` in C order.
fn grid_positions(grid: &[u64]) -> Result<Vec<Vec<u64>>> {
    let total = grid
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .unwrap_or(u64::MAX);
    let mut out = try_with_capacity(total, || format!("a grid of {total} chunks"))?;
    if grid.is_empty() {
        out.push(Vec::new());
        return Ok(out);
    }
    if total == 0 {
        return Ok(out);
    }
    let mut idx = vec![0u64; grid.len()];
    loop {
        out.push(idx.clone());
        let mut d = grid.len();
        loop {
            if d == 0 {
                return Ok(out);
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < grid[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// The contiguous runs shared by a C-order array and chunk `pos` of it, as
/// (byte offset in the array, byte offset in the chunk, byte length).
fn region_runs(
    shape: &[u64],
    chunks: &[u64],
    pos: &[u64],
    itemsize: usize,
) -> Vec<(usize, usize, usize)> {
    let nd = shape.len();
    if nd == 0 {
        return vec![(0, 0, itemsize)];
    }
    let start: Vec<u64> = pos.iter().zip(chunks).map(|(p, c)| p * c).collect();
    let ext: Vec<u64> = (0..nd)
        .map(|d| shape[d].saturating_sub(start[d]).min(chunks[d]))
        .collect();
    let mut out = Vec::new();
    if ext.contains(&0) {
        return out;
    }
    let run = ext[nd - 1] as usize * itemsize;
    let mut local = vec![0u64; nd - 1];
    loop {
        let mut a_off = 0u64;
        let mut c_off = 0u64;
        for d in 0..nd {
            let l = if d < nd - 1 { local[d] } else { 0 };
            a_off = a_off * shape[d] + start[d] + l;
            c_off = c_off * chunks[d] + l;
        }
        out.push((a_off as usize * itemsize, c_off as usize * itemsize, run));
        let mut d = nd - 1;
        loop {
            if d == 0 {
                return out;
            }
            d -= 1;
            local[d] += 1;
            if local[d] < ext[d] {
                break;
            }
            local[d] = 0;
        }
    }
}

impl NumericArray {
    /// Create an array at `path` holding `data` (C-order bytes of `shape` items of
    /// `dtype`, a numpy dtype string), with `chunks` (or [`default_chunks`]). Chunks
    /// are written first and `.zarray` last. An existing array at `path` is refused
    /// unless `overwrite`.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        store: Arc<dyn Store>,
        path: &str,
        dtype: &str,
        shape: &[u64],
        chunks: Option<&[u64]>,
        compressor: Compressor,
        fill_value: Json,
        data: &[u8],
        overwrite: bool,
    ) -> Result<Self> {
        let opts = NumericArrayOptions {
            chunks: chunks.map(<[u64]>::to_vec),
            compressor,
            fill_value,
            overwrite,
            ..Default::default()
        };
        Self::create_with(store, path, &Json::from(dtype), shape, data, &opts)
    }

    /// Create an array at `path` of items `dtype` (a `.zarray` dtype entry: a dtype
    /// string or a structured dtype's list descr) holding `data` (C-order bytes of
    /// `shape` items), as `opts` say. Chunks are written first and `.zarray` last.
    pub fn create_with(
        store: Arc<dyn Store>,
        path: &str,
        dtype: &Json,
        shape: &[u64],
        data: &[u8],
        opts: &NumericArrayOptions,
    ) -> Result<Self> {
        if store.read_only() {
            return Err(Error::ReadOnly {
                path: store.location(),
            });
        }
        let path = path.trim_matches('/').to_string();
        let item = ItemType::from_json(dtype)
            .ok_or_else(|| Error::InvalidArgument(format!("unsupported numeric dtype {dtype}")))?;
        let isz = item.size();
        let n = shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| Error::InvalidArgument(format!("shape {shape:?} is too large")))?;
        if data.len() as u64 != n.saturating_mul(isz as u64) {
            return Err(Error::InvalidArgument(format!(
                "{} bytes given for {n} items of {dtype}",
                data.len()
            )));
        }
        let chunks = match &opts.chunks {
            Some(c) if c.len() != shape.len() || c.contains(&0) => {
                return Err(Error::InvalidArgument(format!(
                    "bad chunks {c:?} for shape {shape:?}"
                )))
            }
            Some(c) => c.clone(),
            None => default_chunks(shape, isz),
        };
        if chunk_bytes(&chunks, isz).is_none() {
            return Err(Error::InvalidArgument(format!(
                "chunks {chunks:?} of {dtype} are larger than {} bytes",
                crate::array::codec::MAX_DECODED_BYTES
            )));
        }
        let sep = opts
            .dimension_separator
            .clone()
            .unwrap_or_else(|| ".".into());
        if sep != "." && sep != "/" {
            return Err(Error::InvalidArgument(format!(
                "dimension separator {sep:?} (\".\" or \"/\")"
            )));
        }
        if !opts.overwrite && store.get(&meta::join(&path, meta::ZARRAY))?.is_some() {
            return Err(Error::ArrayExists {
                path: meta::join(&store.location(), &path),
            });
        }
        let fill_value = item.normalize_fill(&opts.fill_value);
        let fill = item.fill_bytes(&fill_value)?;
        let meta = ArrayMeta {
            shape: shape.to_vec(),
            chunks,
            dtype: item.to_json(),
            compressor: opts.compressor.clone(),
            fill_value,
            filters: None,
            dimension_separator: Some(sep),
        };
        let arr = NumericArray {
            store,
            path,
            meta,
            item,
            fill,
            write_empty_chunks: opts.write_empty_chunks,
        };
        let written = arr
            .write(data)
            .and_then(|()| meta::write_array_meta(arr.store.as_ref(), &arr.path, &arr.meta));
        if let Err(e) = written {
            // Do not leave chunks of an array that was never made (best effort; an
            // overwritten array keeps whatever was written).
            if !opts.overwrite {
                if let Ok(positions) = grid_positions(&arr.meta.grid()) {
                    for pos in positions {
                        let key = meta::join(&arr.path, &arr.meta.chunk_key(&pos));
                        let _ = arr.store.delete(&key);
                    }
                }
            }
            return Err(e);
        }
        Ok(arr)
    }

    /// Open the numeric array at `path`.
    pub fn open(store: Arc<dyn Store>, path: &str) -> Result<Self> {
        let path = path.trim_matches('/').to_string();
        let meta = meta::read_array_meta(store.as_ref(), &path)?;
        // a dtype numpy would not read either is damaged metadata; one it reads but
        // wfstore does not (strings, dates, ...) is unsupported
        let item = ItemType::parse_json(&meta.dtype).map_err(|r| match r {
            DTypeRefusal::Invalid(reason) => Error::Metadata {
                path: path.clone(),
                key: meta::ZARRAY.into(),
                reason: format!("dtype {}: {reason}", meta.dtype),
            },
            DTypeRefusal::Unsupported(reason) => Error::Unsupported {
                path: path.clone(),
                reason: format!(
                    "{reason} (wfstore reads numeric, bool and structured dtypes of them)"
                ),
            },
        })?;
        if chunk_bytes(&meta.chunks, item.size()).is_none() {
            return Err(Error::Metadata {
                path,
                key: meta::ZARRAY.into(),
                reason: format!(
                    "chunks {:?} of {} are larger than a chunk can decode to ({} bytes)",
                    meta.chunks,
                    meta.dtype,
                    crate::array::codec::MAX_DECODED_BYTES
                ),
            });
        }
        if meta.filters.as_ref().is_some_and(|f| !f.is_empty()) {
            return Err(Error::Unsupported {
                path,
                reason: "filters on a numeric array".into(),
            });
        }
        let fill = item
            .fill_bytes(&meta.fill_value)
            .map_err(|e| Error::Metadata {
                path: path.clone(),
                key: meta::ZARRAY.into(),
                reason: e.to_string(),
            })?;
        Ok(NumericArray {
            store,
            path,
            meta,
            item,
            fill,
            write_empty_chunks: true,
        })
    }

    /// This array, writing chunks that hold only fill values or not (zarr-python's
    /// `write_empty_chunks`, which `.zarray` does not record).
    pub fn with_write_empty_chunks(mut self, yes: bool) -> Self {
        self.write_empty_chunks = yes;
        self
    }

    /// The item type.
    pub fn item_type(&self) -> &ItemType {
        &self.item
    }

    /// The fill value's bytes (one item).
    pub fn fill_item(&self) -> &[u8] {
        &self.fill
    }

    /// The array's path in its store.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The numpy dtype string (a structured dtype's: its list descr as JSON).
    pub fn dtype(&self) -> String {
        self.item.to_string()
    }

    /// The array's shape.
    pub fn shape(&self) -> &[u64] {
        &self.meta.shape
    }

    /// The chunk shape.
    pub fn chunks(&self) -> &[u64] {
        &self.meta.chunks
    }

    /// The array's metadata.
    pub fn meta(&self) -> &ArrayMeta {
        &self.meta
    }

    fn chunk_items(&self) -> usize {
        self.meta.chunks.iter().product::<u64>() as usize
    }

    /// The decompressed bytes of the chunk at grid position `pos` (`None` when it is
    /// absent: fill values); a chunk that does not decompress to exactly one chunk of
    /// bytes is [`Error::CorruptChunk`] naming its key.
    fn read_chunk(&self, pos: &[u64]) -> Result<Option<Vec<u8>>> {
        let key = self.meta.chunk_key(pos);
        let Some(b) = self.store.get(&meta::join(&self.path, &key))? else {
            return Ok(None);
        };
        let location = meta::join(&self.store.location(), &self.path);
        let raw = decode_chunk(&self.meta, &self.item, &location, &key, &b)?;
        Ok(Some(raw))
    }

    /// Every chunk within the shape that cannot be read, as (chunk key, reason) (see
    /// [`crate::array::object::ObjectArray::verify`]); absent chunks are fill values,
    /// not damage.
    pub fn verify(&self) -> Result<Vec<(String, String)>> {
        let positions = grid_positions(&self.meta.grid())?;
        positions
            .par_iter()
            .filter_map(|pos| match self.read_chunk(pos) {
                Ok(_) => None,
                Err(Error::CorruptChunk { key, reason, .. }) => Some(Ok((key, reason))),
                Err(e) => Some(Err(e)),
            })
            .collect()
    }

    /// Read the whole array as C-order bytes in the stored byte order.
    pub fn read(&self) -> Result<Vec<u8>> {
        let isz = self.item.size();
        let n: u64 = self.meta.shape.iter().product();
        let total = n.saturating_mul(isz as u64);
        let mut out: Vec<u8> = try_with_capacity(total, || {
            format!(
                "array {} of shape {:?} ({total} bytes)",
                self.path, self.meta.shape
            )
        })?;
        let positions = grid_positions(&self.meta.grid())?;
        let decoded: Vec<Option<Vec<u8>>> = positions
            .par_iter()
            .map(|pos| self.read_chunk(pos))
            .collect::<Result<_>>()?;
        for _ in 0..n {
            out.extend_from_slice(&self.fill);
        }
        for (pos, chunk) in positions.iter().zip(decoded) {
            if let Some(c) = chunk {
                for (a, k, len) in region_runs(&self.meta.shape, &self.meta.chunks, pos, isz) {
                    out[a..a + len].copy_from_slice(&c[k..k + len]);
                }
            }
        }
        Ok(out)
    }

    /// Overwrite the whole array with `data` (C-order bytes, same shape and dtype).
    pub fn write(&self, data: &[u8]) -> Result<()> {
        let isz = self.item.size();
        let n: u64 = self.meta.shape.iter().product();
        if data.len() as u64 != n * isz as u64 {
            return Err(Error::InvalidArgument(format!(
                "{} bytes given for {n} items of {}",
                data.len(),
                self.meta.dtype
            )));
        }
        let positions = grid_positions(&self.meta.grid())?;
        let citems = self.chunk_items();
        positions.par_iter().try_for_each(|pos| {
            let mut chunk = Vec::with_capacity(citems * isz);
            for _ in 0..citems {
                chunk.extend_from_slice(&self.fill);
            }
            for (a, k, len) in region_runs(&self.meta.shape, &self.meta.chunks, pos, isz) {
                chunk[k..k + len].copy_from_slice(&data[a..a + len]);
            }
            self.put_chunk(pos, &chunk)
        })
    }

    /// Store the chunk at grid position `pos` (`chunk`: its decompressed bytes); a
    /// chunk of fill values only is deleted instead when empty chunks are not written.
    fn put_chunk(&self, pos: &[u64], chunk: &[u8]) -> Result<()> {
        let key = meta::join(&self.path, &self.meta.chunk_key(pos));
        if !self.write_empty_chunks && self.is_fill(chunk) {
            return self.store.delete(&key);
        }
        let bytes = self.meta.compressor.compress(chunk, self.item.size())?;
        self.store.set(&key, &bytes)
    }

    fn is_fill(&self, chunk: &[u8]) -> bool {
        let isz = self.fill.len();
        isz > 0 && chunk.chunks(isz).all(|c| c == self.fill.as_slice())
    }

    /// Bytes of one row (an item along the first axis: the items of the other axes),
    /// for the row operations, which need chunks that span every other axis whole.
    fn row_layout(&self) -> Result<(u64, usize)> {
        let (shape, chunks) = (&self.meta.shape, &self.meta.chunks);
        if shape.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "array {} has no rows (zero dimensions)",
                self.path
            )));
        }
        if shape[1..] != chunks[1..] {
            return Err(Error::Unsupported {
                path: self.path.clone(),
                reason: format!(
                    "row access to chunks {chunks:?} that do not span shape {shape:?} past the first axis"
                ),
            });
        }
        let per_row: u64 = shape[1..].iter().product::<u64>() * self.item.size() as u64;
        Ok((chunks[0], per_row as usize))
    }

    fn grid_pos(&self, c: u64) -> Vec<u64> {
        let mut pos = vec![0u64; self.meta.shape.len()];
        pos[0] = c;
        pos
    }

    /// The decompressed bytes of chunk `c` along the first axis (every row of it,
    /// fill values where it is not stored).
    pub fn chunk_rows(&self, c: u64) -> Result<Vec<u8>> {
        let (cs, per_row) = self.row_layout()?;
        Ok(match self.read_chunk(&self.grid_pos(c))? {
            Some(b) => b,
            None => self
                .fill
                .repeat(cs as usize * per_row / self.item.size().max(1)),
        })
    }

    fn check_rows(&self, ids: &[u64]) -> Result<()> {
        let len = self.meta.shape.first().copied().unwrap_or(0);
        match ids.iter().find(|&&i| i >= len) {
            Some(&index) => Err(Error::IndexOutOfRange {
                path: meta::join(&self.store.location(), &self.path),
                index,
                len,
            }),
            None => Ok(()),
        }
    }

    /// The bytes of rows `ids` (in that order), each chunk read once.
    pub fn get_rows(&self, ids: &[u64]) -> Result<Vec<u8>> {
        let (cs, per_row) = self.row_layout()?;
        self.check_rows(ids)?;
        let mut need: Vec<u64> = ids.iter().map(|i| i / cs).collect();
        need.sort_unstable();
        need.dedup();
        let read: Vec<Vec<u8>> = need
            .par_iter()
            .map(|&c| self.chunk_rows(c))
            .collect::<Result<_>>()?;
        let mut out = try_with_capacity(ids.len() as u64 * per_row as u64, || {
            format!("{} rows of {}", ids.len(), self.path)
        })?;
        for &i in ids {
            let at = need.binary_search(&(i / cs)).unwrap_or(0);
            let r = (i % cs) as usize * per_row;
            out.extend_from_slice(&read[at][r..r + per_row]);
        }
        Ok(out)
    }

    /// Set rows `ids` to `data` (their bytes, in the order of `ids`; a repeated ID
    /// takes its last value), each chunk read and written once.
    pub fn set_rows(&self, ids: &[u64], data: &[u8]) -> Result<()> {
        if self.store.read_only() {
            return Err(Error::ReadOnly {
                path: self.store.location(),
            });
        }
        let (cs, per_row) = self.row_layout()?;
        if data.len() != ids.len() * per_row {
            return Err(Error::InvalidArgument(format!(
                "{} bytes given for {} rows of {} bytes",
                data.len(),
                ids.len(),
                per_row
            )));
        }
        self.check_rows(ids)?;
        let mut by_chunk: std::collections::BTreeMap<u64, Vec<(usize, usize)>> =
            std::collections::BTreeMap::new();
        for (k, &i) in ids.iter().enumerate() {
            by_chunk
                .entry(i / cs)
                .or_default()
                .push(((i % cs) as usize, k));
        }
        let groups: Vec<(u64, Vec<(usize, usize)>)> = by_chunk.into_iter().collect();
        groups.par_iter().try_for_each(|(c, rows)| {
            let mut chunk = self.chunk_rows(*c)?;
            for &(r, k) in rows {
                chunk[r * per_row..(r + 1) * per_row]
                    .copy_from_slice(&data[k * per_row..(k + 1) * per_row]);
            }
            self.put_chunk(&self.grid_pos(*c), &chunk)
        })
    }

    /// Change the length along the first axis to `len` (chunks wholly beyond it are
    /// deleted, as zarr-python's `resize` does) and rewrite `.zarray`.
    pub fn resize(&mut self, len: u64) -> Result<()> {
        if self.store.read_only() {
            return Err(Error::ReadOnly {
                path: self.store.location(),
            });
        }
        let (cs, _) = self.row_layout()?;
        let old = self.meta.shape[0];
        for c in len.div_ceil(cs)..old.div_ceil(cs) {
            let key = meta::join(&self.path, &self.meta.chunk_key(&self.grid_pos(c)));
            self.store.delete(&key)?;
        }
        self.meta.shape[0] = len;
        meta::write_array_meta(self.store.as_ref(), &self.path, &self.meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::local::LocalStore;
    use proptest::prelude::*;

    fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let d = tempfile::tempdir().unwrap();
        let s: Arc<dyn Store> = Arc::new(LocalStore::new(d.path()));
        (d, s)
    }

    #[test]
    fn dtype_parsing_and_fill() {
        assert_eq!(
            DType::parse("<f8"),
            Some(DType {
                kind: 'f',
                size: 8,
                big_endian: false
            })
        );
        assert!(DType::parse("|O").is_none());
        assert!(DType::parse("<i3").is_none());
        let d = DType::parse(">i4").unwrap();
        assert_eq!(d.fill_bytes(&Json::from(1)).unwrap(), vec![0, 0, 0, 1]);
        let f = DType::parse("<f8").unwrap();
        assert!(f64::from_le_bytes(
            f.fill_bytes(&Json::from("NaN"))
                .unwrap()
                .try_into()
                .unwrap()
        )
        .is_nan());
        assert!(d.fill_bytes(&Json::from("x")).is_err());
        let c = DType::parse("<c8").unwrap();
        assert_eq!(
            c.normalize_fill(&Json::from(0)),
            serde_json::json!([0.0, 0.0])
        );
        assert_eq!(
            c.normalize_fill(&Json::from("NaN")),
            serde_json::json!(["NaN", 0.0])
        );
        assert_eq!(f.normalize_fill(&Json::from(-3)), Json::from(-3.0));
    }

    #[test]
    fn absent_chunks_read_as_fill_and_corrupt_named() {
        let (d, s) = store();
        let data: Vec<u8> = (0..12i32).flat_map(|i| i.to_le_bytes()).collect();
        let a = NumericArray::create(
            s.clone(),
            "arr",
            "<i4",
            &[3, 4],
            Some(&[2, 3]),
            Compressor::default(),
            Json::from(-1),
            &data,
            false,
        )
        .unwrap();
        assert_eq!(a.read().unwrap(), data);
        std::fs::remove_file(d.path().join("arr/1.1")).unwrap();
        let got: Vec<i32> = a
            .read()
            .unwrap()
            .chunks(4)
            .map(|b| i32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(got, vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -1]);
        std::fs::write(d.path().join("arr/0.0"), b"bad").unwrap();
        let e = NumericArray::open(s, "arr").unwrap().read().unwrap_err();
        assert!(
            matches!(&e, Error::CorruptChunk { key, .. } if key == "0.0"),
            "{e}"
        );
    }

    fn sub_dat_dtype() -> Json {
        serde_json::json!([
            ["submission_idx", "|u1"],
            ["commands_file_ID", "<u4"],
            ["run_file_ID", "<u2"],
            ["run_file_idx", "<u4"]
        ])
    }

    #[test]
    fn record_dtype_meta_fill_and_rows() {
        let (d, s) = store();
        let dt = sub_dat_dtype();
        let item = ItemType::from_json(&dt).unwrap();
        assert_eq!(item.size(), 11);
        assert_eq!(item.to_json(), dt);
        let fill = ItemType::record_fill_json(&[0xff; 11]);
        assert_eq!(fill, Json::from("//////////////8="));
        let opts = NumericArrayOptions {
            chunks: Some(vec![4]),
            fill_value: fill.clone(),
            dimension_separator: Some("/".into()),
            write_empty_chunks: false,
            ..Default::default()
        };
        let mut a = NumericArray::create_with(s.clone(), "m/sub", &dt, &[0], &[], &opts).unwrap();
        a.resize(10).unwrap();
        assert_eq!(a.get_rows(&[9]).unwrap(), vec![0xff; 11]);
        let row: Vec<u8> = (0..11).collect();
        a.set_rows(&[5], &row).unwrap();
        assert!(d.path().join("m/sub/1").exists() && !d.path().join("m/sub/0").exists());
        let back = NumericArray::open(s.clone(), "m/sub").unwrap();
        assert_eq!(
            back.get_rows(&[5, 4]).unwrap(),
            [row.clone(), vec![0xff; 11]].concat()
        );
        assert_eq!(back.meta().fill_value, fill);
        assert!(matches!(
            back.get_rows(&[10]),
            Err(Error::IndexOutOfRange { index: 10, .. })
        ));
        // a chunk set back to fill values only is deleted (write_empty_chunks false)
        a.set_rows(&[5], &[0xff; 11]).unwrap();
        assert!(!d.path().join("m/sub/1").exists());
        // shrinking deletes chunks beyond the new length
        a.set_rows(&[9], &row).unwrap();
        a.resize(6).unwrap();
        assert!(!d.path().join("m/sub/2").exists());
        let doc: Json =
            serde_json::from_slice(&std::fs::read(d.path().join("m/sub/.zarray")).unwrap())
                .unwrap();
        assert_eq!(doc["dtype"], dt);
        assert_eq!(doc["shape"], serde_json::json!([6]));
        assert!(ItemType::from_json(&serde_json::json!([["a", "<u4"], ["a", "<u4"]])).is_none());
        assert!(ItemType::from_json(&serde_json::json!([["a", "<u4", [2]]])).is_none());
        assert!(item.fill_bytes(&Json::from("AAAA")).is_err());
    }

    #[test]
    fn refused_dtypes_are_invalid_or_unsupported() {
        use serde_json::json;
        let invalid = [
            json!("<u3"),
            json!("x"),
            json!(""),
            json!(4),
            json!([]),
            json!([["a", "<u4"], ["a", "<u4"]]),
            json!([["", "<u4"]]),
            json!([["a"]]),
            json!([["a", "<u4", "2"]]),
            json!([[5, "<u4"]]),
            json!([["a", "<u3"]]),
            json!([["a", [["b", "<i3"]]]]),
            json!([["a", "<M8[]"]]),
            json!(["a", "<u4"]),
        ];
        for v in invalid {
            assert!(
                matches!(ItemType::parse_json(&v), Err(DTypeRefusal::Invalid(_))),
                "{v} is invalid"
            );
        }
        let unsupported = [
            json!("<U3"),
            json!("|S5"),
            json!("<M8[ns]"),
            json!("<m8"),
            json!("|O"),
            json!("<f16"),
            json!("<c32"),
            json!([["a", "<c8"]]),
            json!([["a", "<u4", [2]]]),
            json!([["a", "<u4", 3]]),
            json!([["a", [["b", "<u1"]]]]),
            json!([["a", "<u4"], ["s", "<U2"]]),
        ];
        for v in unsupported {
            assert!(
                matches!(ItemType::parse_json(&v), Err(DTypeRefusal::Unsupported(_))),
                "{v} is unsupported"
            );
        }
        // opening: invalid is damaged metadata naming .zarray, unsupported is Unsupported
        let (d, s) = store();
        std::fs::create_dir_all(d.path().join("x")).unwrap();
        for (dtype, invalid) in [(json!([["a", "<u3"]]), true), (json!("<U3"), false)] {
            let doc = json!({"chunks": [2], "compressor": null, "dtype": dtype, "fill_value": null,
                             "filters": null, "order": "C", "shape": [3], "zarr_format": 2});
            std::fs::write(d.path().join("x/.zarray"), doc.to_string()).unwrap();
            let e = NumericArray::open(s.clone(), "x").unwrap_err();
            if invalid {
                assert!(
                    matches!(&e, Error::Metadata { key, .. } if key == ".zarray"),
                    "{e}"
                );
            } else {
                assert!(matches!(&e, Error::Unsupported { .. }), "{e}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn base64_round_trip(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            let e = crate::array::dtype::base64_encode(&data);
            prop_assert_eq!(e.len() % 4, 0);
            prop_assert_eq!(crate::array::dtype::base64_decode(&e), Some(data));
        }

        #[test]
        fn record_rows_round_trip(
            n in 0u64..60,
            cs in 1u64..17,
            writes in proptest::collection::vec((0u64..60, proptest::collection::vec(any::<u8>(), 11)), 0..30),
            ci in 0usize..3,
        ) {
            let comp = [Compressor::None, Compressor::default(), Compressor::Zstd { level: 1, checksum: false }][ci].clone();
            let (_d, s) = store();
            let opts = NumericArrayOptions {
                chunks: Some(vec![cs]),
                compressor: comp,
                fill_value: ItemType::record_fill_json(&[0xff; 11]),
                write_empty_chunks: ci == 1,
                ..Default::default()
            };
            let mut a = NumericArray::create_with(s.clone(), "r", &sub_dat_dtype(), &[0], &[], &opts).unwrap();
            a.resize(n).unwrap();
            let mut model: Vec<Vec<u8>> = vec![vec![0xff; 11]; n as usize];
            let (ids, bytes): (Vec<u64>, Vec<Vec<u8>>) = writes.into_iter().filter(|(i, _)| *i < n).unzip();
            a.set_rows(&ids, &bytes.concat()).unwrap();
            for (i, b) in ids.iter().zip(&bytes) {
                model[*i as usize] = b.clone();
            }
            let back = NumericArray::open(s, "r").unwrap();
            prop_assert_eq!(back.read().unwrap(), model.concat());
            let all: Vec<u64> = (0..n).rev().collect();
            let rev: Vec<u8> = model.iter().rev().flatten().copied().collect();
            prop_assert_eq!(back.get_rows(&all).unwrap(), rev);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn nd_round_trip(shape in proptest::collection::vec(0u64..6, 0..4), seed in any::<u64>(), ci in 0usize..3) {
            let chunks: Vec<u64> = shape.iter().enumerate().map(|(i, s)| ((seed >> (i * 3)) % (s + 1)).max(1)).collect();
            let n: u64 = shape.iter().product();
            let data: Vec<u8> = (0..n * 8).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed as u8)).collect();
            let comp = [Compressor::None, Compressor::default(), Compressor::Zstd { level: 1, checksum: false }][ci].clone();
            let (_d, s) = store();
            NumericArray::create(s.clone(), "a/b", "<f8", &shape, Some(&chunks), comp, Json::from(0), &data, false).unwrap();
            let back = NumericArray::open(s, "a/b").unwrap();
            prop_assert_eq!(back.shape(), &shape[..]);
            prop_assert_eq!(back.read().unwrap(), data);
        }
    }

    /// Every dtype a record field may have: each size and byte order of bool, signed,
    /// unsigned and float items.
    const FIELD_DTYPES: [&str; 21] = [
        "|b1", "|i1", "|u1", "<i2", ">i2", "<u2", ">u2", "<i4", ">i4", "<u4", ">u4", "<i8", ">i8",
        "<u8", ">u8", "<f2", ">f2", "<f4", ">f4", "<f8", ">f8",
    ];

    /// A structured dtype's list descr of 1 to 8 fields.
    fn arb_record() -> impl Strategy<Value = Json> {
        proptest::collection::vec(0..FIELD_DTYPES.len(), 1..9).prop_map(|idx| {
            Json::Array(
                idx.iter()
                    .enumerate()
                    .map(|(i, &k)| serde_json::json!([format!("field_{i}"), FIELD_DTYPES[k]]))
                    .collect(),
            )
        })
    }

    /// JSON values shaped like damaged list descrs: lists of lists of names, dtype
    /// strings (valid, odd and invalid), numbers and nested lists.
    fn arb_descr_json() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::from),
            any::<i64>().prop_map(Json::from),
            (0..FIELD_DTYPES.len()).prop_map(|k| Json::from(FIELD_DTYPES[k])),
            "[<>|=]?[a-zA-Z]?[0-9]{0,3}".prop_map(Json::from),
            "[a-z_]{0,3}".prop_map(Json::from),
        ];
        leaf.prop_recursive(3, 40, 6, |inner| {
            proptest::collection::vec(inner, 0..6).prop_map(Json::Array)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Records of random fields (every size and byte order) write, open and read
        /// back byte for byte, whole and by rows, with their dtype and fill value.
        #[test]
        fn random_record_arrays_round_trip(
            dtype in arb_record(),
            rows in 0u64..40,
            inner in 1u64..4,
            cs in 1u64..12,
            fill_seed in proptest::option::of(any::<u8>()),
            seed in any::<u8>(),
            ci in 0usize..4,
        ) {
            let item = ItemType::from_json(&dtype).unwrap();
            let isz = item.size();
            prop_assert_eq!(&item.to_json(), &dtype);
            let fill_item: Option<Vec<u8>> =
                fill_seed.map(|f| (0..isz).map(|i| f.wrapping_add(i as u8)).collect());
            let fill = fill_item.as_deref().map_or(Json::Null, ItemType::record_fill_json);
            let comp = [
                Compressor::None,
                Compressor::default(),
                Compressor::Blosc { cname: "zstd".into(), clevel: 3, shuffle: 2, blocksize: 0 },
                Compressor::Zstd { level: 1, checksum: false },
            ][ci].clone();
            let shape = vec![rows, inner];
            let data: Vec<u8> = (0..rows * inner * isz as u64)
                .map(|i| (i as u8).wrapping_mul(seed | 1).wrapping_add(seed))
                .collect();
            let (_d, s) = store();
            let opts = NumericArrayOptions {
                chunks: Some(vec![cs, inner]),
                compressor: comp,
                fill_value: fill.clone(),
                dimension_separator: Some(if seed % 2 == 0 { "." } else { "/" }.into()),
                write_empty_chunks: seed % 3 == 0,
                ..Default::default()
            };
            NumericArray::create_with(s.clone(), "m/rec", &dtype, &shape, &data, &opts).unwrap();
            let back = NumericArray::open(s, "m/rec").unwrap();
            prop_assert_eq!(&back.item_type().to_json(), &dtype);
            prop_assert_eq!(&back.meta().fill_value, &fill);
            prop_assert_eq!(back.fill_item().to_vec(), fill_item.unwrap_or_else(|| vec![0; isz]));
            prop_assert_eq!(back.read().unwrap(), data.clone());
            prop_assert!(back.verify().unwrap().is_empty());
            let row = inner as usize * isz;
            let ids: Vec<u64> = (0..rows).rev().collect();
            let rev: Vec<u8> = data.chunks(row.max(1)).rev().flatten().copied().collect();
            prop_assert_eq!(back.get_rows(&ids).unwrap(), rev);
        }

        /// Any JSON as a `.zarray` dtype: parsed or refused, never a panic; what parses
        /// writes back the same descr, with the item size of its fields.
        #[test]
        fn dtype_entries_parse_or_are_refused(v in arb_descr_json()) {
            if let Some(item) = ItemType::from_json(&v) {
                prop_assert_eq!(ItemType::from_json(&item.to_json()), Some(item.clone()));
                if let ItemType::Record(fields) = &item {
                    prop_assert_eq!(item.size(), fields.iter().map(|(_, d)| d.size).sum::<usize>());
                    prop_assert!(fields.iter().all(|(_, d)| d.kind != 'c'));
                }
            }
        }

        /// Any fill value of a record: exactly one item or an `Encode` error.
        #[test]
        fn record_fill_values_are_one_item_or_refused(
            dtype in arb_record(),
            fill in prop_oneof![
                "[A-Za-z0-9+/=!]{0,40}".prop_map(Json::from),
                proptest::collection::vec(any::<u8>(), 0..40)
                    .prop_map(|b| ItemType::record_fill_json(&b)),
                arb_descr_json(),
            ],
        ) {
            let item = ItemType::from_json(&dtype).unwrap();
            match item.fill_bytes(&fill) {
                Ok(b) => prop_assert_eq!(b.len(), item.size()),
                Err(e) => prop_assert!(matches!(e, Error::Encode(_)), "{}", e),
            }
        }

        /// A record array's `.zarray` with its dtype or fill value replaced by any JSON
        /// opens or is refused with `Metadata` or `Unsupported` naming the array; reads
        /// of what opens give the declared number of bytes.
        #[test]
        fn damaged_record_zarray_gives_typed_errors(
            dtype in prop_oneof![arb_record(), arb_descr_json()],
            fill in prop_oneof![Just(Json::Null), arb_descr_json(), "[A-Za-z0-9+/=]{0,24}".prop_map(Json::from)],
        ) {
            let (d, s) = store();
            let doc = serde_json::json!({
                "chunks": [3], "compressor": null, "dtype": dtype, "fill_value": fill,
                "filters": null, "order": "C", "shape": [5], "zarr_format": 2,
            });
            std::fs::create_dir_all(d.path().join("r")).unwrap();
            std::fs::write(d.path().join("r/.zarray"), serde_json::to_vec(&doc).unwrap()).unwrap();
            match NumericArray::open(s, "r") {
                Ok(a) => {
                    prop_assert_eq!(a.read().unwrap().len(), 5 * a.item_type().size());
                    prop_assert_eq!(a.fill_item().len(), a.item_type().size());
                }
                Err(e) => prop_assert!(
                    matches!(&e, Error::Metadata { path, .. } | Error::Unsupported { path, .. } if path == "r"),
                    "{}", e
                ),
            }
        }
    }
}
