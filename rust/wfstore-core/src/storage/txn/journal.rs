//! The commit journal: its name, its document, and when it is abandoned.

use crate::error::{Error, Result};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

pub use crate::names::JOURNAL_PREFIX;

/// A journal older than this is abandoned whoever wrote it (a commit's renames take
/// milliseconds).
pub const JOURNAL_STALE_AFTER: Duration = Duration::from_secs(60);

static JOURNAL_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new journal's file name (or key), unique within this process and across processes.
pub(super) fn new_journal_name() -> String {
    format!(
        "{JOURNAL_PREFIX}{}.{}",
        std::process::id(),
        JOURNAL_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The journal document naming `ops`, the writer's pid and host (a pid says nothing
/// to another host sharing the file system); with `remote` (a store that is not a
/// local folder, whose journals have no modification time to read) also the time.
pub(super) fn journal_text(ops: &[JournalOp], remote: bool) -> String {
    let ops: Vec<serde_json::Value> = ops
        .iter()
        .map(|op| match op {
            JournalOp::Rename(from, to) => serde_json::json!(["rename", from, to]),
            JournalOp::Delete(key) => serde_json::json!(["delete", key]),
        })
        .collect();
    let mut doc = serde_json::json!({"pid": std::process::id(), "ops": ops});
    if let Some(host) = this_host() {
        doc["host"] = serde_json::json!(host);
    }
    if remote {
        doc["time"] = serde_json::json!(SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0));
    }
    doc.to_string()
}

/// This machine's host name, where the system tells it (Linux), for journals that
/// other hosts read.
pub(super) fn this_host() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// Whether a journal written by [`TxnStore::commit_renaming`] is abandoned: its writer
/// was a process of this host that is gone, or it is older than
/// [`JOURNAL_STALE_AFTER`]. A journal without a time (a local folder's, seen through
/// another file system) is left to the local recovery.
pub(super) fn journal_abandoned(doc: &serde_json::Value) -> bool {
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
    writer_gone(doc)
}

/// Whether a journal's writer is known to be gone: a process of this host (the
/// journal names this host) that no longer runs. A pid of another host, or of a
/// journal naming no host (older versions), is never judged.
pub(super) fn writer_gone(doc: &serde_json::Value) -> bool {
    let same_host = doc["host"]
        .as_str()
        .is_some_and(|h| Some(h) == this_host().as_deref());
    match doc["pid"].as_u64().and_then(|p| u32::try_from(p).ok()) {
        Some(pid) if same_host => pid != std::process::id() && !pid_alive(pid),
        _ => false,
    }
}

/// A journal's key must stay inside the store.
pub(super) fn check_journal_key(location: &str, key: &str) -> Result<()> {
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
pub(super) enum JournalOp {
    /// Rename the first key (a temporary value) to the second.
    Rename(String, String),
    /// Delete the key.
    Delete(String),
}

/// The steps of journal document `doc`, all checked before any is done; `bad` makes
/// the error for a step that is not one.
pub(super) fn journal_ops(
    doc: &serde_json::Value,
    bad: impl Fn(String) -> Error,
) -> Result<Vec<JournalOp>> {
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

pub(super) fn pid_alive(pid: u32) -> bool {
    // Linux: a live process has a /proc entry; elsewhere assume alive (age decides)
    let proc_root = Path::new("/proc");
    if proc_root.is_dir() {
        proc_root.join(pid.to_string()).exists()
    } else {
        true
    }
}
