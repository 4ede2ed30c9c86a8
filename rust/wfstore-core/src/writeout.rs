//! Starting the write-out of replaced files off the committing thread.
//!
//! With the default durability (`"normal"`) a file replaced through a spare file (see
//! [`crate::spare`]; ext4 without a journal) has its write-out started
//! (`sync_file_range(SYNC_FILE_RANGE_WRITE)`), as ext4's `auto_da_alloc` starts it for a
//! rename over a file, so that the new value reaches the disk within milliseconds rather
//! than with the kernel's periodic write-back (up to ~30 s later). Starting it costs
//! the committing thread ~15-45 us per file on the development VM (the request to the
//! device and its completion interrupt), more than the rest of the write.
//!
//! [`hand_on`] gives the file (an open descriptor of it) to one background thread per
//! process, which starts the write-outs in the order received, moments after the
//! commit returns; [`drain`] waits until every file handed on has had its write-out
//! started. The Python package calls [`drain`] at interpreter exit; a Rust program that
//! ends right after a commit should call it too (otherwise the kernel writes those
//! files back on its own schedule, as it does for `"process"`). Nothing else changes:
//! readers and crashed processes see exactly what they would, since the value is in
//! place (in the page cache) when the commit returns.
//!
//! After a `fork` the child starts its own thread at its first [`hand_on`]. Should the
//! queue be unavailable (its lock held by a thread that did not survive a `fork`), the
//! write-out is started on the calling thread, as it is with the environment variable
//! `WFSTORE_DEFERRED_WRITEOUT=0`.

#[cfg(target_os = "linux")]
pub use imp::{deferred, drain, hand_on, start_now};

#[cfg(target_os = "linux")]
mod imp {
    use rustix::fd::{AsRawFd, OwnedFd};
    use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, TryLockError};
    use std::time::{Duration, Instant};

    /// How long [`drain`] waits at most (a stuck device must not hang an exit).
    const DRAIN_LIMIT: Duration = Duration::from_secs(10);
    /// How long a lock stays taken before it is taken for a `fork`'s leftover.
    const FORK_LEFTOVER: Duration = Duration::from_millis(100);

    struct Queue {
        /// the process whose thread serves the queue (0: none yet)
        pid: u32,
        files: Vec<OwnedFd>,
        /// the thread is starting a batch's write-outs
        busy: bool,
    }

    static QUEUE: Mutex<Queue> = Mutex::new(Queue {
        pid: 0,
        files: Vec::new(),
        busy: false,
    });
    /// signalled when files are queued
    static QUEUED: Condvar = Condvar::new();
    /// signalled when the queue is empty and the thread idle
    static IDLE: Condvar = Condvar::new();

    /// Whether write-outs are handed on (unless `WFSTORE_DEFERRED_WRITEOUT=0`).
    pub fn deferred() -> bool {
        static ON: OnceLock<bool> = OnceLock::new();
        *ON.get_or_init(|| {
            std::env::var("WFSTORE_DEFERRED_WRITEOUT").map_or(true, |v| v.trim() != "0")
        })
    }

    /// Start writing `fd`'s dirty pages to the device, without waiting for them.
    pub fn start_now(fd: &OwnedFd) {
        // SAFETY: a plain system call on an open descriptor; a failure (a file system
        // without the call) leaves the write-back to the kernel
        unsafe {
            libc::sync_file_range(fd.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        }
    }

    /// Have the background thread start `fd`'s write-out (and close it), or start it
    /// now where it cannot.
    pub fn hand_on(fd: OwnedFd) {
        let Some(mut q) = lock_briefly() else {
            start_now(&fd);
            return;
        };
        let pid = std::process::id();
        if q.pid != pid {
            // the first hand-on of this process (or of a child after a fork, which
            // has no thread): files queued by the parent are the parent's business
            q.files.clear();
            q.busy = false;
            if std::thread::Builder::new()
                .name("wfstore-writeout".into())
                .spawn(serve)
                .is_err()
            {
                drop(q);
                start_now(&fd);
                return;
            }
            q.pid = pid;
        }
        q.files.push(fd);
        if !q.busy {
            QUEUED.notify_one();
        }
    }

    /// The queue's lock, which its holders keep for a moment only; None after ~100 ms
    /// (a lock a `fork` copied while another thread held it is never given back).
    fn lock_briefly() -> Option<MutexGuard<'static, Queue>> {
        let start = Instant::now();
        loop {
            match QUEUE.try_lock() {
                Ok(g) => return Some(g),
                Err(TryLockError::Poisoned(p)) => return Some(p.into_inner()),
                Err(TryLockError::WouldBlock) if start.elapsed() < FORK_LEFTOVER => {
                    std::thread::yield_now()
                }
                Err(TryLockError::WouldBlock) => return None,
            }
        }
    }

    fn serve() {
        let Some(mut q) = lock_briefly() else {
            return;
        };
        loop {
            if q.files.is_empty() {
                q.busy = false;
                IDLE.notify_all();
                q = QUEUED.wait(q).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            q.busy = true;
            let batch = std::mem::take(&mut q.files);
            drop(q);
            for fd in batch {
                start_now(&fd);
            }
            q = QUEUE.lock().unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Wait until every file handed on so far has had its write-out started (and its
    /// descriptor closed; at most ~10 s). Returns at once, with false, when nothing
    /// is queued; true when it waited.
    pub fn drain() -> bool {
        let Some(mut q) = lock_briefly() else {
            return false; // a fork's leftover: this process handed nothing on
        };
        if q.pid != std::process::id() || (q.files.is_empty() && !q.busy) {
            return false; // nothing handed on (no thread of this process yet)
        }
        let deadline = Instant::now() + DRAIN_LIMIT;
        while !q.files.is_empty() || q.busy {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            q = IDLE
                .wait_timeout(q, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use rustix::fd::OwnedFd;
    use std::io::Write;

    /// The pages of `f` still dirty (not written out nor being written), from the
    /// `cachestat` system call (Linux 6.5); None where the kernel lacks it.
    pub fn dirty_pages(f: &std::fs::File) -> Option<u64> {
        use std::os::fd::AsRawFd;
        #[repr(C)]
        struct Range {
            off: u64,
            len: u64,
        }
        #[repr(C)]
        #[derive(Default)]
        struct Stat {
            cache: u64,
            dirty: u64,
            writeback: u64,
            evicted: u64,
            recently_evicted: u64,
        }
        let range = Range { off: 0, len: 0 };
        let mut st = Stat::default();
        // SAFETY: cachestat(fd, &range, &mut stat, 0) writes `stat` only
        let r = unsafe {
            libc::syscall(
                451, // SYS_cachestat (the same number on every architecture)
                f.as_raw_fd(),
                &range as *const Range,
                &mut st as *mut Stat,
                0u32,
            )
        };
        (r == 0).then_some(st.dirty)
    }

    #[test]
    fn handed_on_files_are_written_out_by_the_time_drain_returns() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for i in 0..20 {
            let mut f = std::fs::File::create(dir.path().join(format!("f{i}"))).unwrap();
            f.write_all(&[i as u8; 300]).unwrap();
            files.push(f);
        }
        let Some(before) = dirty_pages(&files[0]) else {
            eprintln!("no cachestat on this kernel: skipped");
            return;
        };
        if before == 0 {
            eprintln!("written back at once here (no delayed allocation): skipped");
            return;
        }
        for f in &files {
            hand_on(OwnedFd::from(f.try_clone().unwrap()));
        }
        let _ = drain();
        for (i, f) in files.iter().enumerate() {
            assert_eq!(dirty_pages(f), Some(0), "file {i} still dirty after drain");
        }
        // a file never handed on stays dirty (the check can fail)
        let mut g = std::fs::File::create(dir.path().join("g")).unwrap();
        g.write_all(b"not handed on").unwrap();
        let _ = drain();
        assert_eq!(dirty_pages(&g), Some(1));
    }
}
