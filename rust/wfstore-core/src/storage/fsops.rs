//! Every file operation that changes the local file system, in one place.
//!
//! The core creates, writes, flushes, renames and removes local files only through
//! these functions (and [`File`]), which behave as their `std::fs` namesakes. In the
//! crate's tests they also report each operation to the recorder of
//! [`crate::testing::crash`] (when one is recording the folder concerned), from which
//! the states a power cut may leave are built; outside tests the reporting compiles
//! to nothing.

use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

#[cfg(test)]
use crate::testing::crash::record as rec;

/// Report nothing (outside the crate's tests).
#[cfg(not(test))]
mod rec {
    use std::path::Path;
    #[inline(always)]
    pub(crate) fn create(_: &Path, _: &std::fs::File) {}
    #[inline(always)]
    pub(crate) fn write(_: &Path, _: &std::fs::File, _: u64, _: &[u8]) {}
    #[inline(always)]
    pub(crate) fn truncate(_: &Path, _: &std::fs::File, _: u64) {}
    #[inline(always)]
    pub(crate) fn fsync(_: &Path, _: &std::fs::File) {}
    #[inline(always)]
    pub(crate) fn fsync_dir(_: &Path) {}
    #[inline(always)]
    pub(crate) fn rename(_: &Path, _: &Path) {}
    #[inline(always)]
    pub(crate) fn unlink(_: &Path) {}
    #[inline(always)]
    pub(crate) fn mkdir(_: &Path) {}
    #[inline(always)]
    pub(crate) fn rmdir(_: &Path) {}
    #[inline(always)]
    pub(crate) fn before_remove_tree(_: &Path) -> Vec<(std::path::PathBuf, bool)> {
        Vec::new()
    }
}

/// A file opened for writing; its writes go at the current position (tracked so that
/// each can be reported with its offset).
#[derive(Debug)]
pub struct File {
    inner: std::fs::File,
    path: PathBuf,
    pos: u64,
}

impl File {
    /// Create `path`, or truncate it if it exists (`std::fs::File::create`).
    pub fn create(path: &Path) -> io::Result<File> {
        let inner = std::fs::File::create(path)?;
        rec::create(path, &inner);
        Ok(File {
            inner,
            path: path.to_path_buf(),
            pos: 0,
        })
    }

    /// Create `path`, which must not exist (`OpenOptions::create_new`).
    pub fn create_new(path: &Path) -> io::Result<File> {
        let inner = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)?;
        rec::create(path, &inner);
        Ok(File {
            inner,
            path: path.to_path_buf(),
            pos: 0,
        })
    }

    /// Flush the file's data and metadata to stable storage (`fsync`).
    pub fn sync_all(&self) -> io::Result<()> {
        self.inner.sync_all()?;
        rec::fsync(&self.path, &self.inner);
        Ok(())
    }

    /// Set the file's length (`ftruncate`).
    #[allow(dead_code)] // the core truncates no file today; here so that one would be recorded
    pub fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)?;
        rec::truncate(&self.path, &self.inner, len);
        Ok(())
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        rec::write(&self.path, &self.inner, self.pos, &buf[..n]);
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Seek for File {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = self.inner.seek(to)?;
        Ok(self.pos)
    }
}

/// Rename `from` to `to`, replacing `to` (`std::fs::rename`).
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::rename(from, to)?;
    rec::rename(from, to);
    Ok(())
}

/// Remove the file `path` (`std::fs::remove_file`).
pub fn remove_file(path: &Path) -> io::Result<()> {
    std::fs::remove_file(path)?;
    rec::unlink(path);
    Ok(())
}

/// Create the folder `path`, whose parent exists (`std::fs::create_dir`).
pub fn create_dir(path: &Path) -> io::Result<()> {
    std::fs::create_dir(path)?;
    rec::mkdir(path);
    Ok(())
}

/// Create the folder `path` and its missing parents (`std::fs::create_dir_all`).
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    if path.as_os_str().is_empty() || path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        create_dir_all(parent)?;
    }
    match create_dir(path) {
        Err(_) if path.is_dir() => Ok(()),
        other => other,
    }
}

/// Remove the empty folder `path` (`std::fs::remove_dir`).
pub fn remove_dir(path: &Path) -> io::Result<()> {
    std::fs::remove_dir(path)?;
    rec::rmdir(path);
    Ok(())
}

/// Remove the folder `path` and everything below it (`std::fs::remove_dir_all`).
pub fn remove_dir_all(path: &Path) -> io::Result<()> {
    // the recorder lists the tree first (post-order: files before their folders)
    let removed = rec::before_remove_tree(path);
    std::fs::remove_dir_all(path)?;
    for (p, is_dir) in removed {
        if is_dir {
            rec::rmdir(&p);
        } else {
            rec::unlink(&p);
        }
    }
    Ok(())
}

/// Flush the data of the existing file `path` to stable storage (opening it and
/// `fsync`ing it).
pub fn sync_file(path: &Path) -> io::Result<()> {
    let f = std::fs::File::open(path)?;
    f.sync_all()?;
    rec::fsync(path, &f);
    Ok(())
}

/// Flush the folder `dir`'s entries to stable storage, where the platform allows it
/// (opening a folder and `fsync`ing it; errors are ignored, as some file systems
/// refuse it).
pub fn sync_dir(dir: &Path) {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Ok(d) = std::fs::File::open(dir) {
        if d.sync_all().is_ok() {
            rec::fsync_dir(dir);
        }
    }
}
