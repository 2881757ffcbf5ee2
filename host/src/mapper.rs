//! Running one record through a mapper's `map`: on the worker's reused
//! instance (made, start functions and all, under the first record's
//! limits), or a fresh one. Plugins that cannot wait on the host are
//! called directly; the others through the async API, raced against the
//! record's timer and the run's cancel token.
//!
//! When records are isolated, a qualifying mapper's instance is kept all
//! the same and put back to its fresh state after each record (see
//! `component_snapshot.rs`): the pages the record wrote get their initial
//! contents again, the globals their initial values (through the export
//! sandmap added), and the next record gets a new WASI context.

use wasmtime::Store;
use wasmtime::component::{ComponentExportIndex, Func, InstancePre, ResourceTable, TypedFunc};
use wasmtime_wasi::WasiCtx;

use crate::cancel::{CancelToken, race};
use crate::capture::Capture;
use crate::classify::{classify, guest_err, output_too_large};
use crate::config::Config;
use crate::dirty::DirtyPages;
use crate::error::RecordError;
use crate::host::{ComponentState, arm, new_store};
use crate::lift::{GuestBytes, GuestText, set_output_cap, take_lifted_memory};
use crate::outcome::Produced;
use crate::record::{RecordRef, Usage, wasi_error};
use crate::snapshot::Snapshot;
use crate::warm::PutBack;
use crate::wasi::WasiSetup;

/// Fuel the reset function may burn (a few instructions per global), when
/// fuel is metered: the record may have left none.
const RESET_FUEL: u64 = 1 << 20;

/// The signature of a mapper's `map`, with results whose size is checked
/// before they are copied out (see `lift.rs`).
type MapFunc<'a> = TypedFunc<(&'a [u8],), (Result<GuestBytes, GuestText>,)>;
/// What a call of `map` gives.
type MapResult = wasmtime::Result<(Result<GuestBytes, GuestText>,)>;

/// A mapper's store, and its instance once made, kept between records.
pub(crate) struct MapperInstance {
    store: Store<ComponentState>,
    /// The instance's `map`, its signature checked when it was made.
    map: Option<Func>,
    /// The export that resets its globals, when it is to be put back.
    reset: Option<TypedFunc<(), ()>>,
    /// The memory the instance held when it was made, in bytes.
    memory_at_start: u64,
    stderr: Capture,
    stdout: Capture,
}

impl MapperInstance {
    /// A new store for a mapper instance of record `index`'s run, with its
    /// stdio captured; the instance is made at its first call.
    pub fn new(
        engine: &wasmtime::Engine,
        wasi: &WasiSetup,
        config: &Config,
        index: u64,
    ) -> Result<Self, RecordError> {
        let (context, stdout, stderr) = context(wasi, index)?;
        let store = new_store(engine, context, &config.limits);
        Ok(MapperInstance {
            store,
            map: None,
            reset: None,
            memory_at_start: 0,
            stderr,
            stdout,
        })
    }

    /// Gives the instance a new WASI context (and stdio) for record
    /// `index`, as a fresh instance would have.
    pub fn renew_context(&mut self, wasi: &WasiSetup, index: u64) -> Result<(), RecordError> {
        let (context, stdout, stderr) = context(wasi, index)?;
        self.store.data_mut().wasi = context;
        self.stdout = stdout;
        self.stderr = stderr;
        Ok(())
    }

    /// Puts the instance back to its fresh state after a record that
    /// returned, finding the pages it wrote with `dirty`. Unless it says
    /// [`PutBack::Done`], the instance must be dropped.
    pub fn put_back(
        &mut self,
        snapshot: &Snapshot,
        dirty: &mut DirtyPages,
        config: &Config,
    ) -> PutBack {
        let Some((address, len)) = take_lifted_memory() else {
            return PutBack::Failed;
        };
        let Some(reset) = self.reset else {
            return PutBack::Failed;
        };
        // A memory cannot shrink back: a fresh instance will do.
        if self.store.data().limiter.memory_bytes() != self.memory_at_start
            || len != snapshot.memory_bytes
        {
            return PutBack::Grew;
        }
        // A handle the host gave the guest (a stream it opened, say) is
        // state: a fresh instance has none, and numbers its first handle 1.
        if !never_held_a_handle(&mut self.store.data_mut().table) {
            return PutBack::Failed;
        }
        let memory = std::ptr::with_exposed_provenance_mut::<u8>(address);
        // SAFETY: `address` and `len` are those of this instance's one
        // linear memory, noted while its result was lifted in this
        // record's call, and its size has not changed since (checked
        // above): wasmtime's pooling allocator maps it at a fixed address
        // for the instance's lifetime, and the instance lives in
        // `self.store`, which is borrowed mutably here, so no guest code
        // and no other view of the memory is live while it is written.
        let data = unsafe { std::slice::from_raw_parts_mut(memory, len) };
        let Ok(written) = dirty.scan(data) else {
            return PutBack::Failed;
        };
        if !snapshot.restore(data, written) {
            return PutBack::Failed;
        }
        if config.limits.fuel.is_some() && self.store.set_fuel(RESET_FUEL).is_err() {
            return PutBack::Failed;
        }
        match reset.call(&mut self.store, ()) {
            Ok(()) => PutBack::Done,
            Err(_) => PutBack::Failed,
        }
    }

    /// `map`, checked against its signature when the instance was made.
    fn typed<'a>(func: Func) -> MapFunc<'a> {
        // SAFETY: `func` was checked against exactly this signature with
        // `Func::typed` when the instance was made; skipping that check on
        // every call is what this saves.
        unsafe { TypedFunc::new_unchecked(func) }
    }

    fn keep(func: Func, store: &Store<ComponentState>) -> wasmtime::Result<Func> {
        func.typed::<(&[u8],), (Result<GuestBytes, GuestText>,)>(store)?;
        Ok(func)
    }

    /// Runs `record`, calling `map` directly: for plugins that cannot wait.
    /// `reset` names the export that resets the globals when the
    /// instance is to be put back after each record.
    pub fn run_sync(
        &mut self,
        pre: &InstancePre<ComponentState>,
        map: &ComponentExportIndex,
        reset: Option<&ComponentExportIndex>,
        record: &RecordRef<'_>,
        cancel: &CancelToken,
        config: &Config,
    ) -> MapResult {
        arm(&mut self.store, &config.limits, cancel)?;
        let func = match self.map {
            Some(func) => func,
            None => {
                let instance = pre.instantiate(&mut self.store)?;
                let func = instance
                    .get_func(&mut self.store, map)
                    .ok_or_else(missing)?;
                let func = Self::keep(func, &self.store)?;
                self.reset = reset
                    .and_then(|reset| instance.get_func(&mut self.store, reset))
                    .and_then(|reset| reset.typed::<(), ()>(&self.store).ok());
                self.memory_at_start = self.store.data().limiter.memory_bytes();
                self.map = Some(func);
                func
            }
        };
        // What a call lifts tells where the memory is; nothing older.
        take_lifted_memory();
        set_output_cap(config.limits.max_output);
        Self::typed(func).call(&mut self.store, (record.bytes,))
    }

    /// Runs `record` through the async API, raced against its timer and
    /// the cancel token, instance start-up included.
    pub async fn run_async(
        &mut self,
        pre: &InstancePre<ComponentState>,
        map: &ComponentExportIndex,
        record: &RecordRef<'_>,
        cancel: &CancelToken,
        config: &Config,
    ) -> MapResult {
        let limits = &config.limits;
        let deadline = arm(&mut self.store, limits, cancel)?;
        let call = async {
            let func = match self.map {
                Some(func) => func,
                None => {
                    let instance = pre.instantiate_async(&mut self.store).await?;
                    let func = instance
                        .get_func(&mut self.store, map)
                        .ok_or_else(missing)?;
                    let func = Self::keep(func, &self.store)?;
                    self.map = Some(func);
                    func
                }
            };
            set_output_cap(limits.max_output);
            Self::typed(func)
                .call_async(&mut self.store, (record.bytes,))
                .await
        };
        race(call, limits.timeout, deadline, cancel).await
    }

    /// The outcome of a call, and whether the instance may serve another
    /// record (not after a trap, a stop or a limit).
    pub fn outcome(&mut self, result: MapResult, config: &Config) -> (Produced, Usage, bool) {
        let limits = &config.limits;
        let usage = Usage::of(&self.store, config);
        let stderr = self.stderr.take();
        self.stdout.clear();
        match result {
            Ok((Ok(GuestBytes::Bytes(output)),)) => (Ok(output), usage, true),
            // Nothing of it was copied; the instance goes, as after any
            // limit.
            Ok((Ok(GuestBytes::TooLong(len)),)) => {
                (Err(output_too_large(len, limits.max_output)), usage, false)
            }
            Ok((Err(text),)) => (Err(guest_err(&text.prefix, text.len)), usage, true),
            Err(error) => (Err(classify(&error, limits, &stderr, false)), usage, false),
        }
    }
}

/// A WASI context for record `index`, with its stdout and stderr
/// captured.
fn context(wasi: &WasiSetup, index: u64) -> Result<(WasiCtx, Capture, Capture), RecordError> {
    let stdout = Capture::tail();
    let stderr = Capture::tail();
    let mut builder = wasi.builder(index).map_err(wasi_error)?;
    builder.stdout(stdout.clone()).stderr(stderr.clone());
    Ok((builder.build(), stdout, stderr))
}

/// Whether no resource was ever put in `table` (and so the guest was
/// never given a handle): it is empty, and holds no free slot either.
fn never_held_a_handle(table: &mut ResourceTable) -> bool {
    if !table.is_empty() {
        return false;
    }
    // A push at a capacity of 0 can only reuse a free slot.
    let capacity = table.max_capacity();
    table.set_max_capacity(0);
    let probe = table.push(());
    table.set_max_capacity(capacity);
    match probe {
        Ok(probe) => {
            let _ = table.delete(probe);
            false
        }
        Err(_) => true,
    }
}

fn missing() -> wasmtime::Error {
    wasmtime::format_err!("the mapper's `map` export is missing")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_that_ever_held_a_resource_is_told_apart_from_a_new_one() {
        assert!(never_held_a_handle(&mut ResourceTable::new()));
        let mut held = ResourceTable::new();
        let _kept = held.push(1u8).unwrap();
        assert!(!never_held_a_handle(&mut held));
        let mut dropped = ResourceTable::new();
        let handle = dropped.push(1u8).unwrap();
        dropped.delete(handle).unwrap();
        assert!(dropped.is_empty());
        assert!(!never_held_a_handle(&mut dropped));
        // The probe leaves the capacity as it was.
        assert_eq!(dropped.max_capacity(), ResourceTable::new().max_capacity());
    }
}
