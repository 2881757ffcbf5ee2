//! One worker's wasm state, and running one record on it: from a record to
//! its result, with retries, isolation and stats. It knows nothing of
//! batches, queues or threads. `mapper.rs` and `command.rs` run the record
//! itself; this file picks the way and counts the attempts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::cancel::CancelToken;
use crate::command::{CommandRun, CommandStdio};
use crate::config::Config;
use crate::dirty::DirtyPages;
use crate::error::RecordError;
use crate::lift::{outputs_len, truncate_outputs};
use crate::link::{Compiled, MapperReset};
use crate::mapper::MapperInstance;
use crate::outcome::{Produced, RecordStats};
use crate::plugin::Plugin;
use crate::record::{RecordRef, Usage};
use crate::snapshot::Snapshot;
use crate::stdin::RecordStdin;
use crate::warm::{KeptStdio, PutBack, WarmCommand};
use crate::wasi::WasiSetup;

/// Kept instances of a command dropped in a row because its memory grew,
/// after which its records get fresh instances.
const GREW_IN_A_ROW_LIMIT: u32 = 3;

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
    /// How a kept command's written pages are found; `None` until a
    /// command first needs it.
    dirty: Option<DirtyPages>,
    /// Set when a command's instance cannot be kept (no page scan here, or
    /// its memory grows on every record): every record then gets a fresh
    /// one.
    no_warm: bool,
    /// Kept instances dropped in a row because their memory grew.
    grew_in_a_row: u32,
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
            dirty: None,
            no_warm: false,
            grew_in_a_row: 0,
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
        self.grew_in_a_row = 0;
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
            dirty,
            no_warm,
            grew_in_a_row,
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
                let put_back = reset
                    .as_ref()
                    .filter(|_| *sync && !*no_warm && config.fresh_instances());
                if put_back.is_some() && dirty.is_none() {
                    *dirty = DirtyPages::open();
                }
                if let (Some(reset), Some(dirty)) = (put_back, dirty.as_mut()) {
                    let run = IsolatedMapper {
                        engine,
                        pre,
                        map,
                        reset,
                        wasi,
                        config,
                    };
                    let (outcome, usage, put_back) = run.attempt(kept, dirty, record, cancel);
                    *grew_in_a_row = match put_back {
                        Some(PutBack::Grew) => *grew_in_a_row + 1,
                        _ => 0,
                    };
                    *no_warm = *grew_in_a_row >= GREW_IN_A_ROW_LIMIT;
                    return (outcome, usage);
                } else if put_back.is_some() {
                    *no_warm = true;
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
                    .filter(|_| *sync && !*no_warm && !config.fresh_instances());
                if snapshot.is_some() && dirty.is_none() {
                    *dirty = DirtyPages::open();
                }
                if let (Some(snapshot), Some(dirty)) = (snapshot, dirty.as_mut()) {
                    let warm = WarmRun {
                        engine,
                        pre,
                        snapshot,
                        wasi,
                        config,
                    };
                    match warm.attempt(command, dirty, record, cancel) {
                        Warm::Ran(outcome, usage, put_back) => {
                            *grew_in_a_row = match put_back {
                                Some(PutBack::Grew) => *grew_in_a_row + 1,
                                _ => 0,
                            };
                            // A command that grows its memory on every
                            // record would pay for a kept instance and
                            // still make one per record.
                            *no_warm = *grew_in_a_row >= GREW_IN_A_ROW_LIMIT;
                            return (outcome, usage);
                        }
                        Warm::Unavailable => *no_warm = true,
                        Warm::NotNow => {}
                    }
                } else if snapshot.is_some() {
                    *no_warm = true;
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

/// An isolated record of a mapper whose instance is put back after each
/// record.
struct IsolatedMapper<'a> {
    engine: &'a wasmtime::Engine,
    pre: &'a wasmtime::component::InstancePre<crate::host::ComponentState>,
    map: &'a wasmtime::component::ComponentExportIndex,
    reset: &'a MapperReset,
    wasi: &'a WasiSetup,
    config: &'a Config,
}

impl IsolatedMapper<'_> {
    /// Runs the record on the kept instance (`kept`, made if empty) with a
    /// new WASI context, and keeps the instance again when the record
    /// returned and it could be put back.
    fn attempt(
        &self,
        kept: &mut Option<MapperInstance>,
        dirty: &mut DirtyPages,
        record: &RecordRef<'_>,
        cancel: &CancelToken,
    ) -> (Produced, Usage, Option<PutBack>) {
        let (mut mapper, reused) = match kept.take() {
            Some(mut mapper) => match mapper.renew_context(self.wasi, record.index) {
                Ok(()) => (mapper, true),
                Err(error) => return (Err(error), Usage::default(), None),
            },
            None => match MapperInstance::new(self.engine, self.wasi, self.config, record.index) {
                Ok(mapper) => (mapper, false),
                Err(error) => return (Err(error), Usage::default(), None),
            },
        };
        let reset = Some(&self.reset.func);
        let result = mapper.run_sync(self.pre, self.map, reset, record, cancel, self.config);
        let (outcome, usage, reusable) = mapper.outcome(result, self.config);
        let put_back = reusable.then(|| mapper.put_back(&self.reset.snapshot, dirty, self.config));
        if put_back == Some(PutBack::Done) {
            *kept = Some(mapper);
        }
        (outcome, usage.reused(reused), put_back)
    }
}

/// A record of a command whose instance is kept between records.
struct WarmRun<'a> {
    engine: &'a wasmtime::Engine,
    pre: &'a wasmtime::InstancePre<crate::host::ModuleState>,
    snapshot: &'a Arc<Snapshot>,
    wasi: &'a WasiSetup,
    config: &'a Config,
}

/// What became of a [`WarmRun`].
enum Warm {
    /// The record ran; what putting its instance back did, if it came to
    /// that.
    Ran(Produced, Usage, Option<PutBack>),
    /// No instance can be kept here: fresh ones from now on.
    Unavailable,
    /// No instance could be made for this record: a fresh one will say
    /// why.
    NotNow,
}

impl WarmRun<'_> {
    /// Runs the record on the kept instance (`kept`, made if empty), and
    /// keeps it again when it exits and can be put back.
    fn attempt(
        &self,
        kept: &mut Option<WarmCommand>,
        dirty: &mut DirtyPages,
        record: &RecordRef<'_>,
        cancel: &CancelToken,
    ) -> Warm {
        let failed = |error| Warm::Ran(Err(error), Usage::default(), None);
        let (mut warm, stdio, reused) = match kept.take() {
            Some(mut warm) => match warm.next_record(record) {
                Some(stdio) => (warm, stdio, true),
                None => match CommandStdio::new(self.wasi, self.config, record, build_p1) {
                    Ok((stdio, context)) => {
                        warm.set_context(context);
                        (warm, stdio, true)
                    }
                    Err(error) => {
                        *kept = Some(warm);
                        return failed(error);
                    }
                },
            },
            None => {
                let (stdio, context, kept_stdio) = match self.stdio(record) {
                    Ok(made) => made,
                    Err(error) => return failed(error),
                };
                let snapshot = self.snapshot;
                match WarmCommand::new(
                    self.engine,
                    self.pre,
                    snapshot,
                    context,
                    kept_stdio,
                    self.config,
                ) {
                    Ok(Some(warm)) => (warm, stdio, false),
                    Ok(None) => return Warm::Unavailable,
                    Err(_) => return Warm::NotNow,
                }
            }
        };
        let result = warm.run_sync(cancel, self.config);
        // A return from `_start` or an `exit(n)` leaves an instance that
        // can be put back; a trap or a limit does not.
        let exited = match &result {
            Ok(_) => true,
            Err(error) => error.downcast_ref::<wasmtime_wasi::I32Exit>().is_some(),
        };
        let (outcome, usage) = stdio.outcome(warm.store(), result, self.config);
        let put_back = exited.then(|| warm.put_back(dirty));
        if put_back == Some(PutBack::Done) {
            *kept = Some(warm);
        }
        Warm::Ran(outcome, usage.reused(reused), put_back)
    }
}

impl WarmRun<'_> {
    /// The first record's stdio and WASI context, and the stdio to keep
    /// with the context when the module cannot change the context.
    fn stdio(
        &self,
        record: &RecordRef<'_>,
    ) -> Result<(CommandStdio, WasiP1Ctx, Option<KeptStdio>), RecordError> {
        if !self.snapshot.context_kept {
            let (stdio, context) = CommandStdio::new(self.wasi, self.config, record, build_p1)?;
            return Ok((stdio, context, None));
        }
        let stdin = RecordStdin::new((record.shared)());
        let (stdio, context) = CommandStdio::with_stdin(
            self.wasi,
            self.config,
            record.index,
            stdin.clone(),
            build_p1,
        )?;
        Ok((stdio.clone(), context, Some(KeptStdio { stdin, stdio })))
    }
}

/// Builds a WASI preview 1 context.
fn build_p1(builder: &mut WasiCtxBuilder) -> WasiP1Ctx {
    builder.build_p1()
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
