//! The workflow engine's (hpcflow's) row layouts, defined once.

pub mod runs;
