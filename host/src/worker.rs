//! One worker: a thread's own store (and, for mappers, its reused
//! instance), running batches of records one record at a time.
//!
//! Every call is made through wasmtime's async API on a single-threaded
//! tokio runtime, raced against the record's timer and the run's cancel
//! token: that is what can stop a guest blocked inside a host call. A
//! compute-bound guest is stopped from within by the store's epoch
//! callback (see `host.rs`).

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime::component::TypedFunc;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

use crate::batch::{Batch, BatchResult, Outcome};
use crate::cancel::CancelToken;
use crate::capture::Capture;
use crate::classify::{classify, guest_err, guest_exit};
use crate::error::{ErrorKind, RecordError};
use crate::host::{ComponentState, HostState, Stopped, arm, new_store};
use crate::plugin::{Compiled, Plugin};
use crate::pool::RunConfig;

/// The signature of a mapper's `map`.
type MapFunc<'a> = TypedFunc<(&'a [u8],), (Result<Vec<u8>, String>,)>;

/// A mapper instance kept between records, with its captured stdio.
struct MapperInstance {
    store: Store<ComponentState>,
    /// The instance's `map`, its signature checked at instantiation.
    map: wasmtime::component::Func,
    stderr: Capture,
    stdout: Capture,
}

impl MapperInstance {
    /// `map`, typed.
    fn map_func<'a>(&self) -> MapFunc<'a> {
        // SAFETY: `new_mapper` checked this very function against
        // `MapFunc` with `Func::typed` before keeping it; skipping that
        // check on every call is what this saves.
        unsafe { TypedFunc::new_unchecked(self.map) }
    }
}

/// A worker thread: its async runtime and its state.
pub(crate) struct Worker {
    /// Runs calls. Only `Runtime::block_on` (not a handle's) drives the
    /// timers of a current-thread runtime, so the runtime is kept apart
    /// from the state the calls borrow.
    runtime: tokio::runtime::Runtime,
    state: WorkerState,
}

/// What a worker keeps between records.
struct WorkerState {
    plugin: Plugin,
    config: std::sync::Arc<RunConfig>,
    cancel: CancelToken,
    mapper: Option<MapperInstance>,
}

impl Worker {
    pub fn new(
        plugin: Plugin,
        config: std::sync::Arc<RunConfig>,
        cancel: CancelToken,
    ) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        Ok(Worker {
            runtime,
            state: WorkerState {
                plugin,
                config,
                cancel,
                mapper: None,
            },
        })
    }

    /// Forgets the reused instance (after a host-side panic mid-record).
    pub fn reset(&mut self) {
        self.state.mapper = None;
    }

    /// Runs every record of `batch`. Records not started before the run
    /// was cancelled come back as interrupted.
    pub fn run_batch(&mut self, batch: &Batch) -> BatchResult {
        let Worker { runtime, state } = self;
        let cancel = state.cancel.clone();
        let plugin = state.plugin.clone();
        let outcomes = runtime.block_on(async {
            let cancelled = std::pin::pin!(cancel.cancelled());
            let mut cancelled: Pin<&mut (dyn Future<Output = ()> + '_)> = cancelled;
            let mut outcomes = Vec::with_capacity(batch.len());
            for record in batch.records() {
                if cancel.is_cancelled() {
                    outcomes.push(Err(RecordError::interrupted()));
                    continue;
                }
                let outcome = state
                    .run_record(plugin.compiled(), record, cancelled.as_mut())
                    .await;
                outcomes.push(outcome);
            }
            outcomes
        });
        BatchResult {
            seq: batch.seq,
            first_index: batch.first_index,
            outcomes,
        }
    }
}

impl WorkerState {
    async fn run_record(
        &mut self,
        compiled: &Compiled,
        record: &[u8],
        cancelled: Pin<&mut (dyn Future<Output = ()> + '_)>,
    ) -> Outcome {
        match compiled {
            Compiled::Mapper { pre, map } => self.run_mapper(pre, map, record, cancelled).await,
            Compiled::CommandComponent { pre } => {
                self.run_command_component(pre, record, cancelled).await
            }
            Compiled::CommandModule { pre } => {
                self.run_command_module(pre, record, cancelled).await
            }
        }
    }

    async fn new_mapper(
        &self,
        pre: &wasmtime::component::InstancePre<ComponentState>,
        map: &wasmtime::component::ComponentExportIndex,
    ) -> Result<MapperInstance, RecordError> {
        let stdout = Capture::tail();
        let stderr = Capture::tail();
        let mut builder = self
            .config
            .grants
            .wasi_builder(&self.plugin.program_name())
            .map_err(|e| classify(&e, &self.config.limits, b""))?;
        builder.stdout(stdout.clone()).stderr(stderr.clone());
        let mut store = new_store(
            self.plugin.engine().wasmtime(),
            builder.build(),
            &self.config.limits,
            &self.cancel,
        );
        // Instantiation runs guest code (start functions, data init): it
        // counts against the first record's limits.
        arm(&mut store, &self.config.limits).map_err(|e| classify(&e, &self.config.limits, b""))?;
        let limits = &self.config.limits;
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| classify(&e, limits, &stderr.take()))?;
        let map = instance
            .get_func(&mut store, map)
            .ok_or_else(|| wasmtime::format_err!("the mapper's `map` export is missing"))
            .and_then(|func| {
                func.typed::<(&[u8],), (Result<Vec<u8>, String>,)>(&store)
                    .map(|_| func)
            })
            .map_err(|e| classify(&e, limits, b""))?;
        Ok(MapperInstance {
            store,
            map,
            stderr,
            stdout,
        })
    }

    async fn run_mapper(
        &mut self,
        pre: &wasmtime::component::InstancePre<ComponentState>,
        map: &wasmtime::component::ComponentExportIndex,
        record: &[u8],
        cancelled: Pin<&mut (dyn Future<Output = ()> + '_)>,
    ) -> Outcome {
        let limits = self.config.limits.clone();
        let mut mapper = match self.mapper.take() {
            Some(mapper) => mapper,
            None => self.new_mapper(pre, map).await?,
        };
        let result = async {
            let deadline = arm(&mut mapper.store, &limits)?;
            let func = mapper.map_func();
            let call = func.call_async(&mut mapper.store, (record,));
            race(call, limits.timeout, deadline, cancelled).await
        }
        .await;
        let stderr = mapper.stderr.take();
        mapper.stdout.clear();
        let outcome = match result {
            Ok((Ok(output),)) => check_output(output, limits.max_output),
            Ok((Err(message),)) => Err(guest_err(message)),
            Err(error) => {
                // A trap or a stop leaves the store unusable: drop it and
                // build a new instance for the next record.
                return Err(classify(&error, &limits, &stderr));
            }
        };
        if !self.config.isolate {
            self.mapper = Some(mapper);
        }
        outcome
    }

    async fn run_command_component(
        &mut self,
        pre: &wasmtime_wasi::p2::bindings::CommandPre<ComponentState>,
        record: &[u8],
        cancelled: Pin<&mut (dyn Future<Output = ()> + '_)>,
    ) -> Outcome {
        let limits = &self.config.limits;
        let (mut store, stdout, stderr) = self.command_store(record, |b| b.build())?;
        let result = async {
            let deadline = arm(&mut store, limits)?;
            let run = async {
                let command = pre.instantiate_async(&mut store).await?;
                command.wasi_cli_run().call_run(&mut store).await
            };
            race(run, limits.timeout, deadline, cancelled).await
        }
        .await;
        command_outcome(result.map(|r| r.is_ok()), stdout, stderr, limits)
    }

    async fn run_command_module(
        &mut self,
        pre: &wasmtime::InstancePre<crate::host::ModuleState>,
        record: &[u8],
        cancelled: Pin<&mut (dyn Future<Output = ()> + '_)>,
    ) -> Outcome {
        let limits = &self.config.limits;
        let (mut store, stdout, stderr) = self.command_store(record, |b| b.build_p1())?;
        let result = async {
            let deadline = arm(&mut store, limits)?;
            let run = async {
                let instance = pre.instantiate_async(&mut store).await?;
                let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
                start.call_async(&mut store, ()).await
            };
            race(run, limits.timeout, deadline, cancelled).await
        }
        .await;
        command_outcome(result.map(|()| true), stdout, stderr, limits)
    }

    /// A fresh store for one command run: the record on stdin, stdout
    /// captured whole (up to the output cap), stderr's tail captured.
    /// `build` makes the WASI context of the plugin's kind.
    fn command_store<W: Send + 'static>(
        &self,
        record: &[u8],
        build: impl FnOnce(&mut WasiCtxBuilder) -> W,
    ) -> Result<(Store<HostState<W>>, Capture, Capture), RecordError> {
        let limits = &self.config.limits;
        let stdout = Capture::whole(limits.max_output);
        let stderr = Capture::tail();
        let mut builder = self
            .config
            .grants
            .wasi_builder(&self.plugin.program_name())
            .map_err(|e| classify(&e, limits, b""))?;
        builder
            .stdin(MemoryInputPipe::new(record.to_vec()))
            .stdout(stdout.clone())
            .stderr(stderr.clone());
        let store = new_store(
            self.plugin.engine().wasmtime(),
            build(&mut builder),
            limits,
            &self.cancel,
        );
        Ok((store, stdout, stderr))
    }
}

/// The outcome of a command run: `Ok(true)` is a clean exit, `Ok(false)` a
/// failure status without a code, `Err` a trap or an `exit(n)`.
fn command_outcome(
    result: wasmtime::Result<bool>,
    stdout: Capture,
    stderr: Capture,
    limits: &crate::limits::Limits,
) -> Outcome {
    match result {
        Ok(true) => check_output(stdout.take(), limits.max_output),
        Ok(false) => Err(guest_exit(1, &stderr.take())),
        Err(error) => match error.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) if exit.0 == 0 => check_output(stdout.take(), limits.max_output),
            _ => Err(classify(&error, limits, &stderr.take())),
        },
    }
}

/// The output, unless it is larger than the cap.
fn check_output(output: Vec<u8>, max_output: Option<u64>) -> Outcome {
    match max_output {
        Some(limit) if output.len() as u64 > limit => Err(RecordError::new(
            ErrorKind::Output,
            format!(
                "output limit exceeded: {} bytes (limit {limit})",
                output.len()
            ),
        )),
        _ => Ok(output),
    }
}

/// Runs `call` until it finishes, the record's time runs out, or the run
/// is cancelled, whichever comes first. The timer here catches guests
/// blocked in host calls; compute-bound guests are stopped from inside by
/// the epoch callback, with the same deadline.
///
/// Most calls never wait on the host: they finish on their first poll,
/// and skip the timer and the cancel future altogether.
async fn race<T>(
    call: impl Future<Output = wasmtime::Result<T>>,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    cancelled: Pin<&mut (dyn Future<Output = ()> + '_)>,
) -> wasmtime::Result<T> {
    let mut call = std::pin::pin!(call);
    let first = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
    if let Poll::Ready(result) = first {
        return result;
    }
    let deadline = deadline.map(tokio::time::Instant::from_std);
    tokio::select! {
        biased;
        result = call => result,
        () = cancelled => Err(wasmtime::Error::new(Stopped::Interrupted)),
        () = sleep_until(deadline), if deadline.is_some() => {
            Err(wasmtime::Error::new(Stopped::Timeout(timeout.unwrap_or_default())))
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
