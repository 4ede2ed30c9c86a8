//! Positional reads of an archive, shared by threads.

use super::*;

/// A source of bytes read at given offsets, shared by threads: what [`ZipStore`] and
/// [`unzip`] read an archive through. Implemented for a local [`File`] (`pread`) and a
/// byte buffer; the Python bindings implement it for a Python file object (an fsspec
/// file), so every archive goes through the same reader.
pub trait ReadAt: Send + Sync {
    /// Read into `buf` from `offset`; the number of bytes read (0 at the end).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// The length of the source in bytes.
    fn size(&self) -> io::Result<u64>;
}

impl ReadAt for File {
    /// Without moving any file position (on Windows the handle's position moves;
    /// nothing here uses it).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        #[cfg(unix)]
        return std::os::unix::fs::FileExt::read_at(self, buf, offset);
        #[cfg(windows)]
        return std::os::windows::fs::FileExt::seek_read(self, buf, offset);
        #[cfg(not(any(unix, windows)))]
        {
            let _ = (buf, offset);
            Err(io::Error::from(io::ErrorKind::Unsupported))
        }
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

impl ReadAt for Vec<u8> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
}

/// Fill `buf` from `src` at `offset` with positional reads.
pub(super) fn read_exact_at(
    src: &dyn ReadAt,
    mut buf: &mut [u8],
    mut offset: u64,
) -> io::Result<()> {
    while !buf.is_empty() {
        match src.read_at(buf, offset) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "archive ends inside an entry",
                ))
            }
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A reader over a shared source with a position of its own (positional reads), so
/// that several threads can read one archive through one handle. Clones share the
/// source and start at the clone's position.
#[derive(Clone)]
pub(super) struct AtReader {
    pub(super) src: AtSource,
    pub(super) len: u64,
    pub(super) pos: u64,
}

/// What an [`AtReader`] reads: the source, or all of its bytes read at once.
#[derive(Clone)]
pub(super) enum AtSource {
    Source(Arc<dyn ReadAt>),
    Bytes(Arc<Vec<u8>>),
}

impl AtReader {
    pub(super) fn new(src: Arc<dyn ReadAt>) -> io::Result<Self> {
        let len = src.size()?;
        Ok(Self {
            src: AtSource::Source(src),
            len,
            pos: 0,
        })
    }

    /// A reader over `src`'s bytes read at once when it holds at most `max` bytes
    /// (one read instead of one per entry header and per entry), else over the source.
    pub(super) fn load(src: Arc<dyn ReadAt>, max: u64) -> io::Result<Self> {
        let mut r = Self::new(src)?;
        if r.len <= max {
            if let AtSource::Source(f) = &r.src {
                let mut bytes = vec![0u8; r.len as usize];
                let mut at = 0;
                while at < bytes.len() {
                    match f.read_at(&mut bytes[at..], at as u64)? {
                        0 => break, // shorter than its length said: the rest is cut
                        n => at += n,
                    }
                }
                bytes.truncate(at);
                r.len = at as u64;
                r.src = AtSource::Bytes(Arc::new(bytes));
            }
        }
        Ok(r)
    }
}

impl Read for AtReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &self.src {
            AtSource::Source(f) => f.read_at(buf, self.pos)?,
            AtSource::Bytes(b) => {
                let start = usize::try_from(self.pos).unwrap_or(usize::MAX).min(b.len());
                let n = buf.len().min(b.len() - start);
                buf[..n].copy_from_slice(&b[start..start + n]);
                n
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for AtReader {
    fn seek(&mut self, from: SeekFrom) -> io::Result<u64> {
        let to = match from {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = to.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a negative or overflowing position",
            )
        })?;
        Ok(self.pos)
    }
}
