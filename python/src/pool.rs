//! `sandmap.Pool`: a plugin and its options, over the library's pool.
//!
//! The plugin's bytes are read once, in the constructor, and kept: a pool
//! pickles as those bytes and its options (never compiled code), and an
//! unpickled pool compiles through the user's compile cache, so each
//! machine compiles a plugin once. The library fixes a pool's result order
//! when it is built, so `imap(ordered=False)` builds a second library pool
//! on first use (from the cache: no second compile).

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use sandmap::{CacheOutcome, ErrorKind, Order, RecordView};

use crate::errors;
use crate::options::{Options, RawOptions};
use crate::results::ResultIterator;
use crate::run::Run;

/// Runs a WebAssembly plugin over records, in parallel, in a sandbox.
#[pyclass(module = "sandmap", name = "Pool", frozen)]
pub struct Pool {
    /// The plugin's name in messages: the path as given.
    name: String,
    plugin: Vec<u8>,
    options: Options,
    state: Mutex<PoolState>,
}

/// The library pools, built as needed.
struct PoolState {
    ordered: Option<sandmap::Pool>,
    unordered: Option<sandmap::Pool>,
    closed: bool,
}

impl Pool {
    /// A pool of the plugin `plugin` named `name`; loads and compiles it.
    fn build(py: Python<'_>, name: String, plugin: Vec<u8>, options: Options) -> PyResult<Self> {
        let builder = options.builder(&name, &plugin, Order::Input)?;
        let pool = py
            .detach(move || builder.build())
            .map_err(errors::build_error)?;
        Ok(Pool {
            name,
            plugin,
            options,
            state: Mutex::new(PoolState {
                ordered: Some(pool),
                unordered: None,
                closed: false,
            }),
        })
    }

    /// The library pools (a poisoned lock is taken as is: the state
    /// stays consistent).
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The library pool that gives results in `order`.
    fn pool(&self, py: Python<'_>, order: Order) -> PyResult<sandmap::Pool> {
        /// Where the pool for `order` is kept.
        fn slot(state: &mut PoolState, order: Order) -> &mut Option<sandmap::Pool> {
            match order {
                Order::Input => &mut state.ordered,
                _ => &mut state.unordered,
            }
        }
        {
            let mut state = self.lock();
            if state.closed {
                return Err(closed());
            }
            if let Some(pool) = slot(&mut state, order) {
                return Ok(pool.clone());
            }
        }
        // Built without the lock (and without the GIL): another thread
        // may use the pool meanwhile.
        let builder = self.options.builder(&self.name, &self.plugin, order)?;
        let built = py
            .detach(move || builder.build())
            .map_err(errors::build_error)?;
        let mut state = self.lock();
        if state.closed {
            return Err(closed());
        }
        Ok(slot(&mut state, order).get_or_insert(built).clone())
    }

    /// The pool built first (it always is): for what it says about the
    /// plugin.
    fn first(&self) -> PyResult<sandmap::Pool> {
        let state = self.lock();
        state
            .ordered
            .clone()
            .or_else(|| state.unordered.clone())
            .ok_or_else(closed)
    }
}

/// The error of a pool used after `close()`, as `multiprocessing` has it.
fn closed() -> PyErr {
    PyValueError::new_err("Pool is closed")
}

#[pymethods]
impl Pool {
    /// Loads `plugin` (a `.wasm` or `.wat` file) and checks every option.
    #[new]
    #[pyo3(signature = (plugin, *, jobs=None, fuel=None, timeout=None, max_memory=None,
                        max_output=None, isolate=None, env=None, dirs=None, args=None, cache=None),
           text_signature = "(plugin, *, jobs=None, fuel=None, timeout=None, max_memory=None, max_output=None, isolate=False, env=None, dirs=None, args=None, cache=True)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        plugin: PathBuf,
        jobs: Option<&Bound<'_, PyAny>>,
        fuel: Option<&Bound<'_, PyAny>>,
        timeout: Option<&Bound<'_, PyAny>>,
        max_memory: Option<&Bound<'_, PyAny>>,
        max_output: Option<&Bound<'_, PyAny>>,
        isolate: Option<&Bound<'_, PyAny>>,
        env: Option<&Bound<'_, PyAny>>,
        dirs: Option<&Bound<'_, PyAny>>,
        args: Option<&Bound<'_, PyAny>>,
        cache: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let options = Options::parse(&RawOptions {
            jobs,
            fuel,
            timeout,
            max_memory,
            max_output,
            isolate,
            env,
            dirs,
            args,
            cache,
        })?;
        let name = plugin.display().to_string();
        let bytes = py.detach(|| std::fs::read(&plugin)).map_err(|source| {
            errors::load_error(sandmap::LoadError::Read {
                name: name.clone(),
                source,
            })
        })?;
        Pool::build(py, name, bytes, options)
    }

    /// Runs the plugin over `records` and returns the outputs, in order.
    /// Stops at the first record that fails and raises `RecordError` for
    /// it.
    fn map<'py>(
        &self,
        py: Python<'py>,
        records: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let pool = self.pool(py, Order::Input)?;
        let mut run = Run::start(&pool, records)?;
        let outputs = PyList::empty(py);
        // Each output is copied once, from the run's buffer into its
        // `bytes`.
        let convert = |view: RecordView<'_>| match view.outcome {
            Ok(output) => Ok(PyBytes::new(py, output)),
            Err(error) => Err((view.index, error.clone())),
        };
        while let Some(result) = run.next_with(py, convert)? {
            match result {
                Ok(output) => outputs.append(output)?,
                Err((index, error)) => {
                    let cancelled = error.kind == ErrorKind::Interrupted && run.cancelled();
                    run.stop(py);
                    return Err(if cancelled {
                        errors::cancelled()
                    } else {
                        errors::record_error(py, index, &error)
                    });
                }
            }
            if run.source_failed() {
                run.stop(py);
                if let Some(error) = run.take_source_error() {
                    return Err(error);
                }
            }
        }
        run.finish()?;
        Ok(outputs)
    }

    /// Runs the plugin over `records`, giving a `Result` per record as it
    /// comes: in input order, or as records finish with `ordered=False`.
    #[pyo3(signature = (records, ordered=true))]
    fn imap(
        &self,
        py: Python<'_>,
        records: &Bound<'_, PyAny>,
        ordered: bool,
    ) -> PyResult<ResultIterator> {
        let order = if ordered {
            Order::Input
        } else {
            Order::Completion
        };
        let pool = self.pool(py, order)?;
        Ok(ResultIterator::new(Run::start(&pool, records)?))
    }

    /// Stops every run of this pool that is still going, from any thread:
    /// `map` raises `Cancelled`, `imap` ends with it. The pool stays
    /// usable.
    fn cancel(&self) {
        let state = self.lock();
        for pool in state.ordered.iter().chain(state.unordered.iter()) {
            pool.cancel();
        }
    }

    /// Cancels every run and frees the workers; the pool cannot be used
    /// afterwards. Closing twice is fine.
    fn close(&self, py: Python<'_>) {
        let pools = {
            let mut state = self.lock();
            state.closed = true;
            [state.ordered.take(), state.unordered.take()]
        };
        // Dropping the last handle joins the worker threads: not under the
        // GIL.
        py.detach(move || {
            for pool in pools.iter().flatten() {
                pool.cancel();
            }
            drop(pools);
        });
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.lock().closed
    }

    /// `with Pool(...) as pool:` closes the pool at the end of the block.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the pool; exceptions go on.
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    /// The plugin's name (the path it was loaded from).
    #[getter]
    fn plugin(&self) -> &str {
        &self.name
    }

    /// Worker threads of each run.
    #[getter]
    fn jobs(&self) -> PyResult<usize> {
        Ok(self.first()?.config().jobs)
    }

    /// `"mapper"` or `"command"`.
    #[getter]
    fn kind(&self) -> PyResult<&'static str> {
        Ok(if self.first()?.plugin().kind.is_command() {
            "command"
        } else {
            "mapper"
        })
    }

    /// What the compile cache did when the plugin was loaded: `"hit"`
    /// (compiled code was loaded), `"stored"`, `"not-stored"`, or `None`
    /// without a cache.
    #[getter]
    fn cache_outcome(&self) -> PyResult<Option<&'static str>> {
        Ok(self.first()?.plugin().cache.map(|outcome| match outcome {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Stored => "stored",
            _ => "not-stored",
        }))
    }

    /// The options, as keyword arguments of the constructor.
    #[getter]
    fn options<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.options.to_dict(py)
    }

    /// `sandmap.Pool('plugin.wasm', jobs=2, ...)`: the options not at
    /// their defaults.
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let mut parts = vec![
            pyo3::types::PyString::new(py, &self.name)
                .repr()?
                .to_string(),
        ];
        parts.extend(self.options.describe(py)?);
        Ok(format!("sandmap.Pool({})", parts.join(", ")))
    }

    /// Pickles as the plugin's bytes and the options.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let restore = py.import("sandmap._sandmap")?.getattr("_unpickle")?;
        let args = (
            &self.name,
            PyBytes::new(py, &self.plugin),
            self.options.to_dict(py)?,
        )
            .into_pyobject(py)?;
        Ok((restore, args))
    }
}

/// Rebuilds a pickled `Pool` (see `Pool.__reduce__`).
#[pyfunction]
pub fn _unpickle(
    py: Python<'_>,
    name: String,
    plugin: &Bound<'_, PyBytes>,
    options: &Bound<'_, PyDict>,
) -> PyResult<Pool> {
    let options = Options::from_dict(options)?;
    Pool::build(py, name, plugin.as_bytes().to_vec(), options)
}
