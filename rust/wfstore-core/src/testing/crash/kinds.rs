//! The operations whose crash states are checked, and the checks.
//!
//! Every state is checked twice: by the operation's own rules (after the recovery the
//! docs prescribe: opening the store, `wfstore repair`), and key by key: each key
//! holds a value it held at some time of the operation (old, new, or in between),
//! is absent where it was absent at some time, or is named as damaged by the core's
//! verification ([`crate::ops::verify`], the rules of `wfstore verify`).
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
use crate::ops::verify::{verify_store, Damage};
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
}

type Check<'a> = dyn Fn(&Path, bool) -> Result<(), String> + 'a;

/// Run `run` on a folder prepared by `setup` while recording it, check that the
/// recording accounts for every change made to the folder, then check each crash
/// state with `check(state_folder, acknowledged)` (which runs the recovery the docs
/// prescribe first) and then with [`keys_old_new_or_named`].
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
    let history = key_history(&initial, &ops);
    let mut failed = Vec::new();
    let mut explored = 0;
    let scratch = work.path().join("state");
    for model in Model::ALL {
        explored += states(&initial, &ops, model, budget, |s| {
            std::fs::create_dir(&scratch).unwrap();
            s.fs.materialise(&scratch);
            if let Err(e) =
                check(&scratch, s.acked).and_then(|()| keys_old_new_or_named(&scratch, &history))
            {
                failed.push(format!("{kind}: {}: {e}", s.describe));
            }
            std::fs::remove_dir_all(&scratch).unwrap();
        });
    }
    Outcome {
        kind: kind.to_string(),
        explored,
        failed,
    }
}

/// Whether a path of the folder is a trace of a write in progress (a temporary file,
/// a journal, a rechunk's folders), not a key.
fn is_trace(path: &str) -> bool {
    path.split('/').any(|part| {
        part.starts_with(crate::names::TMP_PREFIX)
            || part.starts_with(crate::names::JOURNAL_PREFIX)
            || part == crate::names::RECHUNK_COMPLETE_MARKER
            || crate::names::RECHUNK_SUFFIXES
                .iter()
                .any(|x| part.ends_with(x))
    })
}

/// Every value (`None`: absent) each key (file path, traces aside) held at some point
/// of the recording, from the folder before it to the folder after it.
fn key_history(initial: &Fs, ops: &[Op]) -> BTreeMap<String, Vec<Option<Vec<u8>>>> {
    let mut hist: BTreeMap<String, Vec<Option<Vec<u8>>>> = BTreeMap::new();
    let mut fs = initial.clone();
    let note = |fs: &Fs, hist: &mut BTreeMap<String, Vec<Option<Vec<u8>>>>| {
        let now = fs.contents();
        let keys: Vec<String> = hist.keys().cloned().collect();
        for k in keys {
            if !now.contains_key(&k) {
                let h = hist.get_mut(&k).unwrap();
                if !h.contains(&None) {
                    h.push(None);
                }
            }
        }
        for (k, v) in now {
            let Some(bytes) = v else { continue };
            if is_trace(&k) {
                continue;
            }
            let h = hist.entry(k).or_insert_with(|| vec![None]);
            if !h.contains(&Some(bytes.clone())) {
                h.push(Some(bytes));
            }
        }
    };
    // keys present from the start were never absent
    for (k, v) in initial.contents() {
        if let Some(bytes) = v {
            if !is_trace(&k) {
                hist.insert(k, vec![Some(bytes)]);
            }
        }
    }
    note(&fs, &mut hist);
    for o in ops {
        fs.apply(o);
        note(&fs, &mut hist);
    }
    hist
}

/// The rule for every key, whatever the durability: it holds a value it held
/// at some time of the operation (its old value, its new one, or one in between; never
/// another key's bytes), or is absent where it was absent at some time, or the core's
/// verification ([`verify_store`], the rules of `wfstore verify`) names it as damaged.
fn keys_old_new_or_named(
    root: &Path,
    history: &BTreeMap<String, Vec<Option<Vec<u8>>>>,
) -> Result<(), String> {
    let now = files(root);
    let mut odd: Vec<&str> = Vec::new();
    for (k, h) in history {
        if !h.contains(&now.get(k).cloned()) {
            odd.push(k);
        }
    }
    for k in now.keys() {
        if !is_trace(k) && !history.contains_key(k) {
            odd.push(k);
        }
    }
    if odd.is_empty() {
        return Ok(());
    }
    let st: Arc<dyn Store> = Arc::new(LocalStore::new(root));
    let named: Vec<String> = verify_store(st)
        .map_err(|e| format!("verify failed: {e}"))?
        .iter()
        .map(Damage::location)
        .collect();
    // a JSON store or a Zarr store may lie below the folder (zip, unzip): verify each
    let mut named = named;
    for sub in names(root) {
        if root.join(&sub).is_dir() {
            let st: Arc<dyn Store> = Arc::new(LocalStore::new(root.join(&sub)));
            if let Ok(v) = verify_store(st) {
                named.extend(v.iter().map(|d| format!("{sub}/{}", d.location())));
            }
        }
    }
    let unnamed: Vec<&&str> = odd
        .iter()
        .filter(|k| !named.contains(&k.to_string()))
        .collect();
    if unnamed.is_empty() {
        return Ok(());
    }
    Err(format!(
        "keys holding a value never written to them, not named by verify: {}",
        unnamed
            .iter()
            .map(|k| format!("{k} = {:?}", now.get(**k).map(|b| &b[..b.len().min(24)])))
            .collect::<Vec<_>>()
            .join(", ")
    ))
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

/// Rows beyond the first `old` that read as the fill value (0), as not read (`None`):
/// with `"normal"` on a file system that may persist renames out of order (the weak
/// model), a commit's new `.zarray` can reach the disk before the chunk holding the
/// rows it adds, and Zarr reads a row whose chunk holds no value for it as the fill
/// value. Every key then holds its old or its new value (checked by
/// `keys_old_new_or_named`); no reader can tell such a row from one never written.
fn beyond_as_fill(got: Vec<Option<Value>>, old: usize) -> Vec<Option<Value>> {
    got.into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Some(v) if i >= old && v == Value::from(0) => None,
            v => v,
        })
        .collect()
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
                    // with "normal" on a file system that reorders renames, the new
                    // `.zarray` can persist without the chunk: the fill value (each
                    // key holds a value written to it; see `keys_old_new_or_named`)
                    Ok(bytes) if normal && bytes.iter().all(|b| *b == 0) => true,
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
                let (x, y) = (
                    beyond_as_fill(x, x_old.len()),
                    beyond_as_fill(y, y_old.len()),
                );
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
            let got = if normal {
                beyond_as_fill(got, old.len())
            } else {
                got
            };
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
            // as the Python package rechunks: through the store's transaction wrapper
            let store = Arc::new(TxnStore::local(
                LocalStore::new(root).with_durability(d),
                false,
            ));
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

/// The three documents of a JSON store, as a commit leaves them.
fn json_docs(tag: &str) -> [(&'static str, Vec<u8>); 3] {
    [
        (
            "metadata.json",
            format!("{{\"name\": \"w\", \"runs\": [\"{tag}\"]}}").into_bytes(),
        ),
        (
            "parameters.json",
            format!("{{\"data\": {{\"0\": \"{tag}\"}}, \"sources\": {{}}}}").into_bytes(),
        ),
        ("submissions.json", format!("[\"{tag}\"]").into_bytes()),
    ]
}

/// A JSON store's commit: the documents it changed written together by the core's
/// `write_files_atomic` (as `JSONFileStoreResource.write_staged` writes them, through
/// `wfstore.persistence.resources.write_files_atomic`): every temporary file, then
/// the renames.
fn json_commit(d: Durability, budget: Budget) -> Outcome {
    explore(
        &format!("JSON store commit ({d})"),
        budget,
        &|root| {
            for (name, bytes) in json_docs("old") {
                std::fs::write(root.join(name), bytes).unwrap();
            }
        },
        &|root| {
            let files: Vec<(std::path::PathBuf, Vec<u8>)> = json_docs("new")
                .into_iter()
                .take(2) // a commit that adds a run and a parameter
                .map(|(n, b)| (root.join(n), b))
                .collect();
            crate::storage::atomic::write_files_atomic(&files, d).unwrap();
        },
        &|root, acked| {
            // documents are not committed together (docs/durability.md): each old or
            // new, checked with every key; with "full" an acknowledged commit is whole
            if acked && d == Durability::Full {
                for (name, bytes) in json_docs("new").into_iter().take(2) {
                    if std::fs::read(root.join(name)).ok() != Some(bytes) {
                        return Err(format!("acknowledged commit lost: {name} is not new"));
                    }
                }
            }
            Ok(())
        },
    )
}

/// `wfstore repair` of a Zarr store: the file operations of python/wfstore/tools/repair.py
/// (`recover_journals(locked=True)`, `recover_rechunk_array`, then removing the
/// temporary files no journal names; the Python unlinks are `os.unlink`, done here
/// through fsops in the same order) on a store a killed commit and a killed rechunk
/// left: a journal, its temporary files (one renamed already), an array moved aside
/// between the two moves of a rechunk's swap, and a stale temporary file.
fn repair_kind(d: Durability, budget: Budget) -> Outcome {
    let old = ["a0", "a1", "a2", "a3"];
    let new = ["A0", "a1", "A2", "A3"];
    let r_rows = ["r0", "r1", "r2"];
    explore(
        &format!("repair ({d})"),
        budget,
        &|root| {
            make_array(root, "runs", &old, 2);
            // the chunks of the new rows, as a commit wrote them to temporary files
            let scratch = root.join("scratch");
            make_array(&scratch, "runs", &new, 2);
            let mut ops = Vec::new();
            for c in ["0", "1"] {
                let tmp = format!("runs/{}c{c}", crate::names::TMP_PREFIX);
                std::fs::copy(scratch.join("runs").join(c), root.join(&tmp)).unwrap();
                ops.push(serde_json::json!(["rename", tmp, format!("runs/{c}")]));
            }
            // the killed commit had done its first rename
            std::fs::rename(
                root.join(format!("runs/{}c0", crate::names::TMP_PREFIX)),
                root.join("runs/0"),
            )
            .unwrap();
            std::fs::write(
                root.join(format!("{}999999999.0", crate::names::JOURNAL_PREFIX)),
                serde_json::json!({"pid": 999_999_999u32, "ops": ops}).to_string(),
            )
            .unwrap();
            // a rechunk killed between its moves: the new array is complete
            make_array(root, "rc", &r_rows, 1);
            make_array(&scratch, "rc", &r_rows, 3);
            std::fs::write(scratch.join("rc").join(rechunk::COMPLETE_MARKER), b"").unwrap();
            std::fs::rename(
                root.join("rc"),
                root.join(format!("rc{}", rechunk::OLD_SUFFIX)),
            )
            .unwrap();
            std::fs::rename(
                scratch.join("rc"),
                root.join(format!("rc{}", rechunk::TMP_SUFFIX)),
            )
            .unwrap();
            std::fs::remove_dir_all(&scratch).unwrap();
            std::fs::write(
                root.join(format!("runs/{}stale", crate::names::TMP_PREFIX)),
                b"x",
            )
            .unwrap();
        },
        &|root| repair_steps(root, d).unwrap(),
        &|root, _acked| {
            // whatever repair did before the crash, repair again makes the store whole
            repair_steps(root, d).map_err(|e| format!("repair after the crash: {e}"))?;
            let (_, got) = rows(root, "runs", false)?;
            if !exact(&got, &new) {
                return Err(format!(
                    "the journaled commit is not whole after repair: runs {got:?}"
                ));
            }
            let (_, rc) = rows(root, "rc", false)?;
            if !exact(&rc, &r_rows) {
                return Err(format!("rc after repair: {rc:?}"));
            }
            let left: Vec<String> = files(root).into_keys().filter(|k| is_trace(k)).collect();
            if !left.is_empty() {
                return Err(format!("left after repair: {left:?}"));
            }
            Ok(())
        },
    )
}

/// The file operations of `wfstore repair` (see [`repair_kind`]).
fn repair_steps(root: &Path, d: Durability) -> crate::error::Result<()> {
    crate::storage::txn::recover_journals_under_lock(root)?;
    let store = LocalStore::new(root).with_durability(d);
    rechunk::recover_array(&store, "rc")?;
    let mut temps = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, e))?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(crate::names::TMP_PREFIX) {
                temps.push(e.path());
            } else if e.path().is_dir() {
                stack.push(e.path());
            }
        }
    }
    temps.sort();
    for t in temps {
        crate::storage::fsops::remove_file(&t).map_err(|e| Error::io(&t, e))?;
    }
    Ok(())
}

/// One hpcflow 0.3.0 run-file entry (the nine fields).
fn v03_run(skip: i64, success: Option<bool>) -> Value {
    let mut f = vec![Value::from(skip), success.map_or(Value::Nil, Value::from)];
    f.extend((0..7).map(|_| Value::Nil));
    Value::Array(f)
}

fn msgpack(v: &Value) -> Vec<u8> {
    let mut b = Vec::new();
    rmpv::encode::write_value(&mut b, v).unwrap();
    b
}

/// A parameter file: `HPCFZ1` and a zstd level-1 frame of msgpack entries.
fn v03_param_file(entries: Vec<Vec<(&str, &str)>>) -> Vec<u8> {
    let v = Value::Array(
        entries
            .into_iter()
            .map(|e| {
                Value::Map(
                    e.into_iter()
                        .map(|(k, x)| (Value::from(k), Value::from(x)))
                        .collect(),
                )
            })
            .collect(),
    );
    let zstd = Compressor::Zstd {
        level: 1,
        checksum: false,
    };
    let mut out = b"HPCFZ1".to_vec();
    out.extend(zstd.compress(&msgpack(&v), 1).unwrap());
    out
}

/// hpcflow 0.3.0's run-time writes, as python/wfstore/persistence/v03/writes.py makes
/// them through a core `LocalStore`'s `set`: a run file updated (a run's end), the
/// parameter file of its outputs updated, and a run file of a new shard folder
/// created.
fn v03_writes(d: Durability, budget: Budget) -> Outcome {
    let run_key = "metadata/run_multi/0/0/0";
    let new_run_key = "metadata/run_multi/0/1/1000";
    let param_key = "parameters/base_multi/0/0/1";
    explore(
        &format!("hpcflow 0.3.0 run and parameter files ({d})"),
        budget,
        &|root| {
            let st = LocalStore::new(root);
            st.set(".zgroup", b"{\"zarr_format\": 2}").unwrap();
            st.set(
                run_key,
                &msgpack(&Value::Array(vec![v03_run(0, None), Value::Nil])),
            )
            .unwrap();
            st.set(param_key, &v03_param_file(vec![vec![("0", "in")]]))
                .unwrap();
        },
        &|root| {
            let st = LocalStore::new(root).with_durability(d);
            st.set(
                run_key,
                &msgpack(&Value::Array(vec![v03_run(0, Some(true)), Value::Nil])),
            )
            .unwrap();
            st.set(
                param_key,
                &v03_param_file(vec![vec![("0", "in"), ("1", "out")]]),
            )
            .unwrap();
            st.set(new_run_key, &msgpack(&Value::Array(vec![v03_run(0, None)])))
                .unwrap();
        },
        &|root, acked| {
            // each file old or new or named by verify (checked with every key); with
            // "full", each write acknowledged is on disk
            if acked && d == Durability::Full {
                let st = LocalStore::new(root);
                let run = st.get(run_key).ok().flatten().unwrap_or_default();
                let want = msgpack(&Value::Array(vec![v03_run(0, Some(true)), Value::Nil]));
                if run != want || st.get(new_run_key).ok().flatten().is_none() {
                    return Err("acknowledged run-file write lost".into());
                }
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
        out.push(batch_commit(d, budget));
        out.push(append_kind(d, budget));
        for backup in [false, true] {
            out.push(rechunk_kind(d, backup, budget));
        }
        out.push(json_commit(d, budget));
        out.push(repair_kind(d, budget));
        out.push(v03_writes(d, budget));
    }
    out.push(zip_kind(budget));
    out.push(unzip_kind(budget));
    std::mem::take(out.0)
}

/// Outcomes, each printed as it is added.
struct Reporting<'a>(&'a mut Vec<Outcome>);

impl Reporting<'_> {
    fn push(&mut self, o: Outcome) {
        println!(
            "crash states: {:<40} {:>6} explored, {:>5} failed",
            o.kind,
            o.explored,
            o.failed.len(),
        );
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
        .unwrap_or(if exhaustive { 256 } else { 16 });
    let outcomes = all_kinds(Budget { cap, seed });
    let (mut n, mut failed) = (0, Vec::new());
    for o in &outcomes {
        n += o.explored;
        failed.extend(o.failed.iter().cloned());
    }
    println!("crash states: {n} explored, {} failed", failed.len());
    assert!(
        failed.is_empty(),
        "{} crash states failed: {:#?}",
        failed.len(),
        &failed[..failed.len().min(5)]
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
    // (chunk 1 holds an old row: renamed over; chunk 2 is wholly past the old end:
    // written in place)
    let renamed = |name: &str| {
        ops.iter()
            .position(|o| matches!(o, Op::Rename { to, .. } if to == name))
            .unwrap()
    };
    let created = |name: &str| {
        ops.iter()
            .position(|o| matches!(o, Op::Create { path, .. } if path == name))
            .unwrap()
    };
    assert!(!ops
        .iter()
        .any(|o| matches!(o, Op::Rename { to, .. } if to == "p/2")));
    let (chunk, shape) = (created("p/2").max(renamed("p/1")), renamed("p/.zarray"));
    assert!(
        ops[chunk..shape]
            .iter()
            .any(|o| matches!(o, Op::FsyncDir { path } if path == "p")),
        "{ops:?}"
    );
}

/// The inode numbers of the files below `dir` of the folder `root`.
fn files_below(root: &Path, dir: &str) -> Vec<u64> {
    let fs = Fs::snapshot(root);
    fs.tree
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{dir}/")))
        .filter_map(|(_, n)| match n {
            super::Node::File(i) => Some(*i),
            super::Node::Dir => None,
        })
        .collect()
}

#[test]
fn a_normal_rechunk_flushes_the_new_array_before_the_swap() {
    // regression (crash states of rechunk with "normal"): the swap's moves could reach
    // the disk before the new array's files, leaving empty or zero-filled chunks and
    // `.zarray` under the array's name
    let d = tempfile::tempdir().unwrap();
    let root = d.path().canonicalize().unwrap();
    make_array(&root, "runs", &["r0", "r1", "r2"], 2);
    // as the Python package rechunks: through the store's transaction wrapper
    let ops = recording(&root, || {
        let store = Arc::new(TxnStore::local(
            LocalStore::new(&root).with_durability(Durability::Normal),
            false,
        ));
        rechunk::rechunk_array(store, "runs", Some(3), false, None).unwrap();
    });
    // the new array's files (now under "runs") are each flushed before the first move
    let tmp_files = files_below(&root, "runs");
    let first_move = ops
        .iter()
        .position(|o| matches!(o, Op::Rename { from, .. } if from == "runs"))
        .unwrap();
    for ino in &tmp_files {
        assert!(
            ops[..first_move]
                .iter()
                .any(|o| matches!(o, Op::Fsync { ino: i } if i == ino)),
            "file {ino} not flushed before the swap: {ops:?}"
        );
    }
    let tmp = format!("runs{}", rechunk::TMP_SUFFIX);
    for dir in [tmp.as_str(), ""] {
        assert!(
            ops[..first_move]
                .iter()
                .any(|o| matches!(o, Op::FsyncDir { path } if path == dir)),
            "folder {dir:?} not flushed before the swap: {ops:?}"
        );
    }
}

#[test]
fn unzip_flushes_every_file_and_folder_before_its_rename() {
    // regression (crash states of unzip): a power cut could leave empty or zero-filled
    // files in the store folder under its final name
    let d = tempfile::tempdir().unwrap();
    let root = d.path().canonicalize().unwrap();
    make_store(&root.join("src"));
    zip_dir(&root.join("src"), &root.join("s.zip"), &[], None).unwrap();
    let ops = recording(&root, || {
        unzip(&root.join("s.zip"), &root.join("out"), None).unwrap();
    });
    let rename = ops
        .iter()
        .position(|o| matches!(o, Op::Rename { to, .. } if to == "out"))
        .unwrap();
    let created: Vec<u64> = ops
        .iter()
        .filter_map(|o| match o {
            Op::Create { ino, .. } => Some(*ino),
            _ => None,
        })
        .collect();
    assert!(created.len() >= 3, "{ops:?}");
    for ino in created {
        assert!(
            ops[..rename]
                .iter()
                .any(|o| matches!(o, Op::Fsync { ino: i } if *i == ino)),
            "extracted file {ino} not flushed before the rename: {ops:?}"
        );
    }
    let made: Vec<&String> = ops
        .iter()
        .filter_map(|o| match o {
            Op::Mkdir { path } => Some(path),
            _ => None,
        })
        .collect();
    for dir in made {
        assert!(
            ops[..rename]
                .iter()
                .any(|o| matches!(o, Op::FsyncDir { path } if path == dir)),
            "folder {dir} not flushed before the rename: {ops:?}"
        );
    }
}

#[test]
fn journal_recovery_flushes_its_renames_before_removing_the_journal() {
    // regression (crash states of repair, weak model): the journal's removal could
    // reach the disk before a rename it named, leaving the commit part applied with
    // nothing left to finish it
    let d = tempfile::tempdir().unwrap();
    let root = d.path().canonicalize().unwrap();
    make_array(&root, "runs", &["a0", "a1", "a2"], 2);
    let tmp = format!("runs/{}x", crate::names::TMP_PREFIX);
    std::fs::write(root.join(&tmp), std::fs::read(root.join("runs/1")).unwrap()).unwrap();
    let journal = format!("{}1.0", crate::names::JOURNAL_PREFIX);
    std::fs::write(
        root.join(&journal),
        serde_json::json!({"pid": 999_999_999u32, "ops": [["rename", tmp, "runs/1"]]}).to_string(),
    )
    .unwrap();
    let ops = recording(&root, || {
        crate::storage::txn::recover_journals_under_lock(&root).unwrap();
    });
    let renamed = ops
        .iter()
        .position(|o| matches!(o, Op::Rename { to, .. } if to == "runs/1"))
        .unwrap();
    let removed = ops
        .iter()
        .position(|o| matches!(o, Op::Unlink { path } if *path == journal))
        .unwrap();
    assert!(
        ops[renamed..removed]
            .iter()
            .any(|o| matches!(o, Op::FsyncDir { path } if path == "runs")),
        "{ops:?}"
    );
}

#[test]
fn write_files_atomic_leaves_nothing_when_a_file_cannot_be_written() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    std::fs::write(root.join("a.json"), b"old").unwrap();
    for dur in Durability::ALL {
        let files = vec![
            (root.join("a.json"), b"new".to_vec()),
            // its folder is a file
            (root.join("a.json/b.json"), b"new".to_vec()),
        ];
        let err = crate::storage::atomic::write_files_atomic(&files, dur).unwrap_err();
        assert!(err.to_string().contains("a.json"), "{err}");
        assert_eq!(std::fs::read(root.join("a.json")).unwrap(), b"old");
        assert_eq!(names(root), ["a.json"], "{dur}");
    }
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
