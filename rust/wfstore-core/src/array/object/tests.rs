//! Tests of object arrays.

use super::*;
use crate::array::codec::Compressor;
use crate::codec::encode_object_chunk;
use crate::storage::local::LocalStore;
use proptest::prelude::*;

fn new_store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let d = tempfile::tempdir().unwrap();
    let s: Arc<dyn Store> = Arc::new(LocalStore::new(d.path()));
    (d, s)
}

fn vals(r: std::ops::Range<i64>) -> Vec<Value> {
    r.map(|i| Value::Map(vec![(Value::from("i"), Value::from(i))]))
        .collect()
}

/// A store recording the keys read from, written to (atomically, or in place with
/// `set_temp`) and deleted from it.
struct Counting {
    inner: LocalStore,
    gets: std::sync::Mutex<Vec<String>>,
    sets: std::sync::Mutex<Vec<String>>,
    temps: std::sync::Mutex<Vec<String>>,
    deletes: std::sync::Mutex<Vec<String>>,
}

impl Store for Counting {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.gets.lock().unwrap().push(key.to_string());
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.sets.lock().unwrap().push(key.to_string());
        self.inner.set(key, value)
    }
    fn set_temp(&self, key: &str, value: &[u8]) -> Result<()> {
        self.temps.lock().unwrap().push(key.to_string());
        self.inner.set_temp(key, value)
    }
    fn delete(&self, key: &str) -> Result<()> {
        self.deletes.lock().unwrap().push(key.to_string());
        self.inner.delete(key)
    }
    fn list_dir(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list_dir(prefix)
    }
}

/// A [`Counting`] store in a new folder, and the same as a `dyn Store`.
fn counting_store() -> (tempfile::TempDir, Arc<Counting>, Arc<dyn Store>) {
    let d = tempfile::tempdir().unwrap();
    let c = Arc::new(Counting {
        inner: LocalStore::new(d.path()),
        gets: Default::default(),
        sets: Default::default(),
        temps: Default::default(),
        deletes: Default::default(),
    });
    let s: Arc<dyn Store> = c.clone();
    (d, c, s)
}

#[test]
fn appended_fill_chunks_delete_only_leftover_files() {
    // without write_empty_chunks, appending rows of only the fill value (unset
    // parameters) deletes no chunk that has no file (on NFS each delete is a round
    // trip), but does delete a leftover file past the old end (an append that failed
    // before its length was recorded), which must not come back as rows
    let (_d, c, s) = counting_store();
    let opts = ObjectArrayOptions {
        chunk_size: Some(1),
        fill_value: Value::Nil,
        write_empty_chunks: false,
        ..Default::default()
    };
    let a = ObjectArray::create(s.clone(), "p", 0, &opts).unwrap();
    a.append(vec![Value::from(1)]).unwrap();
    // a leftover: chunk 3 written, its length never recorded
    s.set(
        "p/3",
        &encode_object_chunk(&[Value::from("stale")], &Compressor::None).unwrap(),
    )
    .unwrap();
    c.deletes.lock().unwrap().clear();
    a.append(vec![Value::Nil, Value::from(2), Value::Nil, Value::Nil])
        .unwrap();
    assert_eq!(*c.deletes.lock().unwrap(), vec!["p/3".to_string()]);
    assert!(s.get("p/3").unwrap().is_none());
    let b = ObjectArray::open(s.clone(), "p", false).unwrap();
    assert_eq!(
        b.get_all().unwrap(),
        vec![
            Value::from(1),
            Value::Nil,
            Value::from(2),
            Value::Nil,
            Value::Nil
        ]
    );
    // a row set back to the fill value inside the length: its chunk is deleted
    b.set(&[2], vec![Value::Nil]).unwrap();
    assert!(s.get("p/2").unwrap().is_none());
    assert_eq!(b.get(&[2]).unwrap(), vec![Value::Nil]);
}

#[test]
fn a_chunk_without_a_file_is_looked_up_once_per_read_or_write() {
    // an unset parameter's chunk has no file; each lookup of it is a round trip on
    // NFS, so reading, setting or checking a few of its rows looks it up once
    let (_d, c, s) = counting_store();
    for cs in [1u64, 10] {
        let path = format!("p{cs}");
        let opts = ObjectArrayOptions {
            chunk_size: Some(cs),
            fill_value: Value::Nil,
            write_empty_chunks: false,
            ..Default::default()
        };
        let a = ObjectArray::create(s.clone(), &path, 0, &opts).unwrap();
        a.append(vec![Value::Nil; 30]).unwrap();
        let key = format!("{path}/{}", 21 / cs);
        assert!(s.get(&key).unwrap().is_none());
        let lookups = |c: &Counting| {
            let gets = std::mem::take(&mut *c.gets.lock().unwrap());
            gets.iter().filter(|k| **k == key).count()
        };
        lookups(&c);
        assert_eq!(a.get(&[21]).unwrap(), vec![Value::Nil]);
        assert_eq!(lookups(&c), 1, "get, chunk size {cs}");
        let done = a.set_unless_map(&[21], vec![Value::from(7)]).unwrap();
        assert!(done.is_empty());
        assert_eq!(lookups(&c), 1, "set_unless_map, chunk size {cs}");
        assert_eq!(a.get(&[21]).unwrap(), vec![Value::from(7)]);
        lookups(&c);
        // set a row of another chunk without a file (one row of ten: spliced in)
        if cs > 1 {
            let other = format!("{path}/0");
            assert!(s.get(&other).unwrap().is_none());
            c.gets.lock().unwrap().clear();
            a.set(&[3], vec![Value::from(3)]).unwrap();
            let gets = std::mem::take(&mut *c.gets.lock().unwrap());
            assert_eq!(gets.iter().filter(|k| **k == other).count(), 1);
            assert_eq!(a.get(&[2, 3]).unwrap(), vec![Value::Nil, Value::from(3)]);
            // rows set back to the fill value: kept beside another row, and the chunk
            // deleted once it holds only fill values
            a.set(&[4], vec![Value::from(4)]).unwrap();
            a.set(&[3], vec![Value::Nil]).unwrap();
            assert_eq!(a.get(&[3, 4]).unwrap(), vec![Value::Nil, Value::from(4)]);
            a.set(&[4], vec![Value::Nil]).unwrap();
            assert!(s.get(&other).unwrap().is_none());
        }
    }
}

#[test]
fn an_append_writes_chunks_wholly_past_the_end_in_place() {
    // no reader looks at them before the new length is written: no temporary file
    // and rename each (on a network file system a call to the server each)
    let (_d, c, s) = counting_store();
    let a = ObjectArray::create(
        s.clone(),
        "p",
        0,
        &ObjectArrayOptions {
            chunk_size: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    a.append(vals(0..3)).unwrap();
    std::mem::take(&mut *c.sets.lock().unwrap());
    std::mem::take(&mut *c.temps.lock().unwrap());
    a.append(vals(3..8)).unwrap();
    let mut temps = std::mem::take(&mut *c.temps.lock().unwrap());
    temps.sort();
    assert_eq!(temps, ["p/2", "p/3"]); // rows 4-7
    assert_eq!(*c.sets.lock().unwrap(), ["p/1", "p/.zarray"]); // row 3 beside row 2
    assert_eq!(a.get_all().unwrap(), vals(0..8));
}

#[test]
fn an_append_ignores_what_a_failed_append_left_past_the_end() {
    // a crash can leave chunk files past the recorded length, whole or cut short: the
    // next append owns those chunks whole (their rows are past the end), so it neither
    // reads them nor keeps their bytes, whatever they hold
    for cs in [1u64, 4] {
        let (_d, s) = new_store();
        let opts = ObjectArrayOptions {
            chunk_size: Some(cs),
            fill_value: Value::Nil,
            ..Default::default()
        };
        let a = ObjectArray::create(s.clone(), "p", 0, &opts).unwrap();
        a.append(vec![
            Value::from(0),
            Value::from(1),
            Value::from(2),
            Value::from(3),
        ])
        .unwrap();
        let whole =
            encode_object_chunk(&vec![Value::from("stale"); cs as usize], &Compressor::None)
                .unwrap();
        s.set(&format!("p/{}", 4 / cs), &whole[..whole.len() / 2])
            .unwrap(); // cut short
        s.set(&format!("p/{}", 8 / cs), &whole).unwrap(); // whole
        a.append(vec![Value::from(4)]).unwrap();
        a.append((5..10).map(Value::from).collect()).unwrap();
        let want: Vec<Value> = (0..10).map(Value::from).collect();
        assert_eq!(a.get_all().unwrap(), want, "chunk size {cs}");
        a.resize(12).unwrap();
        assert_eq!(a.get(&[10, 11]).unwrap(), vec![Value::Nil, Value::Nil]);
        assert!(a.verify().unwrap().is_empty());
    }
}

#[test]
fn updates_that_change_nothing_write_nothing() {
    let (_d, c, s) = counting_store();
    for write_empty_chunks in [true, false] {
        let path = format!("p{write_empty_chunks}");
        let opts = ObjectArrayOptions {
            chunk_size: Some(10),
            fill_value: Value::from(0),
            write_empty_chunks,
            ..Default::default()
        };
        let a = ObjectArray::create(s.clone(), &path, 0, &opts).unwrap();
        a.append(vec![Value::from("a"), Value::from("b")]).unwrap();
        let written = |c: &Counting| std::mem::take(&mut *c.sets.lock().unwrap());
        written(&c);
        // an appended row equal to the fill value the padded chunk holds: only the
        // metadata (the new length) is written
        a.append(vec![Value::from(0)]).unwrap();
        assert_eq!(written(&c), vec![format!("{path}/.zarray")]);
        // a row set to its value, a field patched to its value: nothing written
        a.set(&[1], vec![Value::from("b")]).unwrap();
        assert_eq!(written(&c), Vec::<String>::new());
        a.set(
            &[0],
            vec![Value::Array(vec![Value::from(1), Value::from("x")])],
        )
        .unwrap();
        written(&c);
        a.patch(&[0], vec![vec![(1, Value::from("x"))]]).unwrap();
        assert_eq!(written(&c), Vec::<String>::new());
        // a real change is written, and read back
        a.patch(&[0], vec![vec![(1, Value::from("y"))]]).unwrap();
        a.set(&[2], vec![Value::from("c")]).unwrap();
        assert_eq!(written(&c), vec![format!("{path}/0"), format!("{path}/0")]);
        let b = ObjectArray::open(s.clone(), &path, write_empty_chunks).unwrap();
        assert_eq!(
            b.get_all().unwrap(),
            vec![
                Value::Array(vec![Value::from(1), Value::from("y")]),
                Value::from("b"),
                Value::from("c")
            ]
        );
    }
}

#[test]
fn append_get_set_resize() {
    let (_d, s) = new_store();
    let a = ObjectArray::create(
        s.clone(),
        "metadata/runs",
        0,
        &ObjectArrayOptions {
            chunk_size: Some(3),
            compressor: Compressor::default(),
            fill_value: Value::from(0),
            ..Default::default()
        },
    )
    .unwrap();
    a.append(vals(0..7)).unwrap();
    assert_eq!(a.len(), 7);
    assert_eq!(
        a.get(&[6, 0, 6, 3]).unwrap(),
        vec![
            vals(6..7)[0].clone(),
            vals(0..1)[0].clone(),
            vals(6..7)[0].clone(),
            vals(3..4)[0].clone()
        ]
    );
    a.set(&[1, 5], vec![Value::from("x"), Value::from("y")])
        .unwrap();
    let b = ObjectArray::open(s.clone(), "metadata/runs", true).unwrap();
    let all = b.get_all().unwrap();
    assert_eq!(all[1], Value::from("x"));
    assert_eq!(all[5], Value::from("y"));
    assert_eq!(all[4], vals(4..5)[0]);
    a.resize(4).unwrap();
    a.resize(9).unwrap();
    let all = a.get_all().unwrap();
    assert_eq!(all.len(), 9);
    assert!(all[4..].iter().all(|v| *v == Value::from(0)), "{all:?}");
    assert!(matches!(
        a.get(&[9]),
        Err(Error::IndexOutOfRange {
            index: 9,
            len: 9,
            ..
        })
    ));
    assert!(matches!(
        a.set(&[1], vec![]),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn patch_sets_fields_of_rows_and_names_bad_rows() {
    let (_d, store) = new_store();
    let a = ObjectArray::create(
        store.clone(),
        "rows",
        0,
        &ObjectArrayOptions {
            chunk_size: Some(3),
            ..Default::default()
        },
    )
    .unwrap();
    let rows: Vec<Value> = (0..7)
        .map(|i| Value::Array(vec![Value::from(i), Value::Nil, Value::from("x")]))
        .collect();
    a.append(rows).unwrap();
    a.patch(
        &[1, 5, 6],
        vec![
            vec![(1, Value::from(10))],
            vec![(1, Value::from(50)), (2, Value::from("y"))],
            vec![],
        ],
    )
    .unwrap();
    let got = a.get_all().unwrap();
    assert_eq!(
        got[1],
        Value::Array(vec![Value::from(1), Value::from(10), Value::from("x")])
    );
    assert_eq!(
        got[5],
        Value::Array(vec![Value::from(5), Value::from(50), Value::from("y")])
    );
    assert_eq!(
        got[0],
        Value::Array(vec![Value::from(0), Value::Nil, Value::from("x")])
    );
    // out of range index, position past the row's end, and a row that is no list
    assert!(matches!(
        a.patch(&[7], vec![vec![]]),
        Err(Error::IndexOutOfRange { .. })
    ));
    let e = a.patch(&[2], vec![vec![(3, Value::Nil)]]).unwrap_err();
    assert!(e.to_string().contains("row 2 has 3 fields"), "{e}");
    a.set(&[4], vec![Value::from(4)]).unwrap();
    let e = a.patch(&[4], vec![vec![(0, Value::Nil)]]).unwrap_err();
    assert!(e.to_string().contains("row 4 is not a list"), "{e}");
    // a failed patch wrote nothing
    assert_eq!(a.get(&[2]).unwrap()[0], got[2]);
}

#[test]
fn empty_chunks_not_written_when_asked() {
    let (d, s) = new_store();
    let a = ObjectArray::create(
        s,
        "p",
        4,
        &ObjectArrayOptions {
            chunk_size: Some(2),
            compressor: Compressor::default(),
            fill_value: Value::from(0),
            write_empty_chunks: false,
            ..Default::default()
        },
    )
    .unwrap();
    a.set(&[0, 1], vec![Value::from(0), Value::from(0)])
        .unwrap();
    assert!(!d.path().join("p/0").exists());
    a.set(&[2], vec![Value::from(5)]).unwrap();
    assert!(d.path().join("p/1").exists());
    a.set(&[2], vec![Value::from(0)]).unwrap();
    assert!(!d.path().join("p/1").exists());
}

#[test]
fn corrupt_chunk_named_and_others_readable() {
    let (d, s) = new_store();
    let a = ObjectArray::create(
        s,
        "r",
        0,
        &ObjectArrayOptions {
            chunk_size: Some(2),
            compressor: Compressor::default(),
            fill_value: Value::Nil,
            ..Default::default()
        },
    )
    .unwrap();
    a.append(vals(0..6)).unwrap();
    std::fs::write(d.path().join("r/1"), b"garbage").unwrap();
    let e = a.get(&[2]).unwrap_err();
    assert!(
        matches!(&e, Error::CorruptChunk { key, .. } if key == "1"),
        "{e}"
    );
    assert_eq!(a.get(&[0, 5]).unwrap().len(), 2);
    assert_eq!(a.verify().unwrap().len(), 1);
    let e = a.read_item_bytes(&[0, 1]).unwrap_err();
    assert!(
        matches!(&e, Error::CorruptChunk { key, .. } if key == "1"),
        "{e}"
    );
    assert_eq!(a.read_item_bytes(&[2]).unwrap().unwrap()[0].len(), 2);
}

#[test]
fn exists_and_missing_errors() {
    let (_d, s) = new_store();
    ObjectArray::create(
        s.clone(),
        "x",
        0,
        &ObjectArrayOptions {
            chunk_size: Some(2),
            compressor: Compressor::None,
            fill_value: Value::Nil,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(matches!(
        ObjectArray::create(
            s.clone(),
            "x",
            0,
            &ObjectArrayOptions {
                chunk_size: Some(2),
                compressor: Compressor::None,
                fill_value: Value::Nil,
                ..Default::default()
            }
        ),
        Err(Error::ArrayExists { .. })
    ));
    assert!(matches!(
        ObjectArray::open(s, "y", true),
        Err(Error::ArrayNotFound { .. })
    ));
}

#[test]
fn item_bytes_only_for_msgpack_and_indices_checked() {
    let (_d, s) = new_store();
    let a = ObjectArray::create(s.clone(), "a", 0, &ObjectArrayOptions::default()).unwrap();
    a.append(vals(0..3)).unwrap();
    assert!(matches!(
        a.check_indices(&[0, 3], a.len()),
        Err(Error::IndexOutOfRange { index: 3, .. })
    ));
    assert!(a.check_indices(&[2, 0, 2], a.len()).is_ok());
    assert_eq!(a.read_item_bytes(&[0]).unwrap().unwrap()[0].len(), 1000);
    let v = ObjectArray::create(
        s,
        "v",
        0,
        &ObjectArrayOptions {
            object_codec: ObjectCodec::VLenUtf8,
            fill_value: Value::from(""),
            ..Default::default()
        },
    )
    .unwrap();
    v.append(vec![Value::from("a")]).unwrap();
    assert!(v.read_item_bytes(&[0]).unwrap().is_none());
}

#[test]
fn set_unless_map_takes_known_chunks_as_stored() {
    let (_d, counted, s) = counting_store();
    let opts = ObjectArrayOptions {
        chunk_size: Some(4),
        fill_value: Value::from(0),
        write_empty_chunks: false,
        ..Default::default()
    };
    let a = ObjectArray::create(s, "p", 0, &opts).unwrap();
    // rows 0-2 and 6 set (maps), 3-5 unset; both chunks stored
    let mut rows = vals(0..3);
    rows.extend([Value::from(0), Value::from(0), Value::from(0)]);
    rows.extend(vals(6..7));
    a.append(rows).unwrap();
    let known: BTreeMap<u64, ItemBytes> = [0, 1]
        .into_iter()
        .zip(a.read_item_bytes(&[0, 1]).unwrap().unwrap())
        .collect();
    counted.gets.lock().unwrap().clear();
    // row 1 holds a map (set): refused, from the known chunk alone
    let refused = a
        .set_unless_map_known(&[1, 4], vals(10..12), &known)
        .unwrap();
    assert_eq!(refused, vec![1]);
    let done = a
        .set_unless_map_known(&[3, 5], vals(13..15), &known)
        .unwrap();
    assert!(done.is_empty());
    assert_eq!(*counted.gets.lock().unwrap(), Vec::<String>::new());
    let got = a.get(&[0, 3, 4, 5]).unwrap();
    assert_eq!(
        got,
        [vals(0..1), vals(13..14), vec![Value::from(0)], vals(14..15)].concat()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn random_patches_match_model(n in 1u64..40, cs in 1u64..9, patches in proptest::collection::vec((0u64..40, 0usize..3, any::<i32>()), 0..30)) {
        let (_d, s) = new_store();
        let a = ObjectArray::create(s, "a", 0, &ObjectArrayOptions { chunk_size: Some(cs), ..Default::default() }).unwrap();
        let row = |i: u64| Value::Array(vec![Value::from(i), Value::from("s"), Value::Nil]);
        a.append((0..n).map(row).collect()).unwrap();
        let mut model: Vec<Value> = (0..n).map(row).collect();
        let p: Vec<(u64, usize, i32)> = patches.into_iter().filter(|(i, ..)| *i < n).collect();
        let idx: Vec<u64> = p.iter().map(|(i, ..)| *i).collect();
        let written = a.patch(&idx, p.iter().map(|(_, pos, v)| vec![(*pos, Value::from(*v))]).collect()).unwrap();
        // every chunk patched is returned as written: what a read of it gives
        let mut touched: Vec<u64> = idx.iter().map(|i| i / cs).collect();
        touched.sort_unstable();
        touched.dedup();
        prop_assert_eq!(written.iter().map(|(c, _)| *c).collect::<Vec<_>>(), touched.clone());
        let read = a.read_item_bytes(&touched).unwrap().unwrap();
        for ((_, w), r) in written.iter().zip(&read) {
            prop_assert_eq!(w.len(), r.len());
            for k in 0..r.len() {
                prop_assert_eq!(w.item(k), r.item(k));
            }
        }
        for (i, pos, v) in &p {
            if let Value::Array(r) = &mut model[*i as usize] { r[*pos] = Value::from(*v); }
        }
        prop_assert_eq!(a.get_all().unwrap(), model.clone());
        // single rows read back through the partial decoder too
        for i in 0..n {
            prop_assert_eq!(&a.get(&[i]).unwrap()[0], &model[i as usize]);
        }
    }

    #[test]
    fn patch_known_chunks_match_patch_and_read_none(n in 1u64..40, cs in 1u64..9, absent in any::<bool>(), patches in proptest::collection::vec((0u64..40, 0usize..3, any::<i32>()), 0..30)) {
        // `a` patched reading its chunks; `b`, the same rows in a store that counts
        // reads, patched with its chunks given as read before (those with a file:
        // an absent chunk's fill items carry no chunk frame and are read)
        let (_d, s) = new_store();
        let (_d2, counted, s2) = counting_store();
        let opts = ObjectArrayOptions { chunk_size: Some(cs), fill_value: Value::Nil, write_empty_chunks: false, ..Default::default() };
        let row = |i: u64| if absent && i < cs { Value::Nil } else { Value::Array(vec![Value::from(i), Value::from("s"), Value::Nil]) };
        let a = ObjectArray::create(s, "a", 0, &opts).unwrap();
        let b = ObjectArray::create(s2, "a", 0, &opts).unwrap();
        a.append((0..n).map(row).collect()).unwrap();
        b.append((0..n).map(row).collect()).unwrap();
        let n_chunks = n.div_ceil(cs);
        let all: Vec<u64> = (0..n_chunks).collect();
        let known: BTreeMap<u64, ItemBytes> = all.iter().copied().zip(b.read_item_bytes(&all).unwrap().unwrap()).collect();
        let p: Vec<(u64, usize, i32)> = patches.into_iter().filter(|(i, ..)| *i < n && !(absent && *i < cs)).collect();
        let idx: Vec<u64> = p.iter().map(|(i, ..)| *i).collect();
        let fields = || p.iter().map(|(_, pos, v)| vec![(*pos, Value::from(*v))]).collect::<Vec<_>>();
        let wa = a.patch(&idx, fields()).unwrap();
        counted.gets.lock().unwrap().clear();
        let wb = b.patch_known(&idx, fields(), &known).unwrap();
        let gets = counted.gets.lock().unwrap().clone();
        prop_assert_eq!(a.get_all().unwrap(), b.get_all().unwrap());
        prop_assert_eq!(wa, wb);
        let framed: Vec<u64> = all.iter().copied().filter(|c| known[c].chunk_spans().is_some()).collect();
        for c in &framed {
            prop_assert!(!gets.contains(&format!("a/{c}")), "chunk {} read: {:?}", c, gets);
        }
        prop_assert_eq!(framed.len() as u64, n_chunks - u64::from(absent));
    }

    #[test]
    fn item_bytes_decode_as_get(n in 1u64..50, cs in 1u64..9, writes in proptest::collection::vec((0u64..50, any::<i32>()), 0..30)) {
        let (_d, s) = new_store();
        // absent chunks (all fill values, not written) must read as the fill value
        let a = ObjectArray::create(s, "a", n, &ObjectArrayOptions { chunk_size: Some(cs), fill_value: Value::Nil, write_empty_chunks: false, ..Default::default() }).unwrap();
        let w: Vec<(u64, i32)> = writes.into_iter().filter(|(i, _)| *i < n).collect();
        let idx: Vec<u64> = w.iter().map(|(i, _)| *i).collect();
        a.set(&idx, w.iter().map(|(_, v)| Value::Array(vec![Value::from(*v), Value::from("x")])).collect()).unwrap();
        let n_chunks = n.div_ceil(cs);
        let chunks: Vec<u64> = (0..n_chunks).rev().collect();
        let got = a.read_item_bytes(&chunks).unwrap().unwrap();
        prop_assert_eq!(got.len(), chunks.len());
        for (c, items) in chunks.iter().zip(&got) {
            prop_assert_eq!(items.len() as u64, cs);
            prop_assert!(items.item(cs as usize).is_none());
            for k in 0..cs.min(n - c * cs) {
                let v = msgpack_decode_value(items.item(k as usize).unwrap()).unwrap();
                prop_assert_eq!(&v, &a.get(&[c * cs + k]).unwrap()[0]);
            }
        }
    }

    #[test]
    fn set_unless_map_sets_all_or_names_the_rows_holding_maps(
        rows in proptest::collection::vec(0u8..3, 0..50),
        cs in 1u64..9,
        empty in any::<bool>(),
        writes in proptest::collection::vec((0usize..50, any::<i32>()), 0..12),
    ) {
        // a row is nil (the fill), a number, or a map (a set parameter)
        let row = |k: u8, i: usize| match k {
            0 => Value::Nil,
            1 => Value::from(i as i64),
            _ => Value::Map(vec![(Value::from("data"), Value::from(i as i64))]),
        };
        let (_d, s) = new_store();
        let opts = ObjectArrayOptions { chunk_size: Some(cs), compressor: Compressor::default(), fill_value: Value::Nil, write_empty_chunks: empty, ..Default::default() };
        let a = ObjectArray::create(s, "a", 0, &opts).unwrap();
        let model: Vec<Value> = rows.iter().enumerate().map(|(i, k)| row(*k, i)).collect();
        a.append(model.clone()).unwrap();
        let w: Vec<(u64, Value)> = writes.into_iter().filter(|(i, _)| *i < rows.len())
            .map(|(i, v)| (i as u64, Value::Map(vec![(Value::from("data"), Value::from(v))]))).collect();
        let idx: Vec<u64> = w.iter().map(|(i, _)| *i).collect();
        let mut expected_maps: Vec<u64> = Vec::new();
        for &i in &idx {
            if rows[i as usize] == 2 && !expected_maps.contains(&i) { expected_maps.push(i); }
        }
        let got = a.set_unless_map(&idx, w.iter().map(|(_, v)| v.clone()).collect()).unwrap();
        prop_assert_eq!(&got, &expected_maps);
        let mut after = model.clone();
        if expected_maps.is_empty() {
            for (i, v) in &w { after[*i as usize] = v.clone(); }
        }
        let fresh = ObjectArray::open(a.store().clone(), "a", empty).unwrap();
        prop_assert_eq!(fresh.get_all().unwrap(), after);
    }

    #[test]
    fn random_sets_match_model(n in 0u64..60, cs in 1u64..9, writes in proptest::collection::vec((0u64..60, any::<i32>()), 0..40)) {
        let (_d, s) = new_store();
        let a = ObjectArray::create(s, "a", 0, &ObjectArrayOptions { chunk_size: Some(cs), compressor: Compressor::default(), fill_value: Value::from(0), ..Default::default() }).unwrap();
        a.append((0..n).map(Value::from).collect()).unwrap();
        let mut model: Vec<Value> = (0..n).map(Value::from).collect();
        let w: Vec<(u64, i32)> = writes.into_iter().filter(|(i, _)| *i < n).collect();
        let idx: Vec<u64> = w.iter().map(|(i, _)| *i).collect();
        a.set(&idx, w.iter().map(|(_, v)| Value::from(*v)).collect()).unwrap();
        for (i, v) in &w { model[*i as usize] = Value::from(*v); }
        prop_assert_eq!(a.get_all().unwrap(), model.clone());
        let rev: Vec<u64> = (0..n).rev().collect();
        let mut m2 = model.clone(); m2.reverse();
        prop_assert_eq!(a.get(&rev).unwrap(), m2);
    }
}
