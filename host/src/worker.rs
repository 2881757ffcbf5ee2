//! One worker's wasm state, and running one record on it: from a record to
//! its result, with retries, isolation and stats. It knows nothing of
//! batches, queues or threads. `mapper.rs` and `command.rs` run the record
//! itself; this file picks the way and counts the attempts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime_wasi::WasiCtxBuilder;

use crate::cancel::CancelToken;
use crate::command::CommandRun;
use crate::config::Config;
use crate::kept::{IsolatedMapper, Keeping, Warm, WarmRun};
use crate::lift::{outputs_len, truncate_outputs};
use crate::link::Compiled;
use crate::mapper::MapperInstance;
use crate::outcome::{Produced, RecordStats};
use crate::plugin::Plugin;
use crate::record::{RecordRef, Usage};
use crate::warm::WarmCommand;
use crate::wasi::WasiSetup;

/// What running a record gave: its outcome, how many attempts it took,
/// and its measurements when asked for.
pub(crate) struct Finished {
    pub outcome: Produced,
    pub attempts: u32,
    pub stats: Option<RecordStats>,
}

/// One worker's state: its async runtime and its reused instance.
pub(crate) struct Worker {
    /// Drives async calls (`Runtime::block_on` drives its timers); sync
    /// calls run in its context so that WASI finds it.
    runtime: tokio::runtime::Runtime,
    plugin: Plugin,
    config: Arc<Config>,
    wasi: Arc<WasiSetup>,
    mapper: Option<MapperInstance>,
    command: Option<WarmCommand>,
    /// Whether instances put back after each record can still be kept.
    keeping: Keeping,
}

impl Worker {
    pub fn new(
        runtime: tokio::runtime::Runtime,
        plugin: Plugin,
        config: Arc<Config>,
        wasi: Arc<WasiSetup>,
    ) -> Self {
        Worker {
            runtime,
            plugin,
            config,
            wasi,
            mapper: None,
            command: None,
            keeping: Keeping::default(),
        }
    }

    /// The worker's async runtime: enter it (once for many records) around
    /// [`Worker::run`], so that synchronous calls find it for WASI.
    pub fn runtime(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    /// Forgets the reused instance (after a host-side panic mid-record).
    pub fn reset(&mut self) {
        self.mapper = None;
        self.command = None;
        self.keeping.grew_in_a_row = 0;
    }

    /// Ends the worker without waiting for a guest blocked in the kernel
    /// (a FIFO in a granted directory) that keeps one of its runtime's
    /// threads busy for ever.
    pub fn shut_down(self) {
        self.runtime.shutdown_background();
    }

    /// Runs one record of the run `cancel` stops, retrying as configured.
    /// Called inside the worker's [`runtime`](Worker::runtime) context.
    pub fn run(&mut self, record: &RecordRef<'_>, cancel: &CancelToken) -> Finished {
        let mut attempts = 1;
        loop {
            let started = self.config.stats.then(Instant::now);
            let mark = outputs_len();
            let (outcome, usage) = self.attempt(record, cancel);
            if outcome.is_err() {
                // Bytes a failed attempt left (its output was read, then
                // its post-return trapped, say) are not anyone's output.
                truncate_outputs(mark);
            }
            let stats = started.map(|started| RecordStats::new(started.elapsed(), usage));
            let retry = match &outcome {
                Err(error) => {
                    self.config.retry.covers(error.kind)
                        && attempts <= self.config.retry.times
                        && !cancel.is_cancelled()
                }
                Ok(_) => false,
            };
            if !retry {
                return Finished {
                    outcome,
                    attempts,
                    stats,
                };
            }
            // Another attempt, on a fresh instance.
            self.mapper = None;
            self.command = None;
            attempts += 1;
        }
    }

    fn attempt(&mut self, record: &RecordRef<'_>, cancel: &CancelToken) -> (Produced, Usage) {
        let Worker {
            runtime,
            plugin,
            config,
            wasi,
            mapper: kept,
            command,
            keeping,
        } = self;
        let engine = plugin.engine().wasmtime();
        let failed = |error| (Err(error), Usage::default());
        match plugin.compiled() {
            Compiled::Mapper {
                pre,
                map,
                sync,
                reset,
            } => {
                // Isolated records of a mapper whose state can be put back
                // share one instance, put back after each.
                let reset = reset.as_ref().filter(|_| *sync && config.fresh_instances());
                if let (Some(reset), Some(dirty)) = (reset, keeping.pages(reset.is_some())) {
                    let run = IsolatedMapper {
                        engine,
                        pre,
                        map,
                        reset,
                        wasi,
                        config,
                    };
                    let (outcome, usage, put_back) = run.attempt(kept, dirty, record, cancel);
                    keeping.note(put_back);
                    return (outcome, usage);
                }
                let reused = kept.take().filter(|_| !config.fresh_instances());
                let was_reused = reused.is_some();
                let mut mapper = match reused {
                    Some(mapper) => mapper,
                    None => match MapperInstance::new(engine, wasi, config, record.index) {
                        Ok(mapper) => mapper,
                        Err(error) => return failed(error),
                    },
                };
                let result = if *sync {
                    mapper.run_sync(pre, map, None, record, cancel, config)
                } else {
                    runtime.block_on(mapper.run_async(pre, map, record, cancel, config))
                };
                let (outcome, usage, reusable) = mapper.outcome(result, config);
                if reusable && !config.fresh_instances() {
                    *kept = Some(mapper);
                }
                (outcome, usage.reused(was_reused))
            }
            Compiled::CommandComponent { pre } => {
                let mut run =
                    match CommandRun::new(engine, wasi, config, record, WasiCtxBuilder::build) {
                        Ok(run) => run,
                        Err(error) => return failed(error),
                    };
                let result = runtime.block_on(run.run_component(pre, cancel, config));
                run.outcome(result, config)
            }
            Compiled::CommandComponentSync { pre } => {
                let mut run =
                    match CommandRun::new(engine, wasi, config, record, WasiCtxBuilder::build) {
                        Ok(run) => run,
                        Err(error) => return failed(error),
                    };
                let result = run.run_component_sync(pre, cancel, config);
                run.outcome(result, config)
            }
            Compiled::CommandModule {
                pre,
                sync,
                snapshot,
            } => {
                let snapshot = snapshot
                    .as_ref()
                    .filter(|_| *sync && !config.fresh_instances());
                if let (Some(snapshot), Some(dirty)) = (snapshot, keeping.pages(snapshot.is_some()))
                {
                    let warm = WarmRun {
                        engine,
                        pre,
                        snapshot,
                        wasi,
                        config,
                    };
                    match warm.attempt(command, dirty, record, cancel) {
                        Warm::Ran(outcome, usage, put_back) => {
                            keeping.note(put_back);
                            return (outcome, usage);
                        }
                        Warm::Unavailable => keeping.stop(),
                        Warm::NotNow => {}
                    }
                }
                let mut run =
                    match CommandRun::new(engine, wasi, config, record, WasiCtxBuilder::build_p1) {
                        Ok(run) => run,
                        Err(error) => return failed(error),
                    };
                let result = if *sync {
                    run.run_module_sync(pre, cancel, config)
                } else {
                    runtime.block_on(run.run_module(pre, cancel, config))
                };
                run.outcome(result, config)
            }
        }
    }
}

impl RecordStats {
    fn new(wall: Duration, usage: Usage) -> Self {
        RecordStats {
            wall,
            fuel: usage.fuel,
            memory: usage.memory,
            reused: usage.reused,
        }
    }
}
