//! Module-level functions: chunk codecs (bytes in, bytes out), rechunk, zip, atomic writes.

use crate::arrays::{compressor_from_py, parse_durability, PyStore};
use crate::convert::{json_to_py, py_to_value, value_to_py};
use crate::errors::IntoPyResult;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::path::PathBuf;
use wfstore_core::{codec, rechunk, zipio};

/// A progress callback callable from Rust threads without the GIL held.
pub struct Progress(Option<Py<PyAny>>);

impl Progress {
    fn new(cb: Option<Py<PyAny>>) -> Self {
        Progress(cb.filter(|c| Python::with_gil(|py| !c.is_none(py))))
    }

    fn call(&self, done: u64, total: u64) {
        if let Some(cb) = &self.0 {
            Python::with_gil(|py| {
                if let Err(e) = cb.call1(py, (done, total)) {
                    // A failing progress callback must not abort the operation.
                    e.write_unraisable(py, Some(cb.bind(py)));
                }
            });
        }
    }

    fn as_fn(&self) -> Option<impl Fn(u64, u64) + Sync + '_> {
        self.0.as_ref().map(|_| move |d, t| self.call(d, t))
    }
}

/// Encode object items to the stored bytes of one chunk (msgpack2 + compressor). The
/// list must already hold `chunk_size` items (pad with the fill value).
#[pyfunction]
#[pyo3(signature = (items, compressor = None))]
pub fn encode_object_chunk<'py>(
    py: Python<'py>,
    items: &Bound<'py, PyAny>,
    compressor: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let comp = compressor_from_py(compressor, None)?;
    let mut vals = Vec::new();
    for it in items.try_iter()? {
        vals.push(py_to_value(&it?)?);
    }
    let out = py
        .allow_threads(|| codec::encode_object_chunk(&vals, &comp))
        .py()?;
    Ok(PyBytes::new(py, &out))
}

/// Decode the stored bytes of an object chunk to its items.
#[pyfunction]
#[pyo3(signature = (data, compressor = None))]
pub fn decode_object_chunk<'py>(
    py: Python<'py>,
    data: &[u8],
    compressor: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    let comp = compressor_from_py(compressor, None)?;
    let vals = py
        .allow_threads(|| codec::decode_object_chunk(data, &comp))
        .py()?;
    let items = vals
        .iter()
        .map(|v| value_to_py(py, v))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// Compress bytes with a compressor (name or numcodecs configuration).
#[pyfunction]
#[pyo3(signature = (data, compressor, typesize = 1))]
pub fn compress<'py>(
    py: Python<'py>,
    data: &[u8],
    compressor: Option<&Bound<'py, PyAny>>,
    typesize: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let comp = compressor_from_py(compressor, None)?;
    let out = py.allow_threads(|| comp.compress(data, typesize)).py()?;
    Ok(PyBytes::new(py, &out))
}

/// Decompress bytes.
#[pyfunction]
#[pyo3(signature = (data, compressor))]
pub fn decompress<'py>(
    py: Python<'py>,
    data: &[u8],
    compressor: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let comp = compressor_from_py(compressor, None)?;
    let out = py.allow_threads(|| comp.decompress(data)).py()?;
    Ok(PyBytes::new(py, &out))
}

/// The numcodecs configuration of a compressor name and keyword arguments.
#[pyfunction]
#[pyo3(signature = (name, kwargs = None))]
pub fn compressor_config<'py>(
    py: Python<'py>,
    name: Option<&Bound<'py, PyAny>>,
    kwargs: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let comp = compressor_from_py(name, kwargs)?;
    json_to_py(py, &comp.to_config())
}

/// Rechunk the object array in folder `array_dir`.
#[pyfunction]
#[pyo3(signature = (array_dir, chunk_size = None, backup = true, fsync = false, progress = None))]
pub fn rechunk_object_array<'py>(
    py: Python<'py>,
    array_dir: PathBuf,
    chunk_size: Option<u64>,
    backup: bool,
    fsync: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let prog = Progress::new(progress);
    let rep = py
        .allow_threads(|| {
            let f = prog.as_fn();
            rechunk::rechunk_object_array(
                &array_dir,
                chunk_size,
                backup,
                fsync,
                f.as_ref().map(|f| f as &(dyn Fn(u64, u64) + Sync)),
            )
        })
        .py()?;
    rechunk_report(py, rep)
}

fn rechunk_report(py: Python<'_>, rep: rechunk::RechunkReport) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("rows", rep.rows)?;
    d.set_item("old_chunk_size", rep.old_chunk_size)?;
    d.set_item("new_chunk_size", rep.new_chunk_size)?;
    d.set_item("chunks_written", rep.chunks_written)?;
    d.set_item("backup", rep.backup.map(|p| p.display().to_string()))?;
    Ok(d)
}

/// Finish or roll back an interrupted rechunk of `array_dir`; True when something was done.
#[pyfunction]
pub fn recover_rechunk(py: Python<'_>, array_dir: PathBuf) -> PyResult<bool> {
    py.allow_threads(|| rechunk::recover(&array_dir)).py()
}

/// Rechunk the object array `path` of `store` (any store that moves folders: a local
/// folder, an fsspec file system) to `chunk_size` rows per chunk (None: one chunk),
/// keeping the old array as ``<path>.bak`` when `backup`; returns the report.
#[pyfunction]
#[pyo3(signature = (store, path, chunk_size = None, backup = false, progress = None))]
pub fn rechunk_array<'py>(
    py: Python<'py>,
    store: &PyStore,
    path: &str,
    chunk_size: Option<u64>,
    backup: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let prog = Progress::new(progress);
    let st = store.inner.clone();
    let rep = py
        .allow_threads(|| {
            let f = prog.as_fn();
            rechunk::rechunk_array(
                st,
                path,
                chunk_size,
                backup,
                f.as_ref().map(|f| f as &(dyn Fn(u64, u64) + Sync)),
            )
        })
        .py()?;
    rechunk_report(py, rep)
}

/// Finish or roll back an interrupted rechunk of the array `path` of `store`; True
/// when something was done.
#[pyfunction]
pub fn recover_rechunk_array(py: Python<'_>, store: &PyStore, path: &str) -> PyResult<bool> {
    let st = store.inner.clone();
    py.allow_threads(|| rechunk::recover_array(st.as_ref(), path))
        .py()
}

fn report<'py>(py: Python<'py>, r: zipio::ZipReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("entries", r.entries)?;
    d.set_item("bytes", r.bytes)?;
    Ok(d)
}

/// Write folder `src` into a new zip archive `dst`.
#[pyfunction]
#[pyo3(signature = (src, dst, exclude = Vec::new(), progress = None))]
pub fn zip_dir<'py>(
    py: Python<'py>,
    src: PathBuf,
    dst: PathBuf,
    exclude: Vec<String>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let prog = Progress::new(progress);
    let r = py
        .allow_threads(|| {
            let f = prog.as_fn();
            zipio::zip_dir(
                &src,
                &dst,
                &exclude,
                f.as_ref().map(|f| f as &(dyn Fn(u64, u64) + Sync)),
            )
        })
        .py()?;
    report(py, r)
}

/// Extract a zip archive into the new folder `dest`.
#[pyfunction]
#[pyo3(signature = (archive, dest, progress = None))]
pub fn unzip<'py>(
    py: Python<'py>,
    archive: PathBuf,
    dest: PathBuf,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let prog = Progress::new(progress);
    let r = py
        .allow_threads(|| {
            let f = prog.as_fn();
            zipio::unzip(
                &archive,
                &dest,
                f.as_ref().map(|f| f as &(dyn Fn(u64, u64) + Sync)),
            )
        })
        .py()?;
    report(py, r)
}

/// Write a file atomically (temporary name in the same folder, then rename) with the
/// given durability (``"full"`` or ``"normal"`` (default); ``fsync=True`` is
/// ``"full"``).
#[pyfunction]
#[pyo3(signature = (path, data, fsync = false, durability = None))]
pub fn write_atomic(
    py: Python<'_>,
    path: PathBuf,
    data: &[u8],
    fsync: bool,
    durability: Option<&str>,
) -> PyResult<()> {
    let durability = parse_durability(durability)?.or_full(fsync);
    py.allow_threads(|| wfstore_core::atomic::write_atomic_with(&path, data, durability))
        .py()
}

/// Rename the file `tmp` over its sibling `dst` (with ``"full"`` durability the folder
/// is flushed after). On failure `dst` is unchanged and `tmp` is left to the caller.
#[pyfunction]
#[pyo3(signature = (tmp, dst, durability = None))]
pub fn replace_file(
    py: Python<'_>,
    tmp: PathBuf,
    dst: PathBuf,
    durability: Option<&str>,
) -> PyResult<()> {
    let durability = parse_durability(durability)?;
    py.allow_threads(|| wfstore_core::atomic::replace_file(&tmp, &dst, durability))
        .map_err(|e| wfstore_core::Error::io(&dst, e))
        .py()
}

/// Finish the commits that crashed writers left half-applied in the local store at
/// `root`; returns how many were finished.
#[pyfunction]
pub fn recover_journals(py: Python<'_>, root: PathBuf) -> PyResult<usize> {
    py.allow_threads(|| wfstore_core::recover_journals(&root))
        .py()
}

/// The byte spans of the top-level members of a compact JSON object, and of the items
/// of the members named in `itemised` (see `wfstore_core::jsonspan`): a list of
/// `(key, start, value_start, end, item_keys, item_offsets)`, where `item_offsets` is
/// `[start0, end0, start1, end1, ...]` (None unless the member is itemised and its
/// value an array or object) and `item_keys` the members' keys of an object value
/// (None for an array). None if `data` is not a compact ASCII JSON object.
#[pyfunction]
pub fn json_spans<'py>(
    py: Python<'py>,
    data: &[u8],
    itemised: Vec<String>,
) -> PyResult<Option<Bound<'py, PyList>>> {
    use wfstore_core::jsonspan::{compact_spans, ItemSpans};
    let keys: Vec<&str> = itemised.iter().map(String::as_str).collect();
    let Some(spans) = py.allow_threads(|| compact_spans(data, &keys)) else {
        return Ok(None);
    };
    let out = PyList::empty(py);
    for e in spans {
        let (item_keys, offsets): (Option<Vec<String>>, Option<Vec<usize>>) = match e.items {
            None => (None, None),
            Some(ItemSpans::List(items)) => (
                None,
                Some(items.into_iter().flat_map(|(a, b)| [a, b]).collect()),
            ),
            Some(ItemSpans::Object(items)) => {
                let mut ks = Vec::with_capacity(items.len());
                let mut offs = Vec::with_capacity(2 * items.len());
                for (k, a, b) in items {
                    ks.push(k);
                    offs.extend([a, b]);
                }
                (Some(ks), Some(offs))
            }
        };
        out.append((e.key, e.start, e.value_start, e.end, item_keys, offsets))?;
    }
    Ok(Some(out))
}
