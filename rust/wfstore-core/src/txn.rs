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
//!    here: the temporary files are removed and nothing has changed);
//! 2. a *journal* naming the renames and deletes to do is written atomically to
//!    `.wfstore-journal.<pid>.<n>` in the store's root (skipped when the commit
//!    changes a single key, as one rename is atomic by itself);
//! 3. the renames and deletes are done, chunk keys first and metadata keys (`.zarray`,
//!    `.zattrs`, `.zgroup`) last, so a reader never sees an array shape whose chunks
//!    are not yet there;
//! 4. the journal is removed.
//!
//! A crash during step 3 leaves a journal behind; [`recover_journals`] (called when a
//! store is opened for writing) finishes its renames, so the commit is either wholly
//! absent (crash before step 2 completed) or wholly present.
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
//! A local store's [`crate::atomic::Durability`] says what a power cut can leave:
//! with `Full` the temporary files and their folders are flushed before the journal is
//! written, and the keys' folders after the renames.

use crate::atomic::{
    replace_file, sync_parent, tmp_sibling, write_atomic_with, write_temp_sibling, Durability,
    TMP_PREFIX,
};
use crate::error::{Error, Result};
use crate::store::{LocalStore, Store};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// File-name prefix of commit journals in a store's root folder.
pub const JOURNAL_PREFIX: &str = ".wfstore-journal.";

/// A journal older than this is abandoned whoever wrote it (a commit's renames take
/// milliseconds).
pub const JOURNAL_STALE_AFTER: Duration = Duration::from_secs(60);

static JOURNAL_COUNTER: AtomicU64 = AtomicU64::new(0);

#[derive(Default)]
struct Staged {
    order: Vec<String>,
    values: HashMap<String, Option<Arc<Vec<u8>>>>,
}

impl Staged {
    fn put(&mut self, key: &str, value: Option<Arc<Vec<u8>>>) {
        // a key staged again keeps its first place in the order
        if self.values.insert(key.to_string(), value).is_none() {
            self.order.push(key.to_string());
        }
    }
}

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
/// many (see [`crate::par::map_ref_min`]).
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
            Some(local) => self.commit_local(local, ops, journal)?,
            None if journal && ops.len() > 1 && self.inner.can_rename() => {
                self.commit_renaming(ops)?
            }
            None => {
                for (key, v) in &ops {
                    match v {
                        Some(bytes) => self.inner.set(key, bytes)?,
                        None => self.inner.delete(key)?,
                    }
                }
            }
        }
        Ok(report)
    }

    fn commit_local(
        &self,
        local: &LocalStore,
        ops: Vec<(String, Option<Arc<Vec<u8>>>)>,
        journal: bool,
    ) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let durability = local.durability();
        if ops.len() == 1 {
            let (key, v) = &ops[0];
            return match v {
                Some(bytes) => local.set(key, bytes),
                None => local.delete(key),
            };
        }
        // 1. new values to temporary siblings, in parallel when there are many (a
        //    job's commit of a few small files is faster without the thread hand-off)
        let written: Vec<Result<Step>> =
            crate::par::map_ref_min(&ops, PARALLEL_WRITES_MIN, |(key, v)| match v {
                None => Ok(Step::Delete(local.key_path(key))),
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
            let path = local.root().join(format!(
                "{JOURNAL_PREFIX}{}.{}",
                std::process::id(),
                JOURNAL_COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            let text = journal_text(local.root(), &steps);
            if let Err(e) = write_atomic_with(&path, text.as_bytes(), durability) {
                remove_temporaries(&steps);
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
        let applied = crate::par::map_ref_min(chunks, PARALLEL_WRITES_MIN, apply)
            .into_iter()
            .collect::<Result<()>>()
            .and_then(|()| metas.iter().try_for_each(apply));
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
            std::fs::remove_file(&journal).map_err(|e| Error::io(&journal, e))?;
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
    fn commit_renaming(&self, ops: Vec<(String, Option<Arc<Vec<u8>>>)>) -> Result<()> {
        let inner = &self.inner;
        let mut steps: Vec<(String, Option<String>)> = Vec::with_capacity(ops.len());
        let drop_temps = |steps: &[(String, Option<String>)]| {
            for (_, tmp) in steps {
                if let Some(tmp) = tmp {
                    let _ = inner.delete(tmp);
                }
            }
        };
        // 1. new values under temporary keys
        for (key, v) in &ops {
            let tmp = match v {
                Some(bytes) => {
                    let tmp = tmp_sibling(Path::new(key)).to_string_lossy().into_owned();
                    if let Err(e) = inner.set_temp(&tmp, bytes) {
                        let _ = inner.delete(&tmp);
                        drop_temps(&steps);
                        return Err(e);
                    }
                    Some(tmp)
                }
                None => None,
            };
            steps.push((key.clone(), tmp));
        }
        // 2. the journal
        let journal = format!(
            "{JOURNAL_PREFIX}{}.{}",
            std::process::id(),
            JOURNAL_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let ops_json: Vec<serde_json::Value> = steps
            .iter()
            .map(|(key, tmp)| match tmp {
                Some(tmp) => serde_json::json!(["rename", tmp, key]),
                None => serde_json::json!(["delete", key]),
            })
            .collect();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let text = serde_json::json!({
            "pid": std::process::id(),
            "host": this_host(),
            "time": now,
            "ops": ops_json,
        })
        .to_string();
        if let Err(e) = inner.set(&journal, text.as_bytes()) {
            drop_temps(&steps);
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

/// This machine's host name, where the system tells it (Linux), for journals that
/// other hosts read.
fn this_host() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// Whether a journal written by [`TxnStore::commit_renaming`] is abandoned: its writer
/// was a process of this host that is gone, or it is older than
/// [`JOURNAL_STALE_AFTER`]. A journal without a time (a local folder's, seen through
/// another file system) is left to the local recovery.
fn journal_abandoned(doc: &serde_json::Value) -> bool {
    let Some(time) = doc["time"].as_f64() else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    if now - time > JOURNAL_STALE_AFTER.as_secs_f64() {
        return true;
    }
    let same_host =
        doc["host"].as_str().is_some() && doc["host"].as_str() == this_host().as_deref();
    match doc["pid"].as_u64().and_then(|p| u32::try_from(p).ok()) {
        Some(pid) if same_host => pid != std::process::id() && !pid_alive(pid),
        _ => false,
    }
}

/// A journal's key must stay inside the store.
fn check_journal_key(location: &str, key: &str) -> Result<()> {
    if key.is_empty()
        || key.starts_with('/')
        || key
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(Error::InvalidArgument(format!(
            "commit journal in {location} names a key outside the store: {key:?}"
        )));
    }
    Ok(())
}

/// A step of a commit journal (keys or paths relative to the store's root).
enum JournalOp {
    Rename(String, String),
    Delete(String),
}

/// The steps of journal document `doc`, all checked before any is done; `bad` makes
/// the error for a step that is not one.
fn journal_ops(doc: &serde_json::Value, bad: impl Fn(String) -> Error) -> Result<Vec<JournalOp>> {
    let mut out = Vec::new();
    for op in doc["ops"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let parts: Vec<&str> = op
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        out.push(match parts.as_slice() {
            ["rename", from, to] => JournalOp::Rename(from.to_string(), to.to_string()),
            ["delete", key] => JournalOp::Delete(key.to_string()),
            _ => return Err(bad(format!("unknown journal step {op}"))),
        });
    }
    Ok(out)
}

enum Step {
    Rename(PathBuf, PathBuf),
    Delete(PathBuf),
}

fn is_metadata_step(s: &Step) -> bool {
    let p = match s {
        Step::Rename(_, dst) => dst,
        Step::Delete(p) => p,
    };
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| matches!(n, ".zarray" | ".zattrs" | ".zgroup"))
}

/// Remove the temporary files of `steps`' renames (those already renamed are gone).
fn remove_temporaries(steps: &[Step]) {
    for s in steps {
        if let Step::Rename(tmp, _) = s {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Flush the folders of `steps`' files, each once (the temporary files' before the
/// journal is written; with `done`, the keys' after the renames and deletes).
fn sync_folders(steps: &[Step], done: bool) {
    let mut seen = std::collections::HashSet::new();
    for s in steps {
        let p = match s {
            Step::Rename(tmp, _) if !done => tmp,
            Step::Rename(_, dst) => dst,
            Step::Delete(p) if done => p,
            Step::Delete(_) => continue,
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
fn apply_step(s: &Step, how: Durability) -> Result<()> {
    match s {
        Step::Rename(tmp, dst) => replace_file(tmp, dst, how).map_err(|e| Error::io(dst, e)),
        Step::Delete(p) => match std::fs::remove_file(p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(p, e)),
        },
    }
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

fn journal_text(root: &Path, steps: &[Step]) -> String {
    let ops: Vec<serde_json::Value> = steps
        .iter()
        .map(|s| match s {
            Step::Rename(tmp, dst) => serde_json::json!(["rename", rel(root, tmp), rel(root, dst)]),
            Step::Delete(p) => serde_json::json!(["delete", rel(root, p)]),
        })
        .collect();
    serde_json::json!({"pid": std::process::id(), "ops": ops}).to_string()
}

fn pid_alive(pid: u32) -> bool {
    // Linux: a live process has a /proc entry; elsewhere assume alive (age decides)
    let proc_root = Path::new("/proc");
    if proc_root.is_dir() {
        proc_root.join(pid.to_string()).exists()
    } else {
        true
    }
}

/// Finish the commits that crashed writers left half-applied in the local store at
/// `root`: every abandoned journal's remaining renames and deletes are done and the
/// journal removed. A journal is abandoned when its process (on this host) is gone or
/// it is older than [`JOURNAL_STALE_AFTER`]. Returns the number of journals finished.
pub fn recover_journals(root: &Path) -> Result<usize> {
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
        let pid: Option<u32> = name[JOURNAL_PREFIX.len()..]
            .split('.')
            .next()
            .and_then(|p| p.parse().ok());
        let age = ent
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .unwrap_or_default();
        let abandoned = age > JOURNAL_STALE_AFTER
            || pid.is_some_and(|p| p != std::process::id() && !pid_alive(p));
        if !abandoned {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Metadata {
            path: root.display().to_string(),
            key: name.clone(),
            reason: format!("unreadable commit journal: {e}"),
        })?;
        let bad = |reason: String| Error::Metadata {
            path: root.display().to_string(),
            key: name.clone(),
            reason,
        };
        for op in journal_ops(&doc, bad)? {
            match op {
                JournalOp::Rename(tmp, dst) => {
                    let (tmp, dst) = (safe_join(root, &tmp)?, safe_join(root, &dst)?);
                    if tmp.exists() {
                        std::fs::rename(&tmp, &dst).map_err(|e| Error::io(&dst, e))?;
                    }
                }
                JournalOp::Delete(p) => {
                    let p = safe_join(root, &p)?;
                    match std::fs::remove_file(&p) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(Error::io(&p, e)),
                    }
                }
            }
        }
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
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

impl Store for TxnStore {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        if let Some(st) = self.state().as_ref() {
            if let Some(v) = st.values.get(key) {
                return Ok(v.as_ref().map(|b| b.as_ref().clone()));
            }
        }
        self.inner.get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        if self.inner.read_only() {
            return Err(Error::ReadOnly {
                path: self.inner.location(),
            });
        }
        {
            let mut st = self.state();
            if let Some(st) = st.as_mut() {
                st.put(key, Some(Arc::new(value.to_vec())));
                return Ok(());
            }
        }
        self.inner.set(key, value)
    }

    fn delete(&self, key: &str) -> Result<()> {
        {
            let mut st = self.state();
            if let Some(st) = st.as_mut() {
                st.put(key, None);
                return Ok(());
            }
        }
        self.inner.delete(key)
    }

    fn read_only(&self) -> bool {
        self.inner.read_only()
    }

    fn as_txn(&self) -> Option<&TxnStore> {
        Some(self)
    }

    fn list_dir(&self, prefix: &str) -> Result<Vec<String>> {
        let mut names = self.inner.list_dir(prefix)?;
        let st = self.state();
        let Some(st) = st.as_ref() else {
            return Ok(names);
        };
        let pre = prefix.trim_matches('/');
        for (key, v) in &st.values {
            let rest = if pre.is_empty() {
                Some(key.as_str())
            } else {
                key.strip_prefix(pre).and_then(|r| r.strip_prefix('/'))
            };
            let Some(rest) = rest else { continue };
            let (first, deeper) = match rest.split_once('/') {
                Some((f, _)) => (f, true),
                None => (rest, false),
            };
            if first.is_empty() {
                continue;
            }
            if v.is_some() || deeper {
                if !names.iter().any(|n| n == first) {
                    names.push(first.to_string());
                }
            } else {
                names.retain(|n| n != first);
            }
        }
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic::tmp_sibling;
    use crate::object::{ObjectArray, ObjectArrayOptions};
    use rmpv::Value;

    /// The store's files.
    fn files(root: &Path) -> Vec<String> {
        fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(root, &p, out);
                } else {
                    out.push(rel(root, &p));
                }
            }
        }
        let mut out = Vec::new();
        walk(root, root, &mut out);
        out.sort();
        out
    }

    fn txn(root: &Path) -> Arc<TxnStore> {
        Arc::new(TxnStore::local(LocalStore::new(root), false))
    }

    /// An in-memory store that renames keys, whose `fail_rename`-th rename fails.
    #[derive(Default)]
    struct MemStore {
        keys: Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
        renames: AtomicU64,
        fail_rename: u64,
    }

    impl Store for MemStore {
        fn location(&self) -> String {
            "mem".into()
        }
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
            Ok(self.keys.lock().unwrap().get(key).cloned())
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<()> {
            self.keys.lock().unwrap().insert(key.into(), value.to_vec());
            Ok(())
        }
        fn delete(&self, key: &str) -> Result<()> {
            self.keys.lock().unwrap().remove(key);
            Ok(())
        }
        fn list_dir(&self, prefix: &str) -> Result<Vec<String>> {
            assert_eq!(prefix, "");
            let keys = self.keys.lock().unwrap();
            Ok(keys.keys().filter(|k| !k.contains('/')).cloned().collect())
        }
        fn can_rename(&self) -> bool {
            true
        }
        fn rename(&self, from: &str, to: &str) -> Result<()> {
            if self.renames.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_rename {
                return Err(Error::io("mem", std::io::Error::other("connection lost")));
            }
            let mut keys = self.keys.lock().unwrap();
            let v = keys
                .remove(from)
                .ok_or_else(|| Error::InvalidArgument(from.into()))?;
            keys.insert(to.into(), v);
            Ok(())
        }
    }

    #[test]
    fn renaming_stores_journal_commits_and_recover_them() {
        let mem = Arc::new(MemStore {
            fail_rename: 2,
            ..Default::default()
        });
        mem.set("a/.zarray", b"old").unwrap();
        mem.set("a/0", b"old").unwrap();
        let s = TxnStore::new(mem.clone());
        s.begin().unwrap();
        s.set("a/.zarray", b"new").unwrap();
        s.set("a/0", b"new").unwrap();
        s.set("a/1", b"new").unwrap();
        assert!(s.commit().is_err()); // the second rename fails
        let journal = {
            let keys = mem.keys.lock().unwrap();
            // chunks first: a/0 moved, a/1 and the metadata not yet
            assert_eq!(keys["a/0"], b"new");
            assert_eq!(keys["a/.zarray"], b"old");
            keys.keys()
                .find(|k| k.starts_with(JOURNAL_PREFIX))
                .cloned()
                .unwrap()
        };
        // this process's own young journal: a writer that may still be at work
        assert_eq!(s.recover_journals().unwrap(), 0);
        let mut doc: serde_json::Value =
            serde_json::from_slice(&mem.get(&journal).unwrap().unwrap()).unwrap();
        doc["time"] = serde_json::json!(0.0);
        mem.set(&journal, doc.to_string().as_bytes()).unwrap();
        assert_eq!(s.recover_journals().unwrap(), 1);
        let keys = mem.keys.lock().unwrap();
        let names: Vec<&str> = keys.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["a/.zarray", "a/0", "a/1"]); // no journal, no temporaries
        assert!(keys.values().all(|v| v == b"new"));
    }

    #[test]
    fn staged_writes_are_visible_then_committed_or_dropped() {
        let d = tempfile::tempdir().unwrap();
        let s = txn(d.path());
        let opts = ObjectArrayOptions {
            chunk_size: Some(2),
            ..Default::default()
        };
        let arr = ObjectArray::create(s.clone(), "a", 0, &opts).unwrap();
        let before = files(d.path());

        s.begin().unwrap();
        let arr2 = ObjectArray::open(s.clone(), "a", true).unwrap();
        arr2.append(vec![Value::from(1), Value::from(2), Value::from(3)])
            .unwrap();
        assert_eq!(ObjectArray::open(s.clone(), "a", true).unwrap().len(), 3);
        assert_eq!(s.list_dir("a").unwrap(), vec![".zarray", "0", "1"]);
        assert_eq!(files(d.path()), before, "nothing on disk before commit");
        s.rollback();
        assert_eq!(ObjectArray::open(s.clone(), "a", true).unwrap().len(), 0);
        assert_eq!(files(d.path()), before);

        s.begin().unwrap();
        let arr3 = ObjectArray::open(s.clone(), "a", true).unwrap();
        arr3.append(vec![Value::from(1), Value::from(2), Value::from(3)])
            .unwrap();
        let report = s.commit().unwrap();
        assert_eq!(report.written, 3);
        assert!(report.journaled);
        arr.reload().unwrap();
        assert_eq!(arr.get_all().unwrap().len(), 3);
        assert_eq!(files(d.path()), vec!["a/.zarray", "a/0", "a/1"]);
        assert!(s.commit().is_err(), "no transaction open");
    }

    #[test]
    fn single_key_commit_needs_no_journal_and_deletes_apply() {
        let d = tempfile::tempdir().unwrap();
        let s = txn(d.path());
        s.set("x/k", b"1").unwrap();
        s.begin().unwrap();
        assert!(s.begin().is_err());
        s.set("x/k", b"2").unwrap();
        let r = s.commit().unwrap();
        assert!(!r.journaled);
        assert_eq!(std::fs::read(d.path().join("x/k")).unwrap(), b"2");
        s.begin().unwrap();
        s.delete("x/k").unwrap();
        s.set("x/j", b"3").unwrap();
        assert_eq!(s.list_dir("x").unwrap(), vec!["j"]);
        assert_eq!(s.get("x/k").unwrap(), None);
        s.commit().unwrap();
        assert_eq!(files(d.path()), vec!["x/j"]);
    }

    #[test]
    fn failed_commit_writes_nothing_and_leaves_no_temporary_files() {
        let d = tempfile::tempdir().unwrap();
        let s = txn(d.path());
        s.set("ok/k", b"old").unwrap();
        // a key whose parent is a file cannot be written
        std::fs::write(d.path().join("blocker"), b"").unwrap();
        s.begin().unwrap();
        s.set("ok/k", b"new").unwrap();
        s.set("blocker/k", b"x").unwrap();
        assert!(s.commit().is_err());
        assert_eq!(std::fs::read(d.path().join("ok/k")).unwrap(), b"old");
        assert_eq!(files(d.path()), vec!["blocker", "ok/k"]);
        assert!(!s.in_transaction());
    }

    #[test]
    fn interrupted_commit_is_finished_by_recovery() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let s = txn(root);
        s.set("a/0", b"old0").unwrap();
        s.set("a/.zarray", b"old").unwrap();
        // simulate a crash after the journal was written and one rename done
        let t0 = tmp_sibling(&root.join("a/0"));
        let t1 = tmp_sibling(&root.join("a/.zarray"));
        std::fs::write(&t0, b"new0").unwrap();
        std::fs::write(&t1, b"new").unwrap();
        let steps = vec![
            Step::Rename(t0.clone(), root.join("a/0")),
            Step::Rename(t1, root.join("a/.zarray")),
            Step::Delete(root.join("a/gone")),
        ];
        std::fs::write(root.join("a/gone"), b"x").unwrap();
        let dead_pid = 4_000_000_000u32; // no such process
        std::fs::write(
            root.join(format!("{JOURNAL_PREFIX}{dead_pid}.0")),
            journal_text(root, &steps).replace(
                &format!("\"pid\":{}", std::process::id()),
                &format!("\"pid\":{dead_pid}"),
            ),
        )
        .unwrap();
        apply_step(&steps[0], Durability::Normal).unwrap();
        assert_eq!(recover_journals(root).unwrap(), 1);
        assert_eq!(files(root), vec!["a/.zarray", "a/0"]);
        assert_eq!(std::fs::read(root.join("a/.zarray")).unwrap(), b"new");
        assert_eq!(std::fs::read(root.join("a/0")).unwrap(), b"new0");
        // a live writer's journal is left alone
        std::fs::write(
            root.join(format!("{JOURNAL_PREFIX}{}.9", std::process::id())),
            r#"{"ops":[]}"#,
        )
        .unwrap();
        assert_eq!(recover_journals(root).unwrap(), 0);
    }

    #[test]
    fn staged_keys_are_listed_in_first_staged_order() {
        let d = tempfile::tempdir().unwrap();
        let s = txn(d.path());
        assert!(s.staged_keys().is_empty());
        s.begin().unwrap();
        s.set("b/0", b"1").unwrap();
        s.set("a/.zarray", b"1").unwrap();
        s.delete("c/1").unwrap();
        s.set("b/0", b"2").unwrap();
        assert_eq!(s.staged_keys(), ["b/0", "a/.zarray", "c/1"]);
        s.rollback();
        assert!(s.staged_keys().is_empty());
    }

    /// Stage a chunk and two metadata keys (`b`'s before `a`'s) where `a/.zarray` is a
    /// folder, so that the last rename fails.
    fn commit_failing_at_the_last_rename(s: &TxnStore, root: &Path, journal: bool) {
        std::fs::create_dir_all(root.join("a/.zarray/blocker")).unwrap();
        s.begin().unwrap();
        s.set("a/0", b"chunk").unwrap();
        s.set("b/.zarray", b"b-meta").unwrap();
        s.set("a/.zarray", b"a-meta").unwrap();
        let r = if journal {
            s.commit()
        } else {
            s.commit_in_order()
        };
        assert!(r.is_err());
        assert!(!s.in_transaction());
    }

    #[test]
    fn in_order_commit_has_no_journal_and_renames_metadata_last_in_staged_order() {
        let d = tempfile::tempdir().unwrap();
        let s = txn(d.path());
        s.begin().unwrap();
        s.set("a/0", b"c0").unwrap();
        s.set("a/1", b"c1").unwrap();
        s.set("a/.zarray", b"m").unwrap();
        let r = s.commit_in_order().unwrap();
        assert_eq!((r.written, r.deleted, r.journaled), (3, 0, false));
        assert_eq!(files(d.path()), ["a/.zarray", "a/0", "a/1"]);

        // a failing rename: what came before it stays (chunks, then metadata in the
        // order staged), nothing is left to recover and no temporary file remains
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let s = txn(root);
        commit_failing_at_the_last_rename(&s, root, false);
        assert_eq!(std::fs::read(root.join("a/0")).unwrap(), b"chunk");
        assert_eq!(std::fs::read(root.join("b/.zarray")).unwrap(), b"b-meta");
        assert!(root.join("a/.zarray").is_dir());
        assert_eq!(files(root), ["a/0", "b/.zarray"]);
        assert_eq!(recover_journals(root).unwrap(), 0);

        // the same commit with a journal leaves it behind, naming the last rename
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let s = txn(root);
        commit_failing_at_the_last_rename(&s, root, true);
        let names = files(root);
        assert!(
            names.iter().any(|n| n.starts_with(JOURNAL_PREFIX)),
            "{names:?}"
        );
        assert!(names.iter().any(|n| n.contains(TMP_PREFIX)), "{names:?}");
    }

    #[test]
    fn every_durability_commits_the_same_files_and_fails_the_same_way() {
        for d in Durability::ALL {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            let s = TxnStore::local(LocalStore::new(root).with_durability(d), false);
            assert_eq!(s.durability(), Some(d));
            for (round, journal) in [(0u8, true), (1, false), (2, true), (3, false)] {
                s.begin().unwrap();
                s.set("a/0", &[b'c', round]).unwrap();
                s.set("a/1", &[b'd', round]).unwrap();
                s.set("a/.zarray", &[b'm', round]).unwrap();
                let r = if journal {
                    s.commit()
                } else {
                    s.commit_in_order()
                }
                .unwrap();
                assert_eq!((r.written, r.journaled), (3, journal), "{d}");
                // one key (no journal either way)
                s.begin().unwrap();
                s.set("b/0", &[b'b', round]).unwrap();
                s.commit().unwrap();
                assert_eq!(files(root), ["a/.zarray", "a/0", "a/1", "b/0"], "{d}");
                for (key, tag) in [
                    ("a/0", b'c'),
                    ("a/1", b'd'),
                    ("a/.zarray", b'm'),
                    ("b/0", b'b'),
                ] {
                    assert_eq!(
                        std::fs::read(root.join(key)).unwrap(),
                        [tag, round],
                        "{d} {key}"
                    );
                }
            }
            // a failing rename: without a journal its prefix stays and no temporary
            // file remains
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            let s = TxnStore::local(LocalStore::new(root).with_durability(d), false);
            commit_failing_at_the_last_rename(&s, root, false);
            assert_eq!(files(root), ["a/0", "b/.zarray"], "{d}");
            assert!(root.join("a/.zarray/blocker").is_dir(), "{d}");
        }
        // `fsync` asks for `Full` whatever the store says
        let dir = tempfile::tempdir().unwrap();
        let local = LocalStore::new(dir.path()).with_durability(Durability::Normal);
        assert_eq!(
            TxnStore::local(local, true).durability(),
            Some(Durability::Full)
        );
        assert_eq!(
            TxnStore::new(Arc::new(MemStore::default())).durability(),
            None
        );
    }

    #[test]
    fn in_order_commit_on_a_renaming_store_writes_key_by_key() {
        let mem = Arc::new(MemStore::default());
        let s = TxnStore::new(mem.clone());
        s.begin().unwrap();
        s.set("a/0", b"new").unwrap();
        s.set("a/.zarray", b"new").unwrap();
        let r = s.commit_in_order().unwrap();
        assert!(!r.journaled);
        assert_eq!(mem.renames.load(Ordering::SeqCst), 0);
        let keys = mem.keys.lock().unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["a/.zarray", "a/0"]);
    }

    #[test]
    fn journal_paths_outside_the_store_are_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join(format!("{JOURNAL_PREFIX}4000000001.0")),
            r#"{"ops":[["delete","../x"]]}"#,
        )
        .unwrap();
        assert!(matches!(
            recover_journals(d.path()),
            Err(Error::InvalidArgument(_))
        ));
    }
}
