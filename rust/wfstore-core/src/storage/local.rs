//! A store over a folder of the local file system.

use super::atomic::{sync_parent, write_atomic_with, write_unseen, Durability};
use super::{fsops, Store};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// A store backed by a folder of the local file system.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    durability: Durability,
}

impl LocalStore {
    /// A store rooted at `root` (which need not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore {
            root: root.into(),
            durability: Durability::Normal,
        }
    }

    /// Whether writes are flushed to disk (`fsync`) before they are renamed into place:
    /// [`Durability::Full`] or [`Durability::Normal`].
    pub fn with_fsync(self, fsync: bool) -> Self {
        self.with_durability(Durability::Normal.or_full(fsync))
    }

    /// What the store's writes survive (see [`Durability`]; default
    /// [`Durability::Normal`]).
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The store's [`Durability`].
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// The folder at the root of the store.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file-system path of a key.
    pub fn key_path(&self, key: &str) -> PathBuf {
        let mut p = self.root.clone();
        for part in key.split('/').filter(|s| !s.is_empty()) {
            p.push(part);
        }
        p
    }
}

impl LocalStore {
    /// The file-system path of a key, refusing keys that could leave the root folder
    /// (a `..` component) or that no file can have (a NUL character).
    fn checked_path(&self, key: &str) -> Result<PathBuf> {
        if key.contains('\0') || key.split('/').any(|c| c == "..") {
            return Err(Error::InvalidArgument(format!(
                "key {key:?} of store {} has a '..' component or a NUL character",
                self.root.display()
            )));
        }
        Ok(self.key_path(key))
    }
}

impl Store for LocalStore {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let p = self.checked_path(key)?;
        match std::fs::read(&p) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Ok(None),
            Err(e) => Err(Error::io(p, e)),
        }
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        write_atomic_with(&self.checked_path(key)?, value, self.durability)
    }

    /// In place, without a temporary file and a rename (see [`Store::set_temp`]);
    /// with [`Durability::Full`] the file and its folder are flushed.
    fn set_temp(&self, key: &str, value: &[u8]) -> Result<()> {
        let p = self.checked_path(key)?;
        write_unseen(&p, value, self.durability.fsync())?;
        if self.durability.fsync() {
            sync_parent(&p);
        }
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<()> {
        let p = self.checked_path(key)?;
        match fsops::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(p, e)),
        }
    }

    fn list_dir(&self, prefix: &str) -> Result<Vec<String>> {
        let p = self.checked_path(prefix)?;
        let rd = match std::fs::read_dir(&p) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(p, e)),
        };
        let mut out = Vec::new();
        for ent in rd {
            let ent = ent.map_err(|e| Error::io(&p, e))?;
            if let Some(name) = ent.file_name().to_str() {
                // spare files left by older versions are not keys
                if !name.starts_with(crate::names::LEGACY_SPARE_PREFIX) {
                    out.push(name.to_string());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn can_rename_dir(&self) -> bool {
        true
    }

    fn rename_dir(&self, from: &str, to: &str) -> Result<()> {
        let (from, to) = (self.checked_path(from)?, self.checked_path(to)?);
        fsops::rename(&from, &to).map_err(|e| Error::io(&from, e))?;
        if self.durability == Durability::Full {
            // the move is on disk before anything that follows it (a rechunk's next
            // move, or the old array's removal)
            super::atomic::sync_parent(&to);
            if from.parent() != to.parent() {
                super::atomic::sync_parent(&from);
            }
        }
        Ok(())
    }

    fn flush_dir(&self, prefix: &str) -> Result<()> {
        if self.durability == Durability::Full {
            return Ok(()); // each file and folder was flushed as it was written
        }
        super::atomic::sync_tree(&self.checked_path(prefix)?)
    }

    fn delete_dir(&self, prefix: &str) -> Result<()> {
        let p = self.checked_path(prefix)?;
        match fsops::remove_dir_all(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(p, e)),
        }
    }

    fn dir_exists(&self, prefix: &str) -> Result<bool> {
        Ok(self.checked_path(prefix)?.is_dir())
    }

    fn remove_empty_dir(&self, prefix: &str) -> Result<bool> {
        let p = self.checked_path(prefix)?;
        if prefix.trim_matches('/').is_empty() {
            return Ok(false); // never the store's own folder
        }
        match fsops::remove_dir(&p) {
            Ok(()) => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound
                        | std::io::ErrorKind::DirectoryNotEmpty
                        | std::io::ErrorKind::NotADirectory
                ) || e.raw_os_error() == Some(17) =>
            {
                Ok(false) // none, not empty (ENOTEMPTY, or EEXIST on some systems), a file
            }
            Err(e) => Err(Error::io(p, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_leave_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        let s = LocalStore::new(&root);
        for key in ["../x", "a/../../x", "a/..", "x\0y"] {
            assert!(
                matches!(s.set(key, b"1"), Err(Error::InvalidArgument(_))),
                "{key}"
            );
            assert!(s.get(key).is_err() && s.delete(key).is_err() && s.list_dir(key).is_err());
        }
        assert!(!d.path().join("x").exists() && !root.exists());
        s.set("/a//b", b"1").unwrap();
        assert_eq!(s.get("a/b").unwrap().unwrap(), b"1");
    }

    #[test]
    fn only_empty_folders_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let s = LocalStore::new(d.path());
        s.set("a/b/c", b"1").unwrap();
        assert!(!s.remove_empty_dir("a/b").unwrap() && s.get("a/b/c").unwrap().is_some());
        assert!(!s.remove_empty_dir("a/b/c").unwrap()); // a file
        assert!(!s.remove_empty_dir("nowhere").unwrap());
        assert!(!s.remove_empty_dir("").unwrap() && d.path().is_dir());
        s.delete("a/b/c").unwrap();
        assert!(s.remove_empty_dir("a/b").unwrap() && !d.path().join("a/b").exists());
        assert!(d.path().join("a").is_dir());
    }
}
