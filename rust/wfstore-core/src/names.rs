//! Every name wfstore gives files of its own on disk, defined once.
//!
//! None of these names is ever read as a Zarr key's data. The Python package reads them
//! from the extension (`wfstore._core.TMP_PREFIX`, ...).

/// Prefix of every temporary file wfstore writes (renamed into place or removed).
pub const TMP_PREFIX: &str = ".wfstore-tmp-";

/// Prefix of commit journals in a store's root folder (`.wfstore-journal.<pid>.<n>`,
/// see [`crate::storage::txn`]).
pub const JOURNAL_PREFIX: &str = ".wfstore-journal.";

/// Suffix of the folder a rechunk builds the new array in (`<array>.rechunk-tmp`, see
/// [`crate::ops::rechunk`]).
pub const RECHUNK_TMP_SUFFIX: &str = ".rechunk-tmp";
/// Suffix of the old array while a rechunk without backup replaces it.
pub const RECHUNK_OLD_SUFFIX: &str = ".rechunk-old";
/// Suffix of the backup of an array a rechunk replaced (the engine's convention).
pub const BACKUP_SUFFIX: &str = ".bak";
/// Suffix of an earlier backup while a rechunk with backup replaces it.
pub const BACKUP_OLD_SUFFIX: &str = ".bak.old";
/// The suffixes of the folders a rechunk of `<array>` leaves only when interrupted.
pub const RECHUNK_SUFFIXES: [&str; 3] = [RECHUNK_TMP_SUFFIX, RECHUNK_OLD_SUFFIX, BACKUP_OLD_SUFFIX];
/// The file a rechunk writes in its new array once the array is complete.
pub const RECHUNK_COMPLETE_MARKER: &str = ".wfstore-rechunk-complete";

/// The store lock file in a store's root folder (`fcntl` protocol, taken by the Python
/// package's writers).
pub const LOCK_NAME: &str = ".wfstore.lock";
/// The link lock in a store's root folder (`link` protocol, for file systems without
/// working `fcntl` locks); its tickets are named `<LINK_LOCK_NAME>.<host>.<pid>.<id>`.
pub const LINK_LOCK_NAME: &str = ".wfstore.linklock";
/// The store-wide change marker in a store's root folder: the Python package's commits
/// advance it under the store lock (a "dirty" value before data files change, a new
/// "clean" one after) so that other processes' read caches see every commit.
pub const CHANGE_MARKER_NAME: &str = ".wfstore.changes";

/// Prefix of the spare files older versions kept in array folders. Nothing creates them
/// any more; `wfstore repair` removes those left in existing stores and `verify`
/// reports them.
pub const LEGACY_SPARE_PREFIX: &str = ".wfstore-spare-";

/// The migration report `wfstore migrate` stores in the root folder of the store it
/// made (JSON: what was inferred, defaulted or kept aside).
pub const MIGRATION_REPORT_NAME: &str = ".wfstore-migration.json";
/// The folder in the root of a migrated store that keeps the source's files the
/// target generation has no place for (hpcflow-new2 0.2.0a190's run folders,
/// `abort_EARs.txt`), under their original relative paths.
pub const MIGRATION_KEPT_DIR: &str = ".wfstore-migrated-aside";

/// Whether `name` (a file name) is a file wfstore writes beside the keys, never a key:
/// a temporary file or a legacy spare file.
pub fn is_scratch_name(name: &str) -> bool {
    name.starts_with(TMP_PREFIX) || name.starts_with(LEGACY_SPARE_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_hidden_and_distinct() {
        let all = [
            TMP_PREFIX,
            JOURNAL_PREFIX,
            RECHUNK_COMPLETE_MARKER,
            LOCK_NAME,
            LINK_LOCK_NAME,
            CHANGE_MARKER_NAME,
            LEGACY_SPARE_PREFIX,
            MIGRATION_REPORT_NAME,
            MIGRATION_KEPT_DIR,
        ];
        assert!(all.iter().all(|n| n.starts_with(".wfstore")));
        let set: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(set.len(), all.len());
        assert!(is_scratch_name(".wfstore-tmp-x") && is_scratch_name(".wfstore-spare-0"));
        assert!(!is_scratch_name(".zarray") && !is_scratch_name("0"));
        assert_eq!(
            RECHUNK_SUFFIXES.map(|s| format!("runs{s}")),
            ["runs.rechunk-tmp", "runs.rechunk-old", "runs.bak.old"]
        );
    }
}
