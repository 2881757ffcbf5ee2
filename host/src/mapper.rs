//! Running one record through a mapper's `map`: on the worker's reused
//! instance (made, start functions and all, under the first record's
//! limits), or a fresh one. Plugins that cannot wait on the host are
//! called directly; the others through the async API, raced against the
//! record's timer and the run's cancel token.

use wasmtime::Store;
use wasmtime::component::{ComponentExportIndex, Func, InstancePre, TypedFunc};

use crate::cancel::{CancelToken, race};
use crate::capture::Capture;
use crate::classify::{classify, guest_err, output_too_large};
use crate::config::Config;
use crate::host::{ComponentState, arm, new_store};
use crate::lift::{GuestBytes, GuestText, set_output_cap};
use crate::outcome::Produced;
use crate::record::{RecordRef, Usage, wasi_error};
use crate::wasi::WasiSetup;

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
    ) -> Result<Self, crate::error::RecordError> {
        let stdout = Capture::tail();
        let stderr = Capture::tail();
        let mut builder = wasi.builder(index).map_err(wasi_error)?;
        builder.stdout(stdout.clone()).stderr(stderr.clone());
        let store = new_store(engine, builder.build(), &config.limits);
        Ok(MapperInstance {
            store,
            map: None,
            stderr,
            stdout,
        })
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
    pub fn run_sync(
        &mut self,
        pre: &InstancePre<ComponentState>,
        map: &ComponentExportIndex,
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
                self.map = Some(func);
                func
            }
        };
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

fn missing() -> wasmtime::Error {
    wasmtime::format_err!("the mapper's `map` export is missing")
}
