//! Atomic file writes: write under a temporary name in the same folder, then rename.
//!
//! Every write puts its new value in place with one rename, so readers and crashed
//! processes see the old or the new value, never a mix. What a power cut can leave
//! depends on the [`Durability`] chosen.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What a store's writes survive. In every mode a new value is written under a
/// temporary name and put in place by one rename, so a reader, or a process killed
/// while writing (a job past its wall time), sees the old or the new value; the modes
/// differ in what a power cut or a kernel crash can leave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Durability {
    /// Each new file is flushed to disk (`fsync`) before it is renamed, and its folder
    /// after: a power cut leaves the old or the new value on file systems that honour
    /// `fsync`. The slowest mode (a flush per file).
    Full,
    /// The new file is renamed over the old one without a flush, as zarr-python and
    /// hpcflow write. On ext4 that rename makes the kernel start writing the new data
    /// out (`auto_da_alloc`), so a power cut also leaves the old or the new value
    /// there; on other file systems the last seconds of writes may be lost. The
    /// default. (A store's keys on ext4 without a journal are written into a spare
    /// file whose write-out is started the same way, then exchanged: [`crate::spare`].)
    #[default]
    Normal,
    /// Safe against crashed processes only. On Linux an existing file is replaced by
    /// exchanging names with the new one (`renameat2(RENAME_EXCHANGE)`) and unlinking
    /// the old, which skips ext4's forced write-back (on the development VM's disk
    /// ~35 us instead of ~120 us per replaced file): a power cut within the kernel's
    /// write-back delay (~30 s) may leave a recently replaced file empty. Journaled
    /// commits of several files rename as [`Durability::Normal`] does (the journal's
    /// replay needs every temporary name to hold a new value).
    Process,
}

impl Durability {
    /// Every mode, strongest first.
    pub const ALL: [Durability; 3] = [Durability::Full, Durability::Normal, Durability::Process];

    /// The mode's name: `"full"`, `"normal"` or `"process"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Full => "full",
            Durability::Normal => "normal",
            Durability::Process => "process",
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
                    "unknown durability {s:?} (expected \"full\", \"normal\" or \"process\")"
                ))
            })
    }
}

/// How [`replace_file`] put a new file in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replaced {
    /// Renamed over the old file, or to a name that was free.
    Renamed,
    /// Exchanged with the old file, which was then unlinked ([`Durability::Process`]).
    Exchanged,
    /// Written into a spare file of the folder, exchanged with the old file, which
    /// became the spare ([`crate::spare`]).
    Recycled,
}

/// Put the new file `tmp` in place of `dst` (a sibling) by one atomic step, as
/// `durability` says: a rename (and with [`Durability::Full`] a flush of the folder
/// after it), or with [`Durability::Process`] on Linux an exchange of the two names
/// followed by unlinking the old file. Where the file system cannot exchange names
/// (NFS, Lustre, ...) or `dst` does not exist, that mode renames. On failure `dst` is
/// as it was and `tmp` is left for the caller to remove.
///
/// With [`Durability::Full`] and [`Durability::Normal`] the old file's storage is
/// freed by a background thread a moment later where freeing waits for the device
/// (ext4 without a journal mounted with `discard`, see [`crate::reclaim`]), which keeps
/// that wait out of the replacement's time; nothing else changes. ([`Durability::Process`]
/// replaces files whose blocks are mostly not written out yet, so freeing them is
/// cheap and holding them would only add a few microseconds.)
pub fn replace_file(tmp: &Path, dst: &Path, durability: Durability) -> std::io::Result<Replaced> {
    let held = match durability {
        Durability::Process => None,
        Durability::Full | Durability::Normal => crate::reclaim::hold(dst),
    };
    let replaced = replace_now(tmp, dst, durability);
    if let (Some(held), Ok(_)) = (held, &replaced) {
        crate::reclaim::release_later(held);
    }
    replaced
}

fn replace_now(tmp: &Path, dst: &Path, durability: Durability) -> std::io::Result<Replaced> {
    if durability == Durability::Process {
        if let Some(done) = exchange_and_unlink(tmp, dst)? {
            return Ok(done);
        }
    }
    std::fs::rename(tmp, dst)?;
    if durability == Durability::Full {
        sync_parent(dst);
    }
    Ok(Replaced::Renamed)
}

/// Flush the folder holding `path` (its entries), where the file system allows it.
pub fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
}

/// [`Durability::Process`]'s replacement: `Ok(None)` when the names cannot be
/// exchanged (then the caller renames).
#[cfg(target_os = "linux")]
fn exchange_and_unlink(tmp: &Path, dst: &Path) -> std::io::Result<Option<Replaced>> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    use rustix::io::Errno;
    match renameat_with(CWD, tmp, CWD, dst, RenameFlags::EXCHANGE) {
        Ok(()) => {}
        // no `dst` to replace (a rename cannot meet the forced write-back then), or a
        // file system that cannot exchange names
        Err(Errno::NOENT | Errno::INVAL | Errno::NOSYS | Errno::NOTSUP | Errno::XDEV) => {
            return Ok(None)
        }
        Err(e) => return Err(e.into()),
    }
    // `tmp` now names the old file
    match std::fs::remove_file(tmp) {
        Ok(()) => Ok(Some(Replaced::Exchanged)),
        Err(e) if std::fs::symlink_metadata(tmp).is_ok_and(|m| m.is_dir()) => {
            // `dst` was a folder, which a rename would not have replaced: put it back
            renameat_with(CWD, tmp, CWD, dst, RenameFlags::EXCHANGE)?;
            Err(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                format!("cannot replace a folder by a file ({e})"),
            ))
        }
        // the new value is in place; the old one stays under its temporary name,
        // which no reader looks at
        Err(_) => Ok(Some(Replaced::Exchanged)),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange_and_unlink(_tmp: &Path, _dst: &Path) -> std::io::Result<Option<Replaced>> {
    Ok(None)
}

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
/// (and its folder) are flushed before and after the rename ([`Durability::Full`],
/// else [`Durability::Normal`]). On failure the temporary file is removed and `path` is
/// left as it was.
pub fn write_atomic(path: &Path, data: &[u8], fsync: bool) -> Result<()> {
    write_atomic_with(path, data, Durability::Normal.or_full(fsync)).map(|_| ())
}

/// [`write_atomic_with`] for a file that is replaced again and again (a store's keys):
/// through the folder's spare files where that pays ([`crate::spare`]), else as
/// [`write_atomic_with`].
pub fn write_replacing(path: &Path, data: &[u8], durability: Durability) -> Result<Replaced> {
    match crate::spare::write_replacing(path, data, durability)? {
        Some(done) => Ok(done),
        None => write_atomic_with(path, data, durability),
    }
}

/// [`write_atomic`] with the given [`Durability`]; returns how the file was put in
/// place.
pub fn write_atomic_with(path: &Path, data: &[u8], durability: Durability) -> Result<Replaced> {
    let tmp = write_temp_sibling(path, data, durability.fsync())?;
    replace_file(&tmp, path, durability).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
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
        assert!(Durability::Full.fsync() && !Durability::Process.fsync());
        assert_eq!(Durability::Process.or_full(true), Durability::Full);
        assert_eq!(Durability::Process.or_full(false), Durability::Process);
        let err = "fast".parse::<Durability>().unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
        let msg = err.to_string();
        assert!(
            msg.contains("\"fast\"") && msg.contains("\"process\""),
            "{msg}"
        );
    }

    #[test]
    fn every_durability_replaces_creates_and_leaves_nothing_else() {
        for d in Durability::ALL {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("sub/0");
            // a new file: renamed into place whatever the mode
            assert_eq!(write_atomic_with(&p, b"one", d).unwrap(), Replaced::Renamed);
            // a reader holding the old file keeps reading the old bytes
            let mut held = std::fs::File::open(&p).unwrap();
            let replaced = write_atomic_with(&p, b"two", d).unwrap();
            let expected = if d == Durability::Process && cfg!(target_os = "linux") {
                Replaced::Exchanged
            } else {
                Replaced::Renamed
            };
            assert_eq!(replaced, expected, "{d}");
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
