//! Throughput of wfstore-core (criterion): encoding and decoding run rows (msgpack +
//! Blosc) in rows/s, rechunk and zip in MB/s, next to the disk's sequential write
//! speed measured here too.
//!
//! `cargo bench -p wfstore-core --bench core` (add `-- --quick` for a short run).
//! The store folders go to a temporary folder (`TMPDIR`), on the disk measured.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rmpv::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wfstore_core::codec::{decode_object_chunk, encode_object_chunk};
use wfstore_core::{rechunk, zipio, Compressor, LocalStore, ObjectArray, ObjectArrayOptions};

/// Rows in the rechunk and zip stores (one chunk file per row, as the engine writes runs).
const STORE_ROWS: u64 = 2000;

/// A run row as hpcflow 0.2.0a190's Zarr store encodes it.
fn run_row(i: u64) -> Value {
    let s = |x: &str| Value::from(x);
    Value::Array(vec![
        Value::from(i),
        Value::from(i / 5),
        Value::from(i % 5),
        Value::Array(vec![Value::from(0)]),
        Value::Map(vec![
            (s("inputs.p1"), Value::from(2 * (i / 5))),
            (s("inputs.p2"), Value::from(2 * (i / 5) + 1)),
        ]),
        Value::Nil,
        Value::from(0),
        Value::Nil,
        s("2026-11-25 10:00:00.000000"),
        s("2026-11-25 10:00:01.500000"),
        Value::Map(vec![(s("data"), Value::Map(vec![]))]),
        Value::Map(vec![(s("data"), Value::Map(vec![]))]),
        Value::from(0),
        Value::from(true),
        s("node-0"),
    ])
}

fn rows(n: u64) -> Vec<Value> {
    (0..n).map(run_row).collect()
}

fn codec(c: &mut Criterion) {
    let cmp = Compressor::default();
    let mut g = c.benchmark_group("run_rows");
    for &n in &[1u64, 10_000] {
        let items = rows(n);
        let encoded = encode_object_chunk(&items, &cmp).expect("encode");
        g.throughput(Throughput::Elements(n));
        g.bench_function(format!("encode/chunk_of_{n}"), |b| {
            b.iter(|| encode_object_chunk(&items, &cmp).expect("encode"))
        });
        g.bench_function(format!("decode/chunk_of_{n}"), |b| {
            b.iter(|| decode_object_chunk(&encoded, &cmp).expect("decode"))
        });
    }
    g.finish();
}

fn tmp_dir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("wfstore-bench-{tag}-"))
        .tempdir()
        .expect("temporary folder")
}

/// Write an engine-style runs array (chunk size 1) of `n` rows at `root/metadata/runs`.
fn write_runs(root: &Path, n: u64) -> PathBuf {
    let store = Arc::new(LocalStore::new(root));
    let opts = ObjectArrayOptions {
        chunk_size: Some(1),
        ..Default::default()
    };
    let arr = ObjectArray::create(store, "metadata/runs", 0, &opts).expect("create");
    arr.append(rows(n)).expect("append");
    root.join("metadata/runs")
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("entry");
        let meta = entry.metadata().expect("metadata");
        total += if meta.is_dir() {
            dir_bytes(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

fn rechunk_bench(c: &mut Criterion) {
    let probe = tmp_dir("probe");
    let bytes = dir_bytes(&write_runs(probe.path(), STORE_ROWS));
    let mut g = c.benchmark_group("rechunk");
    g.sample_size(10).throughput(Throughput::Bytes(bytes));
    g.bench_function(format!("runs_{STORE_ROWS}_chunks_to_one"), |b| {
        b.iter_batched(
            || {
                let d = tmp_dir("rechunk");
                write_runs(d.path(), STORE_ROWS);
                d
            },
            |d| {
                let store = Arc::new(LocalStore::new(d.path()));
                rechunk::rechunk_array(store, "metadata/runs", None, true, None).expect("rechunk");
                d
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn zip_bench(c: &mut Criterion) {
    let src = tmp_dir("zip-src");
    write_runs(src.path(), STORE_ROWS);
    let bytes = dir_bytes(src.path());
    let out = tmp_dir("zip-out");
    let archive = out.path().join("wk.zip");
    let mut g = c.benchmark_group("zip");
    g.sample_size(10).throughput(Throughput::Bytes(bytes));
    g.bench_function(format!("store_of_{STORE_ROWS}_files"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let _ = std::fs::remove_file(&archive);
                let t = Instant::now();
                zipio::zip_dir(src.path(), &archive, &[], None).expect("zip");
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

/// The disk's sequential write speed: 64 MiB in 1 MiB writes, then `fsync` (zip
/// flushes its archive the same way).
fn disk_bench(c: &mut Criterion) {
    const MIB: usize = 1 << 20;
    const TOTAL: usize = 64 * MIB;
    let d = tmp_dir("disk");
    let path = d.path().join("seq.bin");
    let block: Vec<u8> = (0..MIB).map(|i| (i * 31 % 251) as u8).collect();
    let mut g = c.benchmark_group("disk");
    g.sample_size(10)
        .throughput(Throughput::Bytes(TOTAL as u64));
    g.bench_function("sequential_write_64MiB_fsync", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let _ = std::fs::remove_file(&path);
                let t = Instant::now();
                let mut f = std::fs::File::create(&path).expect("create");
                for _ in 0..TOTAL / MIB {
                    f.write_all(&block).expect("write");
                }
                f.sync_all().expect("fsync");
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, codec, rechunk_bench, zip_bench, disk_bench);
criterion_main!(benches);
