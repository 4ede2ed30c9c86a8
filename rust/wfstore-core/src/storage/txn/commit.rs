//! Applying a transaction's staged changes: on a local folder through temporary
//! files, a journal and renames; on a store that renames keys through its own calls.

use super::journal::{journal_text, new_journal_name, JournalOp};
use super::{TxnStore, PARALLEL_WRITES_MIN};
use crate::error::{Error, Result};
use crate::storage::atomic::{
    replace_file, sync_parent, tmp_sibling, write_atomic_with, write_temp_sibling, write_unseen,
    Durability,
};
use crate::storage::fsops;
use crate::storage::local::LocalStore;
use crate::storage::Store;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl TxnStore {
    pub(super) fn commit_local(
        &self,
        local: &LocalStore,
        ops: Vec<(String, Option<Arc<Vec<u8>>>)>,
        unseen: &HashSet<String>,
        journal: bool,
    ) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let durability = local.durability();
        if ops.len() == 1 {
            let (key, v) = &ops[0];
            return match v {
                Some(bytes) if unseen.contains(key) => local.set_temp(key, bytes),
                Some(bytes) => local.set(key, bytes),
                None => local.delete(key),
            };
        }
        // 1. new values to temporary siblings (those no reader looks at yet: in place),
        //    in parallel when there are many (a job's commit of a few small files is
        //    faster without the thread hand-off)
        let written: Vec<Result<Step>> =
            crate::util::par::map_ref_min(&ops, PARALLEL_WRITES_MIN, |(key, v)| match v {
                None => Ok(Step::Delete(local.key_path(key))),
                Some(bytes) if unseen.contains(key) => {
                    let dst = local.key_path(key);
                    write_unseen(&dst, bytes, durability.fsync())?;
                    Ok(Step::InPlace(dst))
                }
                Some(bytes) => {
                    let dst = local.key_path(key);
                    let tmp = write_temp_sibling(&dst, bytes, durability.fsync())?;
                    Ok(Step::Rename(tmp, dst))
                }
            });
        let mut steps: Vec<Step> = Vec::with_capacity(ops.len());
        let mut first_err = None;
        for w in written {
            match w {
                Ok(step) => steps.push(step),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_err {
            remove_temporaries(&steps);
            remove_in_place(&steps);
            return Err(e);
        }
        // with `Durability::Full`, the temporary files' folder entries are on disk
        // before the journal naming them is
        let full = durability == Durability::Full;
        if full {
            sync_folders(&steps, false);
        }
        // 2. the journal (unless the caller has ordered the commit)
        let journal = if journal {
            let path = local.root().join(new_journal_name());
            let ops: Vec<JournalOp> = steps
                .iter()
                .filter_map(|s| s.journal_op(local.root()))
                .collect();
            let text = journal_text(&ops, false);
            if let Err(e) = write_atomic_with(&path, text.as_bytes(), durability) {
                remove_temporaries(&steps);
                remove_in_place(&steps);
                return Err(e);
            }
            Some(path)
        } else {
            None
        };
        // 3. renames (chunks, in parallel when there are many; then metadata in order)
        //    and deletes
        let split = steps
            .iter()
            .position(is_metadata_step)
            .unwrap_or(steps.len());
        let (chunks, metas) = steps.split_at(split);
        // `Full`'s folders are flushed below, once each
        let apply = |s: &Step| apply_step(s, Durability::Normal);
        let applied = crate::util::par::map_ref_min(chunks, PARALLEL_WRITES_MIN, apply)
            .into_iter()
            .collect::<Result<()>>()
            .and_then(|()| {
                // without a journal the order is what keeps each prefix valid: with
                // `Full` the chunks' renames are on disk before a shape that shows
                // them (file systems may persist renames out of order)
                if full && journal.is_none() && !metas.is_empty() {
                    sync_folders(chunks, true);
                }
                metas.iter().try_for_each(apply)
            });
        if let Err(e) = applied {
            if journal.is_none() {
                // nothing will finish these renames: the values not yet in place go
                // (a journal, when there is one, still names them for recovery)
                remove_temporaries(&steps);
            }
            return Err(e);
        }
        if full {
            sync_folders(&steps, true);
        }
        // 4. done
        if let Some(journal) = journal {
            fsops::remove_file(&journal).map_err(|e| Error::io(&journal, e))?;
        }
        Ok(())
    }
}

impl TxnStore {
    /// Apply `ops` (metadata keys last) to a store that is not a local folder but can
    /// rename keys, with the local protocol done through the store's own calls: new
    /// values under temporary keys beside their keys, a journal at the root (holding
    /// this host and the time, as other hosts cannot check the process), the renames
    /// and deletes in order, the journal removed. [`TxnStore::recover_journals`]
    /// finishes what a crash or a lost connection left.
    pub(super) fn commit_renaming(
        &self,
        ops: Vec<(String, Option<Arc<Vec<u8>>>)>,
        unseen: &HashSet<String>,
    ) -> Result<()> {
        let inner = &self.inner;
        let mut steps: Vec<(String, Option<String>)> = Vec::with_capacity(ops.len());
        let mut in_place: Vec<&str> = Vec::new();
        let drop_temps = |steps: &[(String, Option<String>)], in_place: &[&str]| {
            for (_, tmp) in steps {
                if let Some(tmp) = tmp {
                    let _ = inner.delete(tmp);
                }
            }
            for key in in_place {
                let _ = inner.delete(key);
            }
        };
        // 1. new values under temporary keys (those no reader looks at yet: in place)
        for (key, v) in &ops {
            if let (Some(bytes), true) = (v, unseen.contains(key)) {
                in_place.push(key);
                if let Err(e) = inner.set_temp(key, bytes) {
                    drop_temps(&steps, &in_place);
                    return Err(e);
                }
                continue;
            }
            let tmp = match v {
                Some(bytes) => {
                    let tmp = tmp_sibling(Path::new(key)).to_string_lossy().into_owned();
                    if let Err(e) = inner.set_temp(&tmp, bytes) {
                        let _ = inner.delete(&tmp);
                        drop_temps(&steps, &in_place);
                        return Err(e);
                    }
                    Some(tmp)
                }
                None => None,
            };
            steps.push((key.clone(), tmp));
        }
        // 2. the journal
        let journal = new_journal_name();
        let ops: Vec<JournalOp> = steps
            .iter()
            .map(|(key, tmp)| match tmp {
                Some(tmp) => JournalOp::Rename(tmp.clone(), key.clone()),
                None => JournalOp::Delete(key.clone()),
            })
            .collect();
        let text = journal_text(&ops, true);
        if let Err(e) = inner.set(&journal, text.as_bytes()) {
            drop_temps(&steps, &in_place);
            return Err(e);
        }
        // 3. renames and deletes, in order (metadata keys last)
        for (key, tmp) in &steps {
            match tmp {
                Some(tmp) => inner.rename(tmp, key)?,
                None => inner.delete(key)?,
            }
        }
        // 4. done
        inner.delete(&journal)
    }
}

pub(super) enum Step {
    Rename(PathBuf, PathBuf),
    Delete(PathBuf),
    /// A value already written in place (a key no reader looks at yet): nothing to do
    /// after step 1, nothing for a journal.
    InPlace(PathBuf),
}

pub(super) fn is_metadata_step(s: &Step) -> bool {
    let p = match s {
        Step::Rename(_, dst) => dst,
        Step::Delete(p) | Step::InPlace(p) => p,
    };
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| matches!(n, ".zarray" | ".zattrs" | ".zgroup"))
}

/// Remove the temporary files of `steps`' renames (those already renamed are gone).
pub(super) fn remove_temporaries(steps: &[Step]) {
    for s in steps {
        if let Step::Rename(tmp, _) = s {
            let _ = fsops::remove_file(tmp);
        }
    }
}

/// Remove the files `steps` wrote in place: only before any rename (until then no
/// reader looks at them; after, a shape renamed in may show them).
fn remove_in_place(steps: &[Step]) {
    for s in steps {
        if let Step::InPlace(p) = s {
            let _ = fsops::remove_file(p);
        }
    }
}

/// Flush the folders of `steps`' files, each once (the temporary files' before the
/// journal is written; with `done`, the keys' after the renames and deletes).
pub(super) fn sync_folders(steps: &[Step], done: bool) {
    let mut seen = std::collections::HashSet::new();
    for s in steps {
        let p = match s {
            Step::Rename(tmp, _) if !done => tmp,
            Step::Rename(_, dst) => dst,
            Step::Delete(p) if done => p,
            Step::Delete(_) => continue,
            // (in place: its folder's entry is flushed with the temporary files')
            Step::InPlace(p) if !done => p,
            Step::InPlace(_) => continue,
        };
        if let Some(parent) = p.parent() {
            if seen.insert(parent.to_path_buf()) {
                sync_parent(p);
            }
        }
    }
}

/// Do one step of a commit; renames replace their key as `how` says (see
/// [`replace_file`]).
pub(super) fn apply_step(s: &Step, how: Durability) -> Result<()> {
    match s {
        Step::Rename(tmp, dst) => replace_file(tmp, dst, how).map_err(|e| Error::io(dst, e)),
        Step::Delete(p) => match fsops::remove_file(p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(p, e)),
        },
        Step::InPlace(_) => Ok(()),
    }
}

impl Step {
    /// The journal's record of this step (paths relative to `root`), if it has one.
    pub(super) fn journal_op(&self, root: &Path) -> Option<JournalOp> {
        match self {
            Step::Rename(tmp, dst) => Some(JournalOp::Rename(rel(root, tmp), rel(root, dst))),
            Step::Delete(p) => Some(JournalOp::Delete(rel(root, p))),
            Step::InPlace(_) => None,
        }
    }
}

pub(super) fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}
