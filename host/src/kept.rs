//! Running one record on an instance kept between records and put back
//! to its fresh state after each: a command's (see `warm.rs`), or an
//! isolated mapper's (see `mapper.rs`). `worker.rs` decides when.

use std::sync::Arc;

use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::cancel::CancelToken;
use crate::command::CommandStdio;
use crate::config::Config;
use crate::dirty::DirtyPages;
use crate::error::RecordError;
use crate::link::MapperReset;
use crate::mapper::MapperInstance;
use crate::outcome::Produced;
use crate::record::{RecordRef, Usage};
use crate::snapshot::Snapshot;
use crate::stdin::RecordStdin;
use crate::warm::{KeptStdio, PutBack, WarmCommand};
use crate::wasi::WasiSetup;

/// Kept instances dropped in a row because their memory grew, after which
/// a worker's records get fresh instances.
const GREW_IN_A_ROW_LIMIT: u32 = 3;

/// Whether a worker can still keep instances that are put back after each
/// record, and how it finds the pages they wrote.
#[derive(Default)]
pub(crate) struct Keeping {
    /// Opened when an instance is first to be kept.
    dirty: Option<DirtyPages>,
    /// Set when no instance can be kept (no page scan here, or the
    /// plugin's memory grows on every record): every record then gets a
    /// fresh one.
    stopped: bool,
    /// Kept instances dropped in a row because their memory grew.
    pub grew_in_a_row: u32,
}

impl Keeping {
    /// The page scan, when an instance is `wanted` and can be kept.
    pub fn pages(&mut self, wanted: bool) -> Option<&mut DirtyPages> {
        if !wanted || self.stopped {
            return None;
        }
        if self.dirty.is_none() {
            self.dirty = DirtyPages::open();
            self.stopped = self.dirty.is_none();
        }
        self.dirty.as_mut()
    }

    /// Notes what putting an instance back did.
    pub fn note(&mut self, put_back: Option<PutBack>) {
        self.grew_in_a_row = match put_back {
            Some(PutBack::Grew) => self.grew_in_a_row + 1,
            _ => 0,
        };
        // A plugin that grows its memory on every record would pay for a
        // kept instance and still make one per record.
        self.stopped = self.grew_in_a_row >= GREW_IN_A_ROW_LIMIT;
    }

    /// Gives up keeping instances for good.
    pub fn stop(&mut self) {
        self.stopped = true;
    }
}

/// An isolated record of a mapper whose instance is put back after each
/// record.
pub(crate) struct IsolatedMapper<'a> {
    pub engine: &'a wasmtime::Engine,
    pub pre: &'a wasmtime::component::InstancePre<crate::host::ComponentState>,
    pub map: &'a wasmtime::component::ComponentExportIndex,
    pub reset: &'a MapperReset,
    pub wasi: &'a WasiSetup,
    pub config: &'a Config,
}

impl IsolatedMapper<'_> {
    /// Runs the record on the kept instance (`kept`, made if empty) with a
    /// new WASI context, and keeps the instance again when the record
    /// returned and it could be put back.
    pub fn attempt(
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
pub(crate) struct WarmRun<'a> {
    pub engine: &'a wasmtime::Engine,
    pub pre: &'a wasmtime::InstancePre<crate::host::ModuleState>,
    pub snapshot: &'a Arc<Snapshot>,
    pub wasi: &'a WasiSetup,
    pub config: &'a Config,
}

/// What became of a [`WarmRun`].
pub(crate) enum Warm {
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
    pub fn attempt(
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
