//! # wfstore-core
//!
//! The pure-Rust core of wfstore, a persistence store for HPC workflow engines.
//! It reads and writes the Zarr v2 format as zarr-python 2 does:
//!
//! * one-dimensional object arrays whose items are msgpack values (numcodecs'
//!   `MsgPack` object codec), compressed with Blosc, Zstd or nothing ([`ObjectArray`]);
//! * N-dimensional numeric arrays in C order ([`NumericArray`]);
//! * atomic writes (temporary name in the same folder + rename) of every chunk and
//!   metadata file, flushed or not ([`Durability`], [`storage::atomic`]);
//! * all-or-nothing, crash-safe commits of many keys ([`storage::txn`]);
//! * streaming rechunking with optional backup and crash-safe swap ([`ops::rechunk`]);
//! * zip archives of whole stores, read in place, unzipped safely ([`storage::zip`]);
//! * the byte spans of a compact JSON document's entries, for JSON stores' commits
//!   ([`ops::jsonspan`]).
//!
//! The modules are layered, each using only those listed before it: [`error`] and
//! [`names`]; [`util`]; [`storage`] (the [`Store`] trait, local folders, zip archives,
//! transactions); [`array`] (Zarr metadata, codecs, object and numeric arrays); [`ops`]
//! (rechunk, JSON spans); [`engine`] (the workflow engine's row layouts).
//!
//! ```no_run
//! use wfstore_core::{LocalStore, ObjectArray, ObjectArrayOptions};
//! use rmpv::Value;
//! use std::sync::Arc;
//!
//! let store = Arc::new(LocalStore::new("/tmp/example-store"));
//! let opts = ObjectArrayOptions { chunk_size: Some(1000), ..Default::default() };
//! let arr = ObjectArray::create(store, "metadata/runs", 0, &opts).unwrap();
//! arr.append(vec![Value::from("a"), Value::from(2)]).unwrap();
//! assert_eq!(arr.get(&[1]).unwrap(), vec![Value::from(2)]);
//! ```

#![warn(missing_docs)]

pub mod array;
pub mod engine;
pub mod error;
pub mod names;
pub mod ops;
pub mod storage;
#[cfg(test)]
mod testing;
pub mod util;

// The modules' earlier paths, kept for callers.
pub use array::{codec, meta, numeric, object};
pub use ops::{jsonspan, rechunk};
pub use storage::zip as zipio;
pub use storage::{atomic, txn};
pub use util::{par, ts};

/// The stores ([`Store`], [`LocalStore`]) under their earlier path.
pub mod store {
    pub use crate::storage::local::LocalStore;
    pub use crate::storage::Store;
}

pub use array::codec::{Compressor, ObjectCodec};
pub use array::numeric::NumericArray;
pub use array::object::{ObjectArray, ObjectArrayOptions};
pub use error::{Error, Result};
pub use storage::atomic::Durability;
pub use storage::local::LocalStore;
pub use storage::txn::{recover_journals, recover_journals_under_lock, TxnStore};
pub use storage::zip::ZipStore;
pub use storage::Store;
