//! Extracting an archive into a new folder ([`unzip`]).

use super::positional::{AtReader, ReadAt};
use super::validate::{validate_entries, PlannedEntry};
use super::*;
use crate::storage::atomic::sync_tree;

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
/// is removed. Missing parent folders of `dest` are created. Before the rename every
/// extracted file and folder is flushed to disk (`fsync`), so that after a power cut a
/// folder under `dest` is whole; the rename itself is not flushed.
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
pub(super) fn unzip_reading(
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
    let reader = AtReader::load(Arc::new(file) as Arc<dyn ReadAt>, in_memory_max)
        .map_err(|e| Error::io(archive, e))?;
    let mut za =
        ZipArchive::new(BufReader::new(reader.clone())).map_err(|e| from_zip(archive, e))?;
    let plan = validate_entries(&mut za, archive)?;

    if let Some(parent) = dest.parent() {
        if !parent.as_os_str().is_empty() {
            fsops::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
    }
    let tmp = tmp_sibling(dest);
    fsops::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
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
        // every file and folder on disk before the rename can be: after a power cut a
        // store folder under its final name is whole (the rename itself is not
        // flushed: the folder may then be missing, and the archive is still there)
        sync_tree(&tmp)?;
        fsops::rename(&tmp, dest).map_err(|e| Error::io(dest, e))?;
        Ok(report)
    });
    match result {
        Ok(report) => Ok(report),
        Err(e) => {
            let _ = fsops::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

/// Extract the planned entries under `root`: the folders first, in archive order, then
/// the files, in groups in parallel when there are at least [`PARALLEL_FILES_MIN`]
/// (creating files is mostly work in the kernel, which several threads share out).
/// Each group reads the archive through its own clone of `reader`, the one open file
/// whose central directory `za` holds.
pub(super) fn extract_into(
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
            fsops::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            made_dirs.insert(path);
            continue;
        }
        if let Some(parent) = path.parent() {
            if !made_dirs.contains(parent) {
                fsops::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
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
            let mut out = fsops::File::create_new(path).map_err(|e| Error::io(path, e))?;
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
pub(super) fn copy_counted(
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
