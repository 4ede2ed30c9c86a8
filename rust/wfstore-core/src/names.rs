//! Every name wfstore gives files of its own on disk, defined once.
//!
//! None of these names is ever read as a Zarr key's data. The Python package reads them
//! from the extension (`wfstore._core.TMP_PREFIX`, ...).

/// Prefix of every temporary file wfstore writes (renamed into place or removed).
pub const TMP_PREFIX: &str = ".wfstore-tmp-";

/// Prefix of the spare files older versions kept in array folders. Nothing creates them
/// any more; `wfstore repair` removes those left in existing stores and `verify`
/// reports them.
pub const LEGACY_SPARE_PREFIX: &str = ".wfstore-spare-";

/// Whether `name` (a file name) is a file wfstore writes beside the keys, never a key:
/// a temporary file or a legacy spare file.
pub fn is_scratch_name(name: &str) -> bool {
    name.starts_with(TMP_PREFIX) || name.starts_with(LEGACY_SPARE_PREFIX)
}
