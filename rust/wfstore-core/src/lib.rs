//! # wfstore-core
//!
//! The pure-Rust core of wfstore, a persistence store for HPC workflow engines.
//! It reads and writes the Zarr v2 format as zarr-python 2 does:
//!
//! * one-dimensional object arrays whose items are msgpack values (numcodecs'
//!   `MsgPack` object codec), compressed with Blosc, Zstd or nothing ([`ObjectArray`]);
//! * N-dimensional numeric arrays in C order ([`NumericArray`]);
//! * atomic writes (temporary name in the same folder + rename) of every chunk and
//!   metadata file, flushed or not ([`Durability`], [`atomic`]);
//! * all-or-nothing, crash-safe commits of many keys ([`txn`]);
//! * streaming rechunking with optional backup and crash-safe swap ([`rechunk`]);
//! * zip archives of whole stores, read in place, unzipped safely ([`zipio`]);
//! * the byte spans of a compact JSON document's entries, for JSON stores' commits
//!   ([`jsonspan`]).
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

pub mod atomic;
pub mod codec;
pub mod error;
pub mod jsonspan;
pub mod meta;
pub mod names;
pub mod numeric;
pub mod object;
pub mod par;
pub mod rechunk;
pub mod store;
pub mod ts;
pub mod txn;
pub mod zipio;

pub use atomic::Durability;
pub use codec::Compressor;
pub use codec::ObjectCodec;
pub use error::{Error, Result};
pub use numeric::NumericArray;
pub use object::{EncodedRows, ObjectArray, ObjectArrayOptions};
pub use store::{LocalStore, Store};
pub use txn::{recover_journals, TxnStore};
pub use zipio::ZipStore;
