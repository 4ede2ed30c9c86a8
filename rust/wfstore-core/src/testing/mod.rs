//! Test support of the core (compiled for the crate's tests only).

pub(crate) mod crash;
