//! Deferred release of the files that replacements put out of use.
//!
//! Renaming a new file over an old one frees the old file's blocks within the rename
//! when nothing holds the old file open. On a disk mounted with `discard` that waits
//! for the device: on the development VM it was about half of a 200-byte atomic
//! replacement (~120 us, ~60 us without it). [`hold`] takes a handle on the old file
//! (`O_PATH`: nothing is read) before the replacement and [`release_later`] hands it to
//! a background thread, which closes it: the blocks are then freed beside the writer's
//! next work instead of inside its commit. What is written, the order of the renames,
//! and so what readers, killed processes and power cuts see, are unchanged; the old
//! file's space comes back a moment later.
//!
//! Only on local disk file systems (ext2/3/4, XFS, Btrfs, F2FS) and only on Linux: on
//! NFS the client keeps an open file that a rename replaces under a `.nfs*` name until
//! it is closed (more round trips, not fewer). At most [`MAX_PENDING`] handles wait;
//! past that (a writer faster than the disk frees blocks) a handle is closed at once,
//! as if never held. A forked child starts a thread of its own.

use std::path::Path;

/// Handles waiting to be closed, at most (past that they are closed at once).
pub const MAX_PENDING: usize = 16;

/// A handle on a file about to be replaced (see [`hold`]).
#[derive(Debug)]
pub struct Held(#[cfg(target_os = "linux")] rustix::fd::OwnedFd);

#[cfg(target_os = "linux")]
mod imp {
    use super::{Held, MAX_PENDING};
    use rustix::fd::OwnedFd;
    use rustix::fs::{fstatfs, open, Mode, OFlags};
    use std::path::Path;
    use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
    use std::sync::Mutex;

    // statfs magic numbers of the local disk file systems where holding pays
    const EXT234: u32 = 0xEF53;
    const XFS: u32 = 0x5846_5342;
    const BTRFS: u32 = 0x9123_683E;
    const F2FS: u32 = 0xF2F5_2010;

    pub fn hold(path: &Path) -> Option<Held> {
        let fd = open(
            path,
            OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )
        .ok()?;
        // f_type is a signed word whose width depends on the platform; the magic
        // numbers are 32-bit
        #[allow(
            clippy::unnecessary_cast,
            clippy::cast_sign_loss,
            clippy::cast_possible_truncation
        )]
        let kind = fstatfs(&fd).ok()?.f_type as u32;
        matches!(kind, EXT234 | XFS | BTRFS | F2FS).then_some(Held(fd))
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

    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count())
            .unwrap_or(0)
    }

    #[test]
    fn nothing_is_held_for_a_missing_file() {
        let d = tempfile::tempdir().unwrap();
        assert!(hold(&d.path().join("none")).is_none());
    }

    #[test]
    fn held_handles_are_closed_and_bounded() {
        // many replacements in a row: the handles never pile up past MAX_PENDING, and
        // they are all closed soon after
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        let before = open_fds();
        let mut held_any = false;
        for _ in 0..(4 * MAX_PENDING) {
            if let Some(h) = hold(&f) {
                held_any = true;
                release_later(h);
            }
            assert!(open_fds() <= before + MAX_PENDING + 8);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while open_fds() > before + 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // other tests run beside this one and open files of their own
        assert!(
            open_fds() <= before + 16,
            "{} open, {} before",
            open_fds(),
            before
        );
        let _ = held_any; // tmpfs holds nothing; ext4/XFS/Btrfs do
    }
}
