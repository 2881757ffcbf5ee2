//! Records from a Python iterable, for the library's feeder thread.
//!
//! The feeder pulls records as the run's in-flight budget allows, so an
//! endless generator is fine. Each pull attaches to the interpreter once
//! and takes a batch of items (up to [`PULL_RECORDS`] records,
//! [`PULL_BYTES`] bytes or [`PULL_TIME`]: a slow generator's records are
//! not held back waiting for more). A `bytes` record is not copied: the
//! feeder reads it in place while holding a reference to it. What the
//! iterator raises, or a record of the wrong type, ends the input; the
//! caller takes that exception back from [`SourceState::take_error`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyByteArray, PyBytes, PyIterator, PyList, PyMemoryView, PyString, PyTuple};

/// Most records taken from Python in one pull.
const PULL_RECORDS: usize = 16 * 1024;
/// Most bytes of records taken in one pull (a larger record still makes a
/// pull of one).
const PULL_BYTES: usize = 8 << 20;
/// Longest a pull goes on once it has a record.
const PULL_TIME: Duration = Duration::from_millis(2);

/// One record, its bytes held where Python keeps them when it can.
pub enum Record {
    /// A `bytes` object (read in place), or a copy of a `bytearray` or
    /// `memoryview`.
    Bytes(PyBackedBytes),
    /// A `str`, as UTF-8.
    Str(PyBackedStr),
}

impl AsRef<[u8]> for Record {
    fn as_ref(&self) -> &[u8] {
        match self {
            Record::Bytes(bytes) => bytes,
            Record::Str(text) => text.as_bytes(),
        }
    }
}

/// How long [`shutdown`] waits for the feeders, all together.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

/// The sources of the runs of this process, so that [`shutdown`] can stop
/// them all.
static LIVE: Mutex<Vec<Weak<SourceState>>> = Mutex::new(Vec::new());

/// Stops every run's record source and waits (briefly) for the feeders to
/// let go of their iterators: called at interpreter exit, before
/// finalization, because a feeder thread that takes the GIL while the
/// interpreter is being finalized would crash it.
pub fn shutdown(py: Python<'_>) {
    let live: Vec<Arc<SourceState>> = {
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|state| state.strong_count() > 0);
        live.iter().filter_map(Weak::upgrade).collect()
    };
    for state in &live {
        state.stop();
        if let Some(cancel) = state.cancel.get() {
            cancel.cancel();
        }
    }
    py.detach(|| {
        let deadline = Instant::now() + SHUTDOWN_WAIT;
        for state in &live {
            state.wait_released(deadline.saturating_duration_since(Instant::now()));
        }
    });
}

/// What the caller of a run and its record source share.
#[derive(Default)]
pub struct SourceState {
    /// Set by the caller to stop pulling.
    stop: AtomicBool,
    /// The run's cancel token: a cancelled run pulls no more either.
    cancel: OnceLock<sandmap::CancelToken>,
    /// Whether the iterator ran to its end.
    exhausted: AtomicBool,
    /// Records taken from the iterator so far.
    pulled: AtomicU64,
    /// What ended the input early: the iterator's exception, or a
    /// record's conversion error.
    error: Mutex<Option<PyErr>>,
    /// Whether `error` was ever set (read for every result: no lock).
    failed: AtomicBool,
    /// Set when the source is dropped (the feeder has let go of it).
    released: Mutex<bool>,
    released_changed: Condvar,
}

impl SourceState {
    /// Tells the source to pull no more.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Ties the source to its run: once `cancel` is cancelled, no more
    /// records are pulled.
    pub fn follow(&self, cancel: sandmap::CancelToken) {
        let _ = self.cancel.set(cancel);
    }

    /// Whether no more records are wanted.
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.cancel.get().is_some_and(|c| c.is_cancelled())
    }

    /// Whether every record of the iterable was taken.
    pub fn exhausted(&self) -> bool {
        self.exhausted.load(Ordering::SeqCst)
    }

    /// How many records were taken from the iterator.
    pub fn pulled(&self) -> u64 {
        self.pulled.load(Ordering::SeqCst)
    }

    /// The exception that ended the input, once.
    pub fn take_error(&self) -> Option<PyErr> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Whether an exception ended the input.
    pub fn has_error(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Waits (without the GIL: call it detached) at most `timeout` for the
    /// feeder to let go of the source; whether it did.
    pub fn wait_released(&self, timeout: Duration) -> bool {
        let released = self.released.lock().unwrap_or_else(|e| e.into_inner());
        let (released, _) = self
            .released_changed
            .wait_timeout_while(released, timeout, |released| !*released)
            .unwrap_or_else(|e| e.into_inner());
        *released
    }

    /// Records what ended the input (the first error is kept).
    fn fail(&self, error: PyErr) {
        let mut slot = self.error.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(error);
        self.failed.store(true, Ordering::SeqCst);
    }
}

/// The records of one pull. Records hand their bytes to the feeder by
/// reference ([`RecordRef`]); when the last reference goes, the pull's
/// Python objects go to the source's graveyard, to be released at its
/// next pull, under the GIL it takes anyway (releasing them one by one,
/// without it, would queue each in PyO3's pool of deferred decrements).
struct Pull {
    records: Vec<Record>,
    graveyard: Arc<Mutex<Vec<Vec<Record>>>>,
}

impl Drop for Pull {
    fn drop(&mut self) {
        let records = std::mem::take(&mut self.records);
        self.graveyard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(records);
    }
}

/// One record, as the library's feeder takes it.
pub struct RecordRef {
    pull: Arc<Pull>,
    position: usize,
}

impl AsRef<[u8]> for RecordRef {
    fn as_ref(&self) -> &[u8] {
        self.pull.records[self.position].as_ref()
    }
}

/// The records of a Python iterable, as the library's `Pool::map` takes
/// them.
pub struct RecordSource {
    iter: Option<Py<PyIterator>>,
    /// A list or tuple: taking an item runs no Python code, so a pull
    /// need not watch the clock.
    sequence: bool,
    pull: Option<Arc<Pull>>,
    /// Position of the next record in `pull`.
    position: usize,
    graveyard: Arc<Mutex<Vec<Vec<Record>>>>,
    /// Index of the next record pulled, for messages.
    next_index: u64,
    state: Arc<SourceState>,
}

impl RecordSource {
    /// A source over `records` (anything `iter()` accepts).
    ///
    /// # Errors
    /// `TypeError` when `records` is not iterable.
    pub fn new(records: &Bound<'_, PyAny>) -> PyResult<Self> {
        let iter = records.try_iter().map_err(|_| {
            PyTypeError::new_err(format!(
                "records must be an iterable of bytes, bytearray, memoryview or str, not {}",
                records
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        let state = Arc::new(SourceState::default());
        {
            let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
            live.retain(|state| state.strong_count() > 0);
            live.push(Arc::downgrade(&state));
        }
        Ok(RecordSource {
            iter: Some(iter.unbind()),
            sequence: records.is_exact_instance_of::<PyList>()
                || records.is_exact_instance_of::<PyTuple>(),
            pull: None,
            position: 0,
            graveyard: Arc::default(),
            next_index: 0,
            state,
        })
    }

    /// What the caller keeps to follow the source.
    pub fn state(&self) -> Arc<SourceState> {
        self.state.clone()
    }

    /// Takes the next batch of records from Python (none once the input
    /// is over).
    fn pull(&mut self) -> Vec<Record> {
        let mut records = Vec::new();
        let Some(iter) = &self.iter else {
            return records;
        };
        if self.state.stopped() {
            self.iter = None;
            return records;
        }
        // Released here, under the GIL, rather than one by one without it.
        let dead = std::mem::take(&mut *self.graveyard.lock().unwrap_or_else(|e| e.into_inner()));
        // No pulling while the interpreter shuts down: that input ends.
        let pulled = Python::try_attach(|py| {
            drop(dead);
            let mut iter = iter.bind(py).clone();
            let started = Instant::now();
            let mut bytes = 0;
            while records.len() < PULL_RECORDS && bytes < PULL_BYTES {
                if self.state.stopped() {
                    return true;
                }
                let item = match iter.next() {
                    None => {
                        self.state.exhausted.store(true, Ordering::SeqCst);
                        return true;
                    }
                    Some(Err(error)) => {
                        self.state.fail(error);
                        return true;
                    }
                    Some(Ok(item)) => item,
                };
                match record(&item, self.next_index) {
                    Ok(record) => {
                        bytes += record.as_ref().len();
                        records.push(record);
                        self.next_index += 1;
                    }
                    Err(error) => {
                        self.state.fail(error);
                        return true;
                    }
                }
                if !self.sequence && started.elapsed() >= PULL_TIME {
                    break;
                }
            }
            false
        });
        let finished = pulled.unwrap_or(true);
        self.state.pulled.store(self.next_index, Ordering::SeqCst);
        if finished {
            self.iter = None;
        }
        records
    }
}

impl Iterator for RecordSource {
    type Item = RecordRef;

    fn next(&mut self) -> Option<RecordRef> {
        let exhausted = self
            .pull
            .as_ref()
            .is_none_or(|pull| self.position >= pull.records.len());
        if exhausted {
            // The previous pull goes to the graveyard once the feeder has
            // let go of its last record.
            self.pull = None;
            let records = self.pull();
            if records.is_empty() {
                return None;
            }
            self.pull = Some(Arc::new(Pull {
                records,
                graveyard: self.graveyard.clone(),
            }));
            self.position = 0;
        }
        let pull = self.pull.as_ref()?;
        let record = RecordRef {
            pull: pull.clone(),
            position: self.position,
        };
        self.position += 1;
        Some(record)
    }
}

impl Drop for RecordSource {
    fn drop(&mut self) {
        *self
            .state
            .released
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = true;
        self.state.released_changed.notify_all();
    }
}

/// Item `index` of the records as a [`Record`].
fn record(item: &Bound<'_, PyAny>, index: u64) -> PyResult<Record> {
    if let Ok(bytes) = item.cast::<PyBytes>() {
        return Ok(Record::Bytes(PyBackedBytes::from(bytes.clone())));
    }
    if let Ok(text) = item.cast::<PyString>() {
        return Ok(Record::Str(PyBackedStr::try_from(text.clone())?));
    }
    if let Ok(array) = item.cast::<PyByteArray>() {
        return Ok(Record::Bytes(PyBackedBytes::from(array.clone())));
    }
    if item.is_instance_of::<PyMemoryView>() {
        let bytes = item.call_method0("tobytes")?.cast_into::<PyBytes>()?;
        return Ok(Record::Bytes(PyBackedBytes::from(bytes)));
    }
    let kind = item
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    Err(PyTypeError::new_err(format!(
        "record {index} is {kind}: records must be bytes, bytearray, memoryview or str"
    )))
}
