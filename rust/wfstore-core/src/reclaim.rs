//! Deferred release of the files that replacements put out of use.
//!
//! Renaming a new file over an old one frees the old file's blocks within the rename
//! when nothing holds the old file open. On ext4 without a journal mounted with
//! `discard` (the development VM's disk) that frees the blocks at once and waits for the
//! device to discard them: about half of a 200-byte atomic replacement there (~120 us,
//! ~60 us without it). [`hold`] takes a handle on the old file (`O_PATH`: nothing is
//! read) before the replacement and [`release_later`] hands it to a background thread,
//! which closes it: the blocks are then freed beside the writer's next work instead of
//! inside its commit. What is written, the order of the renames, and so what readers,
//! killed processes and power cuts see, are unchanged; the old file's space comes back
//! a moment later.
//!
//! Only there: with a journal, ext4 frees blocks and discards them after its commit,
//! off the writer's path, and holding the file only adds its orphan-list bookkeeping
//! (~10 us more per replacement measured on a journaled ext4 on a loop device, against
//! ~100 us less on the VM's disk); XFS and Btrfs discard asynchronously as well; on NFS
//! a held file that a rename replaces stays under a `.nfs*` name until closed. Whether
//! a file system qualifies is read once per device from `/proc/fs/ext4/<dev>/options`
//! (`discard`) and `/proc/fs/jbd2` (no journal of that device). At most [`MAX_PENDING`]
//! handles wait; past that (a writer faster than the disk frees blocks) a handle is
//! closed at once, as if never held. A forked child starts a thread of its own.

use std::path::Path;

/// Handles waiting to be closed, at most (past that they are closed at once).
pub const MAX_PENDING: usize = 16;

/// A handle on a file about to be replaced (see [`hold`]).
#[derive(Debug)]
pub struct Held(#[cfg(target_os = "linux")] rustix::fd::OwnedFd);

#[cfg(target_os = "linux")]
mod imp {
    use super::{DeviceTraits, Held, MAX_PENDING};
    use rustix::fd::OwnedFd;
    use rustix::fs::{open, stat, statfs, Mode, OFlags};
    use std::path::{Path, PathBuf};
    use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
    use std::sync::Mutex;

    /// statfs magic number of ext2/3/4.
    const EXT234: u32 = 0xEF53;

    pub fn hold(path: &Path) -> Option<Held> {
        // a folder already looked at costs no system call when holding does not pay
        if !folder_traits(path.parent()?).frees_slowly() {
            return None;
        }
        let fd = open(
            path,
            OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )
        .ok()?;
        Some(Held(fd))
    }

    /// Folders already looked at (at most [`MAX_FOLDERS`]), and their devices' traits.
    static FOLDERS: Mutex<Vec<(PathBuf, DeviceTraits)>> = Mutex::new(Vec::new());
    const MAX_FOLDERS: usize = 64;

    /// The traits of the device holding the folder `dir` (none known: nothing pays).
    pub fn folder_traits(dir: &Path) -> DeviceTraits {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(known) = FOLDERS.try_lock() {
            if let Some(&(_, traits)) = known.iter().find(|(d, _)| d == dir) {
                return traits;
            }
        }
        let Some(traits) = look_at_folder(dir) else {
            return DeviceTraits::default(); // not cached: the folder may appear later
        };
        if let Ok(mut known) = FOLDERS.try_lock() {
            if known.len() >= MAX_FOLDERS {
                known.clear();
            }
            known.push((dir.to_path_buf(), traits));
        }
        traits
    }

    fn look_at_folder(dir: &Path) -> Option<DeviceTraits> {
        // f_type is a signed word whose width depends on the platform; the magic
        // numbers are 32-bit
        #[allow(
            clippy::unnecessary_cast,
            clippy::cast_sign_loss,
            clippy::cast_possible_truncation
        )]
        let kind = statfs(dir).ok()?.f_type as u32;
        if kind != EXT234 {
            return Some(DeviceTraits::default());
        }
        Some(device_traits(stat(dir).ok()?.st_dev))
    }

    /// Devices already looked at, and their traits.
    static DEVICES: Mutex<Vec<(u64, DeviceTraits)>> = Mutex::new(Vec::new());

    #[allow(clippy::useless_conversion)]
    fn device_traits(dev: rustix::fs::Dev) -> DeviceTraits {
        let dev = u64::from(dev);
        // never wait for the lock (nor deadlock after a fork that caught it held): when
        // it is busy the device is looked at again
        if let Ok(known) = DEVICES.try_lock() {
            if let Some(&(_, traits)) = known.iter().find(|(d, _)| *d == dev) {
                return traits;
            }
        }
        let traits = probe(dev).unwrap_or_default();
        if let Ok(mut known) = DEVICES.try_lock() {
            if !known.iter().any(|(d, _)| *d == dev) {
                known.push((dev, traits));
            }
        }
        traits
    }

    #[allow(clippy::useless_conversion)]
    fn probe(dev: u64) -> Option<DeviceTraits> {
        let dev = rustix::fs::Dev::try_from(dev).ok()?;
        let (major, minor) = (rustix::fs::major(dev), rustix::fs::minor(dev));
        let link = std::fs::read_link(format!("/sys/dev/block/{major}:{minor}")).ok()?;
        let name = link.file_name()?.to_str()?.to_owned();
        let options = std::fs::read_to_string(format!("/proc/fs/ext4/{name}/options")).ok()?;
        let journals: Vec<String> = match std::fs::read_dir("/proc/fs/jbd2") {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        Some(super::traits_from(&name, &options, &journals))
    }

    /// The closing thread's queue and the process that started it.
    static REAPER: Mutex<Option<(u32, SyncSender<OwnedFd>)>> = Mutex::new(None);

    pub fn release_later(held: Held) {
        let fd = held.0;
        let pid = std::process::id();
        // never wait here: a busy lock (another thread releasing) means close at once
        let Ok(mut reaper) = REAPER.try_lock() else {
            return;
        };
        if reaper.as_ref().map(|(p, _)| *p) != Some(pid) {
            // first use in this process (or in a forked child, whose parent's thread
            // does not exist here: its queue is forgotten, not dropped, as its state
            // may be mid-update from the parent)
            if let Some(old) = reaper.take() {
                std::mem::forget(old);
            }
            let (tx, rx) = sync_channel::<OwnedFd>(MAX_PENDING);
            let started = std::thread::Builder::new()
                .name("wfstore-reclaim".into())
                .spawn(move || rx.into_iter().for_each(drop));
            if started.is_err() {
                return;
            }
            *reaper = Some((pid, tx));
        }
        let refused = match reaper.as_ref().map(|(_, tx)| tx.try_send(fd)) {
            Some(Ok(())) => None,
            Some(Err(TrySendError::Full(fd) | TrySendError::Disconnected(fd))) => Some(fd),
            None => None,
        };
        drop(reaper);
        drop(refused); // closed here, as without holding
    }
}

/// What replacing files costs on an ext4 device, from its mount options and journal.
/// Every other file system has the default (nothing set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceTraits {
    /// ext4 without a journal: it avoids reusing the inodes of files deleted in the
    /// last minute or more, and scans past them at each file creation.
    pub no_journal: bool,
    /// Mounted with `discard`: freed blocks are discarded at once.
    pub discard: bool,
}

impl DeviceTraits {
    /// Freeing blocks waits for the device (discarded at once, no journal to defer it).
    pub fn frees_slowly(self) -> bool {
        self.no_journal && self.discard
    }

    /// Creating a file slows down as files are deleted (see [`crate::spare`]).
    pub fn reuses_slowly(self) -> bool {
        self.no_journal
    }
}

/// The traits of the ext4 device `name`: mounted with `discard` (its
/// `/proc/fs/ext4/<name>/options`), without a journal (no entry `<name>-<inode>` among
/// `/proc/fs/jbd2`'s `journals`).
pub fn traits_from(name: &str, options: &str, journals: &[String]) -> DeviceTraits {
    let discard = options
        .split(|c: char| c == ',' || c.is_whitespace())
        .any(|o| o == "discard");
    let prefix = format!("{name}-");
    DeviceTraits {
        no_journal: !journals.iter().any(|j| j.starts_with(&prefix)),
        discard,
    }
}

/// Whether freeing blocks on the ext4 device `name` waits for the device (see
/// [`traits_from`]).
pub fn frees_slowly_from(name: &str, options: &str, journals: &[String]) -> bool {
    traits_from(name, options, journals).frees_slowly()
}

/// The traits of the device holding the folder `dir` (the default where unknown or
/// not ext4), looked up once per folder and device.
pub fn folder_traits(dir: &Path) -> DeviceTraits {
    #[cfg(target_os = "linux")]
    {
        imp::folder_traits(dir)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        DeviceTraits::default()
    }
}

/// A handle on `path` if it exists and holding it pays (see the module's
/// documentation); None otherwise.
pub fn hold(path: &Path) -> Option<Held> {
    #[cfg(target_os = "linux")]
    {
        imp::hold(path)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        None
    }
}

/// Close `held` on the background thread (at once when its queue is full).
pub fn release_later(held: Held) {
    #[cfg(target_os = "linux")]
    imp::release_later(held);
    #[cfg(not(target_os = "linux"))]
    drop(held);
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// This process's descriptors open on `path` (other tests running beside open
    /// files of their own, which a count of every descriptor would include).
    fn fds_on(path: &std::path::Path) -> usize {
        std::fs::read_dir("/proc/self/fd")
            .map(|d| {
                d.flatten()
                    .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l == path))
                    .count()
            })
            .unwrap_or(0)
    }

    #[test]
    fn only_ext4_with_discard_and_without_a_journal_frees_slowly() {
        let vm = "rw bsddf block_validity discard delalloc nojournal_checksum auto_da_alloc";
        let journaled = "rw nodiscard delalloc journal_checksum data=ordered";
        let none: Vec<String> = vec![];
        assert!(frees_slowly_from("vda", vm, &none));
        assert!(frees_slowly_from("vda", "rw,discard", &none));
        assert!(!frees_slowly_from("vda", vm, &["vda-8".to_string()]));
        assert!(frees_slowly_from(
            "vda",
            vm,
            &["vdaa-8".to_string(), "loop0-8".to_string()]
        ));
        assert!(!frees_slowly_from(
            "loop0",
            journaled,
            &["loop0-8".to_string()]
        ));
        assert!(!frees_slowly_from("sdb1", "rw nodiscard", &none));
        assert!(!frees_slowly_from("sdb1", "rw discard_foo", &none));
    }

    #[test]
    fn a_file_is_held_where_its_device_frees_slowly() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        let dev = std::fs::metadata(&f).unwrap().dev();
        #[allow(clippy::useless_conversion)]
        let dev = rustix::fs::Dev::try_from(dev).unwrap();
        let (major, minor) = (rustix::fs::major(dev), rustix::fs::minor(dev));
        let name = std::fs::read_link(format!("/sys/dev/block/{major}:{minor}"))
            .ok()
            .and_then(|l| Some(l.file_name()?.to_str()?.to_owned()));
        let options = name
            .as_ref()
            .and_then(|n| std::fs::read_to_string(format!("/proc/fs/ext4/{n}/options")).ok());
        let expected = match (&name, &options) {
            (Some(name), Some(options)) => {
                let journals: Vec<String> = std::fs::read_dir("/proc/fs/jbd2")
                    .map(|rd| {
                        rd.flatten()
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                frees_slowly_from(name, options, &journals)
            }
            _ => false, // not ext4 on a block device (tmpfs, overlay, ...)
        };
        // the first call looks the device up, the second uses the folder's verdict
        assert_eq!(hold(&f).is_some(), expected, "{name:?} {options:?}");
        assert_eq!(hold(&f).is_some(), expected);
    }

    #[test]
    fn nothing_is_held_for_a_missing_file() {
        let d = tempfile::tempdir().unwrap();
        assert!(hold(&d.path().join("none")).is_none());
    }

    #[test]
    fn held_handles_are_closed_and_bounded() {
        // many replacements in a row: the handles never pile up past MAX_PENDING (and
        // the one the thread is closing), and they are all closed soon after
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        let f = f.canonicalize().unwrap();
        let mut held_any = false;
        for _ in 0..(4 * MAX_PENDING) {
            if let Some(h) = hold(&f) {
                held_any = true;
                release_later(h);
            }
            assert!(fds_on(&f) <= MAX_PENDING + 1, "{} held", fds_on(&f));
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while fds_on(&f) > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(fds_on(&f), 0);
        // only ext4 without a journal and with `discard` holds: there, the count above
        // was not 0 all along
        if held_any {
            let h = hold(&f).expect("held before");
            assert_eq!(fds_on(&f), 1);
            drop(h);
        }
    }
}
