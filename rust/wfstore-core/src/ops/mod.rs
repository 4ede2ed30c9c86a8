//! Operations over whole arrays and documents: rechunking ([`rechunk`]), the byte
//! spans of JSON documents ([`jsonspan`]) and finding damaged keys ([`verify`]).

pub mod jsonspan;
pub mod rechunk;
pub mod verify;
