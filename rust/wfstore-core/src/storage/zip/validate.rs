//! Checking every entry of an archive before anything is extracted.

use super::*;

/// An entry of an archive checked by [`validate_entries`].
#[derive(Debug)]
pub(super) struct PlannedEntry {
    pub(super) index: usize,
    pub(super) name: String,
    pub(super) components: Vec<String>,
    pub(super) is_dir: bool,
    pub(super) size: u64,
}

/// Split an entry name into safe path components, or say why it is unsafe.
///
/// Empty and `.` components are dropped (`a//b` and `./a/b` name `a/b`).
pub(super) fn safe_components(name: &str) -> std::result::Result<Vec<String>, String> {
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
pub(super) fn check_declared_sizes(
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
pub(super) fn validate_entries<R: Read + io::Seek>(
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
