//! numeric (being written)
/// Numeric array (stub).
pub struct NumericArray;
