//! What `imap` gives back: `sandmap.Result`, one record's outcome, and the
//! iterator that streams them.

use std::sync::Mutex;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use sandmap::{CancelToken, RecordResult};

use crate::run::Run;

/// One record's outcome: `output` for a record that succeeded, `kind` and
/// `message` for one that failed.
#[pyclass(module = "sandmap", name = "Result", frozen)]
pub struct PyRecordResult {
    index: u64,
    output: Option<Py<PyBytes>>,
    kind: Option<String>,
    message: Option<String>,
}

impl PyRecordResult {
    /// The Python form of a library result.
    pub fn from_result(py: Python<'_>, result: RecordResult) -> Self {
        match result.outcome {
            Ok(output) => PyRecordResult {
                index: result.index,
                output: Some(PyBytes::new(py, &output).unbind()),
                kind: None,
                message: None,
            },
            Err(error) => PyRecordResult {
                index: result.index,
                output: None,
                kind: Some(error.kind.as_str().to_string()),
                message: Some(error.message),
            },
        }
    }
}

#[pymethods]
impl PyRecordResult {
    /// A result: `Result(index, output)` for a success, `Result(index,
    /// kind=..., message=...)` for a failure.
    #[new]
    #[pyo3(signature = (index, output=None, kind=None, message=None))]
    fn new(
        index: u64,
        output: Option<Py<PyBytes>>,
        kind: Option<String>,
        message: Option<String>,
    ) -> PyResult<Self> {
        if output.is_some() == kind.is_some() {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "a Result has either an output or a kind",
            ));
        }
        Ok(PyRecordResult {
            index,
            output,
            kind,
            message,
        })
    }

    /// Index of the record in the input, from 0.
    #[getter]
    fn index(&self) -> u64 {
        self.index
    }

    /// Whether the record succeeded.
    #[getter]
    fn ok(&self) -> bool {
        self.output.is_some()
    }

    /// The plugin's output (`None` for a failed record).
    #[getter]
    fn output(&self, py: Python<'_>) -> Option<Py<PyBytes>> {
        self.output.as_ref().map(|o| o.clone_ref(py))
    }

    /// Why the record failed: `guest`, `trap`, `fuel`, `timeout`,
    /// `memory`, `output` or `interrupted` (`None` for a success).
    #[getter]
    fn kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }

    /// A one-line explanation of the failure (`None` for a success).
    #[getter]
    fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// `sandmap.Result(index=0, output=b'...')` or with kind and message.
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(match (&self.output, &self.kind) {
            (Some(output), _) => format!(
                "sandmap.Result(index={}, output={})",
                self.index,
                output.bind(py).repr()?
            ),
            (None, kind) => format!(
                "sandmap.Result(index={}, kind={:?}, message={:?})",
                self.index,
                kind.as_deref().unwrap_or(""),
                self.message.as_deref().unwrap_or("")
            ),
        })
    }

    /// Pickles as the constructor's arguments.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let this = slf.get();
        let args = (
            this.index,
            this.output.as_ref().map(|o| o.clone_ref(py)),
            this.kind.clone(),
            this.message.clone(),
        )
            .into_pyobject(py)?;
        Ok((slf.get_type().into_any(), args))
    }
}

/// The results of `Pool.imap`, as they come. Stop early with `close()` (or
/// a `with` block): the run is cancelled and its workers freed.
#[pyclass(module = "sandmap", name = "ResultIterator", frozen)]
pub struct ResultIterator {
    cancel: CancelToken,
    state: Mutex<IterState>,
}

/// What `next()` works on: the run, until it is over or stopped.
struct IterState {
    run: Option<Run>,
}

impl ResultIterator {
    /// The iterator over the results of `run`.
    pub fn new(run: Run) -> Self {
        ResultIterator {
            cancel: run.cancel_token(),
            state: Mutex::new(IterState { run: Some(run) }),
        }
    }
}

/// The error of a second thread reading the same iterator.
fn busy() -> PyErr {
    PyRuntimeError::new_err("this ResultIterator is being read by another thread")
}

#[pymethods]
impl ResultIterator {
    /// The iterator itself.
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// The next result; raises what ended the run early, if anything
    /// did (the records' iterator's exception, `Cancelled`, Ctrl-C).
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyRecordResult>> {
        let mut guard = self.state.try_lock().map_err(|_| busy())?;
        let Some(run) = guard.run.as_mut() else {
            return Ok(None);
        };
        match run.next(py) {
            Ok(Some(result)) => Ok(Some(PyRecordResult::from_result(py, result))),
            Ok(None) => {
                let mut run = guard.run.take().expect("checked above");
                run.finish()?;
                Ok(None)
            }
            Err(error) => {
                guard.run = None;
                Err(error)
            }
        }
    }

    /// Stops the run (records not yet run are not run) and frees its
    /// workers. Safe to call from another thread while one waits in
    /// `next()`, which then ends.
    fn close(&self, py: Python<'_>) {
        self.cancel.cancel();
        if let Ok(mut state) = self.state.try_lock()
            && let Some(mut run) = state.run.take()
        {
            run.stop(py);
        }
    }

    /// `with pool.imap(...) as results:` closes the run at the end.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the run; exceptions go on.
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }
}
