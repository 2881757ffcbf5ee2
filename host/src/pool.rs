//! The worker pool: a feeder thread cuts the input into batches, `jobs`
//! workers (one store each) run them, and the caller's thread reads the
//! results back, in input order or as they finish.
//!
//! Memory stays bounded: a fixed number of batch "tickets" circulates, and
//! the feeder needs one to send a batch; the consumer hands it back once
//! it has taken every result of that batch. So the records in flight
//! (queued, running, or finished but waiting for an earlier one) never
//! exceed `tickets × batch size`.

use std::collections::BTreeMap;
use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::batch::{Batch, BatchResult, BatchSizer, Batcher, Outcome};
use crate::cancel::{CancelToken, EpochTicker};
use crate::engine::{Engine, EngineOptions, PoolingOptions};
use crate::error::{ErrorKind, LoadError, RecordError};
use crate::grants::Grants;
use crate::limits::Limits;
use crate::plugin::{LoadOptions, Plugin};
use crate::worker::Worker;

/// Batches in flight per worker (see the module docs).
const TICKETS_PER_JOB: usize = 4;
/// How much input the feeder reads at a time.
const READ_CHUNK: usize = 256 * 1024;
/// The longest record [`Pool::map_reader`] accepts unless told otherwise.
pub const DEFAULT_MAX_RECORD: usize = 1 << 30;

/// In which order results come back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    /// In input order (the default).
    #[default]
    Input,
    /// As records finish; each result still carries its input index.
    Completion,
}

/// How a run executes: everything but the plugin and the records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunConfig {
    /// Worker threads; 0 means one per available core.
    pub jobs: usize,
    /// Per-record limits.
    pub limits: Limits,
    /// What the plugin may touch.
    pub grants: Grants,
    /// A fresh instance for every record, instead of one reused per worker.
    pub isolate: bool,
    /// Order of results.
    pub order: Order,
    /// The longest record [`Pool::map_reader`] reads, in bytes; `None`
    /// means [`DEFAULT_MAX_RECORD`]. A longer one ends the input with an
    /// error: this is what keeps memory bounded when the input has no
    /// delimiters at all.
    pub max_record: Option<usize>,
}

impl RunConfig {
    /// The engine options these settings need: fuel metering when a fuel
    /// budget is set, and a pool of instance slots sized for the workers.
    pub fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            fuel: self.limits.fuel.is_some(),
            // Commands and `--isolate` make an instance per record, and a
            // rebuilt mapper one per failure: pooled slots make that cheap,
            // and cost nothing per call when instances are reused.
            pooling: Some(PoolingOptions {
                concurrent_instances: u32::try_from(self.effective_jobs()).unwrap_or(u32::MAX),
                max_memory: self.limits.max_memory,
            }),
        }
    }

    fn effective_jobs(&self) -> usize {
        match self.jobs {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

/// One record's result, tagged with its position in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordResult {
    /// Index of the record in the input, from 0.
    pub index: u64,
    /// The plugin's output, or why the record failed.
    pub outcome: Outcome,
}

/// A plugin and the settings to run it, with its worker threads.
/// Each call to [`Pool::map`] or [`Pool::map_reader`] is one run.
pub struct Pool {
    plugin: Plugin,
    config: Arc<RunConfig>,
    threads: Arc<rayon::ThreadPool>,
    jobs: usize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("plugin", &self.plugin)
            .field("config", &self.config)
            .finish()
    }
}

impl Pool {
    /// Builds an engine for `config`, loads the plugin at `path` (without
    /// a compile cache) and makes a pool for it: the one-call way in.
    ///
    /// # Errors
    /// When the plugin cannot be loaded (see [`Plugin::load`]) or the
    /// settings are unusable (see [`Pool::new`]).
    pub fn load(path: &Path, config: RunConfig) -> Result<Self, LoadError> {
        let engine = Engine::new(&config.engine_options())?;
        let plugin = Plugin::load(&engine, path, LoadOptions::default())?;
        Pool::new(plugin, config)
    }

    /// Makes a pool that runs `plugin` under `config`.
    ///
    /// # Errors
    /// When a fuel budget is set but the plugin's engine does not meter
    /// fuel, when a granted directory cannot be opened, or when the worker
    /// threads cannot be started.
    pub fn new(plugin: Plugin, config: RunConfig) -> Result<Self, LoadError> {
        if config.limits.fuel.is_some() && !plugin.engine().options().fuel {
            return Err(LoadError::Config(
                "a fuel budget needs an engine built with `EngineOptions { fuel: true, .. }`"
                    .into(),
            ));
        }
        config.grants.check().map_err(LoadError::Config)?;
        let jobs = config.effective_jobs();
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs)
            .thread_name(|i| format!("sandmap-worker-{i}"))
            .build()
            .map_err(|e| LoadError::Config(format!("cannot start worker threads: {e}")))?;
        Ok(Pool {
            plugin,
            config: Arc::new(config),
            threads: Arc::new(threads),
            jobs,
        })
    }

    /// The plugin this pool runs.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// The settings this pool runs with.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// Number of worker threads.
    pub fn jobs(&self) -> usize {
        self.jobs
    }

    /// Runs the plugin over `records`, returning their results as an
    /// iterator. Records are pulled from `records` on a separate thread as
    /// workers need them.
    pub fn map<I>(&self, records: I) -> Results
    where
        I: IntoIterator<Item = Vec<u8>>,
        I::IntoIter: Send + 'static,
    {
        let mut records = records.into_iter();
        self.start(move |feeder| {
            let mut batcher = Batcher::default();
            for record in records.by_ref() {
                if let Some(batch) = batcher.push(&record, feeder.records_per_batch()) {
                    if !feeder.dispatch(batch) {
                        return Ok(());
                    }
                }
            }
            if let Some(batch) = batcher.take() {
                feeder.dispatch(batch);
            }
            Ok(())
        })
    }

    /// Runs the plugin over the records read from `reader`, separated by
    /// `delimiter` (a final delimiter does not make an empty record).
    /// Results of what has been read flow while the rest is still being
    /// read.
    ///
    /// A record longer than [`RunConfig::max_record`] stops the reading;
    /// [`Results::input_error`] says so once the results of what came
    /// before it are out.
    pub fn map_reader<R: Read + Send + 'static>(&self, reader: R, delimiter: u8) -> Results {
        let max_record = self.config.max_record.unwrap_or(DEFAULT_MAX_RECORD);
        self.start(move |feeder| feed_reader(reader, delimiter, max_record, feeder))
    }

    fn start(&self, feed: impl FnOnce(&Feeder) -> std::io::Result<()> + Send + 'static) -> Results {
        let engine = self.plugin.engine().wasmtime().clone();
        let cancel = CancelToken::new(&engine);
        let tickets = TICKETS_PER_JOB * self.jobs;
        let (work_tx, work_rx) = crossbeam_channel::bounded::<Batch>(tickets);
        let (results_tx, results_rx) = crossbeam_channel::unbounded::<BatchResult>();
        let (ticket_tx, ticket_rx) = crossbeam_channel::bounded::<()>(tickets);
        for _ in 0..tickets {
            let _ = ticket_tx.send(());
        }
        let sizer = Arc::new(BatchSizer::default());
        let input_error = Arc::new(Mutex::new(None));
        // The ticker only matters to per-record deadlines; cancel bumps
        // the epoch itself.
        let ticker = match self.config.limits.timeout {
            Some(_) => EpochTicker::start(&engine).ok(),
            None => None,
        };

        let feeder = Feeder {
            work: work_tx,
            tickets: ticket_rx,
            cancel: cancel.clone(),
            sizer: sizer.clone(),
        };
        let feeder_error = input_error.clone();
        let spawned = std::thread::Builder::new()
            .name("sandmap-feeder".into())
            .spawn(move || {
                if let Err(error) = feed(&feeder) {
                    *feeder_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
                }
            });
        if let Err(error) = spawned {
            *input_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
        }

        let plugin = self.plugin.clone();
        let config = self.config.clone();
        let worker_cancel = cancel.clone();
        self.threads.spawn_broadcast(move |_| {
            worker_loop(
                plugin.clone(),
                config.clone(),
                worker_cancel.clone(),
                work_rx.clone(),
                results_tx.clone(),
                &sizer,
            )
        });

        Results {
            results: results_rx,
            tickets: ticket_tx,
            order: self.config.order,
            pending: BTreeMap::new(),
            next_seq: 0,
            current: None,
            cancel,
            input_error,
            _ticker: ticker,
        }
    }
}

/// The feeder's side of a run: hands batches to the workers.
pub(crate) struct Feeder {
    work: Sender<Batch>,
    tickets: Receiver<()>,
    cancel: CancelToken,
    sizer: Arc<BatchSizer>,
}

impl Feeder {
    fn records_per_batch(&self) -> usize {
        self.sizer.records_per_batch()
    }

    /// Sends a batch once a ticket is free. `false` means the run is over
    /// (cancelled, or nobody is listening): stop reading.
    fn dispatch(&self, batch: Batch) -> bool {
        let woken = self.cancel.woken();
        crossbeam_channel::select! {
            recv(self.tickets) -> ticket => if ticket.is_err() { return false },
            recv(woken) -> _ => return false,
        }
        if self.cancel.is_cancelled() {
            return false;
        }
        self.work.send(batch).is_ok()
    }
}

fn feed_reader(
    mut reader: impl Read,
    delimiter: u8,
    max_record: usize,
    feeder: &Feeder,
) -> std::io::Result<()> {
    let mut buffer = vec![0u8; READ_CHUNK];
    let mut filled = 0;
    let mut batcher = Batcher::default();
    loop {
        if feeder.cancel.is_cancelled() {
            return Ok(());
        }
        if filled == buffer.len() {
            // One record longer than the buffer: make room for the rest,
            // up to the longest record allowed.
            if filled > max_record {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "record {} is longer than {max_record} bytes (see --max-record)",
                        batcher.next_index()
                    ),
                ));
            }
            buffer.resize((buffer.len() * 2).min(max_record + 1), 0);
        }
        let read = match reader.read(&mut buffer[filled..]) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                if let Some(batch) = batcher.take() {
                    feeder.dispatch(batch);
                }
                return Err(e);
            }
        };
        if read == 0 {
            if filled > 0 {
                if let Some(batch) = batcher.push(&buffer[..filled], 1) {
                    feeder.dispatch(batch);
                }
            }
            if let Some(batch) = batcher.take() {
                feeder.dispatch(batch);
            }
            return Ok(());
        }
        let scanned = filled;
        filled += read;
        let mut start = 0;
        let per_batch = feeder.records_per_batch();
        for offset in memchr::memchr_iter(delimiter, &buffer[scanned..filled]) {
            let end = scanned + offset;
            if let Some(batch) = batcher.push(&buffer[start..end], per_batch) {
                if !feeder.dispatch(batch) {
                    return Ok(());
                }
            }
            start = end + 1;
        }
        // Do not sit on records while waiting for more input.
        if let Some(batch) = batcher.take() {
            if !feeder.dispatch(batch) {
                return Ok(());
            }
        }
        buffer.copy_within(start..filled, 0);
        filled -= start;
        if buffer.len() > READ_CHUNK && filled < READ_CHUNK {
            buffer.truncate(READ_CHUNK);
            buffer.shrink_to_fit();
        }
    }
}

fn worker_loop(
    plugin: Plugin,
    config: Arc<RunConfig>,
    cancel: CancelToken,
    work: Receiver<Batch>,
    results: Sender<BatchResult>,
    sizer: &BatchSizer,
) {
    let mut worker = match Worker::new(plugin, config, cancel.clone()) {
        Ok(worker) => Some(worker),
        Err(_) => None,
    };
    loop {
        let batch = crossbeam_channel::select! {
            recv(work) -> batch => match batch {
                Ok(batch) => batch,
                Err(_) => return,
            },
            recv(cancel.woken()) -> _ => {
                for batch in work.try_iter() {
                    if results.send(BatchResult::interrupted(&batch)).is_err() {
                        return;
                    }
                }
                return;
            }
        };
        let started = Instant::now();
        let result = match worker.as_mut() {
            Some(w) => std::panic::catch_unwind(AssertUnwindSafe(|| w.run_batch(&batch)))
                .unwrap_or_else(|_| {
                    w.reset();
                    failed_batch(&batch, "sandmap internal error: a worker panicked")
                }),
            None => failed_batch(&batch, "sandmap internal error: cannot start a worker"),
        };
        sizer.observe(started.elapsed(), batch.len());
        if results.send(result).is_err() {
            return;
        }
    }
}

fn failed_batch(batch: &Batch, message: &str) -> BatchResult {
    BatchResult {
        seq: batch.seq,
        first_index: batch.first_index,
        outcomes: (0..batch.len())
            .map(|_| Err(RecordError::new(ErrorKind::Trap, message)))
            .collect(),
    }
}

/// The results of one run, as an iterator. Dropping it cancels the run.
pub struct Results {
    results: Receiver<BatchResult>,
    tickets: Sender<()>,
    order: Order,
    pending: BTreeMap<u64, BatchResult>,
    next_seq: u64,
    current: Option<(u64, std::vec::IntoIter<Outcome>)>,
    cancel: CancelToken,
    input_error: Arc<Mutex<Option<std::io::Error>>>,
    _ticker: Option<EpochTicker>,
}

impl std::fmt::Debug for Results {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Results")
            .field("order", &self.order)
            .field("cancelled", &self.cancel.is_cancelled())
            .finish()
    }
}

/// What [`Results::try_next`] found.
#[derive(Debug)]
pub enum TryNext {
    /// The next result.
    Ready(RecordResult),
    /// No result is ready yet; the run goes on.
    Pending,
    /// Every result has been returned.
    Done,
}

impl Results {
    /// A handle that stops this run from any thread.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// The error that stopped reading the input, if one did. Meaningful
    /// once the iterator is exhausted; the results before it are valid.
    pub fn input_error(&self) -> Option<std::io::Error> {
        self.input_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The next result if one is ready, without blocking.
    pub fn try_next(&mut self) -> TryNext {
        self.advance(false)
    }

    fn advance(&mut self, block: bool) -> TryNext {
        loop {
            if let Some((index, outcomes)) = &mut self.current {
                if let Some(outcome) = outcomes.next() {
                    let result = RecordResult {
                        index: *index,
                        outcome,
                    };
                    *index += 1;
                    return TryNext::Ready(result);
                }
                self.current = None;
                // Every result of that batch is out: its ticket is free.
                let _ = self.tickets.try_send(());
            }
            if self.order == Order::Input {
                if let Some(batch) = self.pending.remove(&self.next_seq) {
                    self.start_batch(batch);
                    continue;
                }
            }
            let received = if block {
                self.results.recv().map_err(|_| true)
            } else {
                self.results.try_recv().map_err(|e| e.is_disconnected())
            };
            match received {
                Ok(batch) => match self.order {
                    Order::Input => {
                        self.pending.insert(batch.seq, batch);
                    }
                    Order::Completion => self.start_batch(batch),
                },
                Err(false) => return TryNext::Pending,
                Err(true) => {
                    // Every worker is gone. Batches a stop left behind
                    // come out in order, gaps or not.
                    match self.pending.pop_first() {
                        Some((_, batch)) => self.start_batch(batch),
                        None => return TryNext::Done,
                    }
                }
            }
        }
    }

    fn start_batch(&mut self, batch: BatchResult) {
        self.next_seq = batch.seq + 1;
        self.current = Some((batch.first_index, batch.outcomes.into_iter()));
    }
}

impl Iterator for Results {
    type Item = RecordResult;

    fn next(&mut self) -> Option<RecordResult> {
        match self.advance(true) {
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
