//! N-dimensional numeric and bool arrays in C order (zarr dtypes such as `<f8`, `|b1`).

use super::codec::Compressor;
pub use super::dtype::{float_fill_json, DType};
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

/// An N-dimensional numeric Zarr v2 array.
pub struct NumericArray {
    store: Arc<dyn Store>,
    path: String,
    meta: ArrayMeta,
    dtype: DType,
    fill: Vec<u8>,
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
    /// `dtype`), with `chunks` (or [`default_chunks`]). Chunks are written first and
    /// `.zarray` last. An existing array at `path` is refused unless `overwrite`.
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
        if store.read_only() {
            return Err(Error::ReadOnly {
                path: store.location(),
            });
        }
        let path = path.trim_matches('/').to_string();
        let dt = DType::parse(dtype).ok_or_else(|| {
            Error::InvalidArgument(format!("unsupported numeric dtype {dtype:?}"))
        })?;
        let n: u64 = shape.iter().product();
        if data.len() as u64 != n * dt.size as u64 {
            return Err(Error::InvalidArgument(format!(
                "{} bytes given for {n} items of {dtype}",
                data.len()
            )));
        }
        let chunks = match chunks {
            Some(c) if c.len() != shape.len() || c.contains(&0) => {
                return Err(Error::InvalidArgument(format!(
                    "bad chunks {c:?} for shape {shape:?}"
                )))
            }
            Some(c) => c.to_vec(),
            None => default_chunks(shape, dt.size),
        };
        if chunk_bytes(&chunks, dt.size).is_none() {
            return Err(Error::InvalidArgument(format!(
                "chunks {chunks:?} of {dtype} are larger than {} bytes",
                crate::array::codec::MAX_DECODED_BYTES
            )));
        }
        if !overwrite && store.get(&meta::join(&path, meta::ZARRAY))?.is_some() {
            return Err(Error::ArrayExists {
                path: meta::join(&store.location(), &path),
            });
        }
        let fill_value = dt.normalize_fill(&fill_value);
        let fill = dt.fill_bytes(&fill_value)?;
        let meta = ArrayMeta {
            shape: shape.to_vec(),
            chunks,
            dtype: dtype.to_string(),
            compressor,
            fill_value,
            filters: None,
            dimension_separator: Some(".".into()),
        };
        let arr = NumericArray {
            store,
            path,
            meta,
            dtype: dt,
            fill,
        };
        let written = arr
            .write(data)
            .and_then(|()| meta::write_array_meta(arr.store.as_ref(), &arr.path, &arr.meta));
        if let Err(e) = written {
            // Do not leave chunks of an array that was never made (best effort; an
            // overwritten array keeps whatever was written).
            if !overwrite {
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
        let dtype = DType::parse(&meta.dtype).ok_or_else(|| Error::Unsupported {
            path: path.clone(),
            reason: format!("dtype {:?} is not a numeric or bool dtype", meta.dtype),
        })?;
        if chunk_bytes(&meta.chunks, dtype.size).is_none() {
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
        let fill = dtype
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
            dtype,
            fill,
        })
    }

    /// The numpy dtype string.
    pub fn dtype(&self) -> &str {
        &self.meta.dtype
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
        let corrupt = |reason: String| Error::CorruptChunk {
            path: meta::join(&self.store.location(), &self.path),
            key: key.clone(),
            reason,
        };
        let raw = self
            .meta
            .compressor
            .decompress(&b)
            .map_err(|e| corrupt(e.to_string()))?;
        let want = self.chunk_items() * self.dtype.size;
        if raw.len() != want {
            return Err(corrupt(format!(
                "decodes to {} bytes, expected {want}",
                raw.len()
            )));
        }
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
        let isz = self.dtype.size;
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
        let isz = self.dtype.size;
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
            let bytes = self.meta.compressor.compress(&chunk, isz)?;
            self.store
                .set(&meta::join(&self.path, &self.meta.chunk_key(pos)), &bytes)
        })
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
}
