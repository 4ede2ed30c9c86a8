//! Zip archives of whole stores.
//!
//! * [`zip_dir`] writes a store folder into a new archive whose entries are the store's
//!   keys at the archive root, stored (not compressed) with the fixed date 1980-01-01, the
//!   layout the workflow engine (hpcflow) produces. The archive appears under its final
//!   name only once it is complete and flushed.
//! * [`unzip`] extracts an archive into a new folder after validating every entry (no
//!   absolute paths, no `..`, no links, no duplicates, no zip bombs). The folder appears
//!   under its final name only once extraction has succeeded.
//! * [`ZipStore`] reads an archive in place as a read-only [`Store`], with lock-free
//!   positional reads of stored entries so that many threads can read at once.

use crate::error::{Error, Result};
use crate::storage::atomic::tmp_sibling;
use crate::storage::fsops;
use crate::storage::Store;
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use zip::result::ZipError;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

mod extract;
mod positional;
mod read;
#[cfg(test)]
mod tests;
mod validate;
mod write;

pub use extract::unzip;
pub use positional::ReadAt;
pub use read::ZipStore;
pub use write::zip_dir;

/// Entries declaring more than this many bytes are subject to [`MAX_COMPRESSION_RATIO`].
pub const RATIO_CHECK_MIN_SIZE: u64 = 1 << 20;

/// Largest accepted ratio of declared uncompressed size to compressed size for an entry
/// larger than [`RATIO_CHECK_MIN_SIZE`]. Deflate cannot exceed about 1032:1, so only
/// forged or near-degenerate entries are refused.
pub const MAX_COMPRESSION_RATIO: u64 = 1000;

/// Unix permission bits given to every file written by [`zip_dir`].
const ENTRY_PERMISSIONS: u32 = 0o644;

/// File type bits of a unix mode, and the value of a symbolic link.
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;

/// Signature and length of the fixed part of a local file header.
const LOCAL_HEADER_SIGNATURE: [u8; 4] = [0x50, 0x4b, 0x03, 0x04];
const LOCAL_HEADER_LEN: usize = 30;

/// Size of the copy buffer used while extracting.
const COPY_BUFFER: usize = 64 * 1024;

/// Archives with fewer files than this, or fewer bytes than [`PARALLEL_BYTES_MIN`], are
/// extracted on the calling thread: handing a few small files to the thread pool costs
/// more than it saves (waking its threads, and their creations queueing on the same
/// folders and inode group).
const PARALLEL_FILES_MIN: usize = 8;
const PARALLEL_BYTES_MIN: u64 = 1 << 20;

/// Archives up to this size are read into memory at once to be unzipped.
const IN_MEMORY_MAX: u64 = 16 << 20;

/// Figures of a zip or unzip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZipReport {
    /// Number of file entries written.
    pub entries: u64,
    /// Total uncompressed bytes of the files.
    pub bytes: u64,
}

/// Progress callback: `(done, total)` counted in files.
type Progress<'a> = Option<&'a (dyn Fn(u64, u64) + Sync)>;

fn zip_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Zip {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

fn unsafe_entry(path: &Path, entry: &str, reason: impl Into<String>) -> Error {
    Error::UnsafeArchive {
        path: path.display().to_string(),
        entry: entry.to_string(),
        reason: reason.into(),
    }
}

/// Map an error of the zip crate: I/O failures become [`Error::Io`], the rest [`Error::Zip`].
fn from_zip(path: &Path, e: ZipError) -> Error {
    match e {
        ZipError::Io(io) => Error::io(path, io),
        other => zip_error(path, other.to_string()),
    }
}

/// Flush a folder's entry list to disk (best effort; not every platform supports it).
fn sync_dir(dir: &Path) {
    fsops::sync_dir(dir)
}
