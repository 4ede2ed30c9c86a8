//! Error type of the core.

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure the core can report. Variants name the array path, chunk key or
/// archive entry concerned so that a caller can tell a user exactly what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system I/O failure on `path`.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File or folder concerned.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No array (no `.zarray`) at `path`.
    #[error("no array at {path}")]
    ArrayNotFound {
        /// Array path.
        path: String,
    },
    /// An array already exists at `path` and overwriting was not requested.
    #[error("an array already exists at {path}")]
    ArrayExists {
        /// Array path.
        path: String,
    },
    /// A metadata document (`.zarray`, `.zattrs`, `.zgroup`) is missing a field or is not valid JSON.
    #[error("invalid metadata {key} of {path}: {reason}")]
    Metadata {
        /// Array or group path.
        path: String,
        /// Metadata key, for example `.zarray`.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The array uses a feature wfstore does not implement (for example an unknown codec).
    #[error("unsupported feature in {path}: {reason}")]
    Unsupported {
        /// Array path.
        path: String,
        /// What is not supported.
        reason: String,
    },
    /// A chunk could not be decoded (truncated, bit-flipped, wrong item count, ...).
    #[error("corrupt chunk {key} of array {path}: {reason}")]
    CorruptChunk {
        /// Array path.
        path: String,
        /// Chunk key within the array, for example `3` or `0.1`.
        key: String,
        /// What failed.
        reason: String,
    },
    /// A codec failed on data that was not read from a store (bytes in, bytes out).
    #[error("codec error: {0}")]
    Codec(String),
    /// A value cannot be encoded (for example a non-finite fill value for an integer array).
    #[error("cannot encode value: {0}")]
    Encode(String),
    /// A row index beyond the array's length.
    #[error("index {index} is out of range for array {path} of length {len}")]
    IndexOutOfRange {
        /// Array path.
        path: String,
        /// Index asked for.
        index: u64,
        /// Length of the array.
        len: u64,
    },
    /// Arguments that do not fit together (for example a different number of indices and values).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A write was attempted on a read-only store (such as a zip archive).
    #[error("store {path} is read-only")]
    ReadOnly {
        /// Store path.
        path: String,
    },
    /// A rechunk found chunks that cannot be decoded; nothing was changed.
    #[error("rechunk of {path} aborted, nothing changed: {} chunk(s) cannot be decoded: {}", bad_chunks.len(), bad_chunks.iter().map(|(k, r)| format!("{k} ({r})")).collect::<Vec<_>>().join(", "))]
    Rechunk {
        /// Array path.
        path: String,
        /// (chunk key, reason) of every chunk that failed to decode.
        bad_chunks: Vec<(String, String)>,
    },
    /// A zip archive that cannot be read or written.
    #[error("zip archive {path}: {reason}")]
    Zip {
        /// Archive path.
        path: String,
        /// What failed.
        reason: String,
    },
    /// An archive entry that would be written outside the destination, or is a link.
    #[error("unsafe entry {entry:?} in archive {path}: {reason}")]
    UnsafeArchive {
        /// Archive path.
        path: String,
        /// Entry name.
        entry: String,
        /// Why it was refused.
        reason: String,
    },
}

impl Error {
    /// Build an [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
