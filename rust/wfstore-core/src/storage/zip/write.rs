//! Writing a store folder into a new archive ([`zip_dir`]).

use super::*;

/// Bytes buffered before each write to the archive's file.
const WRITE_BUFFER: usize = 64 * 1024;

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
    let names = collect_files(src, dst, &exclude)?;
    write_archive(src, &names, dst, progress)
}

/// The entry names (paths relative to `src`, `/`-separated) of the files to archive
/// under `src`, sorted. Names only: a store in the engine's layout has a file per row.
pub(super) fn collect_files(
    src: &Path,
    dst: &Path,
    exclude: &HashSet<&str>,
) -> Result<Vec<String>> {
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
                out.push(rel);
            }
            // Symbolic links and special files are skipped.
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Write the files `names` of folder `src` into a temporary sibling of `dst`, flush it
/// and rename it to `dst`.
pub(super) fn write_archive(
    src: &Path,
    names: &[String],
    dst: &Path,
    progress: Progress<'_>,
) -> Result<ZipReport> {
    let tmp = tmp_sibling(dst);
    let result = write_archive_to(src, names, &tmp, dst, progress).and_then(|report| {
        // Last check, to narrow the window in which another process could create `dst`.
        if fs::symlink_metadata(dst).is_ok() {
            return Err(zip_error(
                dst,
                "destination appeared while the archive was written; refusing to overwrite it",
            ));
        }
        fsops::rename(&tmp, dst).map_err(|e| Error::io(dst, e))?;
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
            let _ = fsops::remove_file(&tmp);
            Err(e)
        }
    }
}

pub(super) fn write_archive_to(
    src: &Path,
    names: &[String],
    tmp: &Path,
    dst: &Path,
    progress: Progress<'_>,
) -> Result<ZipReport> {
    let out = fsops::File::create_new(tmp).map_err(|e| Error::io(tmp, e))?;
    // (a small buffer: entries are written one after another, most of them small)
    let mut writer = ZipWriter::new(BufWriter::with_capacity(WRITE_BUFFER, out));
    let base = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(DateTime::DEFAULT)
        .unix_permissions(ENTRY_PERMISSIONS);
    let total = names.len() as u64;
    let mut report = ZipReport::default();
    if let Some(cb) = progress {
        cb(0, total);
    }
    for (i, name) in names.iter().enumerate() {
        let path = src.join(name);
        let mut input = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let len = input.metadata().map_err(|e| Error::io(&path, e))?.len();
        let options = base.large_file(len >= zip::ZIP64_BYTES_THR);
        writer
            .start_file(name.as_str(), options)
            .map_err(|e| from_zip(tmp, e))?;
        let copied =
            io::copy(&mut (&mut input).take(len), &mut writer).map_err(|e| Error::io(&path, e))?;
        let len_now = input.metadata().map_err(|e| Error::io(&path, e))?.len();
        if copied != len || len_now != len {
            return Err(zip_error(
                dst,
                format!(
                    "{} changed size while it was archived ({len} bytes at start, {copied} \
                     read, {len_now} at end)",
                    path.display()
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
