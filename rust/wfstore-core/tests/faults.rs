//! EIO injected into every write of object-array operations (issue 6, point 3): a store
//! wrapper fails the k-th write or delete with EIO, for every k until the operation
//! succeeds. The error must come back as `Error::Io` naming the key's path, and a fresh
//! reader must see a consistent array: the old rows, or (for multi-chunk updates) each
//! row old or new, never a torn chunk.

use rmpv::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use wfstore_core::{Error, LocalStore, ObjectArray, ObjectArrayOptions, Result, Store};

/// A store failing its `fail_at`-th mutation (0-based) with EIO.
struct Faulty {
    inner: LocalStore,
    fail_at: usize,
    count: AtomicUsize,
}

impl Faulty {
    fn check(&self, key: &str) -> Result<()> {
        if self.count.fetch_add(1, Ordering::SeqCst) == self.fail_at {
            return Err(Error::io(
                self.inner.key_path(key),
                std::io::Error::from_raw_os_error(5),
            ));
        }
        Ok(())
    }
}

impl Store for Faulty {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.check(key)?;
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<()> {
        self.check(key)?;
        self.inner.delete(key)
    }
    fn list_dir(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list_dir(prefix)
    }
}

fn rows(n: u64, tag: &str) -> Vec<Value> {
    (0..n)
        .map(|i| Value::Array(vec![Value::from(i), Value::from(format!("{tag}{i}"))]))
        .collect()
}

fn make(dir: &std::path::Path, n: u64) -> Vec<Value> {
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(dir));
    let opts = ObjectArrayOptions {
        chunk_size: Some(4),
        attrs: Some(serde_json::json!({"k": 1})),
        ..Default::default()
    };
    let a = ObjectArray::create(store, "runs", 0, &opts).unwrap();
    let r = rows(n, "old");
    a.append(r.clone()).unwrap();
    r
}

fn read(dir: &std::path::Path) -> Vec<Value> {
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(dir));
    ObjectArray::open(store, "runs", true)
        .unwrap()
        .get_all()
        .unwrap()
}

type Op = fn(&ObjectArray) -> Result<()>;

/// Run `op` with the k-th write failing, for k = 0, 1, ... until it succeeds; call
/// `check(k, rows after the failure)` after each failure. Returns the number of faults.
fn each_fault(op: Op, check: impl Fn(usize, &[Value], &[Value])) -> usize {
    for k in 0.. {
        if k > 0 {
            println!("EIO fault {k} injected");
        }
        let d = tempfile::tempdir().unwrap();
        let before = make(d.path(), 18);
        let store: Arc<dyn Store> = Arc::new(Faulty {
            inner: LocalStore::new(d.path()),
            fail_at: k,
            count: AtomicUsize::new(0),
        });
        let arr = ObjectArray::open(store, "runs", true).unwrap();
        match op(&arr) {
            Ok(()) => return k,
            Err(Error::Io { path, source }) => {
                assert_eq!(source.raw_os_error(), Some(5));
                assert!(path.starts_with(d.path()), "{path:?}");
                check(k, &before, &read(d.path()));
            }
            Err(other) => panic!("fault {k}: expected an I/O error, got {other}"),
        }
    }
    unreachable!()
}

#[test]
fn append_under_eio_keeps_the_old_rows() {
    let n = each_fault(
        |a| a.append(rows(10, "new")).map(|_| ()),
        |k, before, after| assert_eq!(after, before, "fault {k}"),
    );
    assert!(n >= 3, "{n}");
}

#[test]
fn one_chunk_updates_under_eio_keep_the_old_rows() {
    let n = each_fault(
        |a| a.set(&[5, 6], rows(2, "new")),
        |k, before, after| assert_eq!(after, before, "fault {k}"),
    );
    assert_eq!(n, 1);
    let n = each_fault(
        |a| a.set_attrs(&serde_json::json!({"k": 2})),
        |k, before, after| assert_eq!(after, before, "fault {k}"),
    );
    assert_eq!(n, 1);
}

#[test]
fn multi_chunk_updates_under_eio_never_tear_a_row() {
    // Rows of several chunks: each chunk is replaced atomically, so every row is the
    // old or the new one (the update as a whole is not atomic across chunks).
    let n = each_fault(
        |a| a.set(&[0, 5, 9, 13, 17], rows(5, "new")),
        |k, before, after| {
            assert_eq!(after.len(), before.len());
            for (i, row) in after.iter().enumerate() {
                let is_new = row
                    .as_array()
                    .and_then(|a| a[1].as_str())
                    .is_some_and(|s| s.starts_with("new"));
                assert!(row == &before[i] || is_new, "fault {k}: row {i} is {row}");
            }
        },
    );
    assert!(n >= 4, "{n}");
}

#[test]
fn growing_after_a_failed_append_shows_fill_values() {
    // An append whose length never got recorded leaves chunk files past the end;
    // growing the array must not bring their rows back.
    let d = tempfile::tempdir().unwrap();
    let before = make(d.path(), 18);
    let store: Arc<dyn Store> = Arc::new(Faulty {
        inner: LocalStore::new(d.path()),
        fail_at: 2,
        count: AtomicUsize::new(0),
    });
    let arr = ObjectArray::open(store, "runs", true).unwrap();
    assert!(arr.append(rows(10, "new")).is_err());
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(d.path()));
    let arr = ObjectArray::open(store, "runs", true).unwrap();
    arr.resize(28).unwrap();
    let got = arr.get_all().unwrap();
    assert_eq!(&got[..18], &before[..]);
    assert!(got[18..].iter().all(|v| *v == Value::from(0)), "{got:?}");
}

#[test]
fn shrinking_under_eio() {
    // The new length is written first, so a fault while deleting the chunks past it
    // leaves the shorter array whole (and only unreachable chunk files behind).
    each_fault(
        |a| a.resize(6),
        |k, before, after| {
            assert!(
                after == before || after == &before[..6],
                "fault {k}: {} rows",
                after.len()
            )
        },
    );
}
