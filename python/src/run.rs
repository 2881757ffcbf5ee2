//! One run read from Python. Waiting for results happens with the GIL
//! released; every [`WAKE`] the waiting thread takes the GIL back for a
//! moment so that Python can run its signal handlers (Ctrl-C raises
//! `KeyboardInterrupt` there). Whatever ends a run early — Ctrl-C, a
//! failed record in `map`, the records' iterator raising — stops it the
//! same way: the run is cancelled and its results drained, so every worker
//! is idle again before the exception reaches the caller.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use sandmap::{CancelToken, RecordResult, RecordView, Results, RunError, TryNext};

use crate::errors;
use crate::records::{RecordSource, SourceState};

/// How often a waiting thread wakes up to let Python handle signals.
const WAKE: Duration = Duration::from_millis(5);
/// Results taken with the GIL held between two looks at signals (and
/// two chances for the feeder to take the GIL).
const CHECK_EVERY: u32 = 4096;
/// Longest a stopped run's results are drained: every worker stops within
/// milliseconds of a cancel; this only bounds a broken promise.
const DRAIN: Duration = Duration::from_secs(5);
/// Longest the feeder is waited for after a stop: it lets go of the
/// records' iterator at once unless the iterator itself is blocked.
const RELEASE: Duration = Duration::from_millis(50);

/// A run started by `map` or `imap`.
pub struct Run {
    /// `None` once every result has been taken, or the run was stopped.
    results: Option<Results>,
    cancel: CancelToken,
    source: Arc<SourceState>,
    /// Why the run ended early, if the library said so.
    end_error: Option<RunError>,
    /// Results taken so far.
    taken: u64,
    /// Results taken since signals were last checked.
    since_check: u32,
}

impl Run {
    /// Starts running `pool` over `records`.
    ///
    /// # Errors
    /// `TypeError` when `records` is not iterable.
    pub fn start(pool: &sandmap::Pool, records: &Bound<'_, PyAny>) -> PyResult<Run> {
        let source = RecordSource::new(records)?;
        let state = source.state();
        let results = pool.map(source);
        state.follow(results.cancel_token());
        Ok(Run {
            cancel: results.cancel_token(),
            results: Some(results),
            source: state,
            end_error: None,
            taken: 0,
            since_check: 0,
        })
    }

    /// A handle that cancels the run from any thread.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// The next result, as soon as there is one; `None` once the run is
    /// over. Results that are ready are taken with the GIL held; the GIL
    /// is released to wait, and now and then between ready results so
    /// that the feeder thread can take records from Python.
    ///
    /// # Errors
    /// What a signal handler raised (`KeyboardInterrupt`), after the run
    /// was stopped.
    pub fn next(&mut self, py: Python<'_>) -> PyResult<Option<RecordResult>> {
        self.next_with(py, |view| view.to_result())
    }

    /// Like [`Run::next`], giving `convert` the result borrowed from the
    /// run's buffers (with the GIL held), so that a caller that makes its
    /// own Python object from it copies the output once, not twice.
    pub fn next_with<T>(
        &mut self,
        py: Python<'_>,
        mut convert: impl FnMut(RecordView<'_>) -> T,
    ) -> PyResult<Option<T>> {
        loop {
            if self.results.is_none() {
                return Ok(None);
            }
            self.since_check += 1;
            if self.since_check >= CHECK_EVERY {
                self.since_check = 0;
                self.check_signals(py)?;
                // Lets a thread waiting for the GIL (the feeder) have it.
                py.detach(|| ());
            }
            let results = self.results.as_mut().expect("checked above");
            let got = match results.try_next_view() {
                TryNext::Pending => None,
                next => Some(Got::from(next, &mut convert)),
            };
            let got = match got {
                Some(got) => got,
                None => {
                    self.check_signals(py)?;
                    let results = self.results.as_mut().expect("checked above");
                    let next = py.detach(move || results.next_view_timeout(WAKE));
                    Got::from(next, &mut convert)
                }
            };
            match got {
                Got::Item(item) => {
                    self.taken += 1;
                    return Ok(Some(item));
                }
                // The last item of a run that ended early; `Done` follows.
                Got::Failed(error) => self.end_error = Some(error),
                Got::Done => {
                    let results = self.results.take();
                    py.detach(move || drop(results));
                    return Ok(None);
                }
                Got::Pending => {}
            }
        }
    }

    /// Runs Python's signal handlers; stops the run if one raised.
    fn check_signals(&mut self, py: Python<'_>) -> PyResult<()> {
        py.check_signals().inspect_err(|_| self.stop(py))
    }

    /// Whether the records' iterator raised, or gave a record of the wrong
    /// type (the input ended there).
    pub fn source_failed(&self) -> bool {
        self.source.has_error()
    }

    /// The exception the records' iterator raised (or the conversion error
    /// of a record), once.
    pub fn take_source_error(&self) -> Option<PyErr> {
        self.source.take_error()
    }

    /// Whether the run was cancelled (by `Pool.cancel()`, `Pool.close()`,
    /// or this binding).
    pub fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Stops the run: no record starts any more, running ones are
    /// interrupted, and this returns once the workers are done with it.
    /// The GIL is released while it waits.
    pub fn stop(&mut self, py: Python<'_>) {
        self.source.stop();
        self.cancel.cancel();
        let results = self.results.take();
        let source = &self.source;
        py.detach(move || {
            if let Some(mut results) = results {
                let deadline = Instant::now() + DRAIN;
                while !matches!(results.next_timeout(WAKE), TryNext::Done) {
                    if Instant::now() >= deadline {
                        break;
                    }
                }
            }
            source.wait_released(RELEASE);
        });
    }

    /// After the last result: the exception that ended the run early, if
    /// any (the iterator's own exception first).
    ///
    /// # Errors
    /// The records' iterator's exception; `sandmap.Error` for a run the
    /// library ended; `sandmap.Cancelled` for a run cancelled before every
    /// record ran.
    pub fn finish(&mut self) -> PyResult<()> {
        if let Some(error) = self.source.take_error() {
            return Err(error);
        }
        if let Some(error) = self.end_error.take() {
            return Err(errors::run_error(error));
        }
        let complete = self.source.exhausted() && self.taken == self.source.pulled();
        if self.cancel.is_cancelled() && !complete {
            return Err(errors::cancelled());
        }
        Ok(())
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // Dropping the results cancels the run; the feeder stops pulling.
        self.source.stop();
    }
}

/// A step of a run, with its result converted (owning nothing of the run).
enum Got<T> {
    Item(T),
    Failed(RunError),
    Pending,
    Done,
}

impl<T> Got<T> {
    fn from(next: TryNext<RecordView<'_>>, convert: &mut impl FnMut(RecordView<'_>) -> T) -> Self {
        match next {
            TryNext::Ready(Ok(view)) => Got::Item(convert(view)),
            TryNext::Ready(Err(error)) => Got::Failed(error),
            TryNext::Pending => Got::Pending,
            _ => Got::Done,
        }
    }
}
