//! Reading an archive in place: [`ZipStore`].

use super::positional::{read_exact_at, AtReader, ReadAt};
use super::validate::check_declared_sizes;
use super::*;

/// How an entry's data can be read.
#[derive(Debug, Clone)]
pub(super) enum Access {
    /// Stored: read `size` bytes directly after the local header at `header_start`; the
    /// data offset is found from the local header on first use.
    Stored {
        header_start: u64,
        data_start: OnceLock<u64>,
    },
    /// Deflated: decompressed through the shared [`ZipArchive`].
    Deflated,
    /// Cannot be read; the reason is reported by `get`.
    Refused { reason: String, unsafe_entry: bool },
}

/// An indexed file entry of a [`ZipStore`].
#[derive(Debug, Clone)]
pub(super) struct IndexEntry {
    pub(super) index: usize,
    pub(super) size: u64,
    pub(super) compressed: u64,
    pub(super) access: Access,
}

/// A read-only [`Store`] over a zip archive, read in place.
///
/// The central directory is read once by [`ZipStore::open`], which builds an index from
/// entry name to location, sizes and compression method (the exact data offset of an
/// entry is taken from its local header the first time it is read, then cached). Stored
/// (uncompressed) entries, the case of archives made by [`zip_dir`] and by hpcflow, are
/// read with positional reads (`pread`) on a shared file handle, without any lock, so
/// many threads can `get` at once; deflated
/// entries are decompressed through one archive reader behind a mutex. Other compression
/// methods and encrypted entries are refused by `get`.
///
/// Checksums of stored entries are not verified on `get` (for speed); deflated entries
/// are checked against their CRC-32. A deflated entry declaring more than
/// [`RATIO_CHECK_MIN_SIZE`] with a ratio above [`MAX_COMPRESSION_RATIO`] is refused with
/// [`Error::UnsafeArchive`], and no entry can produce more than its declared size.
///
/// Keys may be given with or without a leading `/`. Folders are derived from entry names
/// (and explicit folder entries). Writes fail with [`Error::ReadOnly`].
pub struct ZipStore {
    /// The archive's path or location (in errors).
    pub(super) path: PathBuf,
    /// The archive's bytes, read at offsets (stored entries, local headers).
    pub(super) source: Arc<dyn ReadAt>,
    /// A reader of the same source with its own position, for compressed entries.
    pub(super) archive: Mutex<ZipArchive<BufReader<AtReader>>>,
    pub(super) entries: HashMap<String, IndexEntry>,
    /// Sorted names of file entries.
    pub(super) names: Vec<String>,
    /// Sorted names of explicit folder entries, without the trailing `/`.
    pub(super) dirs: Vec<String>,
    /// Length of the archive file.
    pub(super) file_len: u64,
}

impl std::fmt::Debug for ZipStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZipStore")
            .field("path", &self.path)
            .field("entries", &self.names.len())
            .finish_non_exhaustive()
    }
}

impl ZipStore {
    /// Open the archive at `path` and index its entries.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the file cannot be opened, [`Error::Zip`] if it is not a readable
    /// zip archive or an entry's data lies outside the file.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        Self::from_source(Arc::new(file), &path.display().to_string())
    }

    /// Open the archive whose bytes `source` reads (a local file, a buffer, a Python
    /// file object through the bindings) and index its entries; `location` names it in
    /// errors and is the store's [`Store::location`]. Reads go through `source` only.
    ///
    /// # Errors
    ///
    /// As [`ZipStore::open`].
    pub fn from_source(source: Arc<dyn ReadAt>, location: &str) -> Result<Self> {
        let path = Path::new(location);
        let file_len = source.size().map_err(|e| Error::io(path, e))?;
        let reader = AtReader::new(source.clone()).map_err(|e| Error::io(path, e))?;
        let za = ZipArchive::new(BufReader::new(reader)).map_err(|e| from_zip(path, e))?;
        let mut entries = HashMap::with_capacity(za.len());
        let mut names = Vec::with_capacity(za.len());
        let mut dirs = Vec::new();
        for index in 0..za.len() {
            // Central directory only: local headers are read when an entry is first read.
            let zf = za.by_index_data(index).map_err(|e| from_zip(path, e))?;
            let raw_name = zf.name().map_err(|e| from_zip(path, e))?;
            let name = raw_name.trim_start_matches('/').to_string();
            if zf.is_dir() {
                let d = name.trim_end_matches('/');
                if !d.is_empty() {
                    dirs.push(d.to_string());
                }
                continue;
            }
            let size = zf.size();
            let compressed = zf.compressed_size();
            let header_start = zf.header_start();
            let end = header_start.checked_add(compressed);
            if end.is_none_or(|end| end > file_len) {
                return Err(zip_error(
                    path,
                    format!("data of entry {name:?} extends past the end of the archive"),
                ));
            }
            let method = zf.compression();
            let access = if zf.encrypted() {
                Access::Refused {
                    reason: format!("entry {name:?} is encrypted, which is not supported"),
                    unsafe_entry: false,
                }
            } else if let Err(e) = check_declared_sizes(path, &name, method, size, compressed) {
                Access::Refused {
                    reason: match e {
                        Error::UnsafeArchive { reason, .. } => reason,
                        other => other.to_string(),
                    },
                    unsafe_entry: true,
                }
            } else if method == CompressionMethod::Stored {
                Access::Stored {
                    header_start,
                    data_start: OnceLock::new(),
                }
            } else if method == CompressionMethod::Deflated {
                Access::Deflated
            } else {
                Access::Refused {
                    reason: format!("entry {name:?} uses unsupported compression method {method}"),
                    unsafe_entry: false,
                }
            };
            if entries
                .insert(
                    name.clone(),
                    IndexEntry {
                        index,
                        size,
                        compressed,
                        access,
                    },
                )
                .is_none()
            {
                names.push(name);
            }
        }
        names.sort();
        dirs.sort();
        dirs.dedup();
        Ok(ZipStore {
            path: path.to_path_buf(),
            source,
            archive: Mutex::new(za),
            entries,
            names,
            dirs,
            file_len,
        })
    }

    /// The archive's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names of all file entries (folder entries excluded), sorted.
    pub fn keys(&self) -> Vec<String> {
        self.names.clone()
    }

    /// Names and uncompressed sizes of all file entries, sorted by name.
    pub fn entries(&self) -> Vec<(String, u64)> {
        self.names
            .iter()
            .filter_map(|n| self.entries.get(n).map(|e| (n.clone(), e.size)))
            .collect()
    }

    /// Read the entry `name` whole, checking its CRC-32 (which `get` checks for
    /// deflated entries only); an error says what is wrong. A missing entry is
    /// [`Error::InvalidArgument`].
    pub fn check_entry(&self, name: &str) -> Result<()> {
        let name = name.trim_start_matches('/');
        let Some(e) = self.entries.get(name) else {
            return Err(Error::InvalidArgument(format!(
                "zip archive {} has no entry {name:?}",
                self.path.display()
            )));
        };
        match &e.access {
            Access::Refused {
                reason,
                unsafe_entry: true,
            } => Err(unsafe_entry(&self.path, name, reason.clone())),
            Access::Refused { reason, .. } => Err(zip_error(&self.path, reason.clone())),
            // the archive reader checks sizes and the CRC-32 of either method
            _ => self.read_through_archive(name, e).map(|_| ()),
        }
    }

    /// The entry read through the shared archive reader: decompressed (deflated),
    /// its size and CRC-32 checked.
    fn read_through_archive(&self, name: &str, e: &IndexEntry) -> Result<Vec<u8>> {
        let size = usize::try_from(e.size)
            .map_err(|_| zip_error(&self.path, format!("entry {name:?} is too large")))?;
        let mut guard = self
            .archive
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = guard
            .by_index(e.index)
            .map_err(|err| from_zip(&self.path, err))?;
        // Never read more than one byte past the declared size.
        let mut out = Vec::with_capacity(size.min(64 << 20));
        match entry.take(e.size.saturating_add(1)).read_to_end(&mut out) {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::InvalidData => {
                return Err(unsafe_entry(
                    &self.path,
                    name,
                    format!(
                        "entry data does not match its header (more than the declared {} \
                         bytes, or a bad checksum): {err}",
                        e.size
                    ),
                ))
            }
            Err(err) => return Err(Error::io(&self.path, err)),
        }
        if out.len() != size {
            return Err(unsafe_entry(
                &self.path,
                name,
                format!(
                    "entry decompresses to {} bytes, not its declared {} bytes",
                    out.len(),
                    e.size
                ),
            ));
        }
        Ok(out)
    }

    /// Offset of a stored entry's data: after its local header (fixed part, name and
    /// extra field), checked against the archive's length.
    fn data_start(&self, name: &str, e: &IndexEntry, header_start: u64) -> Result<u64> {
        let mut header = [0u8; LOCAL_HEADER_LEN];
        read_exact_at(self.source.as_ref(), &mut header, header_start).map_err(|err| {
            zip_error(
                &self.path,
                format!("cannot read the local header of entry {name:?}: {err}"),
            )
        })?;
        if header[..4] != LOCAL_HEADER_SIGNATURE {
            return Err(zip_error(
                &self.path,
                format!("entry {name:?} has no valid local header"),
            ));
        }
        let name_len = u64::from(u16::from_le_bytes([header[26], header[27]]));
        let extra_len = u64::from(u16::from_le_bytes([header[28], header[29]]));
        let data_start = header_start + LOCAL_HEADER_LEN as u64 + name_len + extra_len;
        if data_start.saturating_add(e.compressed) > self.file_len {
            return Err(zip_error(
                &self.path,
                format!("data of entry {name:?} extends past the end of the archive"),
            ));
        }
        Ok(data_start)
    }

    fn read_stored(
        &self,
        name: &str,
        e: &IndexEntry,
        header_start: u64,
        cell: &OnceLock<u64>,
    ) -> Result<Vec<u8>> {
        let size = usize::try_from(e.size)
            .map_err(|_| zip_error(&self.path, format!("entry {name:?} is too large")))?;
        let data_start = match cell.get() {
            Some(v) => *v,
            None => {
                let v = self.data_start(name, e, header_start)?;
                *cell.get_or_init(|| v)
            }
        };
        let mut out = vec![0u8; size];
        match read_exact_at(self.source.as_ref(), &mut out, data_start) {
            Ok(()) => Ok(out),
            Err(err) if err.kind() == io::ErrorKind::Unsupported => {
                // No positional reads on this platform: go through the archive reader.
                let mut guard = self
                    .archive
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let mut entry = guard
                    .by_index_raw(e.index)
                    .map_err(|err| from_zip(&self.path, err))?;
                entry
                    .read_exact(&mut out)
                    .map_err(|err| Error::io(&self.path, err))?;
                Ok(out)
            }
            Err(err) => Err(Error::io(&self.path, err)),
        }
    }
}

impl Store for ZipStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let name = key.trim_start_matches('/');
        let Some(e) = self.entries.get(name) else {
            return Ok(None);
        };
        match &e.access {
            Access::Stored {
                header_start,
                data_start,
            } => self
                .read_stored(name, e, *header_start, data_start)
                .map(Some),
            Access::Deflated => self.read_through_archive(name, e).map(Some),
            Access::Refused {
                reason,
                unsafe_entry: true,
            } => Err(unsafe_entry(&self.path, name, reason.clone())),
            Access::Refused { reason, .. } => Err(zip_error(&self.path, reason.clone())),
        }
    }

    fn set(&self, _key: &str, _value: &[u8]) -> Result<()> {
        Err(Error::ReadOnly {
            path: self.location(),
        })
    }

    fn delete(&self, _key: &str) -> Result<()> {
        Err(Error::ReadOnly {
            path: self.location(),
        })
    }

    fn read_only(&self) -> bool {
        true
    }

    fn list_dir(&self, prefix: &str) -> Result<Vec<String>> {
        let p = prefix.trim_matches('/');
        let pre = if p.is_empty() {
            String::new()
        } else {
            format!("{p}/")
        };
        let mut out = BTreeSet::new();
        for list in [&self.names, &self.dirs] {
            let start = list.partition_point(|n| n.as_str() < pre.as_str());
            for n in &list[start..] {
                let Some(rest) = n.strip_prefix(pre.as_str()) else {
                    break;
                };
                if let Some(child) = rest.split('/').next().filter(|c| !c.is_empty()) {
                    out.insert(child);
                }
            }
        }
        Ok(out.into_iter().map(str::to_string).collect())
    }
}
