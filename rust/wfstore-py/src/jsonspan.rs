//! Byte spans of compact JSON documents.

use pyo3::prelude::*;
use pyo3::types::PyList;

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
