//! Atomic file writes: write under a temporary name in the same folder, then rename.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Prefix of every temporary file wfstore writes; such files are never read as data.
pub const TMP_PREFIX: &str = ".wfstore-tmp-";

/// A temporary sibling name for `path`, unique within this process and across processes.
pub fn tmp_sibling(path: &Path) -> std::path::PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    path.with_file_name(format!(
        "{TMP_PREFIX}{name}-{}-{n}-{nanos}",
        std::process::id()
    ))
}

/// Write `data` to a new temporary sibling of `path` (see [`tmp_sibling`]), creating
/// parent folders, and return the temporary file's path; with `fsync` the file is
/// flushed to disk. On failure nothing is left behind. Renaming the result over `path`
/// is the caller's step (see [`write_atomic`] and the commits of [`crate::txn`]).
pub fn write_temp_sibling(path: &Path, data: &[u8], fsync: bool) -> Result<PathBuf> {
    let tmp = tmp_sibling(path);
    // The folder exists but for a new array's first chunk: create the file first and
    // the folders only if that fails (no check per write: a call to the file server on
    // network file systems).
    let file = match std::fs::File::create(&tmp) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                std::fs::File::create(&tmp)
            }
            _ => Err(e),
        },
        other => other,
    };
    let res = (|| -> std::io::Result<()> {
        let mut f = file?;
        f.write_all(data)?;
        if fsync {
            f.sync_all()?;
        }
        Ok(())
    })();
    match res {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(Error::io(path, e))
        }
    }
}

/// Write `data` to `path` atomically: the bytes go to a temporary file in the same
/// folder which is then renamed over `path`, so a reader sees the old or the new
/// content, never a partial file. Parent folders are created. With `fsync`, the file
/// (and its folder) are flushed before and after the rename. On failure the temporary
/// file is removed and `path` is left as it was.
pub fn write_atomic(path: &Path, data: &[u8], fsync: bool) -> Result<()> {
    let tmp = write_temp_sibling(path, data, fsync)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    if fsync {
        if let Some(parent) = path.parent() {
            if let Ok(d) = std::fs::File::open(parent) {
                let _ = d.sync_all();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces_without_leftovers() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/c.json");
        write_atomic(&p, b"one", false).unwrap();
        write_atomic(&p, b"two", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("c.json")]);
    }

    #[test]
    fn failure_leaves_target_and_no_temp() {
        let d = tempfile::tempdir().unwrap();
        // The target is a non-empty folder: rename over it fails.
        let p = d.path().join("target");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("x"), b"keep").unwrap();
        assert!(write_atomic(&p, b"data", false).is_err());
        assert_eq!(std::fs::read(p.join("x")).unwrap(), b"keep");
        let n = std::fs::read_dir(d.path()).unwrap().count();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_parent_that_is_a_file_is_an_error_naming_the_path() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f"), b"keep").unwrap();
        let p = d.path().join("f/sub/c.json");
        let err = write_atomic(&p, b"data", false).unwrap_err();
        assert!(err.to_string().contains("f/sub"), "{err}");
        assert_eq!(std::fs::read(d.path().join("f")).unwrap(), b"keep");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
