//! One instance of a core-module command serving record after record.
//! After each record sandmap puts it back to the state a fresh instance
//! has: the pages the guest wrote get the initial contents again, the
//! mutable globals their initial values, and the next record gets a new
//! WASI context (or the same one, stdin refilled and output emptied, when
//! the module cannot change it). What a record sees is what a fresh
//! instance would show it; what it saves is making and tearing down an
//! instance per record. Which modules qualify is decided in
//! `snapshot.rs`.

use std::sync::Arc;

use wasmtime::{Global, InstancePre, Memory, Store, TypedFunc, Val};
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::cancel::CancelToken;
use crate::command::CommandStdio;
use crate::config::Config;
use crate::dirty::DirtyPages;
use crate::host::{ModuleState, arm, new_store};
use crate::record::RecordRef;
use crate::snapshot::Snapshot;
use crate::stdin::RecordStdin;

/// The stdio of a WASI context kept between records: its stdin, refilled
/// for each record, and its captured output.
pub(crate) struct KeptStdio {
    pub stdin: RecordStdin,
    pub stdio: CommandStdio,
}

/// An instance kept between records, and how to put it back.
pub(crate) struct WarmCommand {
    store: Store<ModuleState>,
    start: TypedFunc<(), ()>,
    memory: Memory,
    /// Each mutable global with its initial value.
    globals: Vec<(Global, Val)>,
    snapshot: Arc<Snapshot>,
    /// The stdio of a WASI context kept between records, if it is.
    kept_stdio: Option<KeptStdio>,
}

impl WarmCommand {
    /// Instantiates `pre` in a new store holding `context` (the first
    /// record's WASI context, kept for the next records when `kept_stdio`
    /// is its stdio). `Ok(None)` when the instance lacks an export the
    /// snapshot names: then records run on fresh instances.
    ///
    /// # Errors
    /// Instantiation's, charged to the record as with a fresh instance.
    pub fn new(
        engine: &wasmtime::Engine,
        pre: &InstancePre<ModuleState>,
        snapshot: &Arc<Snapshot>,
        context: WasiP1Ctx,
        kept_stdio: Option<KeptStdio>,
        config: &Config,
    ) -> wasmtime::Result<Option<Self>> {
        let mut store = new_store(engine, context, &config.limits);
        // The module has no start function: instantiating it runs no
        // guest code.
        let instance = pre.instantiate(&mut store)?;
        let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
        let Some(memory) = instance.get_memory(&mut store, &snapshot.memory) else {
            return Ok(None);
        };
        if memory.data_size(&store) != snapshot.memory_bytes {
            return Ok(None);
        }
        let mut globals = Vec::with_capacity(snapshot.globals.len());
        for name in &snapshot.globals {
            let Some(global) = instance.get_global(&mut store, name) else {
                return Ok(None);
            };
            let value = global.get(&mut store);
            globals.push((global, value));
        }
        Ok(Some(WarmCommand {
            store,
            start,
            memory,
            globals,
            snapshot: Arc::clone(snapshot),
            kept_stdio,
        }))
    }

    /// Hands `record` to the kept WASI context, returning its stdio; `None`
    /// when the context is not kept (then [`set_context`] gives it a new
    /// one).
    ///
    /// [`set_context`]: WarmCommand::set_context
    pub fn next_record(&mut self, record: &RecordRef<'_>) -> Option<CommandStdio> {
        let kept = self.kept_stdio.as_ref()?;
        kept.stdin.set((record.shared)());
        Some(kept.stdio.clone())
    }

    /// Hands the next record's WASI context to the instance.
    pub fn set_context(&mut self, context: WasiP1Ctx) {
        self.store.data_mut().wasi = context;
    }

    /// Runs `_start` for one record (a command that cannot wait).
    pub fn run_sync(&mut self, cancel: &CancelToken, config: &Config) -> wasmtime::Result<bool> {
        arm(&mut self.store, &config.limits, cancel)?;
        self.start.call(&mut self.store, ()).map(|()| true)
    }

    /// The store, for the record's outcome and usage.
    pub fn store(&self) -> &Store<ModuleState> {
        &self.store
    }

    /// Puts the instance back to its fresh state, finding the pages the
    /// record wrote with `dirty`. Unless it says [`PutBack::Done`], the
    /// instance must be dropped.
    pub fn put_back(&mut self, dirty: &mut DirtyPages) -> PutBack {
        let WarmCommand {
            store,
            memory,
            globals,
            snapshot,
            kept_stdio,
            ..
        } = self;
        if let Some(kept) = kept_stdio {
            kept.stdio.clear();
        }
        // A memory cannot shrink back: a fresh instance will do.
        if memory.data_size(&*store) != snapshot.memory_bytes {
            return PutBack::Grew;
        }
        let Ok(written) = dirty.scan(memory.data(&*store)) else {
            return PutBack::Failed;
        };
        if !snapshot.restore(memory.data_mut(&mut *store), written) {
            return PutBack::Failed;
        }
        let set = globals
            .iter()
            .all(|(global, value)| global.set(&mut *store, *value).is_ok());
        if set { PutBack::Done } else { PutBack::Failed }
    }
}

/// What [`WarmCommand::put_back`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PutBack {
    /// The instance is as fresh: keep it.
    Done,
    /// Its memory grew during the record, and memories cannot shrink.
    Grew,
    /// The page scan failed.
    Failed,
}
