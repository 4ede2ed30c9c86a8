//! Small helpers: parallel maps ([`par`]) and timestamps ([`ts`]).

pub mod par;
pub mod ts;
