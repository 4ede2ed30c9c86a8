//! Key-value stores holding Zarr keys: the [`Store`] trait, a local folder
//! ([`local::LocalStore`]), a read-only zip archive ([`zip::ZipStore`]), atomic file
//! writes ([`atomic`]) and all-or-nothing commits over any store ([`txn::TxnStore`]).

pub mod atomic;
pub(crate) mod fsops;
pub mod local;
pub mod txn;
pub mod zip;

use crate::error::{Error, Result};

/// A Zarr v2 key-value store. Keys are `/`-separated relative paths such as
/// `metadata/runs/.zarray` or `metadata/runs/12`.
pub trait Store: Send + Sync {
    /// A human-readable location of the store (folder or archive path).
    fn location(&self) -> String;
    /// Read a key; `Ok(None)` when it does not exist.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Write a key atomically (readers see the old or the new value, never a mix).
    fn set(&self, key: &str, value: &[u8]) -> Result<()>;
    /// Delete a key; deleting a missing key is not an error.
    fn delete(&self, key: &str) -> Result<()>;
    /// Whether the store refuses writes.
    fn read_only(&self) -> bool {
        false
    }
    /// Names (not full keys) directly below `prefix` (a folder key, `""` for the root).
    fn list_dir(&self, prefix: &str) -> Result<Vec<String>>;
    /// Whether [`Store::rename`] is supported (then commits of several keys through a
    /// transaction are journaled, see [`txn`]).
    fn can_rename(&self) -> bool {
        false
    }
    /// Write a key that no reader looks at until a later write makes it visible (a
    /// commit's temporary value, renamed into place later; a chunk past an array's
    /// recorded end, shown by its new shape): it need not be written atomically, and a
    /// local folder writes it in place (no temporary file and rename: on a network file
    /// system one call to the server fewer). Default: [`Store::set`].
    fn set_temp(&self, key: &str, value: &[u8]) -> Result<()> {
        self.set(key, value)
    }
    /// Move key `from` to key `to`, replacing `to` (atomically where the store can);
    /// only called when [`Store::can_rename`] is true.
    fn rename(&self, from: &str, to: &str) -> Result<()> {
        Err(Error::InvalidArgument(format!(
            "store {} cannot rename keys ({from} -> {to})",
            self.location()
        )))
    }
    /// Whether [`Store::rename_dir`] is supported (then an array can be rechunked in
    /// the store, see [`crate::ops::rechunk`]).
    fn can_rename_dir(&self) -> bool {
        false
    }
    /// Move the folder `from`, with every key below it, to `to`, which does not exist
    /// (one rename where the store has folders: local folders, SFTP; key by key on
    /// object stores); only called when [`Store::can_rename_dir`] is true.
    fn rename_dir(&self, from: &str, to: &str) -> Result<()> {
        Err(Error::InvalidArgument(format!(
            "store {} cannot move folders ({from} -> {to})",
            self.location()
        )))
    }
    /// Make the folder `prefix` and every key below it durable (on stable storage)
    /// before a bulk operation puts it under its final name (a rechunk's swap).
    /// Default: nothing (stores whose writes are durable when they return, or whose
    /// durability is the remote service's).
    fn flush_dir(&self, prefix: &str) -> Result<()> {
        let _ = prefix;
        Ok(())
    }
    /// Delete the folder `prefix` and every key below it; a missing folder is not an
    /// error. Default: each key found through [`Store::list_dir`], then the folder's
    /// names that hold no key.
    fn delete_dir(&self, prefix: &str) -> Result<()> {
        delete_dir_by_keys(self, prefix)
    }
    /// Remove the folder `prefix` if it is empty (one atomic step: a folder that
    /// holds anything, or none, is left as it is); returns whether it was removed.
    /// Default: nothing removed (stores without folders of their own).
    fn remove_empty_dir(&self, prefix: &str) -> Result<bool> {
        let _ = prefix;
        Ok(false)
    }
    /// Whether the folder `prefix` holds anything.
    fn dir_exists(&self, prefix: &str) -> Result<bool> {
        Ok(!self.list_dir(prefix)?.is_empty())
    }
}

/// [`Store::delete_dir`] through the store's key calls: each key found through
/// [`Store::list_dir`] is deleted, and each name that holds no value is deleted as a
/// folder.
pub fn delete_dir_by_keys<S: Store + ?Sized>(store: &S, prefix: &str) -> Result<()> {
    for name in store.list_dir(prefix)? {
        let key = format!("{}/{name}", prefix.trim_end_matches('/'));
        if store.get(&key)?.is_some() {
            store.delete(&key)?;
        } else {
            delete_dir_by_keys(store, &key)?;
        }
    }
    Ok(())
}
