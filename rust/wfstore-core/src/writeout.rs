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
//! started. At most [`MAX_QUEUED`] files wait: past that (a device slower than the
//! commits) the committing thread starts the write-out itself, so the descriptors
//! held never pile up. The Python package calls [`drain`] at interpreter exit; a Rust
//! program that ends right after a commit should call it too (otherwise the kernel
//! writes those files back on its own schedule, as it does for `"process"`). Nothing
//! else changes: readers and crashed processes see exactly what they would, since the
//! value is in place (in the page cache) when the commit returns.
//!
//! After a `fork` the child makes a queue and a thread of its own at its first
//! [`hand_on`] (the parent's queue, whose lock the fork may have copied taken, is left
//! alone). Where no thread can be started the write-out is started on the calling
//! thread, as it is everywhere with the environment variable
//! `WFSTORE_DEFERRED_WRITEOUT=0`.

/// Files waiting for the background thread, at most (past that their write-out starts
/// on the committing thread).
pub const MAX_QUEUED: usize = 32;

#[cfg(target_os = "linux")]
pub use imp::{deferred, drain, hand_on, start_now};
#[cfg(all(test, target_os = "linux"))]
use imp::{hold_queue_lock, pause_thread, queued};

#[cfg(target_os = "linux")]
mod imp {
    use super::MAX_QUEUED;
    use rustix::fd::{AsRawFd, OwnedFd};
    use std::ptr;
    #[cfg(test)]
    use std::sync::atomic::AtomicU32;
    use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
    use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
    use std::time::{Duration, Instant};

    /// How long [`drain`] waits at most (a stuck device must not hang an exit).
    const DRAIN_LIMIT: Duration = Duration::from_secs(10);

    /// One process's queue and its thread. A forked child makes its own and never
    /// touches its parent's (whose lock the fork may have copied taken).
    struct Shared {
        pid: u32,
        queue: Mutex<Queue>,
        /// signalled when files are queued
        queued: Condvar,
        /// signalled when the queue is empty and the thread idle
        idle: Condvar,
        /// the thread is running
        served: AtomicBool,
    }

    #[derive(Default)]
    struct Queue {
        files: Vec<OwnedFd>,
        /// the thread is starting a batch's write-outs
        busy: bool,
    }

    static CURRENT: AtomicPtr<Shared> = AtomicPtr::new(ptr::null_mut());

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

    /// This process's queue, made (with its thread) by the first call to ask for it.
    fn shared(make: bool) -> Option<&'static Shared> {
        let pid = std::process::id();
        let cur = CURRENT.load(Ordering::Acquire);
        // SAFETY: pointers stored in CURRENT come from `Box::leak` and are never freed
        if let Some(s) = unsafe { cur.as_ref() } {
            if s.pid == pid {
                return Some(s);
            }
            // a forked child: the parent's queue holds copies of descriptors that
            // would keep its files open here (and their spares unusable); closed if
            // its lock was free at the fork
            if let Ok(mut q) = s.queue.try_lock() {
                q.files.clear();
            }
        }
        if !make {
            return None;
        }
        let new: &'static Shared = Box::leak(Box::new(Shared {
            pid,
            queue: Mutex::new(Queue::default()),
            queued: Condvar::new(),
            idle: Condvar::new(),
            served: AtomicBool::new(false),
        }));
        let new_ptr = new as *const Shared as *mut Shared;
        match CURRENT.compare_exchange(cur, new_ptr, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                let spawned = std::thread::Builder::new()
                    .name("wfstore-writeout".into())
                    .spawn(move || serve(new))
                    .is_ok();
                new.served.store(spawned, Ordering::Release);
                Some(new)
            }
            // another thread of this process made one first (ours stays unused)
            // SAFETY: as above
            Err(other) => unsafe { other.as_ref() }.filter(|s| s.pid == pid),
        }
    }

    /// This process's queue lock, held (as the thread holds it taking a batch).
    #[cfg(test)]
    pub fn hold_queue_lock() -> Option<MutexGuard<'static, impl Sized>> {
        shared(false).map(lock)
    }

    /// The process whose thread takes nothing from its queue (tests of the bound).
    #[cfg(test)]
    static PAUSED: AtomicU32 = AtomicU32::new(0);

    /// Keep this process's thread from taking files until the guard is dropped.
    #[cfg(test)]
    pub fn pause_thread() -> impl Drop {
        struct Resume;
        impl Drop for Resume {
            fn drop(&mut self) {
                PAUSED.store(0, Ordering::Release);
                if let Some(s) = shared(false) {
                    let _q = lock(s);
                    s.queued.notify_one();
                }
            }
        }
        PAUSED.store(std::process::id(), Ordering::Release);
        Resume
    }

    /// Files waiting in this process's queue.
    #[cfg(test)]
    pub fn queued() -> usize {
        shared(false).map_or(0, |s| lock(s).files.len())
    }

    fn lock(s: &Shared) -> MutexGuard<'_, Queue> {
        s.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Have the background thread start `fd`'s write-out (and close it), or start it
    /// now where there is no thread.
    pub fn hand_on(fd: OwnedFd) {
        match shared(true) {
            Some(s) if s.served.load(Ordering::Acquire) => {
                let mut q = lock(s);
                if q.files.len() >= MAX_QUEUED {
                    drop(q);
                    start_now(&fd);
                    return;
                }
                q.files.push(fd);
                if !q.busy {
                    s.queued.notify_one();
                }
            }
            _ => start_now(&fd),
        }
    }

    fn serve(s: &'static Shared) {
        let mut q = lock(s);
        loop {
            if q.files.is_empty() {
                q.busy = false;
                s.idle.notify_all();
                q = s.queued.wait(q).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            #[cfg(test)]
            if PAUSED.load(Ordering::Acquire) == s.pid {
                drop(q);
                std::thread::sleep(Duration::from_millis(1));
                q = lock(s);
                continue;
            }
            q.busy = true;
            let batch = std::mem::take(&mut q.files);
            drop(q);
            for fd in batch {
                start_now(&fd);
            }
            q = lock(s);
        }
    }

    /// Wait until every file handed on so far has had its write-out started (and its
    /// descriptor closed; at most ~10 s). Returns at once, with false, when nothing
    /// is queued; true when it waited.
    pub fn drain() -> bool {
        let Some(s) = shared(false) else {
            return false; // nothing handed on by this process
        };
        let mut q = lock(s);
        if q.files.is_empty() && !q.busy {
            return false;
        }
        let deadline = Instant::now() + DRAIN_LIMIT;
        while !q.files.is_empty() || q.busy {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            q = s
                .idle
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

    #[test]
    fn past_the_bound_write_outs_start_on_the_committing_thread() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for i in 0..(MAX_QUEUED + 4) {
            let mut f = std::fs::File::create(dir.path().join(format!("f{i}"))).unwrap();
            f.write_all(&[7; 100]).unwrap();
            files.push(f);
        }
        if dirty_pages(&files[0]).unwrap_or(0) == 0 {
            eprintln!("no cachestat or no delayed allocation here: skipped");
            return;
        }
        {
            let _paused = pause_thread();
            for f in &files {
                hand_on(OwnedFd::from(f.try_clone().unwrap()));
                // other tests may queue files too: the queue never grows past the bound
                assert!(queued() <= MAX_QUEUED, "{} queued", queued());
            }
            assert_eq!(queued(), MAX_QUEUED);
            // the queue was full when the last ones came: started here, at once
            for (i, f) in files.iter().enumerate().skip(MAX_QUEUED) {
                assert_eq!(dirty_pages(f), Some(0), "file {i} not written out");
            }
            // the queued ones wait for the thread (the check can fail)
            assert_eq!(dirty_pages(&files[0]), Some(1));
        }
        let _ = drain();
        for (i, f) in files.iter().enumerate() {
            assert_eq!(dirty_pages(f), Some(0), "file {i} still dirty after drain");
        }
    }

    #[test]
    fn a_forked_child_never_waits_for_its_parents_queue() {
        // the fork copies the queue's lock taken (the thread was taking a batch): the
        // child makes a queue and a thread of its own, and its write-outs start
        let dir = tempfile::tempdir().unwrap();
        let mut f = std::fs::File::create(dir.path().join("parent")).unwrap();
        f.write_all(b"parent").unwrap();
        hand_on(OwnedFd::from(f.try_clone().unwrap()));
        let _ = drain();
        let mut g = std::fs::File::create(dir.path().join("child")).unwrap();
        g.write_all(b"child").unwrap();
        if dirty_pages(&g) != Some(1) {
            eprintln!("no cachestat or no delayed allocation here: skipped");
            return;
        }
        let held = hold_queue_lock().expect("this process has a queue");
        // SAFETY: the child only runs this test's code and leaves with `_exit`
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            hand_on(OwnedFd::from(g.try_clone().unwrap()));
            let waited = drain();
            let code = if waited && dirty_pages(&g) == Some(0) {
                0
            } else {
                1
            };
            // SAFETY: leaves the child at once, running nothing of the parent's
            unsafe { libc::_exit(code) };
        }
        drop(held);
        let mut status = 0;
        // SAFETY: waits for the child forked above
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{status}"
        );
    }
}
