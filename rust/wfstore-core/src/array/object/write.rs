//! Writing rows of an object array: set, patch, append, resize, attributes.

use super::*;

impl ObjectArray {
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
        self.write_rows_in(indices, values, len, None)
    }

    /// [`Self::write_rows`]; with `past_end` (an append), the chunks wholly past the
    /// recorded end are written in place, and those known to have no file are not
    /// deleted when they hold only fill values (see [`Self::append`]).
    fn write_rows_in(
        &self,
        indices: &[u64],
        values: Vec<Value>,
        len: u64,
        past_end: Option<&PastEnd>,
    ) -> Result<()> {
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
            let stored = if full {
                StoredChunk::Items(vec![self.fill.clone(); cs as usize])
            } else if rows.len() * 4 < cs as usize {
                self.read_stored(c)?
            } else {
                StoredChunk::Items(self.read_chunk(c)?)
            };
            let mut items = match stored {
                StoredChunk::Spans((data, spans)) => {
                    let new_rows = encode_rows(rows.iter().map(|(off, v)| (*off, v)))?;
                    if unchanged(&data, &spans, &new_rows) {
                        return Ok(());
                    }
                    if self.write_empty_chunks || !all_fill {
                        return self
                            .splice_items(c, &data, &spans, &new_rows, &comp)
                            .map(|_| ());
                    }
                    // rows of only fill values may empty the chunk: the general way
                    spans
                        .iter()
                        .map(|sp| self.decode_span(c, &data, sp))
                        .collect::<Result<Vec<_>>>()?
                }
                StoredChunk::Items(items) => items,
            };
            for (off, v) in rows {
                items[off] = v;
            }
            if past_end.is_some_and(|p| p.no_file(c)) && items.iter().all(|v| *v == self.fill) {
                return Ok(()); // no file to delete
            }
            let unseen = past_end.is_some_and(|p| c >= p.from);
            self.write_rows_of(c, items, len, &comp, unseen)
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
    /// fill values (`unseen`: see [`Self::write_chunk`]).
    fn write_rows_of(
        &self,
        c: u64,
        mut items: Vec<Value>,
        len: u64,
        comp: &Compressor,
        unseen: bool,
    ) -> Result<()> {
        let cs = items.len() as u64;
        let valid = len.saturating_sub(c * cs).min(cs) as usize;
        for it in items.iter_mut().skip(valid) {
            *it = self.fill.clone();
        }
        self.write_chunk(c, &items, comp, unseen)
    }

    /// [`Self::set`], but only where no row to set holds a map now (an unset
    /// parameter's row is the fill value or a number; a set one is a map). Each chunk
    /// concerned is read once, for the check and the write. Returns the indices whose
    /// rows hold a map, in the order given, and then writes nothing.
    pub fn set_unless_map(&self, indices: &[u64], values: Vec<Value>) -> Result<Vec<u64>> {
        self.set_unless_map_known(indices, values, &BTreeMap::new())
    }

    /// [`Self::set_unless_map`], taking the chunks in `known` as stored (see
    /// [`Self::patch_known`]).
    pub fn set_unless_map_known(
        &self,
        indices: &[u64],
        values: Vec<Value>,
        known: &BTreeMap<u64, ItemBytes>,
    ) -> Result<Vec<u64>> {
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
        let mut held = Vec::with_capacity(by_chunk.len());
        let mut maps: Vec<u64> = Vec::new();
        for (c, rows) in by_chunk {
            let h = self.read_stored_or_known(c, known)?;
            match &h {
                StoredChunk::Spans((data, spans)) => {
                    maps.extend(rows.iter().map(|(i, _)| *i).filter(|i| {
                        let sp = &spans[(i % cs) as usize];
                        matches!(data.get(sp.start), Some(0x80..=0x8f | 0xde | 0xdf))
                    }));
                }
                StoredChunk::Items(items) => {
                    maps.extend(
                        rows.iter()
                            .map(|(i, _)| *i)
                            .filter(|i| matches!(items[(i % cs) as usize], Value::Map(_))),
                    );
                }
            }
            held.push((c, rows, h));
        }
        if !maps.is_empty() {
            let mut left: BTreeSet<u64> = maps.into_iter().collect();
            return Ok(indices.iter().copied().filter(|i| left.remove(i)).collect());
        }
        for (c, rows, h) in held {
            match h {
                StoredChunk::Spans((data, spans)) => {
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
                StoredChunk::Items(mut items) => {
                    for (i, v) in rows {
                        items[(i % cs) as usize] = v;
                    }
                    self.write_rows_of(c, items, len, &comp, false)?;
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
    ///
    /// Returns each msgpack chunk as written (its index and rows' bytes), for a reader
    /// that caches chunks and would otherwise read back what it just wrote; a chunk
    /// that had no file (fill values) or another codec's is not returned.
    pub fn patch(&self, indices: &[u64], patches: Vec<RowPatch>) -> Result<Vec<(u64, ItemBytes)>> {
        self.patch_known(indices, patches, &BTreeMap::new())
    }

    /// [`Self::patch`], taking each chunk in `known` (by index, as [`Self::read_chunks`]
    /// or a patch gave it) as what is stored, without reading it: for a caller that
    /// knows nobody changed it since (it holds the store lock, and its cache is
    /// current). Chunks not in `known`, or held there without their chunk's frame, are
    /// read.
    pub fn patch_known(
        &self,
        indices: &[u64],
        patches: Vec<RowPatch>,
        known: &BTreeMap<u64, ItemBytes>,
    ) -> Result<Vec<(u64, ItemBytes)>> {
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
            let mut items = match self.read_stored_or_known(c, known)? {
                StoredChunk::Spans((data, spans)) => {
                    return self
                        .patch_spans(c, &data, &spans, rows, &comp)
                        .map(|b| Some((c, b)))
                }
                StoredChunk::Items(items) => items,
            };
            for (i, fields) in rows {
                self.apply_patch(c, i, &mut items[(i % cs) as usize], fields)?;
            }
            self.write_chunk(c, &items, &comp, false).map(|()| None)
        })
        .into_iter()
        .filter_map(Result::transpose)
        .collect()
    }

    /// Chunk `c` as [`Self::read_stored`] reads it, or as `known` holds it (with its
    /// chunk's frame and this array's rows per chunk) without reading it.
    fn read_stored_or_known(
        &self,
        c: u64,
        known: &BTreeMap<u64, ItemBytes>,
    ) -> Result<StoredChunk> {
        if let Some((data, spans)) = known.get(&c).and_then(ItemBytes::chunk_spans) {
            if spans.len() as u64 == self.chunk_size() {
                return Ok(StoredChunk::Spans((data.to_vec(), spans)));
            }
        }
        self.read_stored(c)
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
    ) -> Result<ItemBytes> {
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
    /// items at the offsets of `new_rows` replaced by those encoded bytes; returns the
    /// chunk's rows as written (not written if no row changes).
    fn splice_items(
        &self,
        c: u64,
        data: &[u8],
        spans: &[Range<usize>],
        new_rows: &BTreeMap<usize, Vec<u8>>,
        comp: &Compressor,
    ) -> Result<ItemBytes> {
        if unchanged(data, spans, new_rows) {
            return ItemBytes::from_spans(data.to_vec(), spans);
        }
        let mut out = Vec::with_capacity(data.len() + 64);
        // the header (before the first item), then each item, replaced or copied
        let head = spans.first().map_or(data.len(), |sp| sp.start);
        out.extend_from_slice(&data[..head]);
        let mut new_spans = Vec::with_capacity(spans.len());
        for (off, sp) in spans.iter().enumerate() {
            let start = out.len();
            match new_rows.get(&off) {
                Some(bytes) => out.extend_from_slice(bytes),
                None => out.extend_from_slice(&data[sp.clone()]),
            }
            new_spans.push(start..out.len());
        }
        let tail = spans.last().map_or(data.len(), |sp| sp.end);
        out.extend_from_slice(&data[tail..]);
        let stored = comp.compress(&out, 1)?;
        self.store.set(&self.chunk_key(c), &stored)?;
        ItemBytes::from_spans(out, &new_spans)
    }

    /// Append rows at the end. Chunks are written before `.zarray` grows, so a reader
    /// never sees the new length without the new rows.
    ///
    /// Without `write_empty_chunks`, a new chunk of only fill values is not written,
    /// and a file in its place (a leftover of an append that failed before its length
    /// was recorded) must go: the chunks past the old end that have a file are found
    /// by one listing of the array's folder, rather than by a delete of every such
    /// chunk (on NFS each delete is a round trip to the server, mostly for no file:
    /// every unset parameter added is one).
    pub fn append(&self, values: Vec<Value>) -> Result<u64> {
        let old = self.len();
        let n = values.len() as u64;
        if n == 0 {
            return Ok(old);
        }
        let from = old.div_ceil(self.chunk_size());
        let leftovers = if !self.write_empty_chunks && values.contains(&self.fill) {
            let mut found = BTreeSet::new();
            for name in self.store.list_dir(&self.path)? {
                if let Ok(c) = name.parse::<u64>() {
                    if c >= from {
                        found.insert(c);
                    }
                }
            }
            Some(found)
        } else {
            None
        };
        let indices: Vec<u64> = (old..old + n).collect();
        let past_end = PastEnd { from, leftovers };
        self.write_rows_in(&indices, values, old + n, Some(&past_end))?;
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
                    self.write_chunk(c, &items, &m.compressor, false)?;
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

    /// Decode every stored chunk and list those that fail as (chunk key, reason):
    /// the chunks within the shape, and chunk files beyond it (not read, but what a
    /// crash can leave of an append whose shape never reached the disk; the next
    /// append reaching them may rewrite them in part).
    pub fn verify(&self) -> Result<Vec<(String, String)>> {
        let n = self.len().div_ceil(self.chunk_size());
        let beyond = self
            .store
            .list_dir(&self.path)?
            .into_iter()
            .filter_map(|name| {
                name.parse::<u64>()
                    .ok()
                    .filter(|&c| c >= n && c.to_string() == name)
            });
        let chunks: Vec<u64> = (0..n).chain(beyond).collect();
        let bad: Vec<(String, String)> = chunks
            .into_par_iter()
            .filter_map(|c| match self.read_chunk(c) {
                Ok(_) => None,
                Err(Error::CorruptChunk { key, reason, .. }) if c >= n => {
                    Some(Ok((key, format!("beyond the array's shape: {reason}"))))
                }
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

/// The chunks of an array known to have no file: those from `from` on, except
/// `leftovers` (found by a listing).
/// The chunks of an append wholly past the array's recorded end: from chunk `from` on
/// (no reader looks at them until the new length is written), with the files found
/// among them (`leftovers`, when listed: what an append that failed before its length
/// was recorded left).
struct PastEnd {
    from: u64,
    leftovers: Option<BTreeSet<u64>>,
}

impl PastEnd {
    /// Whether chunk `chunk` is known to have no file.
    fn no_file(&self, chunk: u64) -> bool {
        chunk >= self.from
            && self
                .leftovers
                .as_ref()
                .is_some_and(|found| !found.contains(&chunk))
    }
}
