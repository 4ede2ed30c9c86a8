//! A runnable tour of wfstore-core: create an object array, append, update, read,
//! rechunk it with a backup and zip the store.
//!
//! `cargo run -p wfstore-core --example basic [FOLDER]`

use rmpv::Value;
use std::sync::Arc;
use wfstore_core::{
    rechunk, zipio, Compressor, LocalStore, ObjectArray, ObjectArrayOptions, Store,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = match std::env::args().nth(1) {
        Some(p) => std::path::PathBuf::from(p),
        None => std::env::temp_dir().join(format!("wfstore-example-{}", std::process::id())),
    };
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(&root));
    let runs = ObjectArray::create(
        store.clone(),
        "metadata/runs",
        0,
        &ObjectArrayOptions {
            chunk_size: Some(1),
            compressor: Compressor::default(),
            fill_value: Value::from(0),
            ..Default::default()
        },
    )?;
    let rows: Vec<Value> = (0..100)
        .map(|i| Value::Array(vec![Value::from(i), Value::from(format!("run {i}"))]))
        .collect();
    runs.append(rows.clone())?;
    runs.set(&[0, 99], vec![Value::from("first"), Value::from("last")])?;
    println!("rows 0 and 99: {:?}", runs.get(&[0, 99])?);
    let rep = rechunk::rechunk_array(store.clone(), "metadata/runs", None, true, None)?;
    println!(
        "rechunked {} rows: chunk size {} -> {}",
        rep.rows, rep.old_chunk_size, rep.new_chunk_size
    );
    let archive = root.with_extension("zip");
    let z = zipio::zip_dir(&root, &archive, &["runs.bak".to_string()], None)?;
    println!("zipped {} entries into {}", z.entries, archive.display());
    let zs: Arc<dyn Store> = Arc::new(zipio::ZipStore::open(&archive)?);
    let from_zip = ObjectArray::open(zs, "metadata/runs", true)?;
    println!(
        "{} rows read back from the archive",
        from_zip.get_all()?.len()
    );
    std::fs::remove_dir_all(&root)?;
    std::fs::remove_file(&archive)?;
    Ok(())
}
