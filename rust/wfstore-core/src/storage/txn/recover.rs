//! Finishing the commits that crashed writers left half-applied.

use super::journal::{
    check_journal_key, journal_abandoned, journal_ops, writer_gone, JournalOp, JOURNAL_PREFIX,
    JOURNAL_STALE_AFTER,
};
use super::TxnStore;
use crate::error::{Error, Result};
use crate::names::TMP_PREFIX;
use crate::storage::fsops;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

impl TxnStore {
    /// Finish the commits that crashed writers (or lost connections) left half-applied
    /// in this store: on a local folder as [`recover_journals`] does; on a store that
    /// renames keys, every journal at its root written by a process of this host that
    /// is gone, or older than [`JOURNAL_STALE_AFTER`] by the time it holds, has its
    /// remaining renames and deletes done and is removed. Returns the number finished.
    pub fn recover_journals(&self) -> Result<usize> {
        if let Some(local) = &self.local {
            return recover_journals(local.root());
        }
        let inner = &self.inner;
        if inner.read_only() || !inner.can_rename() {
            return Ok(0);
        }
        let bad = |name: &str, reason: String| Error::Metadata {
            path: inner.location(),
            key: name.to_string(),
            reason,
        };
        let mut done = 0;
        for name in inner.list_dir("")? {
            if !name.starts_with(JOURNAL_PREFIX) || name.starts_with(TMP_PREFIX) {
                continue;
            }
            let Some(bytes) = inner.get(&name)? else {
                continue; // finished meanwhile by its writer
            };
            let doc: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| bad(&name, format!("unreadable commit journal: {e}")))?;
            if !journal_abandoned(&doc) {
                continue;
            }
            for op in journal_ops(&doc, |reason| bad(&name, reason))? {
                match op {
                    JournalOp::Rename(tmp, key) => {
                        check_journal_key(&inner.location(), &tmp)?;
                        check_journal_key(&inner.location(), &key)?;
                        if inner.get(&tmp)?.is_some() {
                            inner.rename(&tmp, &key)?;
                        }
                    }
                    JournalOp::Delete(key) => {
                        check_journal_key(&inner.location(), &key)?;
                        inner.delete(&key)?;
                    }
                }
            }
            inner.delete(&name)?;
            done += 1;
        }
        Ok(done)
    }
}

/// Finish the commits that crashed writers left half-applied in the local store at
/// `root`, without the store lock: every abandoned journal's remaining renames and
/// deletes are done and the journal removed. A journal is abandoned when it is older
/// than [`JOURNAL_STALE_AFTER`] or its writer, a process of this host, is gone; the pid
/// of a journal from another host (on a shared file system) is never judged. Returns
/// the number of journals finished. Writers should call
/// [`recover_journals_under_lock`] instead.
pub fn recover_journals(root: &Path) -> Result<usize> {
    recover_local(root, false)
}

/// [`recover_journals`] for a caller holding the store lock, which every journaled
/// commit of the Python package holds from writing its journal to deleting it: every
/// journal seen is a dead writer's, whichever host it ran on, and is finished.
pub fn recover_journals_under_lock(root: &Path) -> Result<usize> {
    recover_local(root, true)
}

fn recover_local(root: &Path, under_lock: bool) -> Result<usize> {
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(root, e)),
    };
    let mut done = 0;
    for ent in rd.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        if !name.starts_with(JOURNAL_PREFIX) || name.starts_with(TMP_PREFIX) {
            continue;
        }
        let path = ent.path();
        let age = ent
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .unwrap_or_default();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            // finished meanwhile by its writer
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&path, e)),
        };
        let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            // A journal is written whole and renamed into place, so one that does not
            // parse is what a power cut leaves of a commit made without a flush (its
            // data lost, cut short or zero-filled): the renames it named cannot be
            // known. A live writer's journal always parses (it is complete before its
            // rename), so this one is abandoned: it is set aside under a temporary name
            // (cleared by repair, the temporary files it named with it) so that the
            // store opens.
            let aside = root.join(format!("{TMP_PREFIX}{name}.unreadable"));
            fsops::rename(&path, &aside).map_err(|e| Error::io(&path, e))?;
            done += 1;
            continue;
        };
        if !(under_lock || age > JOURNAL_STALE_AFTER || writer_gone(&doc)) {
            continue;
        }
        let bad = |reason: String| Error::Metadata {
            path: root.display().to_string(),
            key: name.clone(),
            reason,
        };
        let mut folders: Vec<PathBuf> = Vec::new();
        for op in journal_ops(&doc, bad)? {
            match op {
                JournalOp::Rename(tmp, dst) => {
                    let (tmp, dst) = (safe_join(root, &tmp)?, safe_join(root, &dst)?);
                    if tmp.exists() {
                        fsops::rename(&tmp, &dst).map_err(|e| Error::io(&dst, e))?;
                    }
                    if let Some(dir) = dst.parent() {
                        if !folders.iter().any(|f| f == dir) {
                            folders.push(dir.to_path_buf());
                        }
                    }
                }
                JournalOp::Delete(p) => {
                    let p = safe_join(root, &p)?;
                    match fsops::remove_file(&p) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(Error::io(&p, e)),
                    }
                }
            }
        }
        // whatever the durability (recovery is rare), the renames are on disk before
        // the journal's removal can be: a file system that persists them out of order
        // could otherwise keep the removal and lose a rename, leaving the commit part
        // applied with nothing left to finish it
        for dir in &folders {
            fsops::sync_dir(dir);
        }
        fsops::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        done += 1;
    }
    Ok(done)
}

/// `root/rel` for a journal's relative path, refusing paths that leave `root`.
fn safe_join(root: &Path, rel: &str) -> Result<PathBuf> {
    let p = Path::new(rel);
    if p.is_absolute()
        || p.components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(Error::InvalidArgument(format!(
            "commit journal in {} names a path outside the store: {rel:?}",
            root.display()
        )));
    }
    Ok(root.join(p))
}
