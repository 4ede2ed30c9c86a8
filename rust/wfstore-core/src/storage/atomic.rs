//! Atomic file writes: write under a temporary name in the same folder, then rename.
//!
//! Every write puts its new value in place with one rename, so readers and crashed
//! processes see the old or the new value, never a mix. What a power cut can leave
//! depends on the [`Durability`] chosen.

use super::fsops;
use crate::error::{Error, Result};
pub use crate::names::TMP_PREFIX;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What a store's writes survive. In both modes a new value is written under a
/// temporary name in the key's folder and put in place by one rename, so a reader, or a
/// process killed while writing (a job past its wall time), sees the old or the new
/// value; the modes differ in what a power cut or a kernel crash can leave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Durability {
    /// Each new file is flushed to disk (`fsync`) before it is renamed, and its folder
    /// after: a power cut leaves the old or the new value on file systems that honour
    /// `fsync`. Slower (a flush per file).
    Full,
    /// The new file is renamed over the old one without a flush, as zarr-python and
    /// hpcflow write: a power cut may lose the last seconds of writes. The default.
    #[default]
    Normal,
}

impl Durability {
    /// Every mode, strongest first.
    pub const ALL: [Durability; 2] = [Durability::Full, Durability::Normal];

    /// The mode's name: `"full"` or `"normal"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Full => "full",
            Durability::Normal => "normal",
        }
    }

    /// Whether new files are flushed to disk before they are renamed.
    pub fn fsync(self) -> bool {
        self == Durability::Full
    }

    /// [`Durability::Full`] if `fsync` (the older `fsync: bool` arguments), else `self`.
    pub fn or_full(self, fsync: bool) -> Durability {
        if fsync {
            Durability::Full
        } else {
            self
        }
    }
}

impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Durability {
    type Err = Error;

    /// Parse a mode's name (see [`Durability::as_str`]).
    fn from_str(s: &str) -> Result<Self> {
        Durability::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown durability {s:?} (expected \"full\" or \"normal\")"
                ))
            })
    }
}

/// Put the new file `tmp` in place of `dst` (a sibling) by one rename; with
/// [`Durability::Full`] the folder is flushed after it. On failure `dst` is as it was
/// and `tmp` is left for the caller to remove.
pub fn replace_file(tmp: &Path, dst: &Path, durability: Durability) -> std::io::Result<()> {
    fsops::rename(tmp, dst)?;
    if durability == Durability::Full {
        sync_parent(dst);
    }
    Ok(())
}

/// Flush the folder holding `path` (its entries), where the file system allows it.
pub fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        fsops::sync_dir(parent);
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

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
/// is the caller's step (see [`write_atomic`] and the commits of [`crate::storage::txn`]).
pub fn write_temp_sibling(path: &Path, data: &[u8], fsync: bool) -> Result<PathBuf> {
    let tmp = tmp_sibling(path);
    // (an error names the key's file, not the temporary one)
    write_unseen(&tmp, data, fsync).map_err(|e| match e {
        Error::Io { path: p, source } if p == tmp => Error::io(path, source),
        other => other,
    })?;
    Ok(tmp)
}

/// Write `data` to `path` in place (created, or truncated if it exists), creating
/// parent folders; with `fsync` the file is flushed to disk. Only for a file no reader
/// opens until a later step makes it visible (a temporary file; a chunk past an
/// array's recorded end): a reader of `path` meanwhile could see it part-written. On
/// failure the file is removed.
pub fn write_unseen(path: &Path, data: &[u8], fsync: bool) -> Result<()> {
    // The folder exists but for a new array's first chunk: create the file first and
    // the folders only if that fails (no check per write: a call to the file server on
    // network file systems).
    let file = match fsops::File::create(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => {
                let missing: Vec<&Path> = parent.ancestors().take_while(|a| !a.is_dir()).collect();
                fsops::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                if fsync {
                    // each new folder's entry is on disk with the file's
                    missing.iter().for_each(|dir| sync_parent(dir));
                }
                fsops::File::create(path)
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
    res.map_err(|e| {
        let _ = fsops::remove_file(path);
        Error::io(path, e)
    })
}

/// Write `data` to `path` atomically: the bytes go to a temporary file in the same
/// folder which is then renamed over `path`, so a reader sees the old or the new
/// content, never a partial file. Parent folders are created. With `fsync`, the file
/// (and its folder) are flushed before and after the rename ([`Durability::Full`],
/// else [`Durability::Normal`]). On failure the temporary file is removed and `path` is
/// left as it was.
pub fn write_atomic(path: &Path, data: &[u8], fsync: bool) -> Result<()> {
    write_atomic_with(path, data, Durability::Normal.or_full(fsync))
}

/// [`write_atomic`] with the given [`Durability`].
pub fn write_atomic_with(path: &Path, data: &[u8], durability: Durability) -> Result<()> {
    let tmp = write_temp_sibling(path, data, durability.fsync())?;
    replace_file(&tmp, path, durability).map_err(|e| {
        let _ = fsops::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Threads flushing files at once in [`sync_tree`].
const SYNC_THREADS: usize = 16;

/// Flush everything below the folder `dir` to stable storage: each file's data, each
/// folder's entries (deepest first), then `dir`'s own entry in its parent. Used before
/// a bulk operation puts a folder it built under its final name (a rechunk's swap, an
/// unzip's rename), whatever the durability: on a power cut the folder under that
/// name must then be whole, never empty or zero-filled files.
pub fn sync_tree(dir: &Path) -> Result<()> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for ent in std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
            let ent = ent.map_err(|e| Error::io(&d, e))?;
            let kind = ent.file_type().map_err(|e| Error::io(ent.path(), e))?;
            if kind.is_dir() {
                stack.push(ent.path());
            } else if kind.is_file() {
                files.push(ent.path());
            }
        }
        dirs.push(d);
    }
    // many flushes in flight at once (more than the cores: each mostly waits), so
    // that the file system commits them together instead of one journal commit each
    let per = files.len().div_ceil(SYNC_THREADS).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(per)
            .map(|group| {
                scope.spawn(move || {
                    group
                        .iter()
                        .try_for_each(|f| fsops::sync_file(f).map_err(|e| Error::io(f, e)))
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    })?;
    for d in dirs.iter().rev() {
        fsops::sync_dir(d);
    }
    sync_parent(dir);
    Ok(())
}

/// Write several files so that each is replaced whole and a failure while writing
/// changes none of them: every value goes to its temporary sibling first (see
/// [`write_temp_sibling`]), then each is renamed over its file, in the given order.
/// With [`Durability::Full`] the temporary files and their folders are flushed
/// before the first rename and the files' folders after the last. A crash between
/// the renames can leave some files new and the others old (a JSON store's documents
/// of one commit; see docs/durability.md). On failure before the renames every
/// temporary file is removed.
pub fn write_files_atomic(files: &[(PathBuf, Vec<u8>)], durability: Durability) -> Result<()> {
    let mut staged: Vec<(PathBuf, &Path)> = Vec::with_capacity(files.len());
    let drop_staged = |staged: &[(PathBuf, &Path)]| {
        for (tmp, _) in staged {
            let _ = fsops::remove_file(tmp);
        }
    };
    for (path, data) in files {
        match write_temp_sibling(path, data, durability.fsync()) {
            Ok(tmp) => staged.push((tmp, path)),
            Err(e) => {
                drop_staged(&staged);
                return Err(e);
            }
        }
    }
    let full = durability == Durability::Full;
    let sync_folders = |paths: &mut dyn Iterator<Item = &Path>| {
        let mut seen = std::collections::HashSet::new();
        for p in paths {
            if seen.insert(p.parent().map(Path::to_path_buf)) {
                sync_parent(p);
            }
        }
    };
    if full {
        sync_folders(&mut staged.iter().map(|(tmp, _)| tmp.as_path()));
    }
    for (i, (tmp, path)) in staged.iter().enumerate() {
        if let Err(e) = fsops::rename(tmp, path) {
            drop_staged(&staged[i..]);
            return Err(Error::io(path, e));
        }
    }
    if full {
        sync_folders(&mut staged.iter().map(|(_, path)| *path));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
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

    /// The sorted names in the folder `dir` (also for other modules' tests).
    pub(crate) fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn durability_names_round_trip_and_unknown_ones_are_refused() {
        for d in Durability::ALL {
            assert_eq!(d.as_str().parse::<Durability>().unwrap(), d);
            assert_eq!(d.to_string(), d.as_str());
        }
        assert_eq!(Durability::default(), Durability::Normal);
        assert!(Durability::Full.fsync() && !Durability::Normal.fsync());
        assert_eq!(Durability::Normal.or_full(true), Durability::Full);
        assert_eq!(Durability::Normal.or_full(false), Durability::Normal);
        for gone in ["fast", "process"] {
            let err = gone.parse::<Durability>().unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)));
            let msg = err.to_string();
            assert!(msg.contains(gone) && msg.contains("\"normal\""), "{msg}");
        }
    }

    #[test]
    fn every_durability_replaces_creates_and_leaves_nothing_else() {
        for d in Durability::ALL {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("sub/0");
            write_atomic_with(&p, b"one", d).unwrap();
            // a reader holding the old file keeps reading the old bytes
            let mut held = std::fs::File::open(&p).unwrap();
            write_atomic_with(&p, b"two", d).unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), b"two", "{d}");
            let mut old = Vec::new();
            std::io::Read::read_to_end(&mut held, &mut old).unwrap();
            assert_eq!(old, b"one", "{d}");
            assert_eq!(names(&dir.path().join("sub")), vec!["0"], "{d}");
        }
    }

    #[test]
    fn no_durability_replaces_a_folder_by_a_file() {
        for d in Durability::ALL {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("target");
            std::fs::create_dir(&p).unwrap();
            std::fs::write(p.join("x"), b"keep").unwrap();
            let err = write_atomic_with(&p, b"data", d).unwrap_err();
            assert!(err.to_string().contains("target"), "{d}: {err}");
            assert_eq!(std::fs::read(p.join("x")).unwrap(), b"keep", "{d}");
            assert_eq!(names(dir.path()), vec!["target"], "{d}");
        }
    }

    #[test]
    fn replace_file_leaves_the_temporary_file_to_the_caller_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("t");
        std::fs::write(&tmp, b"new").unwrap();
        for d in Durability::ALL {
            // the destination's folder does not exist
            let dst = dir.path().join("missing/0");
            assert!(replace_file(&tmp, &dst, d).is_err(), "{d}");
            assert_eq!(std::fs::read(&tmp).unwrap(), b"new", "{d}");
        }
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
