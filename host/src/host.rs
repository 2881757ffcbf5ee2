//! The data every store carries (the `T` in `Store<T>`), and the one place
//! where a store is made and armed for a record: its memory limiter, its
//! epoch deadline callback, its fuel and deadline.

use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::cancel::CancelToken;
use crate::limiter::StoreLimiter;
use crate::limits::Limits;
use crate::traps::Stopped;

/// Bytes a guest may always hand the host in one call, whatever the
/// output cap (guests write their stdio in chunks far smaller).
const MIN_HOSTCALL_BYTES: u64 = 16 << 20;

/// Store data: the guest's WASI context `W` and sandmap's per-record state.
pub(crate) struct HostState<W> {
    /// The guest's WASI context.
    pub wasi: W,
    /// Resources the WASI host hands out (component stores only).
    pub table: ResourceTable,
    /// What the store's instances hold, against the memory cap.
    pub limiter: StoreLimiter,
    /// When the current record must be stopped, if it has a time limit.
    deadline: Option<Instant>,
    timeout: Option<Duration>,
    /// The run the current record belongs to.
    cancel: Option<CancelToken>,
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

/// Makes a store holding `wasi`, with the memory limiter and an epoch
/// deadline callback that stops the guest when its run is cancelled or its
/// record passes its deadline.
pub(crate) fn new_store<W: Send + 'static>(
    engine: &wasmtime::Engine,
    wasi: W,
    limits: &Limits,
) -> Store<HostState<W>> {
    let state = HostState {
        wasi,
        table: ResourceTable::new(),
        limiter: StoreLimiter::new(limits.max_memory),
        deadline: None,
        timeout: limits.timeout,
        cancel: None,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    store.epoch_deadline_callback(|store| {
        let state = store.data();
        if state.cancel.as_ref().is_some_and(CancelToken::is_cancelled) {
            return Err(wasmtime::Error::new(Stopped::Interrupted));
        }
        if let (Some(deadline), Some(limit)) = (state.deadline, state.timeout)
            && Instant::now() >= deadline
        {
            return Err(wasmtime::Error::new(Stopped::Timeout(limit)));
        }
        Ok(UpdateDeadline::Continue(1))
    });
    store.set_epoch_deadline(1);
    // What the guest may hand the host in one host call (a write, say),
    // copied before sandmap sees it. A mapper's result is not counted here:
    // `lift.rs` measures it before copying.
    let hostcall = limits
        .max_output
        .saturating_add(1 << 20)
        .max(MIN_HOSTCALL_BYTES);
    store.set_hostcall_fuel(usize::try_from(hostcall).unwrap_or(usize::MAX));
    store
}

/// Arms a store for one record of the run `cancel` stops: a fresh fuel
/// budget and deadline. Returns the deadline, if the record has one.
///
/// # Errors
/// [`Stopped::Interrupted`] when the run is already cancelled. This check
/// comes after the store is armed, so a cancel landing at any moment is
/// seen either here or by the deadline callback.
pub(crate) fn arm<W>(
    store: &mut Store<HostState<W>>,
    limits: &Limits,
    cancel: &CancelToken,
) -> wasmtime::Result<Option<Instant>> {
    if let Some(fuel) = limits.fuel {
        store.set_fuel(fuel)?;
    }
    // A limit too far away to arm is no limit (the builder refuses those).
    let deadline = limits.timeout.and_then(|t| Instant::now().checked_add(t));
    let state = store.data_mut();
    state.deadline = deadline;
    if !state.cancel.as_ref().is_some_and(|c| c.same_run(cancel)) {
        state.cancel = Some(cancel.clone());
    }
    store.set_epoch_deadline(1);
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    if cancel.is_cancelled() {
        return Err(wasmtime::Error::new(Stopped::Interrupted));
    }
    Ok(deadline)
}

/// The fuel a record used, if fuel is metered.
pub(crate) fn fuel_used<W>(store: &Store<HostState<W>>, limits: &Limits) -> Option<u64> {
    let limit = limits.fuel?;
    let left = store.get_fuel().ok()?;
    Some(limit.saturating_sub(left))
}
