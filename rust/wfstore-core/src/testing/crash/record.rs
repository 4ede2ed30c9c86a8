//! The recorder: the file operations [`crate::storage::fsops`] reports, kept in the
//! order they were done, for the folders being recorded.

use super::Op;
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

struct Recorder {
    id: usize,
    root: PathBuf,
    /// Inode numbers of the files below `root` (known when recording began or
    /// created since), so that writes through an open file can be attributed.
    inodes: HashSet<u64>,
    ops: Vec<Op>,
}

static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);
static RECORDERS: Mutex<Vec<Recorder>> = Mutex::new(Vec::new());

fn recorders() -> std::sync::MutexGuard<'static, Vec<Recorder>> {
    RECORDERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The path of `p` relative to `root` (`/`-separated), if it is below it.
fn rel(root: &Path, p: &Path) -> Option<String> {
    let r = p.strip_prefix(root).ok()?;
    Some(
        r.components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"),
    )
}

/// Start recording the operations on files below `root` (an absolute path); the
/// inode numbers of the files already there are given in `inodes`.
pub(crate) fn start(root: &Path, inodes: HashSet<u64>) -> usize {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    recorders().push(Recorder {
        id,
        root: root.to_path_buf(),
        inodes,
        ops: Vec::new(),
    });
    ACTIVE.fetch_add(1, Ordering::SeqCst);
    id
}

/// Add a marker (e.g. "acknowledged") to recording `id`.
pub(crate) fn mark(id: usize, what: &str) {
    if let Some(r) = recorders().iter_mut().find(|r| r.id == id) {
        r.ops.push(Op::Mark(what.to_string()));
    }
}

/// Stop recording `id` and return its operations.
pub(crate) fn stop(id: usize) -> Vec<Op> {
    let mut all = recorders();
    let Some(i) = all.iter().position(|r| r.id == id) else {
        return Vec::new();
    };
    ACTIVE.fetch_sub(1, Ordering::SeqCst);
    all.swap_remove(i).ops
}

fn active() -> bool {
    ACTIVE.load(Ordering::SeqCst) > 0
}

/// Record an operation on path `p`, made by `op` from its path relative to a root.
fn on_path(p: &Path, op: impl FnOnce(&mut Recorder, String)) {
    if !active() {
        return;
    }
    let mut all = recorders();
    if let Some(r) = all.iter_mut().find(|r| p.starts_with(&r.root)) {
        if let Some(rel) = rel(&r.root, p) {
            op(r, rel);
        }
    }
}

/// Record an operation on the open file `f`, opened at `p`.
fn on_file(p: &Path, f: &std::fs::File, op: impl FnOnce(&mut Recorder, u64)) {
    if !active() {
        return;
    }
    let Ok(ino) = f.metadata().map(|m| m.ino()) else {
        return;
    };
    let mut all = recorders();
    if let Some(r) = all
        .iter_mut()
        .find(|r| p.starts_with(&r.root) && r.inodes.contains(&ino))
    {
        op(r, ino);
    }
}

pub(crate) fn create(p: &Path, f: &std::fs::File) {
    if !active() {
        return;
    }
    let Ok(ino) = f.metadata().map(|m| m.ino()) else {
        return;
    };
    on_path(p, |r, path| {
        r.inodes.insert(ino);
        r.ops.push(Op::Create { path, ino });
    });
}

pub(crate) fn write(p: &Path, f: &std::fs::File, offset: u64, data: &[u8]) {
    on_file(p, f, |r, ino| {
        r.ops.push(Op::Write {
            ino,
            offset,
            data: data.to_vec(),
        })
    });
}

pub(crate) fn truncate(p: &Path, f: &std::fs::File, len: u64) {
    on_file(p, f, |r, ino| r.ops.push(Op::Truncate { ino, len }));
}

pub(crate) fn fsync(p: &Path, f: &std::fs::File) {
    on_file(p, f, |r, ino| r.ops.push(Op::Fsync { ino }));
}

pub(crate) fn fsync_dir(p: &Path) {
    on_path(p, |r, path| r.ops.push(Op::FsyncDir { path }));
}

pub(crate) fn rename(from: &Path, to: &Path) {
    if !active() {
        return;
    }
    let mut all = recorders();
    if let Some(r) = all.iter_mut().find(|r| from.starts_with(&r.root)) {
        if let (Some(a), Some(b)) = (rel(&r.root, from), rel(&r.root, to)) {
            r.ops.push(Op::Rename { from: a, to: b });
        }
    }
}

pub(crate) fn unlink(p: &Path) {
    on_path(p, |r, path| r.ops.push(Op::Unlink { path }));
}

pub(crate) fn mkdir(p: &Path) {
    on_path(p, |r, path| r.ops.push(Op::Mkdir { path }));
}

pub(crate) fn rmdir(p: &Path) {
    on_path(p, |r, path| r.ops.push(Op::Rmdir { path }));
}

/// The files and folders below `p` (and `p`), children before their folder, when `p`
/// is being recorded: a tree removal is recorded as these unlinks and rmdirs.
pub(crate) fn before_remove_tree(p: &Path) -> Vec<(PathBuf, bool)> {
    fn walk(p: &Path, out: &mut Vec<(PathBuf, bool)>) {
        let Ok(m) = std::fs::symlink_metadata(p) else {
            return;
        };
        if m.is_dir() {
            if let Ok(rd) = std::fs::read_dir(p) {
                let mut kids: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
                kids.sort();
                for k in kids {
                    walk(&k, out);
                }
            }
            out.push((p.to_path_buf(), true));
        } else {
            out.push((p.to_path_buf(), false));
        }
    }
    if !active() || !recorders().iter().any(|r| p.starts_with(&r.root)) {
        return Vec::new();
    }
    let mut out = Vec::new();
    walk(p, &mut out);
    out
}
