//! sandmap's exceptions, and how the library's typed errors become Python
//! exceptions: settings that are out of range are `ValueError`s, a plugin
//! that is not there is a `FileNotFoundError`, every other plugin that
//! cannot be loaded is a `sandmap.LoadError` carrying the one-line message
//! the command line prints.

use pyo3::exceptions::{PyException, PyFileNotFoundError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    sandmap,
    Error,
    PyException,
    "Base class of the exceptions sandmap raises."
);
pyo3::create_exception!(
    sandmap,
    LoadError,
    Error,
    "The plugin cannot be loaded: not WebAssembly, invalid, without an entry point sandmap can run, or needing imports the sandbox does not provide. The message is the line the sandmap command prints."
);
pyo3::create_exception!(
    sandmap,
    RecordError,
    Error,
    "A record failed (raised by Pool.map for the first failed record, after the run was stopped). Attributes: index (int), kind (str: guest, trap, fuel, timeout, memory, output, interrupted) and message (str)."
);
pyo3::create_exception!(
    sandmap,
    Cancelled,
    Error,
    "The run was stopped by Pool.cancel() or Pool.close() before every record was run."
);

/// Adds the exception classes to the module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add("Error", py.get_type::<Error>())?;
    module.add("LoadError", py.get_type::<LoadError>())?;
    module.add("RecordError", py.get_type::<RecordError>())?;
    module.add("Cancelled", py.get_type::<Cancelled>())?;
    Ok(())
}

/// The exception for a pool that could not be built.
pub fn build_error(error: sandmap::BuildError) -> PyErr {
    match error {
        sandmap::BuildError::Config(error) => PyValueError::new_err(error.to_string()),
        sandmap::BuildError::Load(error) => load_error(error),
        other => LoadError::new_err(other.to_string()),
    }
}

/// The exception for a plugin that could not be loaded.
pub fn load_error(error: sandmap::LoadError) -> PyErr {
    match &error {
        sandmap::LoadError::Read { name, source }
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            let errno = source.raw_os_error().unwrap_or(2);
            PyFileNotFoundError::new_err((errno, "No such file or directory", name.clone()))
        }
        _ => LoadError::new_err(error.to_string()),
    }
}

/// `sandmap.RecordError` for record `index`, with its kind and message as
/// attributes (kept when the exception is pickled, as Dask and Ray do).
pub fn record_error(py: Python<'_>, index: u64, error: &sandmap::RecordError) -> PyErr {
    let text = format!("record {index}: {}", error.message);
    let err = RecordError::new_err(text);
    let value = err.value(py);
    let set = || -> PyResult<()> {
        value.setattr("index", index)?;
        value.setattr("kind", error.kind.as_str())?;
        value.setattr("message", &error.message)
    };
    match set() {
        Ok(()) => err,
        Err(other) => other,
    }
}

/// The exception for a run that ended early for a reason of its own (not
/// a record's failure, not the records' iterator raising).
pub fn run_error(error: sandmap::RunError) -> PyErr {
    Error::new_err(error.to_string())
}

/// The exception for a run stopped by `Pool.cancel()` or `Pool.close()`.
pub fn cancelled() -> PyErr {
    Cancelled::new_err("the run was cancelled (Pool.cancel() or Pool.close()) before it finished")
}
