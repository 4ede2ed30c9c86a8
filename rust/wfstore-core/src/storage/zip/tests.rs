//! Tests of zip writing, validation, extraction and reading.

use super::*;
use super::{extract::*, positional::*, read::*, write::*};
use crate::names::TMP_PREFIX;
use std::collections::BTreeMap;
use std::io::Cursor;

/// Every file under `dir` (relative `/` name -> bytes).
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for ent in fs::read_dir(dir).unwrap() {
            let ent = ent.unwrap();
            let ft = ent.file_type().unwrap();
            if ft.is_dir() {
                walk(base, &ent.path(), out);
            } else if ft.is_file() {
                let rel = ent.path().strip_prefix(base).unwrap().to_path_buf();
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.insert(rel.join("/"), fs::read(ent.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Sorted names directly in `dir`.
fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn write(path: &Path, data: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

/// A small store-like folder.
fn sample_store(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let files: Vec<(&str, Vec<u8>)> = vec![
        (".zattrs", br#"{"a": 1}"#.to_vec()),
        (".zgroup", br#"{"zarr_format": 2}"#.to_vec()),
        ("metadata/.zgroup", br#"{"zarr_format": 2}"#.to_vec()),
        ("metadata/runs/.zarray", b"{}".to_vec()),
        ("metadata/runs/0", vec![0, 1, 2, 255]),
        ("metadata/runs/12", big),
        ("metadata/runs/empty", Vec::new()),
        ("parameters/base/0", b"p0".to_vec()),
        (
            "artifacts/submissions/0/js_0.sh",
            b"#!/bin/bash\necho hi\n".to_vec(),
        ),
    ];
    for (k, v) in &files {
        write(&root.join(k), v);
    }
    files.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn leftovers(dir: &Path) -> Vec<String> {
    names_in(dir)
        .into_iter()
        .filter(|n| n.starts_with(TMP_PREFIX))
        .collect()
}

#[test]
fn round_trip_folder_zip_store_unzip() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("store");
    let expected = sample_store(&src);
    let dst = d.path().join("store.zip");
    let calls = Mutex::new(Vec::new());
    let cb = |done: u64, total: u64| calls.lock().unwrap().push((done, total));
    let report = zip_dir(&src, &dst, &[], Some(&cb)).unwrap();
    let n = expected.len() as u64;
    assert_eq!(report.entries, n);
    assert_eq!(
        report.bytes,
        expected.values().map(|v| v.len() as u64).sum::<u64>()
    );
    let calls = calls.into_inner().unwrap();
    assert_eq!(calls.first(), Some(&(0, n)));
    assert_eq!(calls.last(), Some(&(n, n)));
    assert_eq!(calls.len() as u64, n + 1);

    // Entries: sorted, stored, 1980-01-01 00:00.
    let mut za = ZipArchive::new(File::open(&dst).unwrap()).unwrap();
    let names: Vec<String> = za.file_names().map(|n| n.unwrap().into_owned()).collect();
    let want: Vec<String> = expected.keys().cloned().collect();
    assert_eq!(names, want);
    for i in 0..za.len() {
        let f = za.by_index(i).unwrap();
        assert_eq!(f.compression(), CompressionMethod::Stored);
        let t = f.last_modified().unwrap();
        assert_eq!(
            (t.year(), t.month(), t.day(), t.hour(), t.minute()),
            (1980, 1, 1, 0, 0)
        );
    }

    // Deterministic: the same folder gives the same bytes.
    let dst2 = d.path().join("again.zip");
    zip_dir(&src, &dst2, &[], None).unwrap();
    assert_eq!(fs::read(&dst).unwrap(), fs::read(&dst2).unwrap());

    let zs = ZipStore::open(&dst).unwrap();
    assert_eq!(zs.keys(), want);
    assert_eq!(zs.path(), dst.as_path());
    assert_eq!(zs.location(), dst.display().to_string());
    assert!(zs.read_only());
    for (k, v) in &expected {
        assert_eq!(zs.get(k).unwrap().as_ref(), Some(v), "{k}");
        assert_eq!(zs.get(&format!("/{k}")).unwrap().as_ref(), Some(v), "/{k}");
    }
    // Concurrent reads from rayon threads.
    let all: Vec<(String, Vec<u8>)> = expected.clone().into_iter().collect();
    (0..64).into_par_iter().for_each(|i| {
        let (k, v) = &all[i % all.len()];
        assert_eq!(zs.get(k).unwrap().as_ref(), Some(v));
    });
    assert_eq!(zs.get("missing").unwrap(), None);
    assert_eq!(zs.get("metadata/runs").unwrap(), None);
    assert_eq!(
        zs.list_dir("").unwrap(),
        vec![".zattrs", ".zgroup", "artifacts", "metadata", "parameters"]
    );
    assert_eq!(
        zs.list_dir("/metadata/runs/").unwrap(),
        vec![".zarray", "0", "12", "empty"]
    );
    assert_eq!(zs.list_dir("metadata").unwrap(), vec![".zgroup", "runs"]);
    assert!(zs.list_dir("nope").unwrap().is_empty());
    assert!(zs.list_dir("metadata/run").unwrap().is_empty());
    assert!(matches!(zs.set("a", b"x"), Err(Error::ReadOnly { .. })));
    assert!(matches!(zs.delete(".zattrs"), Err(Error::ReadOnly { .. })));

    let out = d.path().join("out");
    let calls = Mutex::new(Vec::new());
    let cb = |done: u64, total: u64| calls.lock().unwrap().push((done, total));
    let report = unzip(&dst, &out, Some(&cb)).unwrap();
    assert_eq!(report.entries, n);
    assert_eq!(calls.into_inner().unwrap().last(), Some(&(n, n)));
    assert_eq!(tree(&out), expected);
    assert!(leftovers(d.path()).is_empty());
    assert_eq!(
        names_in(d.path()),
        vec!["again.zip", "out", "store", "store.zip"]
    );
}

#[test]
fn exclusions_temporaries_and_links_are_skipped() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("store");
    write(&src.join(".zattrs"), b"{}");
    write(&src.join("execute/x"), b"x");
    write(&src.join("metadata/runs.bak/0"), b"old");
    write(&src.join("metadata/runs/0"), b"new");
    write(&src.join("parameters/base.bak"), b"old");
    write(&src.join("parameters/base/0"), b"p");
    write(&src.join(format!("{TMP_PREFIX}half")), b"tmp");
    write(&src.join(format!("metadata/{TMP_PREFIX}dir/0")), b"tmp");
    write(
        &src.join(format!(
            "metadata/runs/{}0",
            crate::names::LEGACY_SPARE_PREFIX
        )),
        b"an old chunk",
    );
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(src.join("metadata"), src.join("link_dir")).unwrap();
        std::os::unix::fs::symlink(src.join(".zattrs"), src.join("link_file")).unwrap();
        std::os::unix::fs::symlink("/", src.join("metadata/root")).unwrap();
    }
    let exclude: Vec<String> = ["execute", "runs.bak", "base.bak"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let dst = d.path().join("s.zip");
    let r = zip_dir(&src, &dst, &exclude, None).unwrap();
    assert_eq!(r.entries, 3);
    let zs = ZipStore::open(&dst).unwrap();
    assert_eq!(
        zs.keys(),
        vec![".zattrs", "metadata/runs/0", "parameters/base/0"]
    );
}

#[test]
fn destination_checks() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("store");
    sample_store(&src);
    // Existing archive refused and untouched.
    let dst = d.path().join("exists.zip");
    fs::write(&dst, b"keep").unwrap();
    let err = zip_dir(&src, &dst, &[], None).unwrap_err();
    assert!(matches!(err, Error::Zip { .. }), "{err}");
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(fs::read(&dst).unwrap(), b"keep");
    // Archive inside the source refused, nothing written into the source.
    let before = tree(&src);
    let err = zip_dir(&src, &src.join("metadata/x.zip"), &[], None).unwrap_err();
    assert!(err.to_string().contains("inside the source"), "{err}");
    assert_eq!(tree(&src), before);
    // Source not a folder.
    let err = zip_dir(&dst, &d.path().join("y.zip"), &[], None).unwrap_err();
    assert!(matches!(err, Error::Zip { .. }), "{err}");
    // Existing unzip destination refused and untouched.
    let arc = d.path().join("ok.zip");
    zip_dir(&src, &arc, &[], None).unwrap();
    let out = d.path().join("out");
    fs::create_dir(&out).unwrap();
    let err = unzip(&arc, &out, None).unwrap_err();
    assert!(matches!(err, Error::Zip { .. }), "{err}");
    assert!(names_in(&out).is_empty());
    assert!(leftovers(d.path()).is_empty());
}

#[test]
fn failed_zip_leaves_no_temporary() {
    let d = tempfile::tempdir().unwrap();
    write(&d.path().join("a"), b"a");
    let names = vec!["a".to_string(), "gone".to_string()];
    let dst = d.path().join("x.zip");
    assert!(write_archive(d.path(), &names, &dst, None).is_err());
    assert_eq!(names_in(d.path()), vec!["a"]);
}

#[test]
fn engine_fixture_archive() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/hpcflow-0.2.0a190/wk_seq_zarr_zip.zip");
    let zs = ZipStore::open(&p).unwrap();
    let keys = zs.keys();
    assert_eq!(keys.len(), 38);
    let root = zs.list_dir("").unwrap();
    for k in [".zattrs", ".zgroup", "artifacts", "metadata"] {
        assert!(root.iter().any(|r| r == k), "{k} not in {root:?}");
    }
    assert!(zs
        .list_dir("metadata")
        .unwrap()
        .iter()
        .any(|n| n == "elements"));
    let mut za = ZipArchive::new(File::open(&p).unwrap()).unwrap();
    let mut zattrs = Vec::new();
    za.by_name(".zattrs")
        .unwrap()
        .read_to_end(&mut zattrs)
        .unwrap();
    assert_eq!(zs.get(".zattrs").unwrap(), Some(zattrs.clone()));
    assert_eq!(zs.get("/.zattrs").unwrap(), Some(zattrs));
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("wk");
    let r = unzip(&p, &out, None).unwrap();
    assert_eq!(r.entries, 38);
    let t = tree(&out);
    assert_eq!(t.keys().cloned().collect::<Vec<_>>(), keys);
    for (k, v) in &t {
        assert_eq!(zs.get(k).unwrap().as_ref(), Some(v), "{k}");
    }
}

#[test]
fn python_zipfile_accepts_our_archives() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("store");
    let expected = sample_store(&src);
    let dst = d.path().join("store.zip");
    zip_dir(&src, &dst, &[], None).unwrap();
    match python_testzip(&dst) {
        None => eprintln!("skipping: python3 not available"),
        Some(n) => assert_eq!(n, expected.len()),
    }
}

/// Check an archive with Python's `zipfile` (`testzip()`, stored entries, 1980 dates);
/// the number of entries, or `None` without python3.
fn python_testzip(path: &Path) -> Option<usize> {
    let script = "import sys, zipfile\n\
                  z = zipfile.ZipFile(sys.argv[1])\n\
                  assert z.testzip() is None\n\
                  assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())\n\
                  assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in z.infolist())\n\
                  print(len(z.namelist()))";
    let out = match std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("python3 not available ({e})");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
}

// ---- hostile archives ----------------------------------------------------------

enum Add<'a> {
    File(&'a str, &'a [u8], CompressionMethod),
    Mode(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

fn build(entries: &[Add<'_>]) -> Vec<u8> {
    let mut zw = ZipWriter::new(Cursor::new(Vec::new()));
    for e in entries {
        match e {
            Add::File(name, data, method) => {
                let o = SimpleFileOptions::default().compression_method(*method);
                zw.start_file(*name, o).unwrap();
                zw.write_all(data).unwrap();
            }
            Add::Mode(name, data, mode) => {
                let o = SimpleFileOptions::default()
                    .compression_method(CompressionMethod::Stored)
                    .external_attributes(*mode << 16);
                zw.start_file(*name, o).unwrap();
                zw.write_all(data).unwrap();
            }
            Add::Dir(name) => zw
                .add_directory(*name, SimpleFileOptions::default())
                .unwrap(),
            Add::Symlink(name, target) => zw
                .add_symlink(*name, *target, SimpleFileOptions::default())
                .unwrap(),
        }
    }
    zw.finish().unwrap().into_inner()
}

fn u16_at(b: &[u8], i: usize) -> usize {
    u16::from_le_bytes([b[i], b[i + 1]]) as usize
}

/// Overwrite the declared uncompressed size of entry `name` in its local and central
/// headers.
fn patch_size(bytes: &mut [u8], name: &str, size: u32) {
    let mut patched = 0;
    let mut i = 0;
    while i + 46 <= bytes.len() {
        let sig = &bytes[i..i + 4];
        // (signature, offset of size field, offset of name length, offset of name)
        let layout = if sig == [0x50, 0x4b, 0x03, 0x04] {
            Some((22, 26, 30))
        } else if sig == [0x50, 0x4b, 0x01, 0x02] {
            Some((24, 28, 46))
        } else {
            None
        };
        if let Some((size_at, len_at, name_at)) = layout {
            let n = u16_at(bytes, i + len_at);
            if &bytes[i + name_at..i + name_at + n] == name.as_bytes() {
                bytes[i + size_at..i + size_at + 4].copy_from_slice(&size.to_le_bytes());
                patched += 1;
            }
        }
        i += 1;
    }
    assert_eq!(patched, 2, "headers of {name} not found");
}

/// Unzip `bytes` and check that it is refused as unsafe with nothing left behind.
fn assert_refused(bytes: &[u8], reason_part: &str) {
    let d = tempfile::tempdir().unwrap();
    let work = d.path().join("work");
    fs::create_dir(&work).unwrap();
    let arc = work.join("a.zip");
    fs::write(&arc, bytes).unwrap();
    let dest = work.join("out");
    let err = unzip(&arc, &dest, None).unwrap_err();
    match &err {
        Error::UnsafeArchive { reason, .. } => {
            assert!(reason.contains(reason_part), "{err}")
        }
        other => panic!("expected UnsafeArchive, got {other}"),
    }
    assert!(!dest.exists());
    assert_eq!(names_in(&work), vec!["a.zip"]);
    assert_eq!(names_in(d.path()), vec!["work"]);
}

const ST: CompressionMethod = CompressionMethod::Stored;
const DE: CompressionMethod = CompressionMethod::Deflated;

#[test]
fn unsafe_names_are_refused() {
    assert_refused(
        &build(&[Add::File("ok", b"1", ST), Add::File("../x", b"x", ST)]),
        "'..'",
    );
    assert_refused(&build(&[Add::File("a/../../x", b"x", ST)]), "'..'");
    assert_refused(&build(&[Add::File("/abs", b"x", ST)]), "absolute");
    assert_refused(&build(&[Add::File("C:/x", b"x", ST)]), "drive letter");
    assert_refused(&build(&[Add::File("c:x", b"x", ST)]), "drive letter");
    assert_refused(&build(&[Add::File("a\\..\\x", b"x", ST)]), "backslash");
    assert_refused(
        &build(&[Add::File("ok", b"1", ST), Add::Symlink("link", "/etc")]),
        "symbolic link",
    );
    assert_refused(
        &build(&[Add::Mode("link2", b"/etc/passwd", 0o120_777)]),
        "symbolic link",
    );
    assert_refused(
        &build(&[Add::File("x", b"1", ST), Add::File("./x", b"2", ST)]),
        "duplicate",
    );
    assert_refused(
        &build(&[Add::File("a", b"1", ST), Add::File("a/b", b"2", ST)]),
        "both a file and a folder",
    );
    assert_refused(
        &build(&[Add::File("a/b", b"1", ST), Add::File("a", b"2", ST)]),
        "both a file and a folder",
    );
    // Same raw name twice in the central directory.
    let mut dup = build(&[Add::File("dup1", b"1", ST), Add::File("dup2", b"2", ST)]);
    let positions: Vec<usize> = dup
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"dup2")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(positions.len(), 2);
    for i in positions {
        dup[i + 3] = b'1';
    }
    assert_refused(&dup, "more than once");
}

#[test]
fn lying_sizes_and_bombs_are_refused() {
    // Deflated entry producing more than its declared size, after a good entry (so
    // extraction has started and the temporary folder must be cleaned up).
    let data = b"hello world ".repeat(1000);
    let mut bytes = build(&[Add::File("good", b"fine", ST), Add::File("lie", &data, DE)]);
    patch_size(&mut bytes, "lie", 10);
    assert_refused(&bytes, "declared");

    // Stored entry whose declared size differs from its stored size.
    let mut bytes = build(&[Add::File("s", b"abcdef", ST)]);
    patch_size(&mut bytes, "s", 3);
    assert_refused(&bytes, "stored entry");

    // Absurd declared ratio.
    let mut bytes = build(&[Add::File("bomb", &[b'a'; 1000], DE)]);
    patch_size(&mut bytes, "bomb", 100 << 20);
    assert_refused(&bytes, "zip bomb");

    // ZipStore refuses the same entries on read.
    let d = tempfile::tempdir().unwrap();
    let arc = d.path().join("a.zip");
    let mut bytes = build(&[Add::File("lie", &data, DE), Add::File("bomb", &data, DE)]);
    patch_size(&mut bytes, "lie", 10);
    patch_size(&mut bytes, "bomb", 100 << 20);
    fs::write(&arc, &bytes).unwrap();
    let zs = ZipStore::open(&arc).unwrap();
    for k in ["lie", "bomb"] {
        let err = zs.get(k).unwrap_err();
        assert!(matches!(err, Error::UnsafeArchive { .. }), "{err}");
    }
}

#[test]
fn deflated_archives_directories_and_concurrent_reads() {
    let d = tempfile::tempdir().unwrap();
    let arc = d.path().join("a.zip");
    let big = b"0123456789".repeat(50_000);
    let bytes = build(&[
        Add::Dir("empty_dir/"),
        Add::File("/lead", b"leading slash", ST),
        Add::File("meta/.zarray", b"{}", DE),
        Add::File("meta/0", &big, DE),
        Add::File("meta/1", b"stored", ST),
    ]);
    fs::write(&arc, &bytes).unwrap();
    let zs = ZipStore::open(&arc).unwrap();
    assert_eq!(zs.keys(), vec!["lead", "meta/.zarray", "meta/0", "meta/1"]);
    assert_eq!(zs.list_dir("").unwrap(), vec!["empty_dir", "lead", "meta"]);
    assert!(zs.list_dir("empty_dir").unwrap().is_empty());
    assert_eq!(zs.get("lead").unwrap().unwrap(), b"leading slash");
    (0..48).into_par_iter().for_each(|i| match i % 3 {
        0 => assert_eq!(zs.get("meta/0").unwrap().unwrap(), big),
        1 => assert_eq!(zs.get("/meta/.zarray").unwrap().unwrap(), b"{}"),
        _ => assert_eq!(zs.get("meta/1").unwrap().unwrap(), b"stored"),
    });

    // Unzip of a deflated archive with a folder entry (no absolute entry this time).
    let arc2 = d.path().join("b.zip");
    fs::write(
        &arc2,
        build(&[
            Add::Dir("empty_dir/"),
            Add::File("meta/0", &big, DE),
            Add::File("./meta//1", b"stored", ST),
        ]),
    )
    .unwrap();
    let out = d.path().join("sub/out");
    let r = unzip(&arc2, &out, None).unwrap();
    assert_eq!(r.entries, 2);
    assert!(out.join("empty_dir").is_dir());
    let t = tree(&out);
    assert_eq!(t["meta/0"], big);
    assert_eq!(t["meta/1"], b"stored");
    assert!(leftovers(&d.path().join("sub")).is_empty());
}

/// Files of varied sizes (empty, small, larger than the copy buffer), stored and
/// deflated, in nested folders: enough for the parallel extraction.
fn many_files(n: usize) -> Vec<(String, Vec<u8>, CompressionMethod)> {
    (0..n)
        .map(|i| {
            let len = match i % 4 {
                0 => 0,
                1 => 17,
                2 => 3 * COPY_BUFFER + i,
                _ => 1000 + i,
            };
            let data: Vec<u8> = (0..len).map(|j| ((i * 31 + j * 7) % 251) as u8).collect();
            let method = if i % 3 == 0 { DE } else { ST };
            (format!("d{}/sub{}/f{i}", i % 5, i % 2), data, method)
        })
        .collect()
}

#[test]
fn many_files_extract_whole_with_ordered_progress() {
    // in parallel (enough files and bytes), from memory and from the file
    for in_memory_max in [IN_MEMORY_MAX, 0] {
        many_files_extract_whole(in_memory_max);
    }
}

fn many_files_extract_whole(in_memory_max: u64) {
    let n = 5 * PARALLEL_FILES_MIN + 3;
    let files = many_files(n);
    assert!(files.iter().map(|f| f.1.len() as u64).sum::<u64>() >= PARALLEL_BYTES_MIN);
    let mut adds: Vec<Add<'_>> = vec![Add::Dir("empty/")];
    adds.extend(files.iter().map(|(k, v, m)| Add::File(k, v, *m)));
    let d = tempfile::tempdir().unwrap();
    let arc = d.path().join("a.zip");
    fs::write(&arc, build(&adds)).unwrap();
    let out = d.path().join("out");
    let calls = Mutex::new(Vec::new());
    let cb = |done: u64, total: u64| calls.lock().unwrap().push((done, total));
    let report = unzip_reading(&arc, &out, Some(&cb), in_memory_max).unwrap();
    let want: BTreeMap<String, Vec<u8>> = files
        .iter()
        .map(|(k, v, _)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(tree(&out), want);
    assert!(out.join("empty").is_dir());
    assert_eq!(report.entries, n as u64);
    assert_eq!(
        report.bytes,
        want.values().map(|v| v.len() as u64).sum::<u64>()
    );
    let expected: Vec<(u64, u64)> = (0..=n as u64).map(|i| (i, n as u64)).collect();
    assert_eq!(calls.into_inner().unwrap(), expected);
    assert!(leftovers(d.path()).is_empty());
}

#[test]
fn a_bad_entry_among_many_leaves_nothing() {
    let files = many_files(4 * PARALLEL_FILES_MIN);
    let data = b"hello world ".repeat(1000);
    let mut adds: Vec<Add<'_>> = files.iter().map(|(k, v, m)| Add::File(k, v, *m)).collect();
    adds.insert(files.len() / 2, Add::File("lie", &data, DE));
    let mut bytes = build(&adds);
    patch_size(&mut bytes, "lie", 10);
    assert_refused(&bytes, "declared");
}

#[test]
fn positional_reader_clones_keep_their_own_position() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("f");
    fs::write(&p, b"0123456789").unwrap();
    let f = || -> Arc<dyn ReadAt> { Arc::new(File::open(&p).unwrap()) };
    for a in [
        AtReader::new(f()).unwrap(),
        AtReader::load(f(), 10).unwrap(),
        AtReader::load(f(), 9).unwrap(),
    ] {
        reader_clones_keep_their_own_position(a);
    }
    assert!(matches!(
        AtReader::load(f(), 10).unwrap().src,
        AtSource::Bytes(_)
    ));
    assert!(matches!(
        AtReader::load(f(), 9).unwrap().src,
        AtSource::Source(_)
    ));
}

fn reader_clones_keep_their_own_position(mut a: AtReader) {
    let mut buf = [0u8; 3];
    a.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"012");
    let mut b = a.clone();
    assert_eq!(b.seek(SeekFrom::End(-2)).unwrap(), 8);
    b.read_exact(&mut buf[..2]).unwrap();
    assert_eq!(&buf[..2], b"89");
    assert_eq!(b.read(&mut buf).unwrap(), 0);
    a.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"345");
    assert_eq!(a.seek(SeekFrom::Current(-6)).unwrap(), 0);
    assert!(a.seek(SeekFrom::Current(-1)).is_err());
    assert!(a.seek(SeekFrom::End(-11)).is_err());
    assert_eq!(a.seek(SeekFrom::Start(4)).unwrap(), 4);
    a.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"456");
}

#[test]
fn not_an_archive() {
    let d = tempfile::tempdir().unwrap();
    let arc = d.path().join("a.zip");
    fs::write(&arc, b"this is not a zip file").unwrap();
    assert!(matches!(ZipStore::open(&arc), Err(Error::Zip { .. })));
    let out = d.path().join("out");
    assert!(matches!(unzip(&arc, &out, None), Err(Error::Zip { .. })));
    assert_eq!(names_in(d.path()), vec!["a.zip"]);
}

/// More than 65,535 entries (ZIP64 end of central directory). Slow: run with
/// `cargo test -p wfstore-core zipio -- --ignored`.
#[test]
#[ignore]
fn zip64_many_entries() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("store");
    let n = 70_000u32;
    for i in 0..n {
        write(&src.join(format!("c/{}/{i}", i % 100)), &i.to_le_bytes());
    }
    let dst = d.path().join("s.zip");
    assert_eq!(zip_dir(&src, &dst, &[], None).unwrap().entries, n as u64);
    let t0 = std::time::Instant::now();
    let zs = ZipStore::open(&dst).unwrap();
    eprintln!("ZipStore::open of {n} entries: {:?}", t0.elapsed());
    if let Some(count) = python_testzip(&dst) {
        assert_eq!(count, n as usize);
    }
    assert_eq!(zs.keys().len(), n as usize);
    assert_eq!(
        zs.get("c/7/69907").unwrap().unwrap(),
        69907u32.to_le_bytes()
    );
    let out = d.path().join("out");
    assert_eq!(unzip(&dst, &out, None).unwrap().entries, n as u64);
}

/// A file of more than 4 GiB (ZIP64 sizes and offsets). Slow, needs ~9 GiB of disk:
/// run with `cargo test -p wfstore-core zipio -- --ignored`.
#[test]
#[ignore]
fn zip64_large_file() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("store");
    fs::create_dir(&src).unwrap();
    let len = (4u64 << 30) + 100;
    let f = File::create(src.join("big")).unwrap();
    f.set_len(len).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"tail", len - 4).unwrap();
    drop(f);
    write(&src.join("small"), b"after the big one");
    let dst = d.path().join("s.zip");
    assert_eq!(zip_dir(&src, &dst, &[], None).unwrap().bytes, len + 17);
    if let Some(count) = python_testzip(&dst) {
        assert_eq!(count, 2);
    }
    let zs = ZipStore::open(&dst).unwrap();
    assert_eq!(zs.get("small").unwrap().unwrap(), b"after the big one");
    fs::remove_file(src.join("big")).unwrap();
    let out = d.path().join("out");
    unzip(&dst, &out, None).unwrap();
    assert_eq!(fs::metadata(out.join("big")).unwrap().len(), len);
    assert_eq!(fs::read(out.join("small")).unwrap(), b"after the big one");
}

/// A source that counts its reads (and serves them from a buffer), standing for a
/// file object of another file system.
struct CountingSource(Vec<u8>, std::sync::atomic::AtomicUsize);

impl ReadAt for CountingSource {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.0.read_at(buf, offset)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.0.len() as u64)
    }
}

#[test]
fn any_positional_source_reads_as_the_local_file_does() {
    let d = tempfile::tempdir().unwrap();
    let bytes = build(&[
        Add::File("a/.zarray", b"{}", ST),
        Add::File("a/0", &b"stored ".repeat(100), ST),
        Add::File("b/0", &b"deflated ".repeat(100), DE),
        Add::Dir("empty/"),
    ]);
    let p = d.path().join("x.zip");
    fs::write(&p, &bytes).unwrap();
    let local = ZipStore::open(&p).unwrap();
    let source = Arc::new(CountingSource(
        bytes.clone(),
        std::sync::atomic::AtomicUsize::new(0),
    ));
    let other = ZipStore::from_source(source.clone(), "mem://x.zip").unwrap();
    assert_eq!(other.location(), "mem://x.zip");
    assert_eq!(other.keys(), local.keys());
    for key in local.keys() {
        assert_eq!(other.get(&key).unwrap(), local.get(&key).unwrap(), "{key}");
    }
    assert_eq!(other.list_dir("").unwrap(), local.list_dir("").unwrap());
    assert!(other.get("missing").unwrap().is_none() && other.read_only());
    assert!(source.1.load(std::sync::atomic::Ordering::SeqCst) > 0);
    // a damaged archive is refused the same way from any source
    let cut = bytes[..bytes.len() - 10].to_vec();
    assert!(matches!(
        ZipStore::from_source(Arc::new(cut), "mem://cut.zip"),
        Err(Error::Zip { .. } | Error::Io { .. })
    ));
}

#[test]
fn entries_and_a_crc_check_that_get_skips_for_stored_entries() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("store");
    let expected = sample_store(&src);
    let dst = d.path().join("store.zip");
    zip_dir(&src, &dst, &[], None).unwrap();
    let z = ZipStore::open(&dst).unwrap();
    let want: Vec<(String, u64)> = expected
        .iter()
        .map(|(k, v)| (k.clone(), v.len() as u64))
        .collect();
    assert_eq!(z.entries(), want);
    for (name, _) in &want {
        z.check_entry(name).unwrap();
    }
    assert!(matches!(
        z.check_entry("nothing"),
        Err(Error::InvalidArgument(_))
    ));
    // flip the last byte of one entry's data: `get` (stored: no CRC check) returns the
    // changed bytes, `check_entry` reports the entry
    let (name, value) = expected.iter().find(|(_, v)| !v.is_empty()).unwrap();
    let mut bytes = fs::read(&dst).unwrap();
    let at = bytes
        .windows(value.len())
        .position(|w| w == value.as_slice())
        .unwrap()
        + value.len()
        - 1;
    bytes[at] ^= 0xff;
    fs::write(&dst, &bytes).unwrap();
    let z = ZipStore::open(&dst).unwrap();
    assert_ne!(z.get(name).unwrap().as_deref(), Some(value.as_slice()));
    assert!(z.check_entry(name).is_err());
}
