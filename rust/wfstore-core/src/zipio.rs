//! Zip archives of whole stores (STUB: being written).

use crate::error::Result;
use crate::store::Store;
use std::path::Path;

/// Figures of a zip or unzip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZipReport {
    /// Number of file entries written.
    pub entries: u64,
    /// Total uncompressed bytes of the files.
    pub bytes: u64,
}

/// Write folder `src` into the zip archive `dst`.
pub fn zip_dir(
    _src: &Path,
    _dst: &Path,
    _exclude: &[String],
    _progress: Option<&(dyn Fn(u64, u64) + Sync)>,
) -> Result<ZipReport> {
    unimplemented!()
}

/// Extract `archive` into the new folder `dest`.
pub fn unzip(
    _archive: &Path,
    _dest: &Path,
    _progress: Option<&(dyn Fn(u64, u64) + Sync)>,
) -> Result<ZipReport> {
    unimplemented!()
}

/// A read-only store over a zip archive.
#[derive(Debug)]
pub struct ZipStore {}

impl ZipStore {
    /// Open an archive.
    pub fn open(_path: &Path) -> Result<Self> {
        unimplemented!()
    }
}

impl Store for ZipStore {
    fn location(&self) -> String {
        unimplemented!()
    }
    fn get(&self, _key: &str) -> Result<Option<Vec<u8>>> {
        unimplemented!()
    }
    fn set(&self, _key: &str, _value: &[u8]) -> Result<()> {
        unimplemented!()
    }
    fn delete(&self, _key: &str) -> Result<()> {
        unimplemented!()
    }
    fn list_dir(&self, _prefix: &str) -> Result<Vec<String>> {
        unimplemented!()
    }
}
