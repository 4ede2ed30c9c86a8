//! Replacing a file without creating or deleting one: spare files kept per folder.
//!
//! An atomic replacement normally creates a temporary file and renames it over the old
//! one, which deletes the old file. On ext4 *without a journal* both ends cost more than
//! the write: creating a file scans past every inode of the folder's block group deleted
//! in the last minute or more (ext4 does not reuse them at once when it has no journal),
//! so a folder whose files are replaced thousands of times a minute (a store's runs while
//! jobs start and end) makes each creation slower, up to ~300 us on the development VM's
//! disk; and freeing the old file's blocks waits for the device where the file system is
//! mounted with `discard`.
//!
//! There, [`write_replacing`] keeps up to [`SLOTS`] spare files per folder, named
//! `.wfstore-spare-<n>`. A replacement takes a spare (an exclusive `flock`, then checks:
//! still at its name, a regular file with no other link, and open nowhere else, which a
//! write lease taken and given back at once proves), writes the new value into it,
//! and exchanges it with the old file (`renameat2(RENAME_EXCHANGE)`): the new value is
//! in place by one atomic step, and the old file becomes the folder's spare, its inode
//! and blocks reused by a later replacement. `"full"` flushes the value before the
//! exchange; `"normal"` has its write-out started as the rename's `auto_da_alloc`
//! would, by [`crate::writeout`]'s background thread once it is in place (before the
//! exchange, on the calling thread, with `WFSTORE_DEFERRED_WRITEOUT=0`); `"process"`
//! leaves it to the kernel. No inode is created or freed. A folder without a spare
//! creates its first ones under their slot names.
//!
//! Readers see what a rename gives them: the old or the new value at the name. A reader
//! that opened the old file before the exchange keeps it open, and a spare open anywhere
//! is never written (its lease is refused). Spares are never read as data, are left out
//! of archives, and may be deleted at any time (a writer holding one then renames
//! instead). A spare's content is an old value of some file of its folder.
//!
//! Elsewhere (journaled ext4, XFS, Btrfs, tmpfs, NFS, ...) [`write_replacing`] returns
//! `None` at once, from a per-folder verdict, and the caller writes as before. Setting
//! the environment variable `WFSTORE_SPARE_FILES=0` turns spares off everywhere.

use crate::atomic::{Durability, Replaced};
use crate::error::{Error, Result};
use std::path::Path;

/// Prefix of the spare files' names; such files are never read as data.
pub const SPARE_PREFIX: &str = ".wfstore-spare-";

/// Spare files per folder, at most.
pub const SLOTS: usize = 2;

/// Whether `name` (a file name) is a spare file's.
pub fn is_spare_name(name: &str) -> bool {
    name.starts_with(SPARE_PREFIX)
}

/// Whether [`write_replacing`] goes through spare files in the folder `dir` (ext4
/// without a journal, unless `WFSTORE_SPARE_FILES=0`).
pub fn applies(dir: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        imp::enabled() && crate::reclaim::folder_traits(dir).reuses_slowly()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        false
    }
}

/// Replace (or create) `path` with `data` through one of its folder's spare files, where
/// spares pay (see the module documentation). `Ok(None)`: nothing was done (no spare
/// could be had, or spares do not pay there) and the caller writes the usual way.
/// On an error `path` is as it was.
pub fn write_replacing(
    path: &Path,
    data: &[u8],
    durability: Durability,
) -> Result<Option<Replaced>> {
    match prepare(path, data, durability)? {
        Some(prepared) => put_in_place(&prepared, path, durability),
        None => Ok(None),
    }
}

/// A spare file holding a new value, held (its lock) until dropped; put in place by
/// [`put_in_place`], else it stays a spare.
#[derive(Debug)]
pub struct Prepared(#[cfg(target_os = "linux")] imp::Spare);

/// The first half of [`write_replacing`]: take a spare of `path`'s folder and write
/// `data` into it (`Ok(None)` where spares do not apply or none is free). Nothing a
/// reader sees changes until [`put_in_place`].
pub fn prepare(path: &Path, data: &[u8], durability: Durability) -> Result<Option<Prepared>> {
    #[cfg(target_os = "linux")]
    {
        let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
            return Ok(None);
        };
        if !applies(dir) {
            return Ok(None);
        }
        Ok(imp::prepare(dir, path, data, durability)?.map(Prepared))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (path, data, durability);
        Ok(None)
    }
}

/// The second half of [`write_replacing`]: put the prepared value at `path` by one
/// atomic step. `Ok(None)`: the spare could not be exchanged (deleted meanwhile, a
/// file system that cannot exchange names): nothing changed, and the caller writes
/// the value the usual way.
pub fn put_in_place(
    prepared: &Prepared,
    path: &Path,
    durability: Durability,
) -> Result<Option<Replaced>> {
    #[cfg(target_os = "linux")]
    {
        imp::put_in_place(&prepared.0, path, durability)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (prepared, path, durability);
        Ok(None)
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use super::*;
    use rustix::fd::{AsFd, AsRawFd, OwnedFd};
    use rustix::fs::{
        flock, fstat, ftruncate, open, renameat_with, statat, unlink, AtFlags, FileType,
        FlockOperation, Mode, OFlags, RenameFlags, CWD,
    };
    use rustix::io::Errno;
    use std::path::PathBuf;
    use std::sync::OnceLock;

    pub fn enabled() -> bool {
        static ON: OnceLock<bool> = OnceLock::new();
        *ON.get_or_init(|| std::env::var("WFSTORE_SPARE_FILES").map_or(true, |v| v.trim() != "0"))
    }

    /// A spare file this call holds (its `flock`), checked fit to be written.
    #[derive(Debug)]
    pub struct Spare {
        fd: OwnedFd,
        path: PathBuf,
        /// the old content's length
        len: u64,
    }

    /// [`write_replacing`] wherever the file system can exchange names (for tests).
    #[cfg(test)]
    pub fn write_through_spare(
        dir: &Path,
        path: &Path,
        data: &[u8],
        durability: Durability,
    ) -> Result<Option<Replaced>> {
        match prepare(dir, path, data, durability)? {
            Some(spare) => put_in_place(&spare, path, durability),
            None => Ok(None),
        }
    }

    /// A spare of `dir` holding `data` (an error names `path`, the file to replace).
    pub fn prepare(
        dir: &Path,
        path: &Path,
        data: &[u8],
        durability: Durability,
    ) -> Result<Option<Spare>> {
        let Some(spare) = take_spare(dir) else {
            return Ok(None);
        };
        fill(&spare.fd, spare.len, data, durability).map_err(|e| Error::io(path, e))?;
        Ok(Some(spare))
    }

    pub fn put_in_place(
        spare: &Spare,
        path: &Path,
        durability: Durability,
    ) -> Result<Option<Replaced>> {
        // the exchange: one atomic step puts the new value at `path`
        match renameat_with(CWD, &spare.path, CWD, path, RenameFlags::EXCHANGE) {
            Ok(()) => {}
            // a new file: the spare becomes it (the folder makes another later)
            Err(Errno::NOENT) if exists(&spare.path) => {
                std::fs::rename(&spare.path, path).map_err(|e| Error::io(path, e))?;
                return Ok(Some(done(spare, path, durability)));
            }
            // the spare was deleted meanwhile, or the file system cannot exchange: the
            // caller writes the usual way
            Err(Errno::NOENT | Errno::INVAL | Errno::NOSYS | Errno::NOTSUP | Errno::XDEV) => {
                return Ok(None)
            }
            Err(e) => return Err(Error::io(path, std::io::Error::from(e))),
        }
        // `spare.path` now names the old file; a folder (which a rename would not have
        // replaced) goes back
        if let Ok(st) = statat(CWD, &spare.path, AtFlags::SYMLINK_NOFOLLOW) {
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                renameat_with(CWD, &spare.path, CWD, path, RenameFlags::EXCHANGE)
                    .map_err(|e| Error::io(path, std::io::Error::from(e)))?;
                return Err(Error::io(
                    path,
                    std::io::Error::new(
                        std::io::ErrorKind::IsADirectory,
                        "cannot replace a folder by a file",
                    ),
                ));
            }
        }
        // the spare's lock goes with `spare` (on the file now at `path`)
        Ok(Some(done(spare, path, durability)))
    }

    fn done(spare: &Spare, path: &Path, durability: Durability) -> Replaced {
        match durability {
            Durability::Full => crate::atomic::sync_parent(path),
            Durability::Normal if crate::writeout::deferred() => {
                // the write-out `fill` left for the background thread, now that the
                // value is in place (a descriptor of its own: the spare's closes now)
                match rustix::io::fcntl_dupfd_cloexec(&spare.fd, 0) {
                    Ok(fd) => crate::writeout::hand_on(fd),
                    Err(_) => crate::writeout::start_now(&spare.fd),
                }
            }
            Durability::Normal | Durability::Process => {}
        }
        Replaced::Recycled
    }

    fn exists(p: &Path) -> bool {
        statat(CWD, p, AtFlags::SYMLINK_NOFOLLOW).is_ok()
    }

    /// Write `data` over the spare's old content (`old_len` bytes) and start (or, for
    /// `"full"`, finish) its write-out.
    fn fill(
        fd: &OwnedFd,
        old_len: u64,
        data: &[u8],
        durability: Durability,
    ) -> std::io::Result<()> {
        let mut off = 0usize;
        while off < data.len() {
            match rustix::io::pwrite(fd, &data[off..], off as u64) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => off += n,
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // only a shorter value cuts the file: a cut waits for the write-out of the page
        // it falls in, which a spare written out a commit or two ago may still be in
        // (~15 us a commit on the development VM's disk)
        if (data.len() as u64) < old_len {
            ftruncate(fd, data.len() as u64)?;
        }
        match durability {
            Durability::Full => rustix::fs::fsync(fd)?,
            // what ext4's `auto_da_alloc` does for a rename over a file: start writing
            // the data out (without waiting for it), here unless it is handed on once
            // the file is in place (`crate::writeout`)
            Durability::Normal if !crate::writeout::deferred() => crate::writeout::start_now(fd),
            Durability::Normal | Durability::Process => {}
        }
        Ok(())
    }

    /// A spare of `dir` this call alone holds, creating one under a free slot name if
    /// there is none.
    fn take_spare(dir: &Path) -> Option<Spare> {
        if let Some(spare) = try_slots(dir) {
            return Some(spare);
        }
        // a spare replaced a moment ago may still be open in the background thread
        // starting its write-out (`crate::writeout`): once that is done, try again
        if crate::writeout::drain() {
            return try_slots(dir);
        }
        None
    }

    fn try_slots(dir: &Path) -> Option<Spare> {
        for n in 0..SLOTS {
            let path = dir.join(format!("{SPARE_PREFIX}{n}"));
            let fd = match open(
                &path,
                OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => match open(
                    &path,
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                    // as `File::create`: the umask decides (group-shared stores)
                    Mode::from_raw_mode(0o666),
                ) {
                    Ok(fd) => fd,
                    Err(_) => continue,
                },
                Err(_) => continue,
            };
            if let Some(spare) = check(fd, path) {
                return Some(spare);
            }
        }
        None
    }

    /// `fd` (opened at `path`) as a spare fit to be written: held by this call alone,
    /// still named `path`, a regular file with one link, open nowhere else.
    fn check(fd: OwnedFd, path: PathBuf) -> Option<Spare> {
        flock(&fd, FlockOperation::NonBlockingLockExclusive).ok()?;
        let st = fstat(&fd).ok()?;
        let named = statat(CWD, &path, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        if (named.st_dev, named.st_ino) != (st.st_dev, st.st_ino)
            || FileType::from_raw_mode(st.st_mode) != FileType::RegularFile
        {
            return None; // taken and put in place by another writer meanwhile
        }
        if st.st_nlink != 1 {
            // also named elsewhere (a hard-linked copy of the store): never written
            // through; the slot is freed for a spare of the folder's own
            let _ = unlink(&path);
            return None;
        }
        if !open_nowhere_else(&fd) {
            return None; // a reader still has the old value open: try again later
        }
        Some(Spare {
            fd,
            path,
            len: st.st_size as u64,
        })
    }

    /// Whether no other open file description refers to `fd`'s file: a write lease is
    /// granted only then. It is given back at once. A process opening the file while
    /// the lease is held would make the kernel signal this one: the signal is `SIGURG`
    /// (ignored unless handled) rather than the default `SIGIO` (which terminates).
    fn open_nowhere_else(fd: &OwnedFd) -> bool {
        /// `F_SETSIG` (Linux's fcntl.h; not among the libc crate's constants)
        const F_SETSIG: libc::c_int = 10;
        let raw = fd.as_fd().as_raw_fd();
        // SAFETY: plain fcntl calls on an open descriptor.
        unsafe {
            if libc::fcntl(raw, F_SETSIG, libc::SIGURG) != 0 {
                return false;
            }
            if libc::fcntl(raw, libc::F_SETLEASE, libc::F_WRLCK) != 0 {
                return false;
            }
            libc::fcntl(raw, libc::F_SETLEASE, libc::F_UNLCK);
        }
        true
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::atomic::tests::names;
    use std::collections::HashSet;
    use std::os::unix::fs::MetadataExt;
    use std::path::PathBuf;

    /// Replace through spares whatever the file system (tmpfs and ext4 can exchange).
    fn put(path: &Path, data: &[u8], d: Durability) -> Option<Replaced> {
        imp::write_through_spare(path.parent().unwrap(), path, data, d).unwrap()
    }

    fn folder() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("0");
        std::fs::write(&f, b"first").unwrap();
        (d, f)
    }

    #[test]
    fn replacements_reuse_a_few_inodes_and_leave_only_spares() {
        for dur in Durability::ALL {
            let (d, f) = folder();
            let mut inodes = HashSet::new();
            for i in 0..50 {
                let value = format!("value {i} {}", "x".repeat(i * 37 % 300));
                assert_eq!(put(&f, value.as_bytes(), dur), Some(Replaced::Recycled));
                assert_eq!(std::fs::read(&f).unwrap(), value.as_bytes(), "{dur} {i}");
                inodes.insert(std::fs::metadata(&f).unwrap().ino());
            }
            // the file, and the spares it swaps with: no new inode per replacement
            assert!(inodes.len() <= 1 + SLOTS, "{dur}: {} inodes", inodes.len());
            let left = names(d.path());
            assert!(left.len() <= 1 + SLOTS, "{left:?}");
            assert!(
                left.iter().all(|n| n == "0" || is_spare_name(n)),
                "{left:?}"
            );
        }
    }

    #[test]
    fn a_file_open_elsewhere_is_never_written_through() {
        // a reader that opened the old value before it was replaced reads the old
        // value to the end, however many replacements follow
        let (_d, f) = folder();
        let reader = std::fs::File::open(&f).unwrap();
        for i in 0..20 {
            put(&f, format!("v{i}").as_bytes(), Durability::Normal);
        }
        let mut old = String::new();
        std::io::Read::read_to_string(&mut &reader, &mut old).unwrap();
        assert_eq!(old, "first");
        assert_eq!(std::fs::read(&f).unwrap(), b"v19");
    }

    #[test]
    fn hard_linked_copies_are_left_alone() {
        // `cp -al store backup`: the backup's files are the store's inodes
        let (d, f) = folder();
        let backup = d.path().join("backup-0");
        std::fs::hard_link(&f, &backup).unwrap();
        for i in 0..10 {
            put(&f, format!("v{i}").as_bytes(), Durability::Normal);
            assert_eq!(std::fs::read(&backup).unwrap(), b"first", "{i}");
        }
        assert_eq!(std::fs::read(&f).unwrap(), b"v9");
    }

    #[test]
    fn new_files_folders_and_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let new = d.path().join("new");
        assert_eq!(
            put(&new, b"n", Durability::Normal),
            Some(Replaced::Recycled)
        );
        assert_eq!(std::fs::read(&new).unwrap(), b"n");
        // a folder is not replaced by a file, and is left as it was
        let dir = d.path().join("sub");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("inside"), b"i").unwrap();
        let err = imp::write_through_spare(d.path(), &dir, b"x", Durability::Normal).unwrap_err();
        assert!(err.to_string().contains("folder"), "{err}");
        assert_eq!(std::fs::read(dir.join("inside")).unwrap(), b"i");
        // a spare slot holding a symlink is never followed
        let target = d.path().join("target");
        std::fs::write(&target, b"t").unwrap();
        for n in 0..SLOTS {
            let slot = d.path().join(format!("{SPARE_PREFIX}{n}"));
            let _ = std::fs::remove_file(&slot);
            std::os::unix::fs::symlink(&target, &slot).unwrap();
        }
        assert_eq!(put(&new, b"m", Durability::Normal), None);
        assert_eq!(std::fs::read(&target).unwrap(), b"t");
    }

    #[test]
    fn spare_files_are_created_with_the_permissions_of_any_new_file() {
        // the umask decides, as for `File::create` (a group-shared store's umask 002)
        // (the umask is the process's: other tests' files made meanwhile get 0o664 too)
        let d = tempfile::tempdir().unwrap();
        // SAFETY: umask only sets the process's mask.
        let old = unsafe { libc::umask(0o002) };
        let plain = d.path().join("plain");
        std::fs::File::create(&plain).unwrap();
        let new = d.path().join("new");
        let r = put(&new, b"n", Durability::Normal);
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        assert_eq!(r, Some(Replaced::Recycled));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!((mode(&new), mode(&plain)), (0o664, 0o664));
    }

    #[test]
    fn writers_in_parallel_never_share_a_spare() {
        // threads replacing their own files in one folder, each reading back what it
        // wrote: two writers in one spare would mix their values
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().to_path_buf();
        std::thread::scope(|s| {
            for t in 0..4 {
                let dir = dir.clone();
                s.spawn(move || {
                    let f = dir.join(format!("f{t}"));
                    for i in 0..300 {
                        let value = format!("thread {t} write {i} {}", "y".repeat(i % 50));
                        imp::write_through_spare(&dir, &f, value.as_bytes(), Durability::Process)
                            .unwrap();
                        if f.exists() {
                            // None: no spare free, which the caller writes the usual way
                            let got = std::fs::read(&f).unwrap();
                            assert!(
                                got.starts_with(format!("thread {t} ").as_bytes()),
                                "{t} {i}"
                            );
                        }
                    }
                });
            }
        });
    }

    #[test]
    fn off_switch_and_other_file_systems_write_the_usual_way() {
        // on a file system where spares do not pay, nothing is done here
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("0");
        let pays = applies(d.path());
        assert_eq!(
            pays,
            std::env::var("WFSTORE_SPARE_FILES").as_deref() != Ok("0")
                && crate::reclaim::folder_traits(d.path()).reuses_slowly()
        );
        let r = write_replacing(&f, b"x", Durability::Normal).unwrap();
        assert_eq!(r.is_some(), pays);
        assert!(is_spare_name(".wfstore-spare-0") && !is_spare_name("0"));
    }
}
