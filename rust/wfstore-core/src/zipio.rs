//! Zip archives of whole stores.
//!
//! * [`zip_dir`] writes a store folder into a new archive whose entries are the store's
//!   keys at the archive root, stored (not compressed) with the fixed date 1980-01-01, the
//!   layout the workflow engine (hpcflow) produces. The archive appears under its final
//!   name only once it is complete and flushed.
//! * [`unzip`] extracts an archive into a new folder after validating every entry (no
//!   absolute paths, no `..`, no links, no duplicates, no zip bombs). The folder appears
//!   under its final name only once extraction has succeeded.
//! * [`ZipStore`] reads an archive in place as a read-only [`Store`], with lock-free
//!   positional reads of stored entries so that many threads can read at once.

use crate::atomic::tmp_sibling;
use crate::error::{Error, Result};
use crate::store::Store;
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use zip::result::ZipError;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

/// Entries declaring more than this many bytes are subject to [`MAX_COMPRESSION_RATIO`].
pub const RATIO_CHECK_MIN_SIZE: u64 = 1 << 20;

/// Largest accepted ratio of declared uncompressed size to compressed size for an entry
/// larger than [`RATIO_CHECK_MIN_SIZE`]. Deflate cannot exceed about 1032:1, so only
/// forged or near-degenerate entries are refused.
pub const MAX_COMPRESSION_RATIO: u64 = 1000;

/// Unix permission bits given to every file written by [`zip_dir`].
const ENTRY_PERMISSIONS: u32 = 0o644;

/// File type bits of a unix mode, and the value of a symbolic link.
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;

/// Signature and length of the fixed part of a local file header.
const LOCAL_HEADER_SIGNATURE: [u8; 4] = [0x50, 0x4b, 0x03, 0x04];
const LOCAL_HEADER_LEN: usize = 30;

/// Size of the copy buffer used while extracting.
const COPY_BUFFER: usize = 64 * 1024;

/// Archives with fewer files than this, or fewer bytes than [`PARALLEL_BYTES_MIN`], are
/// extracted on the calling thread: handing a few small files to the thread pool costs
/// more than it saves (waking its threads, and their creations queueing on the same
/// folders and inode group).
const PARALLEL_FILES_MIN: usize = 8;
const PARALLEL_BYTES_MIN: u64 = 1 << 20;

/// Archives up to this size are read into memory at once to be unzipped.
const IN_MEMORY_MAX: u64 = 16 << 20;

/// Figures of a zip or unzip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZipReport {
    /// Number of file entries written.
    pub entries: u64,
    /// Total uncompressed bytes of the files.
    pub bytes: u64,
}

/// Progress callback: `(done, total)` counted in files.
type Progress<'a> = Option<&'a (dyn Fn(u64, u64) + Sync)>;

fn zip_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Zip {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

fn unsafe_entry(path: &Path, entry: &str, reason: impl Into<String>) -> Error {
    Error::UnsafeArchive {
        path: path.display().to_string(),
        entry: entry.to_string(),
        reason: reason.into(),
    }
}

/// Map an error of the zip crate: I/O failures become [`Error::Io`], the rest [`Error::Zip`].
fn from_zip(path: &Path, e: ZipError) -> Error {
    match e {
        ZipError::Io(io) => Error::io(path, io),
        other => zip_error(path, other.to_string()),
    }
}

/// Flush a folder's entry list to disk (best effort; not every platform supports it).
fn sync_dir(dir: &Path) {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

// ---------------------------------------------------------------------------------------
// zip_dir
// ---------------------------------------------------------------------------------------

/// A file to be written into an archive.
#[derive(Debug)]
struct SourceFile {
    /// Entry name: path relative to the source folder, `/`-separated.
    name: String,
    /// Path on disk.
    path: PathBuf,
}

/// Write every file under folder `src` into the new zip archive `dst`.
///
/// Entry names are the paths relative to `src` with `/` separators, written in sorted
/// order so that the same folder always gives the same archive. Files are stored (not
/// compressed) with the fixed date 1980-01-01 00:00 and permissions `0o644`; ZIP64
/// records are used when a file or the archive needs them (4 GiB or more, more than
/// 65,535 entries).
///
/// Skipped:
/// * any path one of whose components (relative to `src`) equals a name in `exclude`,
///   for example `execute`, `runs.bak` or `base.bak`;
/// * any file or folder whose name starts with [`crate::names::TMP_PREFIX`] (temporary files of
///   interrupted writes);
/// * symbolic links, whether to files or folders: they are neither followed nor stored
///   (`src` itself may be a link to a folder);
/// * anything that is not a regular file or folder (sockets, FIFOs, devices);
/// * empty folders, since only files are stored.
///
/// The archive is written under a temporary sibling name, flushed to disk (`fsync`) and
/// only then renamed to `dst`, so an interrupted zip never leaves a partial archive under
/// `dst`; on error the temporary file is removed.
///
/// `progress`, if given, is called with `(0, total)` before the first file and with
/// `(done, total)` after each file, `total` being the number of files.
///
/// # Errors
///
/// [`Error::Zip`] if `dst` already exists, if `dst` is inside `src`, if `src` is not a
/// folder, if a file name is not UTF-8 or contains a backslash (it could not be extracted
/// portably) or if a file changes size while it is being read; [`Error::Io`] on I/O
/// failures.
pub fn zip_dir(
    src: &Path,
    dst: &Path,
    exclude: &[String],
    progress: Option<&(dyn Fn(u64, u64) + Sync)>,
) -> Result<ZipReport> {
    let meta = fs::metadata(src).map_err(|e| Error::io(src, e))?;
    if !meta.is_dir() {
        return Err(zip_error(
            dst,
            format!("source {} is not a folder", src.display()),
        ));
    }
    if fs::symlink_metadata(dst).is_ok() {
        return Err(zip_error(
            dst,
            "destination already exists; refusing to overwrite it",
        ));
    }
    let file_name = dst
        .file_name()
        .ok_or_else(|| zip_error(dst, "destination has no file name"))?;
    let parent = match dst.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let src_abs = fs::canonicalize(src).map_err(|e| Error::io(src, e))?;
    let parent_abs = fs::canonicalize(parent).map_err(|e| Error::io(parent, e))?;
    if parent_abs.join(file_name).starts_with(&src_abs) {
        return Err(zip_error(
            dst,
            format!("destination is inside the source folder {}", src.display()),
        ));
    }
    let exclude: HashSet<&str> = exclude.iter().map(String::as_str).collect();
    let files = collect_files(src, dst, &exclude)?;
    write_archive(&files, dst, progress)
}

/// List the files to archive under `src`, sorted by entry name.
fn collect_files(src: &Path, dst: &Path, exclude: &HashSet<&str>) -> Result<Vec<SourceFile>> {
    let mut out = Vec::new();
    // (folder on disk, its entry-name prefix ending in `/` or empty)
    let mut stack = vec![(src.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let rd = fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        for ent in rd {
            let ent = ent.map_err(|e| Error::io(&dir, e))?;
            let os_name = ent.file_name();
            let Some(name) = os_name.to_str() else {
                return Err(zip_error(
                    dst,
                    format!("file name {} is not valid UTF-8", ent.path().display()),
                ));
            };
            if exclude.contains(name) || crate::names::is_scratch_name(name) {
                continue;
            }
            if name.contains('\\') {
                return Err(zip_error(
                    dst,
                    format!(
                        "file name {} contains a backslash and could not be extracted safely",
                        ent.path().display()
                    ),
                ));
            }
            // `DirEntry::file_type` does not follow symbolic links.
            let ft = ent.file_type().map_err(|e| Error::io(ent.path(), e))?;
            let rel = format!("{prefix}{name}");
            if ft.is_dir() {
                stack.push((ent.path(), format!("{rel}/")));
            } else if ft.is_file() {
                out.push(SourceFile {
                    name: rel,
                    path: ent.path(),
                });
            }
            // Symbolic links and special files are skipped.
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Write `files` into a temporary sibling of `dst`, flush it and rename it to `dst`.
fn write_archive(files: &[SourceFile], dst: &Path, progress: Progress<'_>) -> Result<ZipReport> {
    let tmp = tmp_sibling(dst);
    let result = write_archive_to(files, &tmp, dst, progress).and_then(|report| {
        // Last check, to narrow the window in which another process could create `dst`.
        if fs::symlink_metadata(dst).is_ok() {
            return Err(zip_error(
                dst,
                "destination appeared while the archive was written; refusing to overwrite it",
            ));
        }
        fs::rename(&tmp, dst).map_err(|e| Error::io(dst, e))?;
        Ok(report)
    });
    match result {
        Ok(report) => {
            if let Some(parent) = dst.parent() {
                sync_dir(parent);
            }
            Ok(report)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn write_archive_to(
    files: &[SourceFile],
    tmp: &Path,
    dst: &Path,
    progress: Progress<'_>,
) -> Result<ZipReport> {
    let out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(|e| Error::io(tmp, e))?;
    let mut writer = ZipWriter::new(BufWriter::with_capacity(1 << 20, out));
    let base = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(DateTime::DEFAULT)
        .unix_permissions(ENTRY_PERMISSIONS);
    let total = files.len() as u64;
    let mut report = ZipReport::default();
    if let Some(cb) = progress {
        cb(0, total);
    }
    for (i, f) in files.iter().enumerate() {
        let mut input = File::open(&f.path).map_err(|e| Error::io(&f.path, e))?;
        let len = input.metadata().map_err(|e| Error::io(&f.path, e))?.len();
        let options = base.large_file(len >= zip::ZIP64_BYTES_THR);
        writer
            .start_file(f.name.as_str(), options)
            .map_err(|e| from_zip(tmp, e))?;
        let copied = io::copy(&mut (&mut input).take(len), &mut writer)
            .map_err(|e| Error::io(&f.path, e))?;
        let len_now = input.metadata().map_err(|e| Error::io(&f.path, e))?.len();
        if copied != len || len_now != len {
            return Err(zip_error(
                dst,
                format!(
                    "{} changed size while it was archived ({len} bytes at start, {copied} \
                     read, {len_now} at end)",
                    f.path.display()
                ),
            ));
        }
        report.entries += 1;
        report.bytes += len;
        if let Some(cb) = progress {
            cb(i as u64 + 1, total);
        }
    }
    let buffered = writer.finish().map_err(|e| from_zip(tmp, e))?;
    let out = buffered
        .into_inner()
        .map_err(|e| Error::io(tmp, e.into_error()))?;
    out.sync_all().map_err(|e| Error::io(tmp, e))?;
    Ok(report)
}

// ---------------------------------------------------------------------------------------
// unzip
// ---------------------------------------------------------------------------------------

/// An entry of an archive checked by [`validate_entries`].
#[derive(Debug)]
struct PlannedEntry {
    index: usize,
    name: String,
    components: Vec<String>,
    is_dir: bool,
    size: u64,
}

/// Split an entry name into safe path components, or say why it is unsafe.
///
/// Empty and `.` components are dropped (`a//b` and `./a/b` name `a/b`).
fn safe_components(name: &str) -> std::result::Result<Vec<String>, String> {
    if name.is_empty() {
        return Err("empty entry name".into());
    }
    if name.contains('\0') {
        return Err("name contains a NUL character".into());
    }
    if name.contains('\\') {
        return Err("name contains a backslash (a Windows path separator)".into());
    }
    if name.starts_with('/') {
        return Err("absolute path".into());
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err("name starts with a drive letter".into());
    }
    let mut out = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("name has a '..' component".into()),
            c => {
                if cfg!(windows) && c.contains(':') {
                    return Err("name has a ':' (alternate data stream or drive)".into());
                }
                out.push(c.to_string());
            }
        }
    }
    Ok(out)
}

/// Refuse an entry whose declared sizes are absurd (zip bomb) or inconsistent.
fn check_declared_sizes(
    archive: &Path,
    name: &str,
    method: CompressionMethod,
    size: u64,
    compressed: u64,
) -> Result<()> {
    if method == CompressionMethod::Stored && size != compressed {
        return Err(unsafe_entry(
            archive,
            name,
            format!("stored entry declares {size} bytes but holds {compressed} bytes of data"),
        ));
    }
    if size > RATIO_CHECK_MIN_SIZE && size / compressed.max(1) > MAX_COMPRESSION_RATIO {
        return Err(unsafe_entry(
            archive,
            name,
            format!(
                "declared size {size} bytes is more than {MAX_COMPRESSION_RATIO} times its \
                 compressed size {compressed} bytes (zip bomb?)"
            ),
        ));
    }
    Ok(())
}

/// Check every entry of the archive; nothing is written.
fn validate_entries<R: Read + io::Seek>(
    za: &mut ZipArchive<R>,
    archive: &Path,
) -> Result<Vec<PlannedEntry>> {
    if za.has_duplicate_names() {
        return Err(unsafe_entry(
            archive,
            "",
            "the central directory lists the same entry name more than once",
        ));
    }
    let mut plan = Vec::with_capacity(za.len());
    // normalized name -> is a folder
    let mut seen: HashMap<String, bool> = HashMap::with_capacity(za.len());
    for index in 0..za.len() {
        let entry = za.by_index_data(index).map_err(|e| from_zip(archive, e))?;
        let name = entry.name().map_err(|e| from_zip(archive, e))?.into_owned();
        let mode = entry.external_attributes() >> 16;
        if entry.is_symlink() || mode & S_IFMT == S_IFLNK {
            return Err(unsafe_entry(
                archive,
                &name,
                "symbolic link entries are not allowed",
            ));
        }
        let components =
            safe_components(&name).map_err(|reason| unsafe_entry(archive, &name, reason))?;
        let is_dir = name.ends_with('/');
        if components.is_empty() {
            if is_dir {
                continue; // `./` or similar: the root itself
            }
            return Err(unsafe_entry(archive, &name, "name has no file component"));
        }
        if entry.encrypted() {
            return Err(zip_error(
                archive,
                format!("entry {name:?} is encrypted, which is not supported"),
            ));
        }
        let method = entry.compression();
        if !is_dir && method != CompressionMethod::Stored && method != CompressionMethod::Deflated {
            return Err(zip_error(
                archive,
                format!("entry {name:?} uses unsupported compression method {method}"),
            ));
        }
        let size = entry.size();
        if !is_dir {
            check_declared_sizes(archive, &name, method, size, entry.compressed_size())?;
        }
        let key = components.join("/");
        match seen.get(&key) {
            Some(true) if is_dir => {} // the same folder twice is harmless
            Some(_) => {
                return Err(unsafe_entry(
                    archive,
                    &name,
                    format!("duplicate entry: {key:?} appears more than once"),
                ))
            }
            None => {
                seen.insert(key, is_dir);
            }
        }
        plan.push(PlannedEntry {
            index,
            name,
            components,
            is_dir,
            size,
        });
    }
    // A file may not also be a folder of another entry (`a` and `a/b`).
    for p in &plan {
        for n in 1..p.components.len() {
            let ancestor = p.components[..n].join("/");
            if seen.get(&ancestor) == Some(&false) {
                return Err(unsafe_entry(
                    archive,
                    &p.name,
                    format!("{ancestor:?} is both a file and a folder"),
                ));
            }
        }
    }
    // Entries sharing compressed data multiply the output without growing the archive.
    if za
        .has_overlapping_files()
        .map_err(|e| from_zip(archive, e))?
    {
        return Err(unsafe_entry(
            archive,
            "",
            "entries overlap (share compressed data), a zip bomb technique",
        ));
    }
    Ok(plan)
}

/// Extract `archive` into the new folder `dest`.
///
/// Every entry is validated before anything is written; the archive is refused with
/// [`Error::UnsafeArchive`] if an entry name is absolute, has a `..` component, a drive
/// letter or a backslash, is a symbolic link (unix mode `S_IFLNK` in its external
/// attributes), appears twice (also after normalizing `a//b` or `./a` forms) or is both a
/// file and a folder, or if entries overlap.
///
/// Zip bombs: declared sizes are never trusted. An entry declaring more than
/// [`RATIO_CHECK_MIN_SIZE`] (1 MiB) with a ratio of declared size to compressed size above
/// [`MAX_COMPRESSION_RATIO`] (1000) is refused before extraction, as is a stored entry
/// whose declared and stored sizes differ. While streaming, the bytes actually written
/// are counted and an entry producing more than its declared size is refused (so the
/// total written is bounded by the declared sizes). Data failing the checksum is refused
/// too.
///
/// Directory entries create folders. Only stored and deflated entries are supported;
/// permissions and dates of entries are not restored.
///
/// Extraction goes into a temporary sibling folder of `dest`, renamed to `dest` at the
/// end, so an interrupted unzip leaves nothing under `dest`; on error the temporary folder
/// is removed. Missing parent folders of `dest` are created. Nothing is flushed to disk
/// (`fsync`): the archive is the durable copy.
///
/// `progress`, if given, is called with `(0, total)` and then `(done, total)` after each
/// file, `total` being the number of file entries.
///
/// # Errors
///
/// [`Error::Zip`] if `dest` already exists or the archive cannot be read,
/// [`Error::UnsafeArchive`] as above, [`Error::Io`] on I/O failures.
pub fn unzip(
    archive: &Path,
    dest: &Path,
    progress: Option<&(dyn Fn(u64, u64) + Sync)>,
) -> Result<ZipReport> {
    unzip_reading(archive, dest, progress, IN_MEMORY_MAX)
}

/// [`unzip`], reading the archive into memory at once if it holds at most
/// `in_memory_max` bytes.
fn unzip_reading(
    archive: &Path,
    dest: &Path,
    progress: Option<&(dyn Fn(u64, u64) + Sync)>,
    in_memory_max: u64,
) -> Result<ZipReport> {
    if fs::symlink_metadata(dest).is_ok() {
        return Err(zip_error(
            archive,
            format!(
                "destination {} already exists; refusing to extract into it",
                dest.display()
            ),
        ));
    }
    if dest.file_name().is_none() {
        return Err(zip_error(
            archive,
            format!("destination {} has no folder name", dest.display()),
        ));
    }
    let file = File::open(archive).map_err(|e| Error::io(archive, e))?;
    let reader =
        AtReader::load(Arc::new(file), in_memory_max).map_err(|e| Error::io(archive, e))?;
    let mut za =
        ZipArchive::new(BufReader::new(reader.clone())).map_err(|e| from_zip(archive, e))?;
    let plan = validate_entries(&mut za, archive)?;

    if let Some(parent) = dest.parent() {
        if !parent.as_os_str().is_empty() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
    }
    let tmp = tmp_sibling(dest);
    fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let result = extract_into(&za, &reader, archive, &plan, &tmp, progress).and_then(|report| {
        if fs::symlink_metadata(dest).is_ok() {
            return Err(zip_error(
                archive,
                format!(
                    "destination {} appeared during extraction; refusing to replace it",
                    dest.display()
                ),
            ));
        }
        fs::rename(&tmp, dest).map_err(|e| Error::io(dest, e))?;
        Ok(report)
    });
    // No fsync here (unlike `zip_dir`, whose archive is the copy users keep): the
    // archive stays the durable copy, and a store's commits do not fsync either. The
    // rename makes the folder appear whole or not at all to other processes and after
    // a crash of this one; syncing the parent would force the file system to write
    // every extracted file at once (up to ~10 ms for a small store on a busy disk).
    match result {
        Ok(report) => Ok(report),
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

/// Extract the planned entries under `root`: the folders first, in archive order, then
/// the files, in groups in parallel when there are at least [`PARALLEL_FILES_MIN`]
/// (creating files is mostly work in the kernel, which several threads share out).
/// Each group reads the archive through its own clone of `reader`, the one open file
/// whose central directory `za` holds.
fn extract_into(
    za: &ZipArchive<BufReader<AtReader>>,
    reader: &AtReader,
    archive: &Path,
    plan: &[PlannedEntry],
    root: &Path,
    progress: Progress<'_>,
) -> Result<ZipReport> {
    let mut made_dirs: HashSet<PathBuf> = HashSet::new();
    let mut files: Vec<(&PlannedEntry, PathBuf)> = Vec::with_capacity(plan.len());
    for p in plan {
        let mut path = root.to_path_buf();
        path.extend(&p.components);
        if p.is_dir {
            fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            made_dirs.insert(path);
            continue;
        }
        if let Some(parent) = path.parent() {
            if !made_dirs.contains(parent) {
                fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                made_dirs.insert(parent.to_path_buf());
            }
        }
        files.push((p, path));
    }
    let total = files.len() as u64;
    if let Some(cb) = progress {
        cb(0, total);
    }
    // the count and the callback under one lock, so that calls come in order
    let done = Mutex::new(0u64);
    let extract_group = |group: &[(&PlannedEntry, PathBuf)]| -> Result<u64> {
        // SAFETY: `reader` reads the very file (the same open handle) whose central
        // directory `za` parsed, so the metadata describes it.
        let mut za = unsafe {
            ZipArchive::unsafe_new_with_metadata(BufReader::new(reader.clone()), za.metadata())
        };
        let mut buf = vec![0u8; COPY_BUFFER];
        let mut bytes = 0;
        for (p, path) in group {
            let mut out = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|e| Error::io(path, e))?;
            let mut entry = za.by_index(p.index).map_err(|e| from_zip(archive, e))?;
            bytes += copy_counted(&mut entry, &mut out, &mut buf, archive, path, p)?;
            if let Some(cb) = progress {
                let mut n = done.lock().unwrap_or_else(|e| e.into_inner());
                *n += 1;
                cb(*n, total);
            }
        }
        Ok(bytes)
    };
    let declared: u64 = files.iter().map(|(p, _)| p.size).sum();
    let bytes: u64 = if files.len() < PARALLEL_FILES_MIN || declared < PARALLEL_BYTES_MIN {
        extract_group(&files)?
    } else {
        // several groups per thread, so that one large file does not hold up the rest
        let per_group = files
            .len()
            .div_ceil(4 * rayon::current_num_threads())
            .max(1);
        files
            .par_chunks(per_group)
            .map(extract_group)
            .collect::<Result<Vec<u64>>>()?
            .into_iter()
            .sum()
    };
    Ok(ZipReport {
        entries: total,
        bytes,
    })
}

/// Copy an entry's data to `out`, refusing it as soon as it exceeds its declared size.
fn copy_counted(
    input: &mut impl Read,
    out: &mut impl Write,
    buf: &mut [u8],
    archive: &Path,
    out_path: &Path,
    p: &PlannedEntry,
) -> Result<u64> {
    let mut written: u64 = 0;
    loop {
        let n = match input.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(unsafe_entry(
                    archive,
                    &p.name,
                    format!(
                        "entry data does not match its header (more than the declared {} \
                         bytes, or a bad checksum): {e}",
                        p.size
                    ),
                ))
            }
            Err(e) => return Err(Error::io(archive, e)),
        };
        written += n as u64;
        if written > p.size {
            return Err(unsafe_entry(
                archive,
                &p.name,
                format!(
                    "entry decompresses to more than its declared {} bytes",
                    p.size
                ),
            ));
        }
        out.write_all(&buf[..n])
            .map_err(|e| Error::io(out_path, e))?;
    }
    if written != p.size {
        return Err(zip_error(
            archive,
            format!(
                "entry {:?} is truncated: {written} of {} bytes",
                p.name, p.size
            ),
        ));
    }
    Ok(written)
}

// ---------------------------------------------------------------------------------------
// ZipStore
// ---------------------------------------------------------------------------------------

/// How an entry's data can be read.
#[derive(Debug, Clone)]
enum Access {
    /// Stored: read `size` bytes directly after the local header at `header_start`; the
    /// data offset is found from the local header on first use.
    Stored {
        header_start: u64,
        data_start: OnceLock<u64>,
    },
    /// Deflated: decompressed through the shared [`ZipArchive`].
    Deflated,
    /// Cannot be read; the reason is reported by `get`.
    Refused { reason: String, unsafe_entry: bool },
}

/// An indexed file entry of a [`ZipStore`].
#[derive(Debug, Clone)]
struct IndexEntry {
    index: usize,
    size: u64,
    compressed: u64,
    access: Access,
}

/// A read-only [`Store`] over a zip archive, read in place.
///
/// The central directory is read once by [`ZipStore::open`], which builds an index from
/// entry name to location, sizes and compression method (the exact data offset of an
/// entry is taken from its local header the first time it is read, then cached). Stored
/// (uncompressed) entries, the case of archives made by [`zip_dir`] and by hpcflow, are
/// read with positional reads (`pread`) on a shared file handle, without any lock, so
/// many threads can `get` at once; deflated
/// entries are decompressed through one archive reader behind a mutex. Other compression
/// methods and encrypted entries are refused by `get`.
///
/// Checksums of stored entries are not verified on `get` (for speed); deflated entries
/// are checked against their CRC-32. A deflated entry declaring more than
/// [`RATIO_CHECK_MIN_SIZE`] with a ratio above [`MAX_COMPRESSION_RATIO`] is refused with
/// [`Error::UnsafeArchive`], and no entry can produce more than its declared size.
///
/// Keys may be given with or without a leading `/`. Folders are derived from entry names
/// (and explicit folder entries). Writes fail with [`Error::ReadOnly`].
pub struct ZipStore {
    path: PathBuf,
    /// Handle for positional reads of stored entries.
    file: File,
    /// Separate handle (own file position) for compressed entries.
    archive: Mutex<ZipArchive<BufReader<File>>>,
    entries: HashMap<String, IndexEntry>,
    /// Sorted names of file entries.
    names: Vec<String>,
    /// Sorted names of explicit folder entries, without the trailing `/`.
    dirs: Vec<String>,
    /// Length of the archive file.
    file_len: u64,
}

impl std::fmt::Debug for ZipStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZipStore")
            .field("path", &self.path)
            .field("entries", &self.names.len())
            .finish_non_exhaustive()
    }
}

impl ZipStore {
    /// Open the archive at `path` and index its entries.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the file cannot be opened, [`Error::Zip`] if it is not a readable
    /// zip archive or an entry's data lies outside the file.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let reader = BufReader::new(File::open(path).map_err(|e| Error::io(path, e))?);
        let za = ZipArchive::new(reader).map_err(|e| from_zip(path, e))?;
        let mut entries = HashMap::with_capacity(za.len());
        let mut names = Vec::with_capacity(za.len());
        let mut dirs = Vec::new();
        for index in 0..za.len() {
            // Central directory only: local headers are read when an entry is first read.
            let zf = za.by_index_data(index).map_err(|e| from_zip(path, e))?;
            let raw_name = zf.name().map_err(|e| from_zip(path, e))?;
            let name = raw_name.trim_start_matches('/').to_string();
            if zf.is_dir() {
                let d = name.trim_end_matches('/');
                if !d.is_empty() {
                    dirs.push(d.to_string());
                }
                continue;
            }
            let size = zf.size();
            let compressed = zf.compressed_size();
            let header_start = zf.header_start();
            let end = header_start.checked_add(compressed);
            if end.is_none_or(|end| end > file_len) {
                return Err(zip_error(
                    path,
                    format!("data of entry {name:?} extends past the end of the archive"),
                ));
            }
            let method = zf.compression();
            let access = if zf.encrypted() {
                Access::Refused {
                    reason: format!("entry {name:?} is encrypted, which is not supported"),
                    unsafe_entry: false,
                }
            } else if let Err(e) = check_declared_sizes(path, &name, method, size, compressed) {
                Access::Refused {
                    reason: match e {
                        Error::UnsafeArchive { reason, .. } => reason,
                        other => other.to_string(),
                    },
                    unsafe_entry: true,
                }
            } else if method == CompressionMethod::Stored {
                Access::Stored {
                    header_start,
                    data_start: OnceLock::new(),
                }
            } else if method == CompressionMethod::Deflated {
                Access::Deflated
            } else {
                Access::Refused {
                    reason: format!("entry {name:?} uses unsupported compression method {method}"),
                    unsafe_entry: false,
                }
            };
            if entries
                .insert(
                    name.clone(),
                    IndexEntry {
                        index,
                        size,
                        compressed,
                        access,
                    },
                )
                .is_none()
            {
                names.push(name);
            }
        }
        names.sort();
        dirs.sort();
        dirs.dedup();
        Ok(ZipStore {
            path: path.to_path_buf(),
            file,
            archive: Mutex::new(za),
            entries,
            names,
            dirs,
            file_len,
        })
    }

    /// The archive's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names of all file entries (folder entries excluded), sorted.
    pub fn keys(&self) -> Vec<String> {
        self.names.clone()
    }

    fn read_deflated(&self, name: &str, e: &IndexEntry) -> Result<Vec<u8>> {
        let size = usize::try_from(e.size)
            .map_err(|_| zip_error(&self.path, format!("entry {name:?} is too large")))?;
        let mut guard = self
            .archive
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = guard
            .by_index(e.index)
            .map_err(|err| from_zip(&self.path, err))?;
        // Never read more than one byte past the declared size.
        let mut out = Vec::with_capacity(size.min(64 << 20));
        match entry.take(e.size.saturating_add(1)).read_to_end(&mut out) {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::InvalidData => {
                return Err(unsafe_entry(
                    &self.path,
                    name,
                    format!(
                        "entry data does not match its header (more than the declared {} \
                         bytes, or a bad checksum): {err}",
                        e.size
                    ),
                ))
            }
            Err(err) => return Err(Error::io(&self.path, err)),
        }
        if out.len() != size {
            return Err(unsafe_entry(
                &self.path,
                name,
                format!(
                    "entry decompresses to {} bytes, not its declared {} bytes",
                    out.len(),
                    e.size
                ),
            ));
        }
        Ok(out)
    }

    /// Offset of a stored entry's data: after its local header (fixed part, name and
    /// extra field), checked against the archive's length.
    fn data_start(&self, name: &str, e: &IndexEntry, header_start: u64) -> Result<u64> {
        let mut header = [0u8; LOCAL_HEADER_LEN];
        read_exact_at(&self.file, &mut header, header_start).map_err(|err| {
            zip_error(
                &self.path,
                format!("cannot read the local header of entry {name:?}: {err}"),
            )
        })?;
        if header[..4] != LOCAL_HEADER_SIGNATURE {
            return Err(zip_error(
                &self.path,
                format!("entry {name:?} has no valid local header"),
            ));
        }
        let name_len = u64::from(u16::from_le_bytes([header[26], header[27]]));
        let extra_len = u64::from(u16::from_le_bytes([header[28], header[29]]));
        let data_start = header_start + LOCAL_HEADER_LEN as u64 + name_len + extra_len;
        if data_start.saturating_add(e.compressed) > self.file_len {
            return Err(zip_error(
                &self.path,
                format!("data of entry {name:?} extends past the end of the archive"),
            ));
        }
        Ok(data_start)
    }

    fn read_stored(
        &self,
        name: &str,
        e: &IndexEntry,
        header_start: u64,
        cell: &OnceLock<u64>,
    ) -> Result<Vec<u8>> {
        let size = usize::try_from(e.size)
            .map_err(|_| zip_error(&self.path, format!("entry {name:?} is too large")))?;
        let data_start = match cell.get() {
            Some(v) => *v,
            None => {
                let v = self.data_start(name, e, header_start)?;
                *cell.get_or_init(|| v)
            }
        };
        let mut out = vec![0u8; size];
        match read_exact_at(&self.file, &mut out, data_start) {
            Ok(()) => Ok(out),
            Err(err) if err.kind() == io::ErrorKind::Unsupported => {
                // No positional reads on this platform: go through the archive reader.
                let mut guard = self
                    .archive
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let mut entry = guard
                    .by_index_raw(e.index)
                    .map_err(|err| from_zip(&self.path, err))?;
                entry
                    .read_exact(&mut out)
                    .map_err(|err| Error::io(&self.path, err))?;
                Ok(out)
            }
            Err(err) => Err(Error::io(&self.path, err)),
        }
    }
}

/// Read into `buf` from `file` at `offset` without moving any file position (on
/// Windows the handle's position moves; nothing here uses it).
#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(not(any(unix, windows)))]
fn read_at(_file: &File, _buf: &mut [u8], _offset: u64) -> io::Result<usize> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Fill `buf` from `file` at `offset` with positional reads.
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match read_at(file, buf, offset) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "archive ends inside an entry",
                ))
            }
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A reader over a shared open file with a position of its own (positional reads), so
/// that several threads can read one archive through one handle. Clones share the file
/// and start at the clone's position.
#[derive(Debug, Clone)]
struct AtReader {
    src: AtSource,
    len: u64,
    pos: u64,
}

/// What an [`AtReader`] reads: the open file, or all of its bytes read at once.
#[derive(Debug, Clone)]
enum AtSource {
    File(Arc<File>),
    Bytes(Arc<Vec<u8>>),
}

impl AtReader {
    fn new(file: Arc<File>) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self {
            src: AtSource::File(file),
            len,
            pos: 0,
        })
    }

    /// A reader over `file`'s bytes read at once when it holds at most `max` bytes
    /// (one read instead of one per entry header and per entry), else over the file.
    fn load(file: Arc<File>, max: u64) -> io::Result<Self> {
        let mut r = Self::new(file)?;
        if r.len <= max {
            if let AtSource::File(f) = &r.src {
                let mut bytes = vec![0u8; r.len as usize];
                let mut at = 0;
                while at < bytes.len() {
                    match read_at(f, &mut bytes[at..], at as u64)? {
                        0 => break, // shorter than its length said: the rest is cut
                        n => at += n,
                    }
                }
                bytes.truncate(at);
                r.len = at as u64;
                r.src = AtSource::Bytes(Arc::new(bytes));
            }
        }
        Ok(r)
    }
}

impl Read for AtReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &self.src {
            AtSource::File(f) => read_at(f, buf, self.pos)?,
            AtSource::Bytes(b) => {
                let start = usize::try_from(self.pos).unwrap_or(usize::MAX).min(b.len());
                let n = buf.len().min(b.len() - start);
                buf[..n].copy_from_slice(&b[start..start + n]);
                n
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for AtReader {
    fn seek(&mut self, from: SeekFrom) -> io::Result<u64> {
        let to = match from {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = to.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a negative or overflowing position",
            )
        })?;
        Ok(self.pos)
    }
}

impl Store for ZipStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let name = key.trim_start_matches('/');
        let Some(e) = self.entries.get(name) else {
            return Ok(None);
        };
        match &e.access {
            Access::Stored {
                header_start,
                data_start,
            } => self
                .read_stored(name, e, *header_start, data_start)
                .map(Some),
            Access::Deflated => self.read_deflated(name, e).map(Some),
            Access::Refused {
                reason,
                unsafe_entry: true,
            } => Err(unsafe_entry(&self.path, name, reason.clone())),
            Access::Refused { reason, .. } => Err(zip_error(&self.path, reason.clone())),
        }
    }

    fn set(&self, _key: &str, _value: &[u8]) -> Result<()> {
        Err(Error::ReadOnly {
            path: self.location(),
        })
    }

    fn delete(&self, _key: &str) -> Result<()> {
        Err(Error::ReadOnly {
            path: self.location(),
        })
    }

    fn read_only(&self) -> bool {
        true
    }

    fn list_dir(&self, prefix: &str) -> Result<Vec<String>> {
        let p = prefix.trim_matches('/');
        let pre = if p.is_empty() {
            String::new()
        } else {
            format!("{p}/")
        };
        let mut out = BTreeSet::new();
        for list in [&self.names, &self.dirs] {
            let start = list.partition_point(|n| n.as_str() < pre.as_str());
            for n in &list[start..] {
                let Some(rest) = n.strip_prefix(pre.as_str()) else {
                    break;
                };
                if let Some(child) = rest.split('/').next().filter(|c| !c.is_empty()) {
                    out.insert(child);
                }
            }
        }
        Ok(out.into_iter().map(str::to_string).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let files = vec![
            SourceFile {
                name: "a".into(),
                path: d.path().join("a"),
            },
            SourceFile {
                name: "gone".into(),
                path: d.path().join("gone"),
            },
        ];
        let dst = d.path().join("x.zip");
        assert!(write_archive(&files, &dst, None).is_err());
        assert_eq!(names_in(d.path()), vec!["a"]);
    }

    #[test]
    fn engine_fixture_archive() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/hpcflow-0.2.0a190/wk_seq_zarr_zip.zip");
        if !p.exists() {
            eprintln!("skipping: fixture {} not found", p.display());
            return;
        }
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
        let f = || Arc::new(File::open(&p).unwrap());
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
            AtSource::File(_)
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
}
