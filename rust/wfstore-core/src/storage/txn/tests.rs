//! Tests of transactions: staging, commits, journals and recovery.

use super::commit::{apply_step, rel, Step};
use super::journal::*;
use super::*;
use crate::array::object::{ObjectArray, ObjectArrayOptions};
use crate::names::TMP_PREFIX;
use crate::storage::atomic::tmp_sibling;
use crate::storage::atomic::Durability;
use rmpv::Value;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

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
    let steps = [
        Step::Rename(t0.clone(), root.join("a/0")),
        Step::Rename(t1, root.join("a/.zarray")),
        Step::Delete(root.join("a/gone")),
    ];
    std::fs::write(root.join("a/gone"), b"x").unwrap();
    let dead_pid = 4_000_000_000u32; // no such process
    std::fs::write(
        root.join(format!("{JOURNAL_PREFIX}{dead_pid}.0")),
        journal_text(
            &steps
                .iter()
                .filter_map(|s| s.journal_op(root))
                .collect::<Vec<_>>(),
            false,
        )
        .replace(
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
    // (a journal naming no host is finished under the store lock only)
    assert!(matches!(
        recover_journals_under_lock(d.path()),
        Err(Error::InvalidArgument(_))
    ));
}

/// A journal renaming `tmp` (holding `new`) over `key`, naming `pid` and `host`.
fn write_journal(root: &Path, pid: u32, host: Option<&str>, key: &str, new: &[u8]) -> String {
    let tmp = format!("{TMP_PREFIX}{pid}-{}", key.replace('/', "-"));
    std::fs::write(root.join(&tmp), new).unwrap();
    let mut doc = serde_json::json!({"pid": pid, "ops": [["rename", tmp, key]]});
    if let Some(h) = host {
        doc["host"] = serde_json::json!(h);
    }
    let name = format!("{JOURNAL_PREFIX}{pid}.0");
    std::fs::write(root.join(&name), doc.to_string()).unwrap();
    name
}

#[test]
fn local_journals_name_their_host_and_other_hosts_pids_are_never_judged() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let text = journal_text(&[JournalOp::Delete("k".into())], false);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["pid"], std::process::id());
    assert_eq!(doc["host"].as_str(), this_host().as_deref());
    assert!(
        doc.get("time").is_none(),
        "a local journal's age is its file's"
    );

    let dead = 4_000_000_000u32; // no such process here
    std::fs::write(root.join("k"), b"old").unwrap();
    // another host's writer, and a journal of an older version (no host): their pids
    // say nothing here, so without the lock neither is finished
    let other = write_journal(root, dead, Some("another-node.cluster"), "k", b"other");
    assert_eq!(recover_journals(root).unwrap(), 0);
    std::fs::remove_file(root.join(&other)).unwrap();
    std::fs::remove_file(root.join(format!("{TMP_PREFIX}{dead}-k"))).unwrap();
    let legacy = write_journal(root, dead - 1, None, "k", b"legacy");
    assert_eq!(recover_journals(root).unwrap(), 0);
    assert_eq!(std::fs::read(root.join("k")).unwrap(), b"old");
    // under the store lock every journal is a dead writer's: finished
    assert_eq!(recover_journals_under_lock(root).unwrap(), 1);
    assert_eq!(std::fs::read(root.join("k")).unwrap(), b"legacy");
    assert!(!root.join(&legacy).exists());
    // a gone process of this host is judged without the lock
    if let Some(host) = this_host() {
        write_journal(root, dead, Some(&host), "k", b"mine");
        assert_eq!(recover_journals(root).unwrap(), 1);
        assert_eq!(std::fs::read(root.join("k")).unwrap(), b"mine");
    }
    assert_eq!(files(root), vec!["k"]);
}

/// Commit what `stage` stages on a fresh local store whose `a/.zarray` cannot be
/// renamed into place (the commit fails at its last rename, leaving its journal);
/// returns the folder, the journal's text and the files left.
fn failed_commit(stage: impl FnOnce(&TxnStore)) -> (tempfile::TempDir, String, Vec<String>) {
    let d = tempfile::tempdir().unwrap();
    let s = txn(d.path());
    std::fs::create_dir_all(d.path().join("a/.zarray/blocker")).unwrap();
    s.begin().unwrap();
    stage(&s);
    s.set("a/.zarray", b"a-meta").unwrap();
    assert!(s.commit().is_err());
    let names = files(d.path());
    let journal = names
        .iter()
        .find(|n| n.starts_with(JOURNAL_PREFIX))
        .unwrap();
    let text = std::fs::read_to_string(d.path().join(journal)).unwrap();
    (d, text, names)
}

#[test]
fn unseen_keys_are_written_in_place_and_named_by_no_journal() {
    // a key staged with `set_temp` (a chunk past an array's end) is written in place
    // before the journal: a commit failing at its last rename leaves it there, with a
    // journal naming the other keys' renames only, and no temporary file of its own
    let (d, text, names) = failed_commit(|s| {
        s.set_temp("a/5", b"past the end").unwrap();
        s.set("a/0", b"chunk").unwrap();
    });
    assert_eq!(
        std::fs::read(d.path().join("a/5")).unwrap(),
        b"past the end"
    );
    assert!(text.contains("\"a/0\"") && !text.contains("a/5"), "{text}");
    let temps: Vec<&String> = names.iter().filter(|n| n.contains(TMP_PREFIX)).collect();
    assert!(
        temps
            .iter()
            .all(|n| !n.contains(&format!("{TMP_PREFIX}5-"))),
        "{temps:?}"
    );

    // a key first staged otherwise (it may be on disk inside a shape), or deleted in
    // the transaction, is renamed into place as any other
    let (_d, text, _) = failed_commit(|s| {
        s.set("a/1", b"old").unwrap();
        s.set_temp("a/1", b"set").unwrap();
        s.set_temp("a/2", b"x").unwrap();
        s.delete("a/2").unwrap();
        s.set_temp("a/2", b"again").unwrap();
    });
    assert!(
        text.contains("\"a/1\"") && text.contains("\"a/2\""),
        "{text}"
    );

    // a write failing in the first step removes what was written in place
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let s = txn(root);
    std::fs::write(root.join("x"), b"a file, not a folder").unwrap();
    s.begin().unwrap();
    s.set_temp("a/5", b"past the end").unwrap();
    s.set_temp("x/0", b"cannot be written").unwrap();
    s.set("a/.zarray", b"a-meta").unwrap();
    assert!(s.commit().is_err());
    assert_eq!(files(root), ["x"]);
}

#[test]
fn renaming_stores_write_unseen_keys_in_place() {
    let mem = Arc::new(MemStore::default());
    let s = TxnStore::new(mem.clone());
    s.begin().unwrap();
    s.set_temp("a/3", b"new").unwrap();
    s.set("a/1", b"new").unwrap();
    s.set("a/.zarray", b"new").unwrap();
    s.commit().unwrap();
    assert_eq!(mem.renames.load(Ordering::SeqCst), 2); // a/1 and a/.zarray
    let keys = mem.keys.lock().unwrap();
    assert_eq!(
        keys.keys().cloned().collect::<Vec<_>>(),
        ["a/.zarray", "a/1", "a/3"]
    );
}
