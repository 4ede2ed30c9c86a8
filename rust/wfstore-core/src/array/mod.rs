//! Zarr v2 arrays: metadata ([`meta`]), dtypes ([`dtype`]), compressors and object
//! codecs ([`codec`]), the msgpack codec ([`msgpack`]), object arrays ([`object`]) and
//! numeric arrays ([`numeric`]).

pub mod codec;
pub mod dtype;
pub mod meta;
pub mod msgpack;
pub mod numeric;
pub mod object;
