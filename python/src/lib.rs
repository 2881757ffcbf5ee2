//! `sandmap._sandmap`, the extension module behind the `sandmap` Python
//! package: a thin layer over the `sandmap` library that converts records
//! and results, waits with the GIL released (waking to let Python handle
//! Ctrl-C), and maps the library's errors to Python exceptions.
//!
//! `errors` (exceptions) and `options` (Python values to settings) are
//! the data layer; `records` (the input side) and `run` (waiting on a
//! run) drive the library; `results` and `pool` are the classes Python
//! sees.
#![deny(missing_docs)]

mod errors;
mod options;
mod pool;
mod records;
mod results;
mod run;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _sandmap(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<pool::Pool>()?;
    module.add_class::<results::PyRecordResult>()?;
    module.add_class::<results::ResultIterator>()?;
    module.add_function(wrap_pyfunction!(pool::_unpickle, module)?)?;
    module.add_function(wrap_pyfunction!(_shutdown, module)?)?;
    errors::register(module)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// Stops the record sources of every run before the interpreter is
/// finalized (`sandmap/__init__.py` registers it with `atexit`).
#[pyfunction]
fn _shutdown(py: Python<'_>) {
    records::shutdown(py);
}
