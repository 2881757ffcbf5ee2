//! One run: what its feeder, the workers and its reader share, and the
//! feeder that turns records into batches for the workers.
//!
//! Every record the feeder dispatches gets exactly one result: a task is
//! sent under the run's gate only while the run is not cancelled, and the
//! workers run every task they receive (records of a cancelled run come
//! back at once as interrupted). So once the run is cancelled and the gate
//! passed, the count of dispatched records is final.

use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crossbeam_channel::Sender;

pub(crate) use crate::workers::{Job, Task, Workers};

use crate::batch::{Batch, BatchSizer, Batcher};
use crate::cancel::CancelToken;
use crate::config::{Config, Order, Shard};
use crate::error::RunError;
use crate::framing::Framer;
use crate::results::RunMessage;
use crate::window::Window;

/// Decides, for each record the feeder reads, whether it runs: `Ok(false)`
/// skips it (it gets no result), an error ends the run.
pub(crate) type Selector = Box<dyn FnMut(u64, &[u8]) -> Result<bool, RunError> + Send>;

/// What a run's feeder, workers and reader share.
pub(crate) struct RunShared {
    pub cancel: CancelToken,
    pub window: Window,
    pub sizer: BatchSizer,
    pub messages: Sender<RunMessage>,
    /// Records dispatched; taken while a task is sent.
    gate: Mutex<u64>,
    /// Tasks set aside for the output budget, with the ordinal each
    /// stopped at.
    parked: Mutex<Vec<(u64, Task)>>,
    has_parked: AtomicBool,
    queue: Sender<Job>,
    /// The pool's tick counter (one tick per millisecond).
    pub ticks: Arc<AtomicU64>,
}

impl RunShared {
    pub fn new(
        config: &Config,
        cancel: CancelToken,
        messages: Sender<RunMessage>,
        workers: &Workers,
    ) -> Arc<Self> {
        let run = Arc::new(RunShared {
            cancel: cancel.clone(),
            window: Window::new(config.max_in_flight, config.order == Order::Input),
            sizer: BatchSizer::default(),
            messages,
            gate: Mutex::new(0),
            parked: Mutex::new(Vec::new()),
            has_parked: AtomicBool::new(false),
            queue: workers.queue(),
            ticks: workers.ticks(),
        });
        let weak: Weak<RunShared> = Arc::downgrade(&run);
        cancel.on_cancel(move || {
            if let Some(run) = weak.upgrade() {
                run.window.close();
                run.resume_parked(true);
                let _ = run.messages.send(RunMessage::Wake);
            }
        });
        run
    }

    /// Hands a batch to the workers, once its records fit in the budget.
    /// `false` when the run is over (cancelled): stop reading.
    fn dispatch(self: &Arc<Self>, batch: Batch) -> bool {
        if !self.window.acquire_input(batch.cost(0..batch.len())) {
            return false;
        }
        let mut dispatched = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        if self.cancel.is_cancelled() {
            return false;
        }
        *dispatched += batch.len() as u64;
        let task = Task {
            run: self.clone(),
            batch,
            pos: 0,
        };
        self.queue.send(Job::Task(task)).is_ok()
    }

    /// Records dispatched so far (final once the run is cancelled, or the
    /// feeder is done).
    pub fn dispatched(&self) -> u64 {
        *self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets `task` aside until the output budget has room for it; gives it
    /// back if it has room already.
    pub fn park(&self, task: Task, ord: u64) -> Option<Task> {
        let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
        if self.window.may_start(ord) || self.cancel.is_cancelled() {
            return Some(task);
        }
        parked.push((ord, task));
        self.has_parked.store(true, Ordering::SeqCst);
        None
    }

    /// The reader took results worth `cost`, up to ordinal `head`.
    pub fn release_output(&self, cost: u64, head: u64) {
        self.window.release_output(cost, head);
        if self.has_parked.load(Ordering::SeqCst) {
            self.resume_parked(false);
        }
    }

    /// Sends parked tasks back to the workers: those that may go on now
    /// (or all of them, when the run is over).
    fn resume_parked(&self, all: bool) {
        let ready = {
            let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
            let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut *parked)
                .into_iter()
                .partition(|(ord, _)| all || self.window.should_resume(*ord));
            *parked = waiting;
            self.has_parked.store(!parked.is_empty(), Ordering::SeqCst);
            ready
        };
        for (_, task) in ready {
            let _ = self.queue.send(Job::Task(task));
        }
    }
}

/// Takes one record (its index and bytes); `Ok(false)` when the run is
/// over and no more are wanted.
pub(crate) type Offer<'a> = dyn FnMut(u64, &[u8]) -> Result<bool, RunError> + 'a;

/// Where a run's records come from.
pub(crate) enum Source {
    /// Records an iterator yields, each offered in turn.
    Items(Box<dyn FnOnce(&mut Offer<'_>) -> Result<(), RunError> + Send>),
    /// Records cut from a reader.
    Reader {
        reader: Box<dyn Read + Send>,
        delimiter: u8,
        max_record: u64,
    },
}

/// Cuts the records of `source` into batches and dispatches them, on its
/// own thread; then tells the reader how many it dispatched and why it
/// stopped early, if it did.
pub(crate) fn start_feeder(
    run: Arc<RunShared>,
    source: Source,
    shard: Option<Shard>,
    selector: Option<Selector>,
    hash_records: bool,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("sandmap-feeder".into())
        .spawn(move || {
            let mut feeder = Feeder {
                run: run.clone(),
                batcher: Batcher::new(hash_records),
                shard,
                selector,
            };
            let fed = std::panic::catch_unwind(AssertUnwindSafe(|| feeder.feed(source)));
            let error = match fed {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error),
                Err(panic) => Some(RunError::SourcePanicked(panic_message(&panic))),
            };
            // Counted where tasks are sent: a batch cut but not sent (the
            // run was cancelled meanwhile) has no results to wait for.
            let dispatched = run.dispatched();
            let _ = run.messages.send(RunMessage::End { dispatched, error });
        })
        .map(|_| ())
}

struct Feeder {
    run: Arc<RunShared>,
    batcher: Batcher,
    shard: Option<Shard>,
    selector: Option<Selector>,
}

impl Feeder {
    fn feed(&mut self, source: Source) -> Result<(), RunError> {
        match source {
            Source::Items(items) => {
                items(&mut |index, record| self.offer(index, record))?;
                self.flush();
                Ok(())
            }
            Source::Reader {
                reader,
                delimiter,
                max_record,
            } => {
                let mut framer = Framer::new(reader, delimiter, max_record);
                loop {
                    if self.run.cancel.is_cancelled() {
                        return Ok(());
                    }
                    let index = framer.next_index();
                    match framer.next_buffered() {
                        Ok(Some(record)) => {
                            if !self.offer(index, record)? {
                                return Ok(());
                            }
                            continue;
                        }
                        Ok(None) => {}
                        Err(error) => {
                            self.flush();
                            return Err(error);
                        }
                    }
                    // Do not sit on records while waiting for more input.
                    self.flush();
                    if framer.at_end() {
                        return Ok(());
                    }
                    framer.read_more()?;
                }
            }
        }
    }

    /// Takes record `index` into a batch if it is selected; `Ok(false)`
    /// when the run is over.
    fn offer(&mut self, index: u64, record: &[u8]) -> Result<bool, RunError> {
        if self.shard.is_some_and(|shard| !shard.contains(index)) {
            return Ok(true);
        }
        if let Some(selector) = &mut self.selector {
            if !selector(index, record)? {
                return Ok(true);
            }
        }
        let per_batch = self.run.sizer.records_per_batch();
        match self.batcher.push(index, record, per_batch) {
            Some(batch) => Ok(self.run.dispatch(batch)),
            None => Ok(true),
        }
    }

    fn flush(&mut self) {
        if let Some(batch) = self.batcher.take() {
            self.run.dispatch(batch);
        }
    }
}

/// The text of a panic's payload.
pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}
