//! All-or-nothing commits: a store wrapper that stages writes and applies them at once.
//!
//! A workflow store commit changes many keys (rows in several arrays, their `.zarray`
//! and `.zattrs`, the root attributes). [`TxnStore`] wraps any [`Store`]: outside a
//! transaction it passes every call through; between [`TxnStore::begin`] and
//! [`TxnStore::commit`] writes and deletes are staged in memory, and reads (and folder
//! listings) see the staged state, so a commit that fails half-way (a value that cannot
//! be encoded, a missing item) is dropped by [`TxnStore::rollback`] with nothing
//! written.
//!
//! On a local folder, [`TxnStore::commit`] applies the staged changes so that a crash
//! or a full disk never leaves a half-applied commit:
//!
//! 1. every new value is written to a temporary sibling of its key (a full disk fails
//!    here: the temporary files are removed and nothing has changed), except the
//!    values of keys no reader looks at before the commit's later keys apply
//!    ([`Store::set_temp`]: chunks past an array's recorded end), which are written in
//!    place and named by no journal;
//! 2. a *journal* naming the renames and deletes to do is written atomically to
//!    `.wfstore-journal.<pid>.<n>` in the store's root (skipped when the commit
//!    changes a single key, as one rename is atomic by itself);
//! 3. the renames and deletes are done, chunk keys first and metadata keys (`.zarray`,
//!    `.zattrs`, `.zgroup`) last, so a reader never sees an array shape whose chunks
//!    are not yet there;
//! 4. the journal is removed.
//!
//! A crash during step 3 leaves a journal behind; [`recover_journals_under_lock`]
//! (called with the store lock held when a store is opened) finishes its renames, so
//! the commit is either wholly absent (crash before step 2 completed) or wholly
//! present. The journal names the writer's pid and host: without the lock
//! ([`recover_journals`]) only a journal of a gone process of this host, or an old
//! one, is finished, never one whose pid belongs to another host.
//!
//! Any other store that can rename keys ([`Store::can_rename`], e.g. an fsspec file
//! system through the Python bindings) gets the same protocol through its own calls
//! (`TxnStore::commit_renaming`); its journals also hold the writer's host and the
//! time, since a process on another host cannot be checked, and are finished by
//! [`TxnStore::recover_journals`]. Stores that cannot rename apply a commit key by key.
//!
//! [`TxnStore::commit_in_order`] skips the journal (steps 2 and 4) for commits whose
//! caller has ordered them so that a crash after any rename leaves a valid store: an
//! append to arrays whose new rows become visible only when the last metadata key
//! staged (an array's shape) is renamed. It saves a file creation, a rename and a
//! removal per commit.
//!
//! A local store's [`crate::storage::atomic::Durability`] says what a power cut can leave:
//! with `Full` the temporary files and their folders are flushed before the journal is
//! written, and the keys' folders after the renames.

mod commit;
mod journal;
mod recover;
mod stage;
#[cfg(test)]
mod tests;

pub use journal::{JOURNAL_PREFIX, JOURNAL_STALE_AFTER};
pub use recover::{recover_journals, recover_journals_under_lock};

use super::atomic::Durability;
use super::local::LocalStore;
use super::Store;
use crate::error::{Error, Result};
use stage::Staged;
use std::sync::{Arc, Mutex, MutexGuard};

/// What a commit did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CommitReport {
    /// Keys written.
    pub written: usize,
    /// Keys deleted.
    pub deleted: usize,
    /// Whether a journal was needed (more than one key changed on a local folder).
    pub journaled: bool,
}

/// A local commit writes its files from several threads when it has at least this
/// many (see [`crate::util::par::map_ref_min`]).
const PARALLEL_WRITES_MIN: usize = 8;

/// A store whose writes can be grouped into all-or-nothing commits.
pub struct TxnStore {
    inner: Arc<dyn Store>,
    local: Option<LocalStore>,
    staged: Mutex<Option<Staged>>,
}

impl std::fmt::Debug for TxnStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxnStore")
            .field("location", &self.inner.location())
            .field("in_transaction", &self.in_transaction())
            .finish()
    }
}

fn is_metadata_key(key: &str) -> bool {
    let last = key.rsplit('/').next().unwrap_or(key);
    matches!(last, ".zarray" | ".zattrs" | ".zgroup")
}

impl TxnStore {
    /// Wrap a local folder store: commits are journaled and crash-safe. Writes have the
    /// store's [`Durability`], or [`Durability::Full`] with `fsync`.
    pub fn local(store: LocalStore, fsync: bool) -> Self {
        let durability = store.durability().or_full(fsync);
        let store = store.with_durability(durability);
        TxnStore {
            inner: Arc::new(store.clone()),
            local: Some(store),
            staged: Mutex::new(None),
        }
    }

    /// The local folder's [`Durability`]; `None` for other stores.
    pub fn durability(&self) -> Option<Durability> {
        self.local.as_ref().map(LocalStore::durability)
    }

    /// Wrap any store: commits apply the staged changes key by key (atomic per key
    /// only), metadata keys last.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        TxnStore {
            inner,
            local: None,
            staged: Mutex::new(None),
        }
    }

    fn state(&self) -> MutexGuard<'_, Option<Staged>> {
        // a panic while holding the lock cannot leave `Staged` half-updated in a way
        // that matters (each operation is one insert), so a poisoned lock is usable
        self.staged.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a transaction is open.
    pub fn in_transaction(&self) -> bool {
        self.state().is_some()
    }

    /// Open a transaction; an error if one is already open.
    pub fn begin(&self) -> Result<()> {
        let mut st = self.state();
        if st.is_some() {
            return Err(Error::InvalidArgument(format!(
                "a transaction is already open on {}",
                self.inner.location()
            )));
        }
        *st = Some(Staged::default());
        Ok(())
    }

    /// Drop the open transaction's staged changes (nothing is written).
    pub fn rollback(&self) {
        *self.state() = None;
    }

    /// The keys staged in the open transaction (written or deleted), in the order they
    /// were first staged; empty when no transaction is open.
    pub fn staged_keys(&self) -> Vec<String> {
        match self.state().as_ref() {
            Some(st) => st.order.clone(),
            None => Vec::new(),
        }
    }

    /// Apply the open transaction's staged changes, all or nothing (see the module
    /// docs). The transaction is closed whether or not the commit succeeds.
    pub fn commit(&self) -> Result<CommitReport> {
        self.commit_with(true)
    }

    /// Apply the open transaction's staged changes in order, without a journal: each
    /// new value is written under a temporary name (a failure there changes nothing),
    /// then the values are renamed over their keys and deletions done, chunk keys first
    /// and metadata keys (`.zarray`, `.zattrs`, `.zgroup`) last, in the order they were
    /// staged. A crash or an error among the renames leaves the first of them done and
    /// nothing to finish them, so use this only when every such prefix is a valid store:
    /// appends whose rows lie beyond the arrays' current shapes, with the shape that
    /// makes them visible staged last. The transaction is closed either way.
    pub fn commit_in_order(&self) -> Result<CommitReport> {
        self.commit_with(false)
    }

    fn commit_with(&self, journal: bool) -> Result<CommitReport> {
        let staged = self.state().take().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no transaction is open on {}",
                self.inner.location()
            ))
        })?;
        let mut ops: Vec<(String, Option<Arc<Vec<u8>>>)> = Vec::with_capacity(staged.order.len());
        let mut meta = Vec::new();
        let unseen = staged.unseen;
        let mut values = staged.values;
        for key in staged.order {
            if let Some(v) = values.remove(&key) {
                if is_metadata_key(&key) {
                    meta.push((key, v));
                } else {
                    ops.push((key, v));
                }
            }
        }
        ops.extend(meta);
        let report = CommitReport {
            written: ops.iter().filter(|(_, v)| v.is_some()).count(),
            deleted: ops.iter().filter(|(_, v)| v.is_none()).count(),
            journaled: journal
                && (self.local.is_some() || self.inner.can_rename())
                && ops.len() > 1,
        };
        match &self.local {
            Some(local) => self.commit_local(local, ops, &unseen, journal)?,
            None if journal && ops.len() > 1 && self.inner.can_rename() => {
                self.commit_renaming(ops, &unseen)?
            }
            None => {
                for (key, v) in &ops {
                    match v {
                        Some(bytes) if unseen.contains(key) => self.inner.set_temp(key, bytes)?,
                        Some(bytes) => self.inner.set(key, bytes)?,
                        None => self.inner.delete(key)?,
                    }
                }
            }
        }
        Ok(report)
    }
}
