//! Staging: between `begin` and `commit`, writes and deletes are kept in memory and
//! reads (and folder listings) see them.

use super::TxnStore;
use crate::error::{Error, Result};
use crate::storage::Store;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

#[derive(Default)]
pub(super) struct Staged {
    pub(super) order: Vec<String>,
    pub(super) values: HashMap<String, Option<Arc<Vec<u8>>>>,
    /// Keys first staged in this transaction with [`Store::set_temp`]: no reader looks
    /// at them before the commit's later keys apply, so they are written in place, not
    /// renamed. One written again stays one (readers' view of it changes only with the
    /// commit); one deleted, or first staged otherwise (it may be on disk within a
    /// shape, e.g. a chunk deleted by a shrink before an append), is not.
    pub(super) unseen: HashSet<String>,
}

impl Staged {
    fn put(&mut self, key: &str, value: Option<Arc<Vec<u8>>>, unseen: bool) {
        if value.is_none() {
            self.unseen.remove(key);
        }
        // a key staged again keeps its first place in the order
        if self.values.insert(key.to_string(), value).is_none() {
            self.order.push(key.to_string());
            if unseen {
                self.unseen.insert(key.to_string());
            }
        }
    }
}

impl TxnStore {
    /// [`Store::set`] (`unseen`: [`Store::set_temp`]): staged when a transaction is
    /// open, else passed to the wrapped store.
    fn write_key(&self, key: &str, value: &[u8], unseen: bool) -> Result<()> {
        if self.inner.read_only() {
            return Err(Error::ReadOnly {
                path: self.inner.location(),
            });
        }
        {
            let mut st = self.state();
            if let Some(st) = st.as_mut() {
                st.put(key, Some(Arc::new(value.to_vec())), unseen);
                return Ok(());
            }
        }
        if unseen {
            self.inner.set_temp(key, value)
        } else {
            self.inner.set(key, value)
        }
    }

    /// An error when a transaction is open: folder moves and deletes are not staged.
    fn outside_transaction(&self, what: &str) -> Result<()> {
        if self.in_transaction() {
            return Err(Error::InvalidArgument(format!(
                "cannot {what} of {} while a transaction is open",
                self.inner.location()
            )));
        }
        Ok(())
    }
}

impl Store for TxnStore {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        if let Some(st) = self.state().as_ref() {
            if let Some(v) = st.values.get(key) {
                return Ok(v.as_ref().map(|b| b.as_ref().clone()));
            }
        }
        self.inner.get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.write_key(key, value, false)
    }

    fn set_temp(&self, key: &str, value: &[u8]) -> Result<()> {
        self.write_key(key, value, true)
    }

    fn delete(&self, key: &str) -> Result<()> {
        {
            let mut st = self.state();
            if let Some(st) = st.as_mut() {
                st.put(key, None, false);
                return Ok(());
            }
        }
        self.inner.delete(key)
    }

    fn read_only(&self) -> bool {
        self.inner.read_only()
    }

    fn can_rename_dir(&self) -> bool {
        self.inner.can_rename_dir()
    }

    fn rename_dir(&self, from: &str, to: &str) -> Result<()> {
        self.outside_transaction("move a folder")?;
        self.inner.rename_dir(from, to)
    }

    fn flush_dir(&self, prefix: &str) -> Result<()> {
        self.outside_transaction("flush a folder")?;
        self.inner.flush_dir(prefix)
    }

    fn delete_dir(&self, prefix: &str) -> Result<()> {
        self.outside_transaction("delete a folder")?;
        self.inner.delete_dir(prefix)
    }

    fn remove_empty_dir(&self, prefix: &str) -> Result<bool> {
        self.outside_transaction("remove a folder")?;
        self.inner.remove_empty_dir(prefix)
    }

    fn dir_exists(&self, prefix: &str) -> Result<bool> {
        if self.in_transaction() {
            return Ok(!self.list_dir(prefix)?.is_empty());
        }
        self.inner.dir_exists(prefix)
    }

    fn list_dir(&self, prefix: &str) -> Result<Vec<String>> {
        let names = self.inner.list_dir(prefix)?;
        let st = self.state();
        let Some(st) = st.as_ref() else {
            return Ok(names);
        };
        // a set: linear in the staged keys and the names, not their product (an append
        // lists its array's folder while a commit of many rows is staged)
        let mut names: BTreeSet<String> = names.into_iter().collect();
        let pre = prefix.trim_matches('/');
        for (key, v) in &st.values {
            let rest = if pre.is_empty() {
                Some(key.as_str())
            } else {
                key.strip_prefix(pre).and_then(|r| r.strip_prefix('/'))
            };
            let Some(rest) = rest else { continue };
            let (first, deeper) = match rest.split_once('/') {
                Some((f, _)) => (f, true),
                None => (rest, false),
            };
            if first.is_empty() {
                continue;
            }
            if v.is_some() || deeper {
                names.insert(first.to_string());
            } else {
                names.remove(first);
            }
        }
        Ok(names.into_iter().collect())
    }
}
