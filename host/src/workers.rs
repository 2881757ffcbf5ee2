//! A pool's worker threads: each keeps one store (and, for mappers, one
//! reused instance) and runs tasks of any of the pool's runs, from one
//! shared queue. Workers never wait on a run: a task that may not go on
//! (its run's output budget is full) is parked with its run and comes
//! back when the run's reader makes room, so one run that is not being
//! read never holds up another.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::batch::{Batch, RECORD_OVERHEAD};
use crate::cancel::EpochTicker;
use crate::config::Config;
use crate::error::{RecordError, RunError};
use crate::lift::{outputs_len, take_outputs, truncate_outputs};
use crate::outcome::Entry;
use crate::plugin::Plugin;
use crate::record::RecordRef;
use crate::run::{Chunk, Job, RunMessage, RunShared, Task, panic_message};
use crate::wasi::WasiSetup;
use crate::worker::Worker;

/// Results a worker holds before handing them over, in bytes.
const FLUSH_BYTES: u64 = 1 << 20;
/// Ticks (milliseconds) a worker holds results before handing them over.
const FLUSH_TICKS: u64 = 2;

/// A pool's worker threads and its epoch ticker. Stopped and joined when
/// the last holder (the pool or a run's results) lets go.
pub(crate) struct Workers {
    queue: Sender<Job>,
    threads: Vec<JoinHandle<()>>,
    ticker: EpochTicker,
}

impl Workers {
    /// Starts `config.jobs` workers for `plugin`.
    pub fn start(
        plugin: &Plugin,
        config: &Arc<Config>,
        wasi: &Arc<WasiSetup>,
    ) -> Result<Self, RunError> {
        let ticker = EpochTicker::start(plugin.engine().wasmtime())
            .map_err(|e| RunError::Internal(format!("cannot start the epoch ticker: {e}")))?;
        let (queue, jobs) = crossbeam_channel::unbounded();
        let mut workers = Workers {
            queue,
            threads: Vec::new(),
            ticker,
        };
        for i in 0..config.jobs {
            // Built here, so that a failure is reported, not left to a
            // thread that would never take a task.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .map_err(|e| RunError::Internal(format!("cannot start a worker: {e}")))?;
            let worker = Worker::new(runtime, plugin.clone(), config.clone(), wasi.clone());
            let jobs = jobs.clone();
            let thread = std::thread::Builder::new()
                .name(format!("sandmap-worker-{i}"))
                .spawn(move || work(worker, jobs))
                .map_err(|e| RunError::Internal(format!("cannot start a worker thread: {e}")))?;
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    pub fn queue(&self) -> Sender<Job> {
        self.queue.clone()
    }

    pub fn ticks(&self) -> Arc<AtomicU64> {
        self.ticker.ticks()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for _ in &self.threads {
            let _ = self.queue.send(Job::Stop);
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// A worker thread: runs tasks until told to stop.
fn work(mut worker: Worker, jobs: Receiver<Job>) {
    while let Ok(Job::Task(task)) = jobs.recv() {
        let run = task.run.clone();
        let first = task.batch.first_ord + task.pos as u64;
        let done = std::panic::catch_unwind(AssertUnwindSafe(|| run_task(&mut worker, task)));
        if let Err(panic) = done {
            // A bug in sandmap, not in the guest: the run ends with an
            // error, and this worker starts afresh (outputs the lost
            // results left behind included).
            worker.reset();
            truncate_outputs(0);
            let _ = run
                .messages
                .send(RunMessage::Failed(RunError::Internal(format!(
                    "a worker panicked at record ordinal {first} or after: {}",
                    panic_message(&panic)
                ))));
            run.cancel.cancel();
        }
    }
    worker.shut_down();
}

/// Runs the records of `task` until it is done or parked.
fn run_task(worker: &mut Worker, mut task: Task) {
    let run = task.run.clone();
    let started = Instant::now();
    let first_pos = task.pos;
    loop {
        let stopped_at = run_records(worker, &mut task);
        let Some(pos) = stopped_at else { break };
        let ord = task.batch.first_ord + pos as u64;
        task.pos = pos;
        match run.park(task, ord) {
            Some(back) => task = back,
            None => return,
        }
    }
    run.sizer
        .observe(started.elapsed(), task.batch.len() - first_pos);
}

/// Runs records of `task` from its position; stops early, returning the
/// position to go on from, when the run's output budget is full.
fn run_records(worker: &mut Worker, task: &mut Task) -> Option<usize> {
    let run = task.run.clone();
    let batch = &task.batch;
    let mut out = Outbox::new(&run, batch, task.pos);
    // Synchronous calls find the worker's runtime (for WASI) here: entered
    // once per task, not once per record.
    let runtime = worker.runtime();
    let _context = runtime.enter();
    for pos in task.pos..batch.len() {
        let ord = batch.first_ord + pos as u64;
        if run.cancel.is_cancelled() {
            out.push(Entry {
                index: batch.index(pos),
                outcome: Err(RecordError::interrupted()),
                attempts: 1,
                stats: None,
                input_hash: batch.hash(pos),
            });
            continue;
        }
        if !run.window.may_start(ord) {
            out.flush(batch);
            return Some(pos);
        }
        let shared = || batch.record_bytes(pos);
        let record = RecordRef {
            index: batch.index(pos),
            bytes: batch.record(pos),
            shared: &shared,
        };
        #[cfg(test)]
        tests::panic_if_asked(record.bytes);
        let finished = worker.run(&record, &run.cancel);
        out.push(Entry {
            index: record.index,
            outcome: finished.outcome,
            attempts: finished.attempts,
            stats: finished.stats,
            input_hash: batch.hash(pos),
        });
        out.flush_if_due(batch);
    }
    out.flush(batch);
    None
}

/// Results a worker has and not yet handed over (their outputs are in the
/// thread's output buffer, see `lift.rs`).
struct Outbox<'a> {
    run: &'a RunShared,
    first_pos: usize,
    entries: Vec<Entry>,
    cost: u64,
    since_tick: u64,
}

impl<'a> Outbox<'a> {
    fn new(run: &'a RunShared, batch: &Batch, first_pos: usize) -> Self {
        Outbox {
            run,
            first_pos,
            entries: run.spares.entries(batch.len() - first_pos),
            cost: 0,
            since_tick: 0,
        }
    }

    fn push(&mut self, entry: Entry) {
        if self.entries.is_empty() {
            self.since_tick = self.run.ticks.load(Ordering::Relaxed);
        }
        self.cost += entry_cost(&entry);
        self.entries.push(entry);
    }

    /// Hands over what it holds when it holds much, or has held it long.
    fn flush_if_due(&mut self, batch: &Batch) {
        let held_long = || {
            self.run
                .ticks
                .load(Ordering::Relaxed)
                .wrapping_sub(self.since_tick)
                >= FLUSH_TICKS
        };
        if self.cost >= FLUSH_BYTES || held_long() {
            self.flush(batch);
        }
    }

    /// Hands over what it holds, and gives back the input budget of the
    /// records it covers.
    fn flush(&mut self, batch: &Batch) {
        if self.entries.is_empty() {
            return;
        }
        let count = self.entries.len();
        let input_cost = batch.cost(self.first_pos..self.first_pos + count);
        self.run.window.charge_output(self.cost);
        let data = take_outputs(self.run.spares.data(outputs_len()));
        // A buffer for the batch's next results, if it has any left.
        let left = batch.len() - self.first_pos - count;
        let entries = match left {
            0 => Vec::new(),
            _ => self.run.spares.entries(left),
        };
        let chunk = Chunk {
            first_ord: batch.first_ord + self.first_pos as u64,
            data,
            entries: std::mem::replace(&mut self.entries, entries),
            cost: std::mem::take(&mut self.cost),
        };
        let _ = self.run.messages.send(RunMessage::Chunk(chunk));
        self.run.window.release_input(input_cost);
        self.first_pos += count;
    }
}

/// What holding a result costs against the output budget.
fn entry_cost(entry: &Entry) -> u64 {
    let bytes = match &entry.outcome {
        Ok(output) => output.len(),
        Err(error) => error.message.len(),
    };
    bytes as u64 + RECORD_OVERHEAD
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sandmap_test_artifacts as plugins;

    use crate::{Pool, RunError};

    /// The record that makes a worker panic, as a bug in sandmap would.
    const PANIC: &[u8] = b"sandmap-test: panic in the worker";

    pub(super) fn panic_if_asked(record: &[u8]) {
        if record == PANIC {
            panic!("a worker panic asked for by a test");
        }
    }

    #[test]
    fn a_worker_panic_ends_the_run_with_an_error_not_a_hang() {
        let pool = Pool::builder(plugins::UPPER).jobs(2).build().unwrap();
        let mut records: Vec<Vec<u8>> = (0..20_000).map(|i| format!("r{i}").into_bytes()).collect();
        records[7_000] = PANIC.to_vec();
        let results = pool.map(records);
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut ok = 0u64;
            let mut error = None;
            for result in results {
                match result {
                    Ok(_) => ok += 1,
                    Err(e) => error = Some(e),
                }
            }
            let _ = send.send((ok, error));
        });
        let (ok, error) = receive
            .recv_timeout(Duration::from_secs(60))
            .expect("the run ended");
        assert!(ok <= 7_000, "results past the lost record: {ok}");
        match error {
            Some(RunError::Internal(message)) => assert!(message.contains("panicked"), "{message}"),
            other => panic!("expected an internal error, got {other:?}"),
        }
        // The pool is usable afterwards.
        let again: Vec<_> = pool.map(["again"]).map(|r| r.unwrap()).collect();
        assert_eq!(again[0].outcome.as_deref().unwrap(), b"AGAIN");
    }
}
