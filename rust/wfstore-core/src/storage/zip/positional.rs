//! Positional reads of an archive, shared by threads.

use super::*;

/// Read into `buf` from `file` at `offset` without moving any file position (on
/// Windows the handle's position moves; nothing here uses it).
#[cfg(unix)]
pub(super) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
pub(super) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(not(any(unix, windows)))]
pub(super) fn read_at(_file: &File, _buf: &mut [u8], _offset: u64) -> io::Result<usize> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Fill `buf` from `file` at `offset` with positional reads.
pub(super) fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match read_at(file, buf, offset) {
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

/// A reader over a shared open file with a position of its own (positional reads), so
/// that several threads can read one archive through one handle. Clones share the file
/// and start at the clone's position.
#[derive(Debug, Clone)]
pub(super) struct AtReader {
    pub(super) src: AtSource,
    pub(super) len: u64,
    pub(super) pos: u64,
}

/// What an [`AtReader`] reads: the open file, or all of its bytes read at once.
#[derive(Debug, Clone)]
pub(super) enum AtSource {
    File(Arc<File>),
    Bytes(Arc<Vec<u8>>),
}

impl AtReader {
    pub(super) fn new(file: Arc<File>) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self {
            src: AtSource::File(file),
            len,
            pos: 0,
        })
    }

    /// A reader over `file`'s bytes read at once when it holds at most `max` bytes
    /// (one read instead of one per entry header and per entry), else over the file.
    pub(super) fn load(file: Arc<File>, max: u64) -> io::Result<Self> {
        let mut r = Self::new(file)?;
        if r.len <= max {
            if let AtSource::File(f) = &r.src {
                let mut bytes = vec![0u8; r.len as usize];
                let mut at = 0;
                while at < bytes.len() {
                    match read_at(f, &mut bytes[at..], at as u64)? {
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
            AtSource::File(f) => read_at(f, buf, self.pos)?,
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
