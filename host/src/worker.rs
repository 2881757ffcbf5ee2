//! One worker's wasm state, and running one record on it: from a record to
//! its result, with retries, isolation and stats. It knows nothing of
//! batches, queues or threads.
//!
//! Every call goes through wasmtime's async API, raced against the
//! record's timer and its run's cancel token: that is what stops a guest
//! blocked inside a host call, or in a start function while its instance
//! is made. A compute-bound guest is stopped from within by the store's
//! epoch callback (see `host.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use wasmtime::Store;
use wasmtime::component::{ComponentExportIndex, Func, InstancePre, TypedFunc};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

use crate::cancel::{CancelToken, race};
use crate::capture::Capture;
use crate::classify::{classify, guest_err, guest_exit, output_too_large};
use crate::config::Config;
use crate::error::{ErrorKind, RecordError};
use crate::host::{ComponentState, HostState, arm, fuel_used, new_store};
use crate::lift::{GuestBytes, GuestText, set_output_cap};
use crate::link::Compiled;
use crate::outcome::{Outcome, RecordStats};
use crate::plugin::Plugin;
use crate::wasi::WasiSetup;

/// The signature of a mapper's `map`, with results whose size is checked
/// before they are copied out (see `lift.rs`).
type MapFunc<'a> = TypedFunc<(&'a [u8],), (Result<GuestBytes, GuestText>,)>;

/// A record to run: its bytes, and its index in the input.
pub(crate) struct RecordRef<'a> {
    pub index: u64,
    pub bytes: &'a [u8],
    /// The same bytes, shared (a command's stdin takes them without a copy).
    pub shared: &'a dyn Fn() -> Bytes,
}

/// What running a record gave: its outcome, how many attempts it took,
/// and its measurements when asked for.
pub(crate) struct Finished {
    pub outcome: Outcome,
    pub attempts: u32,
    pub stats: Option<RecordStats>,
}

/// A mapper's store, and its instance once made, kept between records.
struct MapperInstance {
    store: Store<ComponentState>,
    /// The instance's `map`, its signature checked when it was made.
    map: Option<Func>,
    stderr: Capture,
    stdout: Capture,
}

/// One worker's state: its reused mapper instance, if any.
pub(crate) struct Worker {
    plugin: Plugin,
    config: Arc<Config>,
    wasi: Arc<WasiSetup>,
    mapper: Option<MapperInstance>,
}

impl Worker {
    pub fn new(plugin: Plugin, config: Arc<Config>, wasi: Arc<WasiSetup>) -> Self {
        Worker {
            plugin,
            config,
            wasi,
            mapper: None,
        }
    }

    /// Forgets the reused instance (after a host-side panic mid-record).
    pub fn reset(&mut self) {
        self.mapper = None;
    }

    /// Runs one record of the run `cancel` stops, retrying as configured.
    pub async fn run(&mut self, record: &RecordRef<'_>, cancel: &CancelToken) -> Finished {
        let mut attempts = 1;
        loop {
            let started = self.config.stats.then(Instant::now);
            let (outcome, usage) = self.attempt(record, cancel).await;
            let stats = started
                .map(|started| RecordStats::new(started.elapsed(), usage.fuel, usage.memory));
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
            attempts += 1;
        }
    }

    async fn attempt(&mut self, record: &RecordRef<'_>, cancel: &CancelToken) -> (Outcome, Usage) {
        let plugin = self.plugin.clone();
        match plugin.compiled() {
            Compiled::Mapper { pre, map } => self.run_mapper(pre, map, record, cancel).await,
            Compiled::CommandComponent { pre } => {
                let (mut store, stdout, stderr) =
                    match self.command_store(record, WasiCtxBuilder::build) {
                        Ok(parts) => parts,
                        Err(error) => return (Err(error), Usage::default()),
                    };
                let limits = &self.config.limits;
                let result = async {
                    let deadline = arm(&mut store, limits, cancel)?;
                    let run = async {
                        let command = pre.instantiate_async(&mut store).await?;
                        command.wasi_cli_run().call_run(&mut store).await
                    };
                    race(run, limits.timeout, deadline, cancel).await
                }
                .await;
                let usage = Usage::of(&store, &self.config);
                let outcome =
                    command_outcome(result.map(|r| r.is_ok()), &stdout, &stderr, &self.config);
                (outcome, usage)
            }
            Compiled::CommandModule { pre } => {
                let (mut store, stdout, stderr) =
                    match self.command_store(record, WasiCtxBuilder::build_p1) {
                        Ok(parts) => parts,
                        Err(error) => return (Err(error), Usage::default()),
                    };
                let limits = &self.config.limits;
                let result = async {
                    let deadline = arm(&mut store, limits, cancel)?;
                    let run = async {
                        let instance = pre.instantiate_async(&mut store).await?;
                        let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
                        start.call_async(&mut store, ()).await
                    };
                    race(run, limits.timeout, deadline, cancel).await
                }
                .await;
                let usage = Usage::of(&store, &self.config);
                let outcome =
                    command_outcome(result.map(|()| true), &stdout, &stderr, &self.config);
                (outcome, usage)
            }
        }
    }

    async fn run_mapper(
        &mut self,
        pre: &InstancePre<ComponentState>,
        map: &ComponentExportIndex,
        record: &RecordRef<'_>,
        cancel: &CancelToken,
    ) -> (Outcome, Usage) {
        let config = self.config.clone();
        let limits = &config.limits;
        let reused = self.mapper.take().filter(|_| !config.fresh_instances());
        let mut mapper = match reused {
            Some(mapper) => mapper,
            None => match self.mapper_store(record.index) {
                Ok(mapper) => mapper,
                Err(error) => return (Err(error), Usage::default()),
            },
        };
        // The instance is made (start functions run) inside the same race
        // and under the same limits as the call: that time, fuel and memory
        // count against the first record.
        let result = async {
            let deadline = arm(&mut mapper.store, limits, cancel)?;
            let call = async {
                let func = match mapper.map {
                    Some(func) => func,
                    None => {
                        let instance = pre.instantiate_async(&mut mapper.store).await?;
                        let func = instance.get_func(&mut mapper.store, map).ok_or_else(|| {
                            wasmtime::format_err!("the mapper's `map` export is missing")
                        })?;
                        func.typed::<(&[u8],), (Result<GuestBytes, GuestText>,)>(&mapper.store)?;
                        mapper.map = Some(func);
                        func
                    }
                };
                // SAFETY: `func` was checked against exactly this signature
                // with `Func::typed` when the instance was made; skipping
                // that check on every call is what this saves.
                let typed: MapFunc<'_> = unsafe { TypedFunc::new_unchecked(func) };
                set_output_cap(limits.max_output);
                typed.call_async(&mut mapper.store, (record.bytes,)).await
            };
            race(call, limits.timeout, deadline, cancel).await
        }
        .await;
        let usage = Usage::of(&mapper.store, &config);
        let stderr = mapper.stderr.take();
        mapper.stdout.clear();
        let outcome = match result {
            Ok((Ok(GuestBytes::Bytes(output)),)) => Ok(output),
            Ok((Ok(GuestBytes::TooLong(len)),)) => {
                // Nothing of it was copied; the instance goes, as after any
                // limit.
                return (Err(output_too_large(len, limits.max_output)), usage);
            }
            Ok((Err(text),)) => Err(guest_err(&text.prefix, text.len)),
            // A trap or a stop leaves the store unusable: it is dropped,
            // and the next record gets a new instance.
            Err(error) => return (Err(classify(&error, limits, &stderr, false)), usage),
        };
        self.mapper = Some(mapper);
        (outcome, usage)
    }

    /// A new store for a mapper instance, with its stdio captured.
    fn mapper_store(&self, index: u64) -> Result<MapperInstance, RecordError> {
        let stdout = Capture::tail();
        let stderr = Capture::tail();
        let mut builder = self.wasi_builder(index)?;
        builder.stdout(stdout.clone()).stderr(stderr.clone());
        let store = new_store(
            self.plugin.engine().wasmtime(),
            builder.build(),
            &self.config.limits,
        );
        Ok(MapperInstance {
            store,
            map: None,
            stderr,
            stdout,
        })
    }

    /// A fresh store for one command run: the record on stdin, stdout
    /// captured whole up to the output cap, stderr's tail captured.
    /// `build` makes the WASI context of the plugin's kind.
    fn command_store<W: Send + 'static>(
        &self,
        record: &RecordRef<'_>,
        build: impl FnOnce(&mut WasiCtxBuilder) -> W,
    ) -> Result<(Store<HostState<W>>, Capture, Capture), RecordError> {
        let stdout = Capture::whole(self.config.limits.max_output);
        let stderr = Capture::tail();
        let mut builder = self.wasi_builder(record.index)?;
        builder
            .stdin(MemoryInputPipe::new((record.shared)()))
            .stdout(stdout.clone())
            .stderr(stderr.clone());
        let store = new_store(
            self.plugin.engine().wasmtime(),
            build(&mut builder),
            &self.config.limits,
        );
        Ok((store, stdout, stderr))
    }

    fn wasi_builder(&self, index: u64) -> Result<WasiCtxBuilder, RecordError> {
        self.wasi.builder(index).map_err(|e| {
            RecordError::new(
                ErrorKind::Trap,
                format!(
                    "cannot set up the guest's WASI context: {}",
                    crate::error::one_line(e.as_ref())
                ),
            )
        })
    }
}

/// What a record used.
#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    fuel: Option<u64>,
    memory: u64,
}

impl Usage {
    fn of<W>(store: &Store<HostState<W>>, config: &Config) -> Self {
        if !config.stats {
            return Usage::default();
        }
        Usage {
            fuel: fuel_used(store, &config.limits),
            memory: store.data().limiter.memory_bytes(),
        }
    }
}

/// The outcome of a command run: `Ok(true)` is a clean exit, `Ok(false)` a
/// failure status without a code, `Err` a trap or an `exit(n)`.
fn command_outcome(
    result: wasmtime::Result<bool>,
    stdout: &Capture,
    stderr: &Capture,
    config: &Config,
) -> Outcome {
    let limits = &config.limits;
    match result {
        Ok(true) => Ok(stdout.take()),
        Ok(false) => Err(guest_exit(1, &stderr.take())),
        Err(error) => match error.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) if exit.0 == 0 => Ok(stdout.take()),
            _ => Err(classify(&error, limits, &stderr.take(), true)),
        },
    }
}

impl RecordStats {
    fn new(wall: Duration, fuel: Option<u64>, memory: u64) -> Self {
        RecordStats { wall, fuel, memory }
    }
}
