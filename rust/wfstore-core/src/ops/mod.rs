//! Operations over whole arrays and documents: rechunking ([`rechunk`]) and the byte
//! spans of JSON documents ([`jsonspan`]).

pub mod jsonspan;
pub mod rechunk;
