//! rechunk (being written)
