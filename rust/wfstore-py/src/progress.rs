//! Progress callbacks from Rust threads.

use pyo3::prelude::*;

/// A progress callback callable from Rust threads without the GIL held.
pub struct Progress(Option<Py<PyAny>>);

impl Progress {
    pub fn new(cb: Option<Py<PyAny>>) -> Self {
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

    pub fn as_fn(&self) -> Option<impl Fn(u64, u64) + Sync + '_> {
        self.0.as_ref().map(|_| move |d, t| self.call(d, t))
    }
}
