//! The results of a run, read back by its caller: in input order (a
//! reorder buffer keyed by dispatch ordinal) or as records finish.

use std::collections::BTreeMap;
use std::sync::Arc;

use crossbeam_channel::Receiver;

use crate::cancel::CancelToken;
use crate::config::Order;
use crate::error::RunError;
use crate::outcome::{RecordResult, RecordView};
use crate::run::{Chunk, RunMessage, RunShared};
use crate::workers::Workers;

/// What [`Results::try_next`] or [`Results::next_timeout`] found.
#[derive(Debug)]
#[non_exhaustive]
pub enum TryNext<T = RecordResult> {
    /// The next result, or the error that ended the run.
    Ready(Result<T, RunError>),
    /// No result is ready yet; the run goes on.
    Pending,
    /// Every result has been returned.
    Done,
}

/// The results of one run, as an iterator. An item is `Err` only once, at
/// the end, when the run could not read all its input (a record too long,
/// a read error, a record source that panicked); every result before it
/// is valid. Dropping it cancels the run.
///
/// ```
/// # let upper = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/upper-wat/upper.wat");
/// use sandmap::{Pool, RunError};
///
/// let pool = Pool::builder(upper).max_record(8).build()?;
/// let input = std::io::Cursor::new(b"short\nfar too long a record\nnever read\n".to_vec());
/// let items: Vec<_> = pool.map_reader(input).collect();
/// assert_eq!(items[0].as_ref().unwrap().outcome.as_deref().unwrap(), b"SHORT");
/// assert!(matches!(items[1], Err(RunError::RecordTooLong { index: 1, limit: 8 })));
/// assert_eq!(items.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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

/// How long a step may wait for a message.
#[derive(Clone, Copy)]
pub(crate) enum Wait {
    No,
    For(std::time::Duration),
    Forever,
}

/// What a step found.
pub(crate) enum Step {
    /// A result: read it with [`Results::current`].
    Ready,
    /// The error that ended the run (the last step).
    Failed(RunError),
    /// Nothing yet.
    Pending,
    /// Every result was handed out.
    Done,
}

/// The chunk being handed out, and how far.
struct Current {
    chunk: Chunk,
    next: usize,
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

    /// Like [`Results::try_next`], with the result borrowed from the
    /// run's buffers rather than copied out: for callers that convert
    /// each result at once (a binding making its own byte strings).
    pub fn try_next_view(&mut self) -> TryNext<RecordView<'_>> {
        self.advance_view(Wait::No)
    }

    /// Like [`Results::next_timeout`], with the result borrowed (see
    /// [`Results::try_next_view`]).
    ///
    /// ```
    /// # let upper = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/upper-wat/upper.wat");
    /// use std::time::Duration;
    /// use sandmap::{Pool, TryNext};
    ///
    /// let pool = Pool::builder(upper).build()?;
    /// let mut results = pool.map(["a", "b"]);
    /// let mut total = 0;
    /// loop {
    ///     match results.next_view_timeout(Duration::from_millis(10)) {
    ///         TryNext::Ready(view) => {
    ///             if let Ok(output) = view?.outcome {
    ///                 total += output.len();
    ///             }
    ///         }
    ///         TryNext::Done => break,
    ///         _ => { /* not yet, or a kind added later */ }
    ///     }
    /// }
    /// assert_eq!(total, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_view_timeout(&mut self, timeout: std::time::Duration) -> TryNext<RecordView<'_>> {
        self.advance_view(Wait::For(timeout))
    }

    fn advance_view(&mut self, wait: Wait) -> TryNext<RecordView<'_>> {
        match self.step(wait) {
            Step::Ready => match self.current() {
                Some(view) => TryNext::Ready(Ok(view)),
                None => TryNext::Done,
            },
            Step::Failed(error) => TryNext::Ready(Err(error)),
            Step::Pending => TryNext::Pending,
            Step::Done => TryNext::Done,
        }
    }

    fn advance(&mut self, wait: Wait) -> TryNext {
        match self.step(wait) {
            Step::Ready => match self.current() {
                Some(view) => TryNext::Ready(Ok(view.to_result())),
                None => TryNext::Done,
            },
            Step::Failed(error) => TryNext::Ready(Err(error)),
            Step::Pending => TryNext::Pending,
            Step::Done => TryNext::Done,
        }
    }

    /// The result [`Results::step`] moved to, borrowed from its chunk.
    pub(crate) fn current(&self) -> Option<RecordView<'_>> {
        let current = self.current.as_ref()?;
        let entry = current.chunk.entries.get(current.next.checked_sub(1)?)?;
        Some(entry.view(&current.chunk.data))
    }

    /// Moves to the next result (then read by [`Results::current`]),
    /// waiting as `wait` says.
    pub(crate) fn step(&mut self, wait: Wait) -> Step {
        loop {
            if self.done {
                return Step::Done;
            }
            if let Some(current) = &mut self.current {
                if current.next < current.chunk.entries.len() {
                    current.next += 1;
                    self.consumed += 1;
                    return Step::Ready;
                }
                // Every result of that chunk is out: give back its budget,
                // and its buffers for the next chunks.
                if let Some(Current { chunk, end_ord, .. }) = self.current.take()
                    && let Some(run) = &self.run
                {
                    run.release_output(chunk.cost, end_ord);
                    run.spares.give(chunk.data, chunk.entries);
                }
            }
            if self.order == Order::Input
                && let Some(chunk) = self.pending.remove(&self.next_ord)
            {
                self.start(chunk);
                continue;
            }
            if self.finished() {
                self.done = true;
                return match self.error.take() {
                    Some(error) => Step::Failed(error),
                    None => Step::Done,
                };
            }
            let message = match wait {
                Wait::Forever => self.messages.recv().ok(),
                Wait::No => match self.messages.try_recv() {
                    Ok(message) => Some(message),
                    Err(crossbeam_channel::TryRecvError::Empty) => return Step::Pending,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => None,
                },
                Wait::For(timeout) => match self.messages.recv_timeout(timeout) {
                    Ok(message) => Some(message),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => return Step::Pending,
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
                    // The records of the failed task will never report:
                    // the run ends here, with the error, rather than
                    // waiting for them.
                    self.cancel.cancel();
                    self.done = true;
                    return Step::Failed(error);
                }
                Some(RunMessage::Wake) => {}
                None => {
                    // Nobody can send any more (cannot happen while this
                    // holds the run): end rather than wait for ever.
                    self.done = true;
                    return Step::Done;
                }
            }
        }
    }

    /// Whether every dispatched record's result has been handed out.
    fn finished(&mut self) -> bool {
        if self.current.is_some() {
            return false;
        }
        if let (None, Some(run)) = (self.dispatched, &self.run)
            && run.cancel.is_cancelled()
        {
            // The feeder may be stuck reading; once cancelled it
            // dispatches nothing more, so what it dispatched is all.
            self.dispatched = Some(run.dispatched());
        }
        self.dispatched == Some(self.consumed)
    }

    fn start(&mut self, chunk: Chunk) {
        let end_ord = chunk.first_ord + chunk.entries.len() as u64;
        self.next_ord = end_ord;
        self.current = Some(Current {
            chunk,
            next: 0,
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
