//! The results of a run, read back by its caller: in input order (a
//! reorder buffer keyed by dispatch ordinal) or as records finish.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::cancel::CancelToken;
use crate::config::Order;
use crate::error::{RecordError, RunError};
use crate::run::{RunShared, Workers};

/// One record's outcome: its output, or why it failed.
pub type Outcome = Result<Vec<u8>, RecordError>;

/// What a record cost, measured when [`Config::stats`](crate::Config::stats)
/// is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordStats {
    /// Wall-clock time of the record's last attempt, instance start-up
    /// included when it had a fresh instance.
    pub wall: Duration,
    /// Fuel the last attempt used, when fuel is metered.
    pub fuel: Option<u64>,
    /// Bytes of linear memory the instance held at the end of the record
    /// (memories never shrink, so also the most it held).
    pub memory: u64,
}

/// One record's result, tagged with its position in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordResult {
    /// Index of the record in the input, from 0.
    pub index: u64,
    /// The plugin's output, or why the record failed.
    pub outcome: Outcome,
    /// How many times the record was run (more than 1 after retries).
    pub attempts: u32,
    /// What the record cost, when measured.
    pub stats: Option<RecordStats>,
    /// Hash of the record's input bytes, when the run keeps them (for a
    /// journal).
    pub(crate) input_hash: u64,
}

impl RecordResult {
    /// A result of record `index` (for callers that build results of their
    /// own, such as a merge of earlier runs).
    pub fn new(index: u64, outcome: Outcome) -> Self {
        RecordResult {
            index,
            outcome,
            attempts: 1,
            stats: None,
            input_hash: 0,
        }
    }
}

/// Results of consecutive ordinals, handed over by a worker.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub first_ord: u64,
    pub results: Vec<RecordResult>,
    /// What these results cost against the output budget.
    pub cost: u64,
}

/// What reaches the reader of a run.
#[derive(Debug)]
pub(crate) enum RunMessage {
    Chunk(Chunk),
    /// The feeder is done: `dispatched` records in all, and why it stopped
    /// early, if it did.
    End {
        dispatched: u64,
        error: Option<RunError>,
    },
    /// Something went wrong that ends the run (a worker panicked).
    Failed(RunError),
    /// The run was cancelled: look again whether it is over.
    Wake,
}

/// What [`Results::try_next`] found.
#[derive(Debug)]
#[non_exhaustive]
pub enum TryNext {
    /// The next result, or the error that ended the run.
    Ready(Result<RecordResult, RunError>),
    /// No result is ready yet; the run goes on.
    Pending,
    /// Every result has been returned.
    Done,
}

/// The results of one run, as an iterator. An item is `Err` only once, at
/// the end, when the run could not read all its input (a record too long,
/// a read error, a record source that panicked); every result before it
/// is valid. Dropping it cancels the run.
pub struct Results {
    cancel: CancelToken,
    /// `None` for a run that could not start.
    run: Option<Arc<RunShared>>,
    _workers: Option<Arc<Workers>>,
    messages: Receiver<RunMessage>,
    order: Order,
    pending: BTreeMap<u64, Chunk>,
    next_ord: u64,
    current: Option<Current>,
    consumed: u64,
    dispatched: Option<u64>,
    error: Option<RunError>,
    done: bool,
}

/// How long `advance` may wait for a message.
#[derive(Clone, Copy)]
enum Wait {
    No,
    For(std::time::Duration),
    Forever,
}

/// The chunk being handed out.
struct Current {
    results: std::vec::IntoIter<RecordResult>,
    cost: u64,
    end_ord: u64,
}

impl std::fmt::Debug for Results {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Results")
            .field("order", &self.order)
            .field("consumed", &self.consumed)
            .field("cancelled", &self.cancel.is_cancelled())
            .finish()
    }
}

impl Results {
    pub(crate) fn new(
        run: Arc<RunShared>,
        workers: Arc<Workers>,
        messages: Receiver<RunMessage>,
        order: Order,
    ) -> Self {
        Results {
            cancel: run.cancel.clone(),
            run: Some(run),
            _workers: Some(workers),
            messages,
            order,
            pending: BTreeMap::new(),
            next_ord: 0,
            current: None,
            consumed: 0,
            dispatched: None,
            error: None,
            done: false,
        }
    }

    /// Results of a run that could not start: `error`, then the end.
    pub(crate) fn failed(
        error: RunError,
        cancel: CancelToken,
        messages: crossbeam_channel::Sender<RunMessage>,
        received: Receiver<RunMessage>,
    ) -> Self {
        drop(messages);
        Results {
            cancel,
            run: None,
            _workers: None,
            messages: received,
            order: Order::Input,
            pending: BTreeMap::new(),
            next_ord: 0,
            current: None,
            consumed: 0,
            dispatched: Some(0),
            error: Some(error),
            done: false,
        }
    }

    /// A handle that stops this run from any thread.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// The next result if one is ready, without blocking.
    pub fn try_next(&mut self) -> TryNext {
        self.advance(Wait::No)
    }

    /// The next result, waiting at most `timeout` for it: for callers that
    /// must do something else now and then while they wait (a binding
    /// that checks for Ctrl-C, a progress display).
    ///
    /// ```
    /// # let upper = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/upper-wat/upper.wat");
    /// use std::time::Duration;
    /// use sandmap::{Pool, TryNext};
    ///
    /// let pool = Pool::builder(upper).build()?;
    /// let mut results = pool.map(["a", "b"]);
    /// let mut outputs = Vec::new();
    /// loop {
    ///     match results.next_timeout(Duration::from_millis(10)) {
    ///         TryNext::Ready(result) => outputs.push(result?.outcome?),
    ///         TryNext::Done => break,
    ///         _ => { /* nothing yet: check for signals, redraw, ... */ }
    ///     }
    /// }
    /// assert_eq!(outputs, [b"A".to_vec(), b"B".to_vec()]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_timeout(&mut self, timeout: std::time::Duration) -> TryNext {
        self.advance(Wait::For(timeout))
    }

    fn advance(&mut self, wait: Wait) -> TryNext {
        loop {
            if self.done {
                return TryNext::Done;
            }
            if let Some(current) = &mut self.current {
                if let Some(result) = current.results.next() {
                    self.consumed += 1;
                    return TryNext::Ready(Ok(result));
                }
                // Every result of that chunk is out: give back its budget.
                let (cost, end) = (current.cost, current.end_ord);
                self.current = None;
                if let Some(run) = &self.run {
                    run.release_output(cost, end);
                }
            }
            if self.order == Order::Input {
                if let Some(chunk) = self.pending.remove(&self.next_ord) {
                    self.start(chunk);
                    continue;
                }
            }
            if self.finished() {
                self.done = true;
                return match self.error.take() {
                    Some(error) => TryNext::Ready(Err(error)),
                    None => TryNext::Done,
                };
            }
            let message = match wait {
                Wait::Forever => self.messages.recv().ok(),
                Wait::No => match self.messages.try_recv() {
                    Ok(message) => Some(message),
                    Err(crossbeam_channel::TryRecvError::Empty) => return TryNext::Pending,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => None,
                },
                Wait::For(timeout) => match self.messages.recv_timeout(timeout) {
                    Ok(message) => Some(message),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => return TryNext::Pending,
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => None,
                },
            };
            match message {
                Some(RunMessage::Chunk(chunk)) => match self.order {
                    Order::Input => {
                        self.pending.insert(chunk.first_ord, chunk);
                    }
                    _ => self.start(chunk),
                },
                Some(RunMessage::End { dispatched, error }) => {
                    self.dispatched = Some(dispatched);
                    self.error = self.error.take().or(error);
                }
                Some(RunMessage::Failed(error)) => {
                    self.error = Some(error);
                    self.cancel.cancel();
                }
                Some(RunMessage::Wake) => {}
                None => {
                    // Nobody can send any more (cannot happen while this
                    // holds the run): end rather than wait for ever.
                    self.done = true;
                    return TryNext::Done;
                }
            }
        }
    }

    /// Whether every dispatched record's result has been handed out.
    fn finished(&mut self) -> bool {
        if self.current.is_some() {
            return false;
        }
        if let (None, Some(run)) = (self.dispatched, &self.run) {
            if run.cancel.is_cancelled() {
                // The feeder may be stuck reading; once cancelled it
                // dispatches nothing more, so what it dispatched is all.
                self.dispatched = Some(run.dispatched());
            }
        }
        self.dispatched == Some(self.consumed)
    }

    fn start(&mut self, chunk: Chunk) {
        let end_ord = chunk.first_ord + chunk.results.len() as u64;
        self.next_ord = end_ord;
        self.current = Some(Current {
            results: chunk.results.into_iter(),
            cost: chunk.cost,
            end_ord,
        });
    }
}

impl Iterator for Results {
    type Item = Result<RecordResult, RunError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.advance(Wait::Forever) {
            TryNext::Ready(result) => Some(result),
            TryNext::Pending | TryNext::Done => None,
        }
    }
}

impl Drop for Results {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
