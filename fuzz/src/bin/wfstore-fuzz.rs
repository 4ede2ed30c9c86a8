//! A mutational fuzzer for the targets of `wfstore_fuzz`, on stable Rust.
//!
//! libFuzzer (`cargo fuzz`) needs nightly compiler features; this driver needs none, so
//! CI can run it everywhere. It starts from valid seeds (chunks encoded with every
//! compressor and codec, `.zarray` documents, zip archives), applies stacked random
//! mutations (bit flips, interesting integers, truncation, insertion, deletion,
//! duplication, splicing, random bytes), keeps inputs that decode as new seeds, and runs
//! every input under `catch_unwind`. It is deterministic for a given `--seed`.
//!
//! Findings: a panic saves the input to `<artifacts>/<target>/crash-<n>` and makes the
//! exit status 1; an input running longer than `--timeout` seconds is saved as
//! `hang-<n>` and the process exits with status 2; a single allocation above
//! `--max-alloc-mb` aborts the process (unbounded allocation).
//!
//! ```text
//! wfstore-fuzz [--seconds S] [--seed N] [--target NAME]... [--artifacts DIR]
//!              [--timeout S] [--max-alloc-mb M] [--replay FILE]
//! ```
//!
//! `--seconds` is the budget per target (default 10).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Cursor, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmpv::Value;
use wfstore_core::codec::encode_object_chunk_with;
use wfstore_fuzz::{numeric_selection, object_selection, TARGETS};

// ---- allocation cap ------------------------------------------------------------------

/// Largest single allocation allowed (bytes); larger requests fail, aborting the process.
static MAX_ALLOC: AtomicUsize = AtomicUsize::new(1536 << 20);
/// Largest allocation granted.
static PEAK_ALLOC: AtomicUsize = AtomicUsize::new(0);
/// Allocations refused for being over the cap (the code under test must have handled
/// them as errors, e.g. with `try_reserve`, or the process would have aborted).
static REFUSED_ALLOCS: AtomicUsize = AtomicUsize::new(0);

struct CappedAlloc;

unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !self.check(layout.size()) {
            return std::ptr::null_mut();
        }
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !self.check(layout.size()) {
            return std::ptr::null_mut();
        }
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.check(new_size) {
            return std::ptr::null_mut();
        }
        System.realloc(ptr, layout, new_size)
    }
}

impl CappedAlloc {
    fn check(&self, size: usize) -> bool {
        if size > MAX_ALLOC.load(Ordering::Relaxed) {
            REFUSED_ALLOCS.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        PEAK_ALLOC.fetch_max(size, Ordering::Relaxed);
        true
    }
}

#[global_allocator]
static GLOBAL: CappedAlloc = CappedAlloc;

// ---- random numbers --------------------------------------------------------------------

/// splitmix64: small, fast and good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

// ---- seeds -----------------------------------------------------------------------------

fn sample_rows() -> Vec<Vec<Value>> {
    let s = |x: &str| Value::from(x);
    vec![
        vec![Value::from(0)],
        vec![s("a"), Value::from(1), Value::Nil, Value::from(2.5)],
        vec![Value::Map(vec![
            (s("start_time"), s("2026-01-01 00:00:00.000000")),
            (s("exit_code"), Value::from(0)),
            (
                s("data"),
                Value::Array(vec![Value::from(1), Value::from(-3), Value::from(true)]),
            ),
        ])],
        vec![Value::Array((0..40).map(Value::from).collect()); 3],
        vec![Value::Binary(vec![0, 1, 2, 255]), s(&"x".repeat(300))],
    ]
}

fn vlen_rows(codec_idx: usize) -> Vec<Vec<Value>> {
    match codec_idx {
        1 => vec![
            vec![Value::Array(vec![Value::from(1), Value::from(2)])],
            vec![Value::Array(vec![]), Value::Array(vec![Value::from(-7)])],
        ],
        2 => vec![vec![Value::from("hello"), Value::from("")]],
        _ => vec![vec![Value::Binary(vec![1, 2, 3]), Value::Binary(vec![])]],
    }
}

fn object_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sel in 0u8..16 {
        let (comp, codec) = object_selection(sel);
        let rows = if sel / 4 == 0 {
            sample_rows()
        } else {
            vlen_rows((sel / 4) as usize)
        };
        for items in rows {
            if let Ok(enc) = encode_object_chunk_with(&items, &codec, &comp) {
                let mut v = vec![sel];
                v.extend(enc);
                out.push(v);
            }
        }
    }
    out
}

fn numeric_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sel in 0u8..=255 {
        let (_, key, comp, dtype) = numeric_selection(sel);
        let n_items = match key {
            "1" => 4,
            _ => 8usize.min(if key == "0.1" { 4 } else { 8 }),
        };
        let raw: Vec<u8> = (0..n_items * dtype.size).map(|i| (i * 7) as u8).collect();
        if let Ok(enc) = comp.compress(&raw, dtype.size) {
            let mut v = vec![sel];
            v.extend(enc);
            out.push(v);
        }
    }
    out
}

fn record_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    // hpcflow 0.3.0's run_sub_dat (|u1 <u4 <u2 <u4) and run_dirs (|u1 <u4 <u4 |u1 x4),
    // fill values 0xff..., chunks encoded and raw
    let sub_dat: &[u8] = &[2, 9, 13, 9];
    let run_dirs: &[u8] = &[2, 9, 9, 2, 2, 2, 2];
    for (fields, layout) in [
        (sub_dat, 1u8),
        (run_dirs, 3),
        (sub_dat, 6 + 2),
        (run_dirs, 64 + 12 + 4),
    ] {
        for (flags, fill) in [(0x08u8, 1u8), (0x00, 0), (0x08, 4), (0x08, 5)] {
            let mut v = vec![(fields.len() as u8 - 1) | flags];
            v.extend_from_slice(fields);
            v.extend_from_slice(&[layout, fill]);
            v.extend((0..200u32).map(|i| if fill == 1 { 0xff } else { (i * 13) as u8 }));
            out.push(v);
        }
    }
    // every field dtype, and every damaged field form, once
    for b in 0u8..23 {
        out.push(vec![
            0x08 | 1,
            b,
            22 - b,
            b % 6 + 6 * (b % 4),
            2,
            1,
            2,
            3,
            4,
            5,
            6,
            7,
            8,
        ]);
    }
    for d in 0u8..10 {
        out.push(vec![0x08 | 2, 7, 0x80 | d, 20, 0, 1, 0, 0]);
    }
    out.push(vec![0xf8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
    out
}

fn metadata_seeds() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = [
        r#"{"chunks":[1],"compressor":{"blocksize":0,"clevel":5,"cname":"lz4","id":"blosc","shuffle":1},"dtype":"|O","fill_value":0,"filters":[{"id":"msgpack2","raw":false,"use_bin_type":true,"use_single_float":false}],"order":"C","shape":[3],"zarr_format":2}"#,
        r#"{"chunks":[1000],"compressor":{"id":"zstd","level":1},"dtype":"|O","fill_value":null,"filters":[{"id":"vlen-array","dtype":"<i8"}],"order":"C","shape":[0],"zarr_format":2,"dimension_separator":"."}"#,
        r#"{"chunks":[2,2],"compressor":null,"dtype":"<f8","fill_value":"NaN","filters":null,"order":"C","shape":[3,5],"zarr_format":2}"#,
        r#"{"chunks":[4],"compressor":null,"dtype":"<c16","fill_value":[1.0,"-Infinity"],"filters":null,"order":"C","shape":[7],"zarr_format":2,"dimension_separator":"/"}"#,
        r#"{"chunks":[10],"compressor":null,"dtype":"|b1","fill_value":false,"filters":null,"order":"C","shape":[5],"zarr_format":2}"#,
        // structured dtypes as hpcflow 0.3.0 writes them (run_sub_dat, run_dirs)
        r#"{"chunks":[200000],"compressor":{"blocksize":0,"clevel":5,"cname":"lz4","id":"blosc","shuffle":1},"dimension_separator":"/","dtype":[["submission_idx","|u1"],["commands_file_ID","<u4"],["run_file_ID","<u2"],["run_file_idx","<u4"]],"fill_value":"//////////////8=","filters":null,"order":"C","shape":[4],"zarr_format":2}"#,
        r#"{"chunks":[100000],"compressor":null,"dimension_separator":"/","dtype":[["task_insert_ID","|u1"],["element_idx","<u4"],["iteration_idx","<u4"],["action_idx","|u1"],["run_idx","|u1"],["element_depth","|u1"],["iteration_depth","|u1"]],"fill_value":"/////////////////w==","filters":null,"order":"C","shape":[4],"zarr_format":2}"#,
        r#"{"chunks":[3,2],"compressor":{"id":"zstd","level":1},"dtype":[["a",">f8"],["b","|b1"],["c",">i2"],["d","<f2"]],"fill_value":null,"filters":null,"order":"C","shape":[5,2],"zarr_format":2}"#,
        r#"{"chunks":[4],"compressor":null,"dtype":[["a","<u4",[2]],["b",[["x","<u1"]]],["a","<c8"],["",1]],"fill_value":"AAAA","filters":null,"order":"C","shape":[7],"zarr_format":2}"#,
        r#"{"chunks":[4],"compressor":null,"dtype":[["a","<u4"]],"fill_value":"AAA=","filters":null,"order":"C","shape":[7],"zarr_format":2}"#,
        r#"{"chunks":[4],"compressor":null,"dtype":[],"fill_value":["x"],"filters":null,"order":"C","shape":[7],"zarr_format":2}"#,
        r#"{"parameter_paths":["inputs.p1"],"seq_idx":[[0,1]],"nested":{"a":[1,2.5,null,true]}}"#,
        r#"{}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    // Hostile sizes: huge chunks (an absent chunk reads as fill values), shapes whose
    // product overflows.
    for (shape, chunks, dtype) in [
        ("[1]", "[4294967296]", "|O"),
        ("[100000,100000]", "[100000,100000]", "<f8"),
        ("[4294967296,4294967296]", "[4294967296,4294967296]", "<f8"),
        ("[18446744073709551615]", "[1]", "|O"),
        ("[1099511627776]", "[1]", "|b1"),
    ] {
        out.push(
            format!(
                r#"{{"chunks":{chunks},"compressor":null,"dtype":"{dtype}","fill_value":0,"filters":[{{"id":"msgpack2"}}],"order":"C","shape":{shape},"zarr_format":2}}"#
            )
            .into_bytes(),
        );
    }
    out
}

fn zip_seeds() -> Vec<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    use zip::CompressionMethod;
    let build = |entries: &[(&str, &[u8], bool)]| -> Vec<u8> {
        let mut zw = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data, deflate) in entries {
            let method = if *deflate {
                CompressionMethod::Deflated
            } else {
                CompressionMethod::Stored
            };
            if name.ends_with('/') {
                zw.add_directory(*name, SimpleFileOptions::default())
                    .expect("zip dir");
            } else {
                zw.start_file(
                    *name,
                    SimpleFileOptions::default().compression_method(method),
                )
                .expect("zip entry");
                zw.write_all(data).expect("zip data");
            }
        }
        zw.finish().expect("zip finish").into_inner()
    };
    let big = b"0123456789".repeat(200);
    vec![
        build(&[
            (".zgroup", b"{\"zarr_format\": 2}", false),
            ("metadata/runs/.zarray", b"{}", false),
            ("metadata/runs/0", b"\x93\x01\xa2|O\x91\x01", false),
        ]),
        build(&[
            ("d/", b"", false),
            ("d/x", &big, true),
            ("y", b"stored", false),
        ]),
        build(&[("a", b"1", false)]),
    ]
}

fn json_seeds() -> Vec<Vec<u8>> {
    [
        r#"{"a":1,"runs":[{"x":[1,2]},null,"s\"]"],"data":{"1":{"d":true},"k\u00e9":-2.5e-3},"z":[]}"#,
        r#"{"runs":[],"data":{},"a":[NaN,Infinity,-Infinity,-0,1E+5,0.5]}"#,
        r#"{"name":"wk","tasks":[{"id":0,"element_IDs":[0,1]}],"runs":[{"start_time":null,"metadata":{}}]}"#,
        r#"{}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "object_chunk" => object_seeds(),
        "numeric_chunk" => numeric_seeds(),
        "record_array" => record_seeds(),
        "metadata" => metadata_seeds(),
        "json_spans" => json_seeds(),
        _ => zip_seeds(),
    }
}

// ---- mutations -------------------------------------------------------------------------

const INTERESTING_32: [u32; 10] = [
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x4000_0000,
];

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut d = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = d.len();
        match rng.below(10) {
            0 => {
                for _ in 0..=rng.below(8) {
                    if !d.is_empty() {
                        let i = rng.below(d.len());
                        d[i] ^= 1 << rng.below(8);
                    }
                }
            }
            1 if len > 0 => {
                let i = rng.below(len);
                d[i] = [0u8, 1, 0x7f, 0x80, 0xff, rng.byte()][rng.below(6)];
            }
            2 if len >= 4 => {
                let i = rng.below(len - 3);
                let v = INTERESTING_32[rng.below(INTERESTING_32.len())];
                let b = if rng.below(2) == 0 {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                d[i..i + 4].copy_from_slice(&b);
            }
            3 => d.truncate(rng.below(len + 1)),
            4 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(32);
                let ins: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
                d.splice(i..i, ins);
            }
            5 if len > 0 => {
                let a = rng.below(len);
                let b = a + rng.below(len - a + 1);
                d.drain(a..b);
            }
            6 if len > 0 => {
                let a = rng.below(len);
                let b = a + rng.below((len - a).min(256) + 1);
                let copy = d[a..b].to_vec();
                let i = rng.below(len + 1);
                d.splice(i..i, copy);
            }
            7 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                d.truncate(cut);
                d.extend_from_slice(&other[from..]);
            }
            8 => {
                let n = rng.below(64);
                let keep = d.first().copied();
                d = (0..n).map(|_| rng.byte()).collect();
                // keep the selector byte sometimes, so random payloads hit every codec
                if let (Some(k), Some(f)) = (keep, d.first_mut()) {
                    if rng.below(2) == 0 {
                        *f = k;
                    }
                }
            }
            _ if len > 0 => {
                // change the selector byte (the codec choice of chunk targets)
                d[0] = rng.byte();
            }
            _ => {}
        }
    }
    d
}

// ---- driver ----------------------------------------------------------------------------

struct Options {
    seconds: f64,
    seed: u64,
    targets: Vec<String>,
    artifacts: PathBuf,
    timeout: u64,
    replay: Option<PathBuf>,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        seconds: 10.0,
        seed: 1,
        targets: Vec::new(),
        artifacts: PathBuf::from("fuzz/artifacts"),
        timeout: 20,
        replay: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--seconds" => o.seconds = val()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--seed" => o.seed = val()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--target" => o.targets.push(val()?),
            "--artifacts" => o.artifacts = PathBuf::from(val()?),
            "--timeout" => o.timeout = val()?.parse().map_err(|e| format!("--timeout: {e}"))?,
            "--max-alloc-mb" => {
                let mb: usize = val()?.parse().map_err(|e| format!("--max-alloc-mb: {e}"))?;
                MAX_ALLOC.store(mb << 20, Ordering::Relaxed);
            }
            "--replay" => o.replay = Some(PathBuf::from(val()?)),
            "-h" | "--help" => {
                return Err(
                    "usage: wfstore-fuzz [--seconds S] [--seed N] [--target NAME]... \
                     [--artifacts DIR] [--timeout S] [--max-alloc-mb M] [--replay FILE]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if o.targets.is_empty() {
        o.targets = TARGETS.iter().map(|s| s.to_string()).collect();
    }
    for t in &o.targets {
        if !TARGETS.contains(&t.as_str()) {
            return Err(format!("unknown target {t:?}; targets: {TARGETS:?}"));
        }
    }
    Ok(o)
}

fn save(dir: &Path, target: &str, kind: &str, n: u64, data: &[u8]) -> PathBuf {
    let d = dir.join(target);
    let _ = std::fs::create_dir_all(&d);
    let p = d.join(format!("{kind}-{n}"));
    let _ = std::fs::write(&p, data);
    p
}

/// State shared with the hang watchdog.
struct Current {
    target: Mutex<String>,
    input: Mutex<Vec<u8>>,
    started_ms: AtomicU64,
    exec: AtomicU64,
}

fn now_ms(t0: Instant) -> u64 {
    t0.elapsed().as_millis() as u64 + 1
}

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Some(p) = &o.replay {
        let data = std::fs::read(p).expect("read the replay input");
        for t in &o.targets {
            println!("{t}: {:?}", wfstore_fuzz::run(t, &data));
        }
        return;
    }
    // Panics are expected to be rare; report each once, briefly.
    std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));

    let t0 = Instant::now();
    let cur = Arc::new(Current {
        target: Mutex::new(String::new()),
        input: Mutex::new(Vec::new()),
        started_ms: AtomicU64::new(0),
        exec: AtomicU64::new(0),
    });
    {
        let cur = cur.clone();
        let timeout_ms = o.timeout * 1000;
        let artifacts = o.artifacts.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(200));
            let s = cur.started_ms.load(Ordering::SeqCst);
            if s != 0 && now_ms(t0).saturating_sub(s) > timeout_ms {
                let target = cur.target.lock().map(|t| t.clone()).unwrap_or_default();
                let input = cur.input.lock().map(|i| i.clone()).unwrap_or_default();
                let p = save(
                    &artifacts,
                    &target,
                    "hang",
                    cur.exec.load(Ordering::SeqCst),
                    &input,
                );
                eprintln!(
                    "HANG: {target} ran over {timeout_ms} ms; input saved to {}",
                    p.display()
                );
                std::process::exit(2);
            }
        });
    }

    println!(
        "wfstore-fuzz: seed {}, {} s per target, max single allocation {} MiB",
        o.seed,
        o.seconds,
        MAX_ALLOC.load(Ordering::Relaxed) >> 20
    );
    let mut total = 0u64;
    let mut crashes = 0u64;
    for target in &o.targets {
        *cur.target.lock().expect("lock") = target.clone();
        let mut rng = Rng(o.seed ^ (target.len() as u64).wrapping_mul(0x1234_5678_9abc));
        let mut corpus = seeds(target);
        let n_seeds = corpus.len();
        let start = Instant::now();
        let budget = Duration::from_secs_f64(o.seconds);
        let (mut execs, mut decoded, mut slowest) = (0u64, 0u64, Duration::ZERO);
        let mut pending_seeds: Vec<Vec<u8>> = corpus.clone();
        while start.elapsed() < budget {
            let input = match pending_seeds.pop() {
                Some(s) => s, // every seed runs unmutated first
                None => {
                    let base = corpus[rng.below(corpus.len())].clone();
                    mutate(&mut rng, &base, &corpus)
                }
            };
            if let Ok(mut i) = cur.input.lock() {
                i.clear();
                i.extend_from_slice(&input);
            }
            cur.exec.store(execs, Ordering::SeqCst);
            let t = Instant::now();
            cur.started_ms.store(now_ms(t0), Ordering::SeqCst);
            let r = catch_unwind(AssertUnwindSafe(|| wfstore_fuzz::run(target, &input)));
            cur.started_ms.store(0, Ordering::SeqCst);
            slowest = slowest.max(t.elapsed());
            execs += 1;
            match r {
                Ok(Some(true)) => {
                    decoded += 1;
                    if corpus.len() < 4096 && input.len() <= 1 << 16 && rng.below(8) == 0 {
                        corpus.push(input);
                    }
                }
                Ok(_) => {}
                Err(_) => {
                    crashes += 1;
                    let p = save(&o.artifacts, target, "crash", execs, &input);
                    eprintln!("CRASH in {target}: input saved to {}", p.display());
                }
            }
        }
        total += execs;
        println!(
            "{target:>14}: {execs:>9} executions ({decoded} decoded), {} seeds, corpus {}, \
             slowest {:.1} ms",
            n_seeds,
            corpus.len(),
            slowest.as_secs_f64() * 1e3
        );
    }
    println!(
        "total: {total} executions, {crashes} crashes, 0 hangs, largest allocation {} MiB \
         ({} larger requests refused and handled as errors), {:.1} s",
        PEAK_ALLOC.load(Ordering::Relaxed) >> 20,
        REFUSED_ALLOCS.load(Ordering::Relaxed),
        t0.elapsed().as_secs_f64()
    );
    if crashes > 0 {
        std::process::exit(1);
    }
}
