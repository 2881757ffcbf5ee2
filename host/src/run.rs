//! One run: what its feeder, the workers and its reader share, and the
//! feeder that turns records into batches for the workers.
//!
//! Every record the feeder dispatches gets exactly one result: a task is
//! sent under the run's gate only while the run is not cancelled, and the
//! workers run every task they receive (records of a cancelled run come
//! back at once as interrupted). So once the run is cancelled and the gate
//! passed, the count of dispatched records is final.

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crossbeam_channel::Sender;

use crate::batch::{Batch, BatchSizer};
use crate::cancel::CancelToken;
use crate::config::{Config, Order};
use crate::error::RunError;
use crate::outcome::Entry;
use crate::spares::Spares;
use crate::window::Window;

/// Records of one run, from `pos` on, for a worker to run.
pub(crate) struct Task {
    pub run: Arc<RunShared>,
    pub batch: Batch,
    pub pos: usize,
}

/// What the workers' queue carries.
pub(crate) enum Job {
    Task(Task),
    Stop,
}

/// Results of consecutive ordinals, handed over by a worker: the entries,
/// and the bytes their outputs are spans of.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub first_ord: u64,
    pub data: Vec<u8>,
    pub entries: Vec<Entry>,
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

/// Decides, for each record the feeder reads, whether it runs.
pub(crate) trait Select: Send {
    /// Whether record `index` runs: `Ok(false)` skips it (it gets no
    /// result); an error ends the run.
    fn select(&mut self, index: u64, record: &[u8]) -> Result<bool, RunError>;

    /// Called once the whole input was read: an error ends the run (the
    /// input was shorter than expected, say).
    fn finish(&mut self) -> Result<(), RunError> {
        Ok(())
    }
}

/// A boxed [`Select`].
pub(crate) type Selector = Box<dyn Select>;

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
    /// Buffers of results handed out, for the workers' next chunks.
    pub spares: Spares,
}

impl RunShared {
    /// The shared state of a run whose tasks go to `queue`, on a pool
    /// whose tick counter is `ticks`.
    pub fn new(
        config: &Config,
        cancel: CancelToken,
        messages: Sender<RunMessage>,
        queue: Sender<Job>,
        ticks: Arc<AtomicU64>,
    ) -> Arc<Self> {
        let run = Arc::new(RunShared {
            cancel: cancel.clone(),
            window: Window::new(config.max_in_flight, config.order == Order::Input),
            sizer: BatchSizer::default(),
            messages,
            gate: Mutex::new(0),
            parked: Mutex::new(Vec::new()),
            has_parked: AtomicBool::new(false),
            queue,
            ticks,
            spares: Spares::default(),
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
    pub fn dispatch(self: &Arc<Self>, batch: Batch) -> bool {
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

/// Offers every record of an iterator in turn.
pub(crate) type ItemSource = Box<dyn FnOnce(&mut Offer<'_>) -> Result<(), RunError> + Send>;

/// Where a run's records come from.
pub(crate) enum Source {
    /// Records an iterator yields, each offered in turn.
    Items(ItemSource),
    /// Records cut from a reader.
    Reader {
        reader: Box<dyn Read + Send>,
        delimiter: u8,
        max_record: u64,
    },
}

/// The text of a panic's payload.
pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}
