//! Running one record through a command: a fresh instance with the record
//! on stdin, its stdout the result (captured up to the output cap, checked
//! on every write), its exit code the verdict. Commands that cannot wait
//! on the host are run directly; the others through the async API, raced
//! against the record's timer and the run's cancel token.

use wasmtime::Store;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::cli::StdinStream;
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::bindings::sync::CommandPre as SyncCommandPre;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

use crate::cancel::{CancelToken, race};
use crate::capture::Capture;
use crate::classify::{classify, guest_exit};
use crate::config::Config;
use crate::error::RecordError;
use crate::host::{ComponentState, HostState, ModuleState, arm, new_store};
use crate::lift::push_output;
use crate::outcome::Produced;
use crate::record::{RecordRef, Usage, wasi_error};
use crate::wasi::WasiSetup;

/// One record's stdio: the record on stdin, stdout captured whole up to
/// the output cap, stderr's tail captured.
#[derive(Clone)]
pub(crate) struct CommandStdio {
    stdout: Capture,
    stderr: Capture,
}

impl CommandStdio {
    /// The WASI context for one record, and its captured stdio. `build`
    /// makes the context of the plugin's kind.
    pub fn new<W>(
        wasi: &WasiSetup,
        config: &Config,
        record: &RecordRef<'_>,
        build: impl FnOnce(&mut WasiCtxBuilder) -> W,
    ) -> Result<(Self, W), RecordError> {
        let stdin = MemoryInputPipe::new((record.shared)());
        Self::with_stdin(wasi, config, record.index, stdin, build)
    }

    /// The same with the given stdin, for the record of input index
    /// `index`.
    pub fn with_stdin<W>(
        wasi: &WasiSetup,
        config: &Config,
        index: u64,
        stdin: impl StdinStream + 'static,
        build: impl FnOnce(&mut WasiCtxBuilder) -> W,
    ) -> Result<(Self, W), RecordError> {
        let stdout = Capture::whole(config.limits.max_output);
        let stderr = Capture::tail();
        let mut builder = wasi.builder(index).map_err(wasi_error)?;
        builder
            .stdin(stdin)
            .stdout(stdout.clone())
            .stderr(stderr.clone());
        let context = build(&mut builder);
        Ok((CommandStdio { stdout, stderr }, context))
    }

    /// Forgets what a record wrote (for a context that serves the next).
    pub fn clear(&self) {
        self.stdout.clear();
        self.stderr.clear();
    }

    /// The outcome of the record `store` ran: `Ok(true)` is a clean exit,
    /// `Ok(false)` a failure status without a code, `Err` a trap or an
    /// `exit(n)`.
    pub fn outcome<W>(
        self,
        store: &Store<HostState<W>>,
        result: wasmtime::Result<bool>,
        config: &Config,
    ) -> (Produced, Usage) {
        let usage = Usage::of(store, config);
        let outcome = match result {
            Ok(true) => Ok(push_output(&self.stdout.take())),
            Ok(false) => Err(guest_exit(1, &self.stderr.take())),
            Err(error) => match error.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(exit) if exit.0 == 0 => Ok(push_output(&self.stdout.take())),
                _ => Err(classify(&error, &config.limits, &self.stderr.take(), true)),
            },
        };
        (outcome, usage)
    }
}

/// One command run's store and captured stdio.
pub(crate) struct CommandRun<W: 'static> {
    store: Store<HostState<W>>,
    stdio: CommandStdio,
}

impl<W: Send + 'static> CommandRun<W> {
    /// A fresh store for one record, with its stdio (see
    /// [`CommandStdio::new`]).
    pub fn new(
        engine: &wasmtime::Engine,
        wasi: &WasiSetup,
        config: &Config,
        record: &RecordRef<'_>,
        build: impl FnOnce(&mut WasiCtxBuilder) -> W,
    ) -> Result<Self, RecordError> {
        let (stdio, context) = CommandStdio::new(wasi, config, record, build)?;
        let store = new_store(engine, context, &config.limits);
        Ok(CommandRun { store, stdio })
    }

    /// The outcome (see [`CommandStdio::outcome`]).
    pub fn outcome(self, result: wasmtime::Result<bool>, config: &Config) -> (Produced, Usage) {
        self.stdio.outcome(&self.store, result, config)
    }
}

impl CommandRun<wasmtime_wasi::WasiCtx> {
    /// Runs a `wasi:cli/run` component that cannot wait.
    pub fn run_component_sync(
        &mut self,
        pre: &SyncCommandPre<ComponentState>,
        cancel: &CancelToken,
        config: &Config,
    ) -> wasmtime::Result<bool> {
        arm(&mut self.store, &config.limits, cancel)?;
        let command = pre.instantiate(&mut self.store)?;
        Ok(command.wasi_cli_run().call_run(&mut self.store)?.is_ok())
    }

    /// Runs a `wasi:cli/run` component through the async API.
    pub async fn run_component(
        &mut self,
        pre: &CommandPre<ComponentState>,
        cancel: &CancelToken,
        config: &Config,
    ) -> wasmtime::Result<bool> {
        let limits = &config.limits;
        let deadline = arm(&mut self.store, limits, cancel)?;
        let run = async {
            let command = pre.instantiate_async(&mut self.store).await?;
            Ok(command
                .wasi_cli_run()
                .call_run(&mut self.store)
                .await?
                .is_ok())
        };
        race(run, limits.timeout, deadline, cancel).await
    }
}

impl CommandRun<wasmtime_wasi::p1::WasiP1Ctx> {
    /// Runs a preview 1 module's `_start` that cannot wait.
    pub fn run_module_sync(
        &mut self,
        pre: &wasmtime::InstancePre<ModuleState>,
        cancel: &CancelToken,
        config: &Config,
    ) -> wasmtime::Result<bool> {
        arm(&mut self.store, &config.limits, cancel)?;
        let instance = pre.instantiate(&mut self.store)?;
        let start = instance.get_typed_func::<(), ()>(&mut self.store, "_start")?;
        start.call(&mut self.store, ()).map(|()| true)
    }

    /// Runs a preview 1 module's `_start` through the async API.
    pub async fn run_module(
        &mut self,
        pre: &wasmtime::InstancePre<ModuleState>,
        cancel: &CancelToken,
        config: &Config,
    ) -> wasmtime::Result<bool> {
        let limits = &config.limits;
        let deadline = arm(&mut self.store, limits, cancel)?;
        let run = async {
            let instance = pre.instantiate_async(&mut self.store).await?;
            let start = instance.get_typed_func::<(), ()>(&mut self.store, "_start")?;
            start.call_async(&mut self.store, ()).await.map(|()| true)
        };
        race(run, limits.timeout, deadline, cancel).await
    }
}
