//! The operations whose crash states are checked, and the checks.
//!
//! `cargo test` explores a bounded sample of each operation's crash states (seconds);
//! `scripts/crash_states.sh` sets `WFSTORE_CRASH_EXHAUSTIVE=1` to explore them all
//! (sampling, with a seed, only where an operation has too many) and prints the counts.

use super::{disk_contents, record, states, Budget, Fs, Model, Op};
use crate::array::codec::Compressor;
use crate::array::numeric::NumericArray;
use crate::array::object::{ObjectArray, ObjectArrayOptions};
use crate::error::Error;
use crate::ops::rechunk;
use crate::storage::atomic::Durability;
use crate::storage::local::LocalStore;
use crate::storage::txn::{recover_journals, TxnStore};
use crate::storage::zip::{unzip, zip_dir, ZipStore};
use crate::storage::Store;
use rmpv::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// What exploring one operation found.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) kind: String,
    pub(crate) explored: usize,
    pub(crate) failed: Vec<String>,
    /// Why failures of this kind are known and left (reported, not yet fixed), and the
    /// text each such failure's message holds (others are new).
    pub(crate) known: Option<(&'static str, &'static str)>,
}

/// Rechunk without a flush: the swap's renames can reach the disk before the new
/// array's data.
const KNOWN_RECHUNK_NORMAL: &str = "without fsync the new array's files are not flushed \
    before the swap: a power cut can leave the array's .zarray or chunks empty or \
    zero-filled under the array's name (docs/durability.md promises a whole array)";
/// A commit without a flush on a file system that may reorder renames.
const KNOWN_COMMIT_NORMAL: &str = "with durability normal, on a file system that may \
    persist renames out of order (the weak model, not ext4's ordered mode), an array's \
    new .zarray can reach the disk without the renamed chunk holding its new rows \
    (or a new numpy array's chunk): those rows read as the fill value instead of \
    failing to decode";
/// Unzip flushes nothing.
const KNOWN_UNZIP: &str = "unzip flushes nothing before renaming the folder into place: a \
    power cut can leave empty or zero-filled files in the store folder under its final name";

type Check<'a> = dyn Fn(&Path, bool) -> Result<(), String> + 'a;

/// Run `run` on a folder prepared by `setup` while recording it, check that the
/// recording accounts for every change made to the folder, then check each crash
/// state with `check(state_folder, acknowledged)`.
fn explore(
    kind: &str,
    budget: Budget,
    setup: &dyn Fn(&Path),
    run: &dyn Fn(&Path),
    check: &Check<'_>,
) -> Outcome {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("w").canonicalize().unwrap_or_else(|_| {
        std::fs::create_dir(work.path().join("w")).unwrap();
        work.path().join("w").canonicalize().unwrap()
    });
    setup(&root);
    let initial = Fs::snapshot(&root);
    let id = record::start(&root, initial.inodes());
    run(&root);
    record::mark(id, "acked");
    let ops = record::stop(id);
    if std::env::var_os("WFSTORE_CRASH_DUMP").is_some() {
        for (i, o) in ops.iter().enumerate() {
            println!("{kind} #{i}: {o:?}");
        }
    }
    // every change went through the recorder: replaying it gives the folder as it is
    let mut replay = initial.clone();
    for o in &ops {
        assert!(
            replay.apply(o),
            "{kind}: recorded operation {o:?} does not replay"
        );
    }
    assert_eq!(
        replay.contents(),
        disk_contents(&root),
        "{kind}: the folder differs from the replayed recording: a write bypassed storage::fsops"
    );
    assert!(
        ops.iter().any(|o| matches!(o, Op::Rename { .. })),
        "{kind}: nothing recorded"
    );
    let mut failed = Vec::new();
    let mut explored = 0;
    let scratch = work.path().join("state");
    for model in Model::ALL {
        explored += states(&initial, &ops, model, budget, |s| {
            std::fs::create_dir(&scratch).unwrap();
            s.fs.materialise(&scratch);
            if let Err(e) = check(&scratch, s.acked) {
                failed.push(format!("{kind}: {}: {e}", s.describe));
            }
            std::fs::remove_dir_all(&scratch).unwrap();
        });
    }
    Outcome {
        kind: kind.to_string(),
        explored,
        failed,
        known: None,
    }
}

fn s(v: &str) -> Value {
    Value::from(v)
}

fn opts(chunk: u64) -> ObjectArrayOptions {
    ObjectArrayOptions {
        chunk_size: Some(chunk),
        ..Default::default()
    }
}

fn make_array(root: &Path, path: &str, rows: &[&str], chunk: u64) {
    let st: Arc<dyn Store> = Arc::new(LocalStore::new(root));
    let a = ObjectArray::create(st, path, 0, &opts(chunk)).unwrap();
    a.append(rows.iter().map(|r| s(r)).collect()).unwrap();
}

/// An array's rows as the state holds them; `None` for the rows of a chunk that does
/// not decode (damage that shows), allowed only when `damage_ok`.
fn rows(root: &Path, path: &str, damage_ok: bool) -> Result<(u64, Vec<Option<Value>>), String> {
    let st: Arc<dyn Store> = Arc::new(LocalStore::new(root));
    let a = match ObjectArray::open(st, path, true) {
        Ok(a) => a,
        // a `.zarray` emptied by the crash: damage that shows
        Err(Error::Metadata { .. }) if damage_ok => return Ok((0, Vec::new())),
        Err(e) => return Err(format!("{path} does not open: {e}")),
    };
    let (n, cs) = (a.len(), a.chunk_size());
    let mut out = Vec::new();
    for c in 0..n.div_ceil(cs) {
        match a.read_chunk(c) {
            Ok(items) => out.extend(items.into_iter().map(Some)),
            Err(Error::CorruptChunk { .. }) if damage_ok => {
                out.extend((0..cs).map(|_| None));
            }
            Err(e) => return Err(format!("{path} chunk {c}: {e}")),
        }
    }
    out.truncate(n as usize);
    Ok((cs, out))
}

/// Each row is one of `allowed[i]` (or damaged, `None`, when allowed).
fn rows_among(got: &[Option<Value>], allowed: &[Vec<&str>], path: &str) -> Result<(), String> {
    if got.is_empty() && !allowed.is_empty() {
        return Ok(()); // the array's metadata damaged (where allowed, see `rows`)
    }
    if got.len() != allowed.len() {
        return Err(format!(
            "{path} has {} rows, expected {}",
            got.len(),
            allowed.len()
        ));
    }
    for (i, (g, ok)) in got.iter().zip(allowed).enumerate() {
        if let Some(v) = g {
            if !ok.iter().any(|o| *v == s(o)) {
                return Err(format!(
                    "{path} row {i} holds {v}, never written there (expected one of {ok:?})"
                ));
            }
        }
    }
    Ok(())
}

fn exact(got: &[Option<Value>], want: &[&str]) -> bool {
    got.len() == want.len() && got.iter().zip(want).all(|(g, w)| g.as_ref() == Some(&s(w)))
}

/// Names in the folder `dir` of the state.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn row_update(d: Durability, budget: Budget) -> Outcome {
    let old = ["a0", "a1", "a2", "a3", "a4"];
    explore(
        &format!("row update ({d})"),
        budget,
        &|root| make_array(root, "runs", &old, 2),
        &|root| {
            let st: Arc<dyn Store> = Arc::new(LocalStore::new(root).with_durability(d));
            let a = ObjectArray::open(st, "runs", true).unwrap();
            a.set(&[1], vec![s("b1")]).unwrap();
        },
        &|root, acked| {
            recover_journals(root).map_err(|e| format!("recovery: {e}"))?;
            let (_, got) = rows(root, "runs", d == Durability::Normal)?;
            let allowed: Vec<Vec<&str>> = old
                .iter()
                .map(|o| {
                    if *o == "a1" {
                        vec!["a1", "b1"]
                    } else {
                        vec![*o]
                    }
                })
                .collect();
            rows_among(&got, &allowed, "runs")?;
            if acked && d == Durability::Full && got[1] != Some(s("b1")) {
                return Err(format!("acknowledged update lost: row 1 is {:?}", got[1]));
            }
            Ok(())
        },
    )
}

fn batch_commit(d: Durability, budget: Budget) -> Outcome {
    let (x_old, y_old) = (["x0", "x1", "x2"], ["y0", "y1"]);
    let (x_new, y_new) = (["X0", "x1", "x2", "X3"], ["y0", "Y1"]);
    explore(
        &format!("batch commit ({d})"),
        budget,
        &|root| {
            make_array(root, "metadata/runs", &x_old, 2);
            make_array(root, "parameters/base", &y_old, 2);
        },
        &|root| {
            let txn = Arc::new(TxnStore::local(
                LocalStore::new(root).with_durability(d),
                false,
            ));
            let st: Arc<dyn Store> = txn.clone();
            let x = ObjectArray::open(st.clone(), "metadata/runs", true).unwrap();
            let y = ObjectArray::open(st, "parameters/base", true).unwrap();
            txn.begin().unwrap();
            x.set(&[0], vec![s("X0")]).unwrap();
            x.append(vec![s("X3")]).unwrap();
            y.set(&[1], vec![s("Y1")]).unwrap();
            NumericArray::create(
                txn.clone(),
                "parameters/arrays/0",
                "<f8",
                &[3],
                None,
                Compressor::default(),
                serde_json::json!(0.0),
                &numeric_bytes(),
                false,
            )
            .unwrap();
            txn.commit().unwrap();
        },
        &|root, acked| {
            recover_journals(root).map_err(|e| format!("recovery: {e}"))?;
            let normal = d == Durability::Normal;
            let (_, x) = rows(root, "metadata/runs", normal)?;
            let (_, y) = rows(root, "parameters/base", normal)?;
            // the numpy array added by the commit: absent, whole, or (normal) damage
            let st: Arc<dyn Store> = Arc::new(LocalStore::new(root));
            let has_numeric = match NumericArray::open(st, "parameters/arrays/0") {
                Ok(a) => match a.read() {
                    Ok(bytes) if bytes == numeric_bytes() => true,
                    Ok(bytes) if bytes.iter().all(|b| *b == 0) => {
                        return Err("parameters/arrays/0 holds 0, never written there (the \
                                    fill value: its chunk missing)"
                            .into())
                    }
                    Ok(bytes) => return Err(format!("numeric array holds {bytes:?}")),
                    Err(_) if normal => true,
                    Err(e) => return Err(format!("numeric array: {e}")),
                },
                Err(Error::Metadata { .. }) if normal => true,
                Err(e)
                    if LocalStore::new(root)
                        .get("parameters/arrays/0/.zarray")
                        .ok()
                        .flatten()
                        .is_some() =>
                {
                    return Err(format!("numeric array does not open: {e}"))
                }
                Err(_) => false,
            };
            if normal {
                let xa: Vec<Vec<&str>> = (0..x.len())
                    .map(|i| {
                        [x_old.get(i), x_new.get(i)]
                            .into_iter()
                            .flatten()
                            .copied()
                            .collect()
                    })
                    .collect();
                rows_among(&x, &xa, "metadata/runs")?;
                rows_among(&y, &[vec!["y0"], vec!["y1", "Y1"]], "parameters/base")?;
                return Ok(());
            }
            let is_old = exact(&x, &x_old) && exact(&y, &y_old) && !has_numeric;
            let is_new = exact(&x, &x_new) && exact(&y, &y_new) && has_numeric;
            if acked && !is_new {
                return Err(format!(
                    "acknowledged commit not whole: runs {x:?}, base {y:?}"
                ));
            }
            if !is_old && !is_new {
                return Err(format!(
                    "commit half applied: runs {x:?}, base {y:?}, numeric array {has_numeric}"
                ));
            }
            Ok(())
        },
    )
}

/// The bytes of the numpy array a batch commit adds.
fn numeric_bytes() -> Vec<u8> {
    [1.5f64, -2.0, 3.25]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

/// A parameter append: rows beyond the array's shape, committed without a journal
/// (`commit_in_order`), the shape renamed last.
fn append_kind(d: Durability, budget: Budget) -> Outcome {
    let old = ["p0", "p1", "p2"];
    let new = ["p0", "p1", "p2", "P3", "P4", "P5"];
    explore(
        &format!("parameter append ({d})"),
        budget,
        &|root| make_array(root, "parameters/base", &old, 2),
        &|root| {
            let txn = Arc::new(TxnStore::local(
                LocalStore::new(root).with_durability(d),
                false,
            ));
            let a = ObjectArray::open(txn.clone(), "parameters/base", true).unwrap();
            txn.begin().unwrap();
            a.append(vec![s("P3"), s("P4"), s("P5")]).unwrap();
            txn.commit_in_order().unwrap();
        },
        &|root, acked| {
            recover_journals(root).map_err(|e| format!("recovery: {e}"))?;
            let normal = d == Durability::Normal;
            let (_, got) = rows(root, "parameters/base", normal)?;
            let allowed: Vec<Vec<&str>> = (0..got.len().max(3))
                .map(|i| new.get(i).into_iter().copied().collect())
                .collect();
            rows_among(&got, &allowed, "parameters/base")?;
            if !got.is_empty() && got.len() != 3 && got.len() != 6 {
                return Err(format!("parameters/base has {} rows", got.len()));
            }
            if acked && !normal && !exact(&got, &new) {
                return Err(format!("acknowledged append lost: {got:?}"));
            }
            Ok(())
        },
    )
}

fn rechunk_kind(d: Durability, backup: bool, budget: Budget) -> Outcome {
    let old = ["r0", "r1", "r2", "r3", "r4"];
    let kind = format!(
        "rechunk {} backup ({d})",
        if backup { "with" } else { "without" }
    );
    explore(
        &kind,
        budget,
        &|root| make_array(root, "runs", &old, 2),
        &|root| {
            let store = Arc::new(LocalStore::new(root).with_durability(d));
            rechunk::rechunk_array(store, "runs", Some(3), backup, None).unwrap();
        },
        &|root, acked| {
            rechunk::recover_array(&LocalStore::new(root), "runs")
                .map_err(|e| format!("recovery: {e}"))?;
            let normal = d == Durability::Normal;
            // the docs promise a whole array whatever the durability: no damage
            let (cs, got) = rows(root, "runs", false)?;
            let all: Vec<Vec<&str>> = old.iter().map(|o| vec![*o]).collect();
            rows_among(&got, &all, "runs")?;
            if cs != 2 && cs != 3 {
                return Err(format!("runs has chunk size {cs}"));
            }
            let left: Vec<String> = names(root)
                .into_iter()
                .filter(|n| n != "runs" && !(backup && n == "runs.bak"))
                .collect();
            if !left.is_empty() {
                return Err(format!("left beside the array after recovery: {left:?}"));
            }
            if acked && !normal && cs != 3 {
                return Err(format!("acknowledged rechunk lost: chunk size {cs}"));
            }
            if backup && cs == 3 {
                let (bcs, b) = rows(root, "runs.bak", false).map_err(|e| format!("backup: {e}"))?;
                rows_among(&b, &all, "runs.bak")?;
                if bcs != 2 {
                    return Err(format!("backup has chunk size {bcs}"));
                }
            }
            Ok(())
        },
    )
}

/// The store folder zipped and unzipped: an array and the root attributes.
fn make_store(root: &Path) {
    make_array(root, "metadata/runs", &["a0", "a1", "a2"], 2);
    LocalStore::new(root)
        .set(".zattrs", b"{\"name\": \"w\"}")
        .unwrap();
}

/// The files below `dir` and their bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    disk_contents(dir)
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
}

fn zip_kind(budget: Budget) -> Outcome {
    explore(
        "zip",
        budget,
        &|root| make_store(&root.join("s")),
        &|root| {
            zip_dir(&root.join("s"), &root.join("s.zip"), &[], None).unwrap();
        },
        &|root, acked| {
            let arc = root.join("s.zip");
            if !arc.exists() {
                return if acked {
                    Err("acknowledged archive missing".into())
                } else {
                    Ok(())
                };
            }
            let z = ZipStore::open(&arc)
                .map_err(|e| format!("partial archive under its final name: {e}"))?;
            let want = files(&root.join("s"));
            let keys = z.keys();
            if keys.len() != want.len() {
                return Err(format!("archive holds {keys:?}"));
            }
            for (k, v) in want {
                match z.get(&k) {
                    Ok(Some(got)) if got == v => {}
                    other => return Err(format!("archive entry {k}: {other:?}")),
                }
            }
            Ok(())
        },
    )
}

fn unzip_kind(budget: Budget) -> Outcome {
    explore(
        "unzip",
        budget,
        &|root| {
            let src = root.join("src");
            make_store(&src);
            zip_dir(&src, &root.join("s.zip"), &[], None).unwrap();
        },
        &|root| {
            unzip(&root.join("s.zip"), &root.join("out"), None).unwrap();
        },
        &|root, _acked| {
            let out = root.join("out");
            if !out.exists() {
                return Ok(());
            }
            let (got, want) = (files(&out), files(&root.join("src")));
            if got != want {
                let differ: Vec<&String> = want
                    .keys()
                    .chain(got.keys())
                    .filter(|k| got.get(*k) != want.get(*k))
                    .collect();
                return Err(format!(
                    "partial store folder under its final name: {differ:?} differ"
                ));
            }
            Ok(())
        },
    )
}

/// Every operation kind, explored within `budget`.
pub(crate) fn all_kinds(budget: Budget) -> Vec<Outcome> {
    let mut out = Vec::new();
    let mut out = Reporting(&mut out);
    for d in Durability::ALL {
        out.push(row_update(d, budget));
        let mut o = batch_commit(d, budget);
        if d == Durability::Normal {
            o.known = Some((KNOWN_COMMIT_NORMAL, "holds 0, never written there"));
        }
        out.push(o);
        let mut o = append_kind(d, budget);
        if d == Durability::Normal {
            o.known = Some((KNOWN_COMMIT_NORMAL, "holds 0, never written there"));
        }
        out.push(o);
        for backup in [false, true] {
            let mut o = rechunk_kind(d, backup, budget);
            if d == Durability::Normal {
                o.known = Some((KNOWN_RECHUNK_NORMAL, ""));
            }
            out.push(o);
        }
    }
    out.push(zip_kind(budget));
    let mut o = unzip_kind(budget);
    o.known = Some((KNOWN_UNZIP, ""));
    out.push(o);
    std::mem::take(out.0)
}

/// Outcomes, each printed as it is added.
struct Reporting<'a>(&'a mut Vec<Outcome>);

impl Reporting<'_> {
    fn push(&mut self, o: Outcome) {
        let flag = match (o.failed.is_empty(), o.known.is_some()) {
            (true, _) => "",
            (false, true) => " (known)",
            (false, false) => " (NEW)",
        };
        println!(
            "crash states: {:<34} {:>6} explored, {:>5} failed{flag}",
            o.kind,
            o.explored,
            o.failed.len(),
        );
        if let (false, Some((why, _))) = (o.failed.is_empty(), o.known) {
            println!("  known: {why}");
        }
        for msg in o.failed.iter().take(3) {
            println!("  e.g. {msg}");
        }
        self.0.push(o);
    }
}

#[test]
fn crash_states_of_every_operation_kind() {
    let exhaustive = std::env::var_os("WFSTORE_CRASH_EXHAUSTIVE").is_some();
    let seed = std::env::var("WFSTORE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(22);
    let cap = std::env::var("WFSTORE_CRASH_CAP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if exhaustive { 256 } else { 4 });
    let outcomes = all_kinds(Budget { cap, seed });
    let (mut n, mut f, mut unknown) = (0, 0, Vec::new());
    for o in &outcomes {
        n += o.explored;
        f += o.failed.len();
        let known = |m: &String| o.known.is_some_and(|(_, text)| m.contains(text));
        unknown.extend(o.failed.iter().filter(|m| !known(m)).cloned());
    }
    println!("crash states: {n} explored, {f} failed");
    assert!(
        unknown.is_empty(),
        "{} crash states failed: {:#?}",
        unknown.len(),
        &unknown[..unknown.len().min(5)]
    );
}

/// Record `run` on the folder `root` (already prepared).
fn recording(root: &Path, run: impl FnOnce()) -> Vec<Op> {
    let id = record::start(root, Fs::snapshot(root).inodes());
    run();
    record::stop(id)
}

#[test]
fn a_full_rechunk_flushes_the_folder_after_each_move() {
    // regression: the swap's moves were not flushed, so a power cut after a rechunk
    // with fsync returned could bring the old array back, and (file systems that
    // reorder) persist the old array's removal before the new one's move
    let d = tempfile::tempdir().unwrap();
    let root = d.path().canonicalize().unwrap();
    make_array(&root, "runs", &["r0", "r1", "r2"], 2);
    for backup in [false, true] {
        let ops = recording(&root, || {
            let store = Arc::new(LocalStore::new(&root).with_durability(Durability::Full));
            rechunk::rechunk_array(store, "runs", Some(3), backup, None).unwrap();
        });
        let folder_moves: Vec<usize> = (0..ops.len())
            .filter(|&i| matches!(&ops[i], Op::Rename { from, .. } if !from.contains('/')))
            .collect();
        assert!(folder_moves.len() >= 2, "{ops:?}");
        for i in folder_moves {
            assert!(
                matches!(&ops[i + 1], Op::FsyncDir { path } if path.is_empty()),
                "move {:?} not flushed: {:?}",
                ops[i],
                ops.get(i + 1)
            );
        }
    }
}

#[test]
fn a_full_write_into_a_new_folder_flushes_the_folder_above() {
    // regression: a new array's folder was created without flushing its parent, so
    // its (flushed) files could be lost with the folder's entry
    let d = tempfile::tempdir().unwrap();
    let root = d.path().canonicalize().unwrap();
    let ops = recording(&root, || {
        LocalStore::new(&root)
            .with_durability(Durability::Full)
            .set("a/b/0", b"x")
            .unwrap();
    });
    let mkdir_a = ops
        .iter()
        .position(|o| matches!(o, Op::Mkdir { path } if path == "a"));
    let mkdir_b = ops
        .iter()
        .position(|o| matches!(o, Op::Mkdir { path } if path == "a/b"));
    let sync = |dir: &str| {
        ops.iter()
            .position(|o| matches!(o, Op::FsyncDir { path } if path == dir))
    };
    assert!(mkdir_a < mkdir_b && mkdir_b.is_some(), "{ops:?}");
    assert!(sync("").is_some_and(|i| Some(i) > mkdir_a), "{ops:?}");
    assert!(sync("a").is_some_and(|i| Some(i) > mkdir_b), "{ops:?}");
}

#[test]
fn a_journal_a_power_cut_emptied_is_set_aside_and_the_store_opens() {
    // regression: an abandoned journal that does not parse (its data lost by a power
    // cut of a commit made without a flush) made every open of the store fail
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    make_array(root, "runs", &["a0", "a1"], 2);
    for bytes in [
        &b""[..],
        &[0u8; 40][..],
        &b"{\"pid\": 1, \"ops\": [[\"ren"[..],
    ] {
        let j = root.join(format!("{}999999999.0", crate::names::JOURNAL_PREFIX));
        std::fs::write(&j, bytes).unwrap();
        assert_eq!(recover_journals(root).unwrap(), 1);
        assert!(!j.exists());
        let aside: Vec<String> = names(root)
            .into_iter()
            .filter(|n| n.starts_with(crate::names::TMP_PREFIX))
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
        std::fs::remove_file(root.join(&aside[0])).unwrap();
        let (_, got) = rows(root, "runs", false).unwrap();
        assert!(exact(&got, &["a0", "a1"]));
    }
}

#[test]
fn a_full_commit_in_order_flushes_the_chunks_before_the_shape() {
    // regression: a commit without a journal (a parameter append) relies on its
    // renames persisting in order; with `Full` on a file system that reorders, the
    // new shape could persist before the chunks holding the new rows, which then
    // read as the fill value
    let d = tempfile::tempdir().unwrap();
    let root = d.path().canonicalize().unwrap();
    make_array(&root, "p", &["p0", "p1", "p2"], 2);
    let ops = recording(&root, || {
        let txn = Arc::new(TxnStore::local(
            LocalStore::new(&root).with_durability(Durability::Full),
            false,
        ));
        let a = ObjectArray::open(txn.clone(), "p", true).unwrap();
        txn.begin().unwrap();
        a.append(vec![s("P3"), s("P4")]).unwrap();
        txn.commit_in_order().unwrap();
    });
    let renamed = |name: &str| {
        ops.iter()
            .position(|o| matches!(o, Op::Rename { to, .. } if to == name))
            .unwrap()
    };
    let (chunk, shape) = (renamed("p/2").max(renamed("p/1")), renamed("p/.zarray"));
    assert!(
        ops[chunk..shape]
            .iter()
            .any(|o| matches!(o, Op::FsyncDir { path } if path == "p")),
        "{ops:?}"
    );
}

#[test]
fn no_code_of_the_core_changes_files_but_through_fsops() {
    // the replayed recordings catch a bypass on the paths the kinds exercise; this
    // catches one on any other path: the core's sources (test modules aside) name
    // no std::fs call that changes the file system
    fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "testing") {
                    sources(&p, out);
                }
            } else if p.extension().is_some_and(|x| x == "rs")
                && p.file_name()
                    .is_some_and(|n| n != "tests.rs" && n != "fsops.rs")
            {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 20, "{files:?}");
    let changes = [
        "fs::rename(",
        "fs::remove_file(",
        "fs::remove_dir",
        "fs::create_dir",
        "fs::write(",
        "fs::copy(",
        "fs::hard_link(",
        "File::create(",
        "OpenOptions::new()",
        "set_permissions(",
        "fs::symlink(",
    ];
    let mut found = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        // the inline test module, if any, ends the code checked
        let code_end = text
            .match_indices("#[cfg(test)]")
            .map(|(i, _)| i)
            .find(|&i| {
                let rest = text[i + "#[cfg(test)]".len()..].trim_start();
                rest.starts_with("mod tests {") || rest.starts_with("pub(crate) mod tests {")
            })
            .unwrap_or(text.len());
        let code = text[..code_end].replace("fsops::File::create", "");
        for (n, line) in code.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            for c in changes {
                if line.contains(c) && !line.contains(&format!("fsops::{c}")) {
                    found.push(format!("{}:{}: {line}", f.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "file changes outside storage/fsops.rs: {found:#?}"
    );
}
