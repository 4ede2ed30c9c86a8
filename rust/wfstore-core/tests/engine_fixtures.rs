//! Every array of the engine-written stores under `tests/data/hpcflow-0.2.0a190` (kept in
//! the repository) opens and every chunk decodes with wfstore-core (values are compared
//! against zarr-python by the Python suite; here the point is that the Rust crate alone
//! reads them).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use wfstore_core::{LocalStore, NumericArray, ObjectArray, Store, ZipStore};

/// The fixture stores; they are part of the repository, so a missing folder fails.
fn fixtures() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/hpcflow-0.2.0a190");
    assert!(
        p.is_dir(),
        "the engine fixture stores are missing at {}",
        p.display()
    );
    p
}

fn arrays_under(root: &Path, rel: &Path, out: &mut Vec<String>) {
    let dir = root.join(rel);
    if dir.join(".zarray").is_file() {
        out.push(rel.to_string_lossy().replace('\\', "/"));
        return;
    }
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                arrays_under(root, &rel.join(e.file_name()), out);
            }
        }
    }
}

fn check_array(store: Arc<dyn Store>, path: &str) -> usize {
    match ObjectArray::open(store.clone(), path, true) {
        Ok(a) => {
            let rows = a.get_all().unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(rows.len() as u64, a.len());
            rows.len()
        }
        Err(_) => {
            let a = NumericArray::open(store, path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let bytes = a.read().unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(
                bytes.len() as u64 % a.shape().iter().product::<u64>().max(1),
                0
            );
            1
        }
    }
}

#[test]
fn every_engine_array_reads() {
    let root = fixtures();
    let mut checked = 0;
    for e in std::fs::read_dir(&root).unwrap().flatten() {
        let p = e.path();
        if !p.is_dir() {
            continue;
        }
        let mut arrays = Vec::new();
        arrays_under(&p, Path::new(""), &mut arrays);
        let store: Arc<dyn Store> = Arc::new(LocalStore::new(&p));
        for a in arrays {
            check_array(store.clone(), &a);
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} arrays found");
}

#[test]
fn engine_zip_archive_reads_in_place() {
    let root = fixtures();
    let z: Arc<dyn Store> = Arc::new(ZipStore::open(&root.join("wk_seq_zarr_zip.zip")).unwrap());
    let runs = ObjectArray::open(z.clone(), "metadata/runs", true).unwrap();
    assert!(!runs.is_empty());
    assert_eq!(check_array(z.clone(), "metadata/runs"), runs.len() as usize);
    check_array(z, "parameters/base");
}
