//! The data every store carries (the `T` in `Store<T>`), and the one place
//! where a store is made and has its limits and deadline callback applied.

use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::cancel::CancelToken;
use crate::limits::{Limits, StoreLimiter};

/// Raised by a store's epoch deadline callback to stop a running guest.
#[derive(Debug, Clone, Copy, thiserror::Error)]
pub(crate) enum Stopped {
    /// The record ran past its own wall-clock limit.
    #[error("timed out (limit {})", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// The whole run was cancelled.
    #[error("interrupted")]
    Interrupted,
}

/// Store data: the guest's WASI context `W` and sandmap's per-record state.
pub(crate) struct HostState<W> {
    /// The guest's WASI context.
    pub wasi: W,
    /// Resources the WASI host hands out (component stores only).
    pub table: ResourceTable,
    limiter: StoreLimiter,
    /// When the current record must be stopped, if it has a time limit.
    deadline: Option<Instant>,
}

/// Store data of component plugins (mappers and `wasi:cli/run` commands).
pub(crate) type ComponentState = HostState<WasiCtx>;
/// Store data of core-module commands (WASI preview 1).
pub(crate) type ModuleState = HostState<WasiP1Ctx>;

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Makes a store holding `wasi`, with the run's memory limiter and an epoch
/// deadline callback that stops the guest when the run is cancelled or the
/// current record passes its deadline.
pub(crate) fn new_store<W: Send + 'static>(
    engine: &wasmtime::Engine,
    wasi: W,
    limits: &Limits,
    cancel: &CancelToken,
) -> Store<HostState<W>> {
    let state = HostState {
        wasi,
        table: ResourceTable::new(),
        limiter: StoreLimiter::new(limits),
        deadline: None,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    let cancel = cancel.clone();
    let timeout = limits.timeout;
    store.epoch_deadline_callback(move |store| {
        if cancel.is_cancelled() {
            return Err(wasmtime::Error::new(Stopped::Interrupted));
        }
        if let (Some(deadline), Some(limit)) = (store.data().deadline, timeout) {
            if Instant::now() >= deadline {
                return Err(wasmtime::Error::new(Stopped::Timeout(limit)));
            }
        }
        Ok(UpdateDeadline::Continue(1))
    });
    store.set_epoch_deadline(1);
    store
}

/// Arms a store for one record: a fresh fuel budget and deadline. Returns
/// the deadline, if the record has one.
pub(crate) fn arm<W>(
    store: &mut Store<HostState<W>>,
    limits: &Limits,
) -> wasmtime::Result<Option<Instant>> {
    if let Some(fuel) = limits.fuel {
        store.set_fuel(fuel)?;
    }
    let deadline = limits.timeout.map(|t| Instant::now() + t);
    store.data_mut().deadline = deadline;
    Ok(deadline)
}
