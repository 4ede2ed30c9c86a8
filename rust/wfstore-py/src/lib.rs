//! `wfstore._core`: Python bindings of wfstore-core. Thin: every function converts its
//! arguments, releases the GIL, calls the core and converts the result back.

use pyo3::prelude::*;

mod arrays;
mod convert;
mod decode;
mod errors;
mod functions;
mod names;
mod pystore;
mod runs;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    names::add(m)?;
    m.add_class::<arrays::PyStore>()?;
    m.add_class::<arrays::PyObjectArray>()?;
    m.add_class::<arrays::PyNumericArray>()?;
    m.add_function(wrap_pyfunction!(functions::encode_object_chunk, m)?)?;
    m.add_function(wrap_pyfunction!(functions::decode_object_chunk, m)?)?;
    m.add_function(wrap_pyfunction!(functions::compress, m)?)?;
    m.add_function(wrap_pyfunction!(functions::decompress, m)?)?;
    m.add_function(wrap_pyfunction!(functions::compressor_config, m)?)?;
    m.add_function(wrap_pyfunction!(functions::rechunk_object_array, m)?)?;
    m.add_function(wrap_pyfunction!(functions::recover_rechunk, m)?)?;
    m.add_function(wrap_pyfunction!(functions::rechunk_array, m)?)?;
    m.add_function(wrap_pyfunction!(functions::recover_rechunk_array, m)?)?;
    m.add_function(wrap_pyfunction!(functions::recover_journals, m)?)?;
    m.add_function(wrap_pyfunction!(functions::zip_dir, m)?)?;
    m.add_function(wrap_pyfunction!(functions::unzip, m)?)?;
    m.add_function(wrap_pyfunction!(functions::write_atomic, m)?)?;
    m.add_function(wrap_pyfunction!(functions::replace_file, m)?)?;
    m.add_function(wrap_pyfunction!(functions::json_spans, m)?)?;
    m.add_function(wrap_pyfunction!(runs::decode_runs, m)?)?;
    Ok(())
}
