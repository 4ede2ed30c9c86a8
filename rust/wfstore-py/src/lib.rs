//! `wfstore._core`: Python bindings of wfstore-core. Thin: every function converts its
//! arguments, releases the GIL, calls the core and converts the result back. One file
//! per area: stores, object and numeric arrays, codecs, rechunk, zip, files, JSON
//! spans, run rows, on-disk names; errors, conversions, progress callbacks and the
//! Python-backed stores beside them.

use pyo3::prelude::*;

mod codec;
mod convert;
mod decode;
mod errors;
mod files;
mod jsonspan;
mod names;
mod numeric_array;
mod object_array;
mod object_chunk;
mod progress;
mod pystore;
mod rechunk;
mod runs;
mod store;
mod zip;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    names::add(m)?;
    m.add_class::<store::PyStore>()?;
    m.add_class::<object_array::PyObjectArray>()?;
    m.add_class::<numeric_array::PyNumericArray>()?;
    m.add_class::<object_chunk::PyObjectChunk>()?;
    m.add_function(wrap_pyfunction!(codec::encode_object_chunk, m)?)?;
    m.add_function(wrap_pyfunction!(codec::decode_object_chunk, m)?)?;
    m.add_function(wrap_pyfunction!(object_chunk::split_object_chunk, m)?)?;
    m.add_function(wrap_pyfunction!(codec::compress, m)?)?;
    m.add_function(wrap_pyfunction!(codec::decompress, m)?)?;
    m.add_function(wrap_pyfunction!(codec::compressor_config, m)?)?;
    m.add_function(wrap_pyfunction!(rechunk::rechunk_array, m)?)?;
    m.add_function(wrap_pyfunction!(rechunk::recover_rechunk_array, m)?)?;
    m.add_function(wrap_pyfunction!(files::recover_journals, m)?)?;
    m.add_function(wrap_pyfunction!(zip::zip_dir, m)?)?;
    m.add_function(wrap_pyfunction!(zip::unzip, m)?)?;
    m.add_function(wrap_pyfunction!(files::write_atomic, m)?)?;
    m.add_function(wrap_pyfunction!(files::replace_file, m)?)?;
    m.add_function(wrap_pyfunction!(files::write_files_atomic, m)?)?;
    m.add_function(wrap_pyfunction!(jsonspan::json_spans, m)?)?;
    m.add_function(wrap_pyfunction!(runs::decode_runs, m)?)?;
    Ok(())
}
